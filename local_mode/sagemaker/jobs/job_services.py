"""What every local job shares: the services of the LocalSageMaker that runs it, the host root,
input sharding and failure reasons.

Each instance of a job gets its own folder shaped like the container's ``/opt/ml`` (the
"host root"); paths a request names under ``/opt/ml`` (processing ``LocalPath``s, the
entrypoint and arguments, ``CheckpointConfig.LocalPath``, ``Environment`` values) are
rewritten to that folder, since a process here cannot see a private ``/opt/ml``. The
script is also told its root through ``SAGEMAKER_BASE_DIR``, the variable with which
sagemaker-training-toolkit itself relocates ``/opt/ml`` (environment.py).
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_mode.sagemaker.jobs.s3_io import S3Object, S3Uri, list_objects
from local_mode.sagemaker.serving.tfs_emulation import ModelStore
from local_mode.sagemaker.shapes import FAILURE_REASON_MAX, Arns, failure_reason

LogCallback = Callable[[str, str], None]

OPT_ML = "/opt/ml"
_OPT_ML_PATH = re.compile(r"/opt/ml\b")


class JobError(Exception):
    """A job failure with the FailureReason SageMaker would report."""


@dataclass
class JobServices:
    """What every local job needs from the LocalSageMaker that runs it."""

    s3: Any
    workdir: Path
    arns: Arns
    python: str
    on_log: LogCallback | None = None
    access: Any = None  # a role_access.RoleAccess: jobs then act as their roles; None: no checks
    _lock: threading.Lock = field(default_factory=threading.Lock)
    models: ModelStore = field(init=False)  # model archives, loaded once per (ModelDataUrl, ETag)

    def __post_init__(self) -> None:
        self.models = ModelStore(self.s3, self.workdir / "models")

    def s3_for(self, role_arn: str | None) -> Any:
        """The S3 client a job uses: bound to its execution role when access checks are on."""
        if self.access is None or not role_arn:
            return self.s3
        return self.access.s3_for(role_arn)

    def model_client(self, role_arn: str | None) -> Any:
        """The client a container reads its model archive with: the model's role when access checks
        are on, else None (the store's own client)."""
        return self.s3_for(role_arn) if self.access is not None and role_arn else None

    def job_root(self, kind: str, name: str) -> Path:
        """A fresh folder for one job: ``<workdir>/<kind>/<name>-XXXX`` (retries never share state)."""
        parent = self.workdir / kind
        parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=parent))

    def log_sink(self, job_name: str, host: str, hosts: Sequence[str]) -> Callable[[str], None]:
        """Write a host's lines to ``<workdir>/logs/<job>.log`` and the live callback."""
        prefix = f"[{host}] " if len(hosts) > 1 else ""
        log_path = self.workdir / "logs" / f"{job_name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)

        def sink(line: str) -> None:
            with self._lock:
                with log_path.open("a", encoding="utf-8") as log:
                    log.write(f"{prefix}{line}\n")
                if self.on_log is not None:
                    self.on_log(job_name, f"{prefix}{line}")

        return sink

    def python_bin_dir(self) -> Path:
        """A folder with ``python``/``python3`` wrappers for ``self.python``, to put first on PATH.

        Container entrypoints say ``python3``; wrappers (not symlinks) keep the venv a venv.
        """
        bin_dir = self.workdir / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        for name in ("python", "python3"):
            wrapper = bin_dir / name
            if not wrapper.exists():
                wrapper.write_text(f'#!/bin/sh\nexec "{self.python}" "$@"\n')
                wrapper.chmod(0o755)
        return bin_dir

    def base_env(self, host_root: Path) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)  # a container sees only its own code, never this repository
        env["PATH"] = f"{self.python_bin_dir()}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONUNBUFFERED"] = "1"  # log lines must arrive as printed, for metrics and on_log
        env["SAGEMAKER_BASE_DIR"] = str(host_root)
        env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = self.arns.region
        return env


def to_host_path(value: str, host_root: Path) -> str:
    """Rewrite the ``/opt/ml`` prefix of every path in ``value`` to the instance's folder."""
    return _OPT_ML_PATH.sub(lambda _: str(host_root), value)


def shard(objects: Sequence[S3Object], index: int, count: int, distribution: str) -> list[S3Object]:
    """The objects instance ``index`` of ``count`` receives.

    ``ShardedByS3Key`` gives each instance about 1/count of the objects (AWS does not document
    which ones; here: round robin over the keys in S3 listing order), ``FullyReplicated`` all.
    """
    if distribution == "ShardedByS3Key":
        return list(objects[index::count])
    return list(objects)


def channel_objects(s3: Any, uri: str, data_type: str, channel: str) -> tuple[S3Uri, list[S3Object]]:
    if data_type != "S3Prefix":
        raise JobError(f"ClientError: S3DataType {data_type} of channel {channel} is not supported locally")
    parsed = S3Uri.parse(uri)
    objects = list_objects(s3, parsed)
    if not objects:
        raise JobError(
            f'ClientError: No S3 objects found under S3 URL "{uri}" given in input data source. '
            "Please ensure that the bucket exists in the selected region, that objects exist under "
            'that S3 prefix, and that the role has "s3:ListBucket" permissions on the bucket.'
        )
    return parsed, objects


def read_message(path: Path) -> str | None:
    """A failure/message file's text as SageMaker reports it (first 1024 characters), if any."""
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8", errors="replace").strip()
    return text[:FAILURE_REASON_MAX] or None


def algorithm_error(text: str, returncode: int | None) -> str:
    """FailureReason of a job whose container failed: ``AlgorithmError: <text>, exit code: <n>``."""
    suffix = f", exit code: {returncode}"
    prefix = "AlgorithmError: "
    return failure_reason(prefix + text[: FAILURE_REASON_MAX - len(prefix) - len(suffix)] + suffix)
