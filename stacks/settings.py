"""Typed, validated view of the `mlops` context in cdk.json.

Every tunable of the stack lives there; a bad value fails `cdk synth` with a
message naming the key (e.g. `mlops.training.instance_count`) and what was expected.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails, PydanticCustomError

from lambdas.sagemaker_api import (
    ENDPOINT_INSTANCE_TYPE,
    PROCESSING_INSTANCE_TYPE,
    TRAINING_INSTANCE_TYPE,
    TRANSFORM_INSTANCE_TYPE,
    SageMakerEnum,
)

CONTEXT_KEY = "mlops"
# Our validators' error type: the message is what was expected (see load_settings).
_EXPECTED = "expected_value"


def _sagemaker_value(api: SageMakerEnum) -> Callable[[str], str]:
    """A validator: ``value`` must be one SageMaker's API model (botocore) allows."""

    def check(value: str) -> str:
        what = api.expectation(value)
        if what is not None:
            raise PydanticCustomError(_EXPECTED, what)
        return value

    return check


# Instance types are checked against the list of the job type that runs on them.
TrainingInstanceType = Annotated[str, AfterValidator(_sagemaker_value(TRAINING_INSTANCE_TYPE))]
ProcessingInstanceType = Annotated[str, AfterValidator(_sagemaker_value(PROCESSING_INSTANCE_TYPE))]
TransformInstanceType = Annotated[str, AfterValidator(_sagemaker_value(TRANSFORM_INSTANCE_TYPE))]
EndpointInstanceType = Annotated[str, AfterValidator(_sagemaker_value(ENDPOINT_INSTANCE_TYPE))]
FrameworkVersion = Annotated[str, Field(pattern=r"^\d+\.\d+(\.\d+)?$")]
S3Prefix = Annotated[str, Field(pattern=r"^[a-zA-Z0-9!_.*'()/-]+/$", max_length=512)]
HyperparameterValue = str | int | float | bool


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class TrainingSettings(_Section):
    # Tuning trials run on the training instance type too.
    instance_type: TrainingInstanceType
    instance_count: int = Field(ge=1, le=100)
    use_spot: bool
    max_runtime_seconds: int = Field(ge=60, le=432_000)
    max_wait_seconds: int = Field(ge=60, le=432_000)
    volume_size_gb: int = Field(ge=1, le=16_384)
    framework_version: FrameworkVersion
    py_version: str = Field(pattern=r"^py3\d+$")

    @model_validator(mode="after")
    def _spot_wait_covers_runtime(self) -> TrainingSettings:
        # SageMaker rejects MaxWaitTimeInSeconds < MaxRuntimeInSeconds for spot jobs.
        if self.use_spot and self.max_wait_seconds < self.max_runtime_seconds:
            raise ValueError("max_wait_seconds must be >= max_runtime_seconds when use_spot is true")
        return self


class ProcessingSettings(_Section):
    instance_type: ProcessingInstanceType
    instance_count: int = Field(ge=1, le=100)


class TransformSettings(_Section):
    instance_type: TransformInstanceType
    instance_count: int = Field(ge=1, le=100)


class TuningSettings(_Section):
    enabled: bool
    max_jobs: int = Field(ge=1, le=100)
    max_parallel_jobs: int = Field(ge=1, le=100)

    @model_validator(mode="after")
    def _parallel_within_budget(self) -> TuningSettings:
        if self.max_parallel_jobs > self.max_jobs:
            raise ValueError("max_parallel_jobs must be <= max_jobs")
        return self


class EndpointSettings(_Section):
    name: str = Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
    instance_type: EndpointInstanceType
    initial_instance_count: int = Field(ge=1, le=100)
    inference_framework_version: FrameworkVersion
    max_wait_minutes: int = Field(ge=5, le=180)


class QualityGateSettings(_Section):
    metric: Literal["accuracy", "macro_f1"]
    threshold: float = Field(ge=0.0, le=1.0)
    tolerance: float = Field(ge=0.0, le=1.0)
    max_attempts: int = Field(ge=1, le=10)
    retrain_epoch_increment: int = Field(ge=0, le=100)


class DataSettings(_Section):
    dataset_uri_prefix: S3Prefix
    evaluation_uri_prefix: S3Prefix
    raw_uri_prefix: S3Prefix


class EvaluationSettings(_Section):
    schedule_enabled: bool
    schedule_rate_hours: int = Field(ge=1, le=24 * 30)
    threshold: float = Field(ge=0.0, le=1.0)


class PipelineSettings(_Section):
    """Everything `cdk.json` may tune, with the bounds SageMaker and Step Functions accept."""

    project_name: str = Field(pattern=r"^[a-z][a-z0-9-]{1,19}$")
    notification_email: str = Field(pattern=r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$")
    training: TrainingSettings
    hyperparameters: dict[Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")], HyperparameterValue]
    processing: ProcessingSettings
    tuning: TuningSettings
    transform: TransformSettings
    endpoint: EndpointSettings
    quality_gate: QualityGateSettings
    data: DataSettings
    evaluation: EvaluationSettings
    workflow_timeout_hours: int = Field(ge=1, le=24 * 30)
    powertools_layer_version: int = Field(ge=1)
    log_retention_days: Literal[7, 14, 30, 90, 180, 365, 731, 3653]

    @model_validator(mode="after")
    def _epochs_present(self) -> PipelineSettings:
        epochs = self.hyperparameters.get("epochs")
        if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
            raise ValueError("hyperparameters.epochs must be a positive integer")
        return self


class SettingsError(ValueError):
    """A `cdk.json` context value is missing or out of bounds."""


def load_settings(context: Any) -> PipelineSettings:
    """Validate the raw `mlops` context; errors name each bad key and what was expected."""
    if not isinstance(context, dict):
        raise SettingsError(f"context key '{CONTEXT_KEY}' must be an object, got {type(context).__name__}")
    try:
        return PipelineSettings.model_validate(context)
    except ValidationError as error:
        problems = [_describe(issue) for issue in error.errors()]
        raise SettingsError("Invalid cdk.json context:\n  " + "\n  ".join(problems)) from None


def _describe(issue: ErrorDetails) -> str:
    path = ".".join([CONTEXT_KEY, *(str(part) for part in issue["loc"])])
    if issue["type"] == _EXPECTED:
        return f"{path}: expected {issue['msg']}, got {issue.get('input')!r}"
    return f"{path}: {issue['msg']} (got {issue.get('input')!r})"
