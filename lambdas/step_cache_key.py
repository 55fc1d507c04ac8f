"""What a cached step's result depends on, as one digest: the request and the identity of its data.

A step's key is the SHA-256 of its kind, its request (what the workflow would send SageMaker,
without names, output locations or tags: the state machine leaves those out of what it sends
here) and the identity of each input: every object's key (without the bucket, whose name is
chosen at deploy time) and its ETag. Nothing in the key depends on a job name, an execution or a
deploy-time token, so the same work requested by any run, before or after a redeploy, gets the
same key (the failure mode of SageMaker Pipelines' CacheConfig, whose key includes such values:
sagemaker-python-sdk #3392).

Standard library only, plus an S3 client passed in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from lambdas.s3_uris import split_s3_uri

# Script mode's hyperparameters that say where the code is and which region runs it: the archive's
# location holds a bucket name (deploy-time) and the code version already keys the code itself.
VOLATILE_HYPERPARAMETERS: Final = frozenset({"sagemaker_submit_directory", "sagemaker_region"})


@dataclass(frozen=True)
class ObjectsIdentity:
    """The objects under one S3 prefix (or one object), as a count and a digest of keys and ETags."""

    count: int
    digest: str

    def as_item(self) -> dict[str, Any]:
        return {"count": self.count, "digest": self.digest}


def objects_identity(s3: Any, uri: str) -> ObjectsIdentity:
    """Every object whose key starts with `uri`'s key: (key, ETag), sorted, digested.

    A prefix that holds nothing has count 0 (a missing input or an expired output). An overwritten
    object has a new ETag; S3 keeps the ETag of an object that is not rewritten.
    """
    bucket, prefix = split_s3_uri(uri)
    entries = sorted(_listed(s3, bucket, prefix))
    digest = hashlib.sha256()
    for key, etag in entries:
        digest.update(f"{key}\0{etag}\n".encode())
    return ObjectsIdentity(len(entries), digest.hexdigest())


def _listed(s3: Any, bucket: str, prefix: str) -> Iterable[tuple[str, str]]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            yield entry["Key"], str(entry["ETag"]).strip('"')


# A training request carries the run's tuning section and search space; they determine the
# result only when tuning is on (a disabled section's max_jobs must not cause a miss).
TUNING_FIELDS: Final = ("tuning", "search_space")


def keyed_request(request: Mapping[str, Any]) -> dict[str, Any]:
    """The request as it enters the key: hyperparameters without script mode's locations, tuning
    only when enabled."""
    cleaned = dict(request)
    tuning = cleaned.get("tuning")
    if isinstance(tuning, Mapping) and tuning.get("enabled") is False:
        for name in TUNING_FIELDS:
            cleaned.pop(name, None)
    for field in ("hyperparameters", "static_hyperparameters"):
        values = cleaned.get(field)
        if isinstance(values, Mapping):
            cleaned[field] = {k: v for k, v in values.items() if k not in VOLATILE_HYPERPARAMETERS}
    return cleaned


def step_key(step: str, request: Mapping[str, Any], inputs: Mapping[str, ObjectsIdentity]) -> str:
    """The cache key of one step: a hex SHA-256 of its kind, request and inputs' identities."""
    document = {
        "step": step,
        "request": keyed_request(request),
        "inputs": {name: identity.as_item() for name, identity in sorted(inputs.items())},
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()
