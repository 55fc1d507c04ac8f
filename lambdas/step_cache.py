"""The step cache (``Find*InCache`` and ``Cache*`` states): reuse a SageMaker job's result, not run it again.

``lookup``: the step's key (``step_cache_key.step_key``), then the entry under it. A hit needs an
entry younger than the run's ``cache.max_age_days`` whose output is still there, unchanged (the
objects under ``artifact_uri`` digest as they did when the entry was written: lifecycle rules
expire transform output). ``record``: after the job ran, write its result under the key the lookup
computed, conditionally: only where there is no entry, or where the entry is the stale one the
lookup saw, so two runs that ran the same job at once never overwrite each other's entry.
See docs/architecture.md, "Step cache".
"""

from __future__ import annotations

import functools
import json
import time
from typing import Any, Final, Literal

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lambdas.lambda_env import env_str
from lambdas.step_cache_key import ObjectsIdentity, objects_identity, step_key
from lambdas.validation_messages import describe_validation_error

logger = Logger()

CACHE_TABLE_ENV: Final = "STEP_CACHE_TABLE"
PARTITION_KEY: Final = "cache_key"
TTL_ATTRIBUTE: Final = "expires_at"
SECONDS_PER_DAY: Final = 86400
STEPS: Final = ("preprocess", "training", "transform")
Step = Literal["preprocess", "training", "transform"]


class InvalidCacheEvent(ValueError):
    """The event is not a lookup or record request this function understands."""


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class CacheSettingsView(_Event):
    """``$.run.cache``: validated by ValidateInput (lambdas/run_settings.py, ``CacheSettings``)."""

    enabled: bool
    max_age_days: int = Field(ge=1)


class LookupEvent(_Event):
    action: Literal["lookup"]
    step: Step
    settings: CacheSettingsView
    request: dict[str, Any]
    inputs: dict[str, str] = Field(min_length=1)  # input name → s3:// prefix or object


class Lookup(_Event):
    """What ``lookup`` returns (the state data at ``$.cache_<step>``), and what ``record`` is given back."""

    enabled: bool
    hit: bool
    key: str | None = None
    step: Step
    result: dict[str, Any] | None = None  # on a hit: the recorded result, with reused=true
    miss_reason: str | None = None
    replaces: str | None = None  # the source job of a stale entry, which record may overwrite


class RecordEvent(_Event):
    action: Literal["record"]
    lookup: Lookup
    result: dict[str, Any]
    artifact_uri: str = Field(min_length=6)  # what the result points at: checked on every later lookup
    execution: str
    max_age_days: int = Field(ge=1)


@functools.cache
def _clients() -> tuple[Any, Any]:
    return boto3.client("s3"), boto3.client("dynamodb")


def lookup(event: LookupEvent, *, s3: Any, dynamodb: Any, table: str, now: float) -> Lookup:
    if not event.settings.enabled:
        return Lookup(enabled=False, hit=False, step=event.step, miss_reason="cache disabled for this run")
    inputs = {name: objects_identity(s3, uri) for name, uri in event.inputs.items()}
    key = step_key(event.step, event.request, inputs)
    miss = functools.partial(Lookup, enabled=True, hit=False, key=key, step=event.step)
    found = dynamodb.get_item(TableName=table, Key={PARTITION_KEY: {"S": key}}, ConsistentRead=True)
    item = found.get("Item")
    if item is None:
        return miss(miss_reason="no entry")
    source_job = item["source_job"]["S"]
    # DynamoDB's TTL deletes expired items within days, not at once: the age is checked here too.
    age = now - float(item["created_at"]["N"])
    if now >= float(item[TTL_ATTRIBUTE]["N"]) or age >= event.settings.max_age_days * SECONDS_PER_DAY:
        stale = f"entry of {source_job} is older than cache.max_age_days"
        return miss(miss_reason=stale, replaces=source_job)
    recorded = ObjectsIdentity(int(item["artifact_count"]["N"]), item["artifact_digest"]["S"])
    if objects_identity(s3, item["artifact_uri"]["S"]) != recorded:
        return miss(miss_reason=f"output of {source_job} is gone or changed", replaces=source_job)
    result = {**json.loads(item["result"]["S"]), "reused": True, "source_job": source_job}
    return Lookup(enabled=True, hit=True, key=key, step=event.step, result=result)


def record(event: RecordEvent, *, s3: Any, dynamodb: Any, table: str, now: float) -> dict[str, Any]:
    """Write the entry unless the cache is off or another run's entry got there first."""
    if not event.lookup.enabled or event.lookup.hit or event.lookup.key is None:
        return {"recorded": False, "reason": "cache disabled" if not event.lookup.enabled else "reused"}
    artifact = objects_identity(s3, event.artifact_uri)
    if artifact.count == 0:
        return {"recorded": False, "reason": f"nothing under {event.artifact_uri} to reuse"}
    source_job = str(event.result.get("source_job", ""))
    stored = {k: v for k, v in event.result.items() if k not in ("reused", "source_job")}
    item = {
        PARTITION_KEY: {"S": event.lookup.key},
        "step": {"S": event.lookup.step},
        "source_job": {"S": source_job},
        "result": {"S": json.dumps(stored, sort_keys=True)},
        "artifact_uri": {"S": event.artifact_uri},
        "artifact_count": {"N": str(artifact.count)},
        "artifact_digest": {"S": artifact.digest},
        "execution_arn": {"S": event.execution},
        "created_at": {"N": str(int(now))},
        TTL_ATTRIBUTE: {"N": str(int(now) + event.max_age_days * SECONDS_PER_DAY)},
    }
    condition = "attribute_not_exists(#key) OR #expires <= :now"
    values: dict[str, Any] = {":now": {"N": str(int(now))}}
    if event.lookup.replaces is not None:
        condition += " OR #source = :replaces"
        values[":replaces"] = {"S": event.lookup.replaces}
    try:
        dynamodb.put_item(
            TableName=table,
            Item=item,
            ConditionExpression=condition,
            ExpressionAttributeNames={"#key": PARTITION_KEY, "#expires": TTL_ATTRIBUTE}
            | ({"#source": "source_job"} if event.lookup.replaces is not None else {}),
            ExpressionAttributeValues=values,
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        # Another run recorded the same work first: its entry is as good as ours, keep it.
        return {"recorded": False, "reason": "another run recorded this step first"}
    return {"recorded": True, "key": event.lookup.key}


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    s3, dynamodb = _clients()
    table, now = env_str(CACHE_TABLE_ENV), time.time()
    action = event.get("action") if isinstance(event, dict) else None
    model: type[_Event] = RecordEvent if action == "record" else LookupEvent
    try:
        request = model.model_validate(event)
    except ValidationError as err:
        raise InvalidCacheEvent("; ".join(describe_validation_error(err, model))) from None
    if isinstance(request, RecordEvent):
        outcome = record(request, s3=s3, dynamodb=dynamodb, table=table, now=now)
        logger.info("Step cache record", extra=outcome)
        return outcome
    assert isinstance(request, LookupEvent)
    found = lookup(request, s3=s3, dynamodb=dynamodb, table=table, now=now)
    logger.info("Step cache lookup", extra={"step": found.step, "hit": found.hit, "miss": found.miss_reason})
    return found.model_dump()


__all__ = ["STEPS", "handler", "lookup", "record"]
