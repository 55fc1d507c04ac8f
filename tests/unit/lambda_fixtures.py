"""Shared inputs for the Lambda handler tests: a Lambda context stub and realistic defaults."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, cast

from aws_lambda_powertools.utilities.typing import LambdaContext

DATA_BUCKET = "tf2-digits-data-123456789012"
ARTIFACTS_BUCKET = "tf2-digits-artifacts-123456789012"


@dataclass
class _ContextAttributes:
    """The attributes Powertools' inject_lambda_context reads."""

    function_name: str = "test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"


def LambdaContextStub() -> LambdaContext:
    """A stand-in for the runtime's context object, typed as Powertools expects."""
    return cast(LambdaContext, _ContextAttributes())


# What the CDK app writes into TRAINING_DEFAULTS / EVALUATION_DEFAULTS.
_TRAINING_DEFAULTS: dict[str, Any] = {
    "raw_data_uri": None,
    "data_uri": f"s3://{DATA_BUCKET}/prepared/digits",
    "hyperparameters": {"epochs": 12, "batch-size": 128, "learning-rate": 0.001},
    "training": {
        "instance_type": "ml.m5.xlarge",
        "instance_count": 1,
        "use_spot": False,
        "max_runtime_seconds": 3600,
        "max_wait_seconds": None,
        "volume_size_gb": 30,
        "input_mode": "FastFile",
        "keep_alive_seconds": 0,
    },
    "processing": {"instance_type": "ml.m5.large", "instance_count": 1},
    "tuning": {"enabled": False, "max_jobs": 15, "max_parallel_jobs": 5},
    "transform": {"instance_type": "ml.m5.large", "instance_count": 1},
    "gate": {
        "metric": "accuracy",
        "threshold": 0.95,
        "tolerance": 0.01,
        "max_attempts": 3,
        "retrain_epoch_increment": 4,
        "approval": "none",
        "approval_timeout_seconds": 43200,
    },
    "cache": {"enabled": True, "max_age_days": 30},
    "reason": "manual start",
}

_EVALUATION_DEFAULTS: dict[str, Any] = {
    "data_uri": f"s3://{DATA_BUCKET}/labelled/latest/",
    "retrain_raw_data_uri": f"s3://{DATA_BUCKET}/raw/",
    "threshold": 0.93,
    "metric": "accuracy",
    "transform": {"instance_type": "ml.m5.large", "instance_count": 1},
    "retrain": True,
}


def training_defaults() -> dict[str, Any]:
    return copy.deepcopy(_TRAINING_DEFAULTS)


def evaluation_defaults() -> dict[str, Any]:
    return copy.deepcopy(_EVALUATION_DEFAULTS)
