"""What a SageMaker container tells a script, read in one place.

Script mode passes hyperparameters as ``--name value`` (values are strings, so
booleans arrive as ``"true"``/``"False"``), channel folders as ``SM_CHANNEL_*``
and the model folder as ``SM_MODEL_DIR``. Outside a container the same names can
be set by hand, or the scripts' path arguments used instead. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

import contract

OPT_ML = Path("/opt/ml")


class InputError(Exception):
    """Bad arguments or bad input data: the job fails and a retry would fail the same way."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises ``InputError`` instead of exiting, so the failure file gets written."""

    def error(self, message: str) -> NoReturn:
        raise InputError(message)


def str_to_bool(value: str | bool) -> bool:
    """A SageMaker hyperparameter as a boolean (``"true"``, ``"False"``, ``"1"``, ...)."""
    if isinstance(value, bool):
        return value
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def channel_dir(channel: str, env: Mapping[str, str] = os.environ) -> str:
    """The local folder of an input channel (File and FastFile mode both give a folder).

    A Pipe channel is a FIFO, read only through PipeModeDataset, which the TF 2.x training
    images do not install: the workflow's validation refuses Pipe, this is the script's own guard.
    """
    if _channel_config(channel, env).get("TrainingInputMode") == "Pipe":
        raise InputError(
            f"channel {channel} arrives in Pipe mode, which needs PipeModeDataset (not in the "
            "TensorFlow training image): use FastFile (streamed as files) or File"
        )
    return env.get(f"SM_CHANNEL_{channel.upper()}", str(OPT_ML / "input" / "data" / channel))


def _channel_config(channel: str, env: Mapping[str, str]) -> dict[str, str]:
    """The channel's entry of SM_INPUT_DATA_CONFIG (empty outside a container or when unreadable)."""
    try:
        config = json.loads(env.get("SM_INPUT_DATA_CONFIG", "{}"))
    except json.JSONDecodeError:
        return {}
    entry = config.get(channel, {}) if isinstance(config, dict) else {}
    return entry if isinstance(entry, dict) else {}


def model_dir(env: Mapping[str, str] = os.environ) -> str:
    return env.get("SM_MODEL_DIR", str(OPT_ML / "model"))


def failure_file(default: str, env: Mapping[str, str] = os.environ) -> Path | None:
    """Where to write why the job failed: the env override, else ``default`` inside a container.

    Outside a container there is no default, so a local run never creates ``/opt/ml``.
    """
    if env.get(contract.FAILURE_FILE_ENV):
        return Path(env[contract.FAILURE_FILE_ENV])
    return Path(default) if OPT_ML.is_dir() else None


def checkpoint_dir(env: Mapping[str, str] = os.environ) -> str | None:
    """Where spot checkpoints go: the env override, else the container path when in a container.

    Outside a container (no ``/opt/ml``) there is no default: a local run only
    checkpoints when asked to, instead of failing on a path it cannot create.
    """
    if contract.CHECKPOINT_DIR_ENV in env:
        return env[contract.CHECKPOINT_DIR_ENV] or None
    return contract.CHECKPOINT_DIR if OPT_ML.is_dir() else None


def channel_sharded_by_s3_key(channel: str, env: Mapping[str, str] = os.environ) -> bool:
    """True when SageMaker already gave this host only its share of the channel's files.

    Then the training code must not shard the files across workers a second time.
    """
    return _channel_config(channel, env).get("S3DistributionType") == "ShardedByS3Key"


def report_failure(path: Path | None, message: str) -> None:
    """Tell the operator why the job failed: on stderr, and in the file SageMaker reads.

    SageMaker keeps the first 1024 characters of the file as FailureReason, so the
    message comes first and any traceback after it. Never raises: a failure to
    write the file must not hide the original error.
    """
    print(message, file=sys.stderr, flush=True)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(message, encoding="utf-8")
    except OSError as error:
        print(f"could not write the failure file {path}: {error}", file=sys.stderr, flush=True)
