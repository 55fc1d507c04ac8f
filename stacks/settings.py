"""Typed, validated view of the `mlops` context in cdk.json.

Every tunable of the stack lives there; a bad value fails `cdk synth` with a
message naming the key (e.g. `mlops.training.instance_count`) and what was expected.
The run settings (hyperparameters, training, processing, tuning, transform, quality_gate,
evaluation.threshold) are lambdas/run_settings.py's sections, the ones the execution input
is validated with, merged over the defaults the stack builds from these; the rest is the stack's.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError, WithJsonSchema, model_validator
from pydantic_core import ErrorDetails

from lambdas import run_settings
from lambdas.run_settings import (
    CacheSettings,
    GateSettings,
    Hyperparameters,
    ProcessingSettings,
    Section,
    TransformSettings,
    TuningSettings,
    UnitInterval,
    check_last_attempt_epochs,
    sagemaker_value,
)
from lambdas.sagemaker_api import ENDPOINT_INSTANCE_TYPE
from lambdas.validation_messages import CUSTOM_ERROR_PREFIX, expected
from stacks.deployment_settings import DeploymentSettings

CONTEXT_KEY = "mlops"

EndpointInstanceType = Annotated[
    str,
    AfterValidator(sagemaker_value(ENDPOINT_INSTANCE_TYPE)),
    WithJsonSchema(ENDPOINT_INSTANCE_TYPE.json_schema()),
]
FrameworkVersion = Annotated[str, Field(pattern=r"^\d+\.\d+(\.\d+)?$")]
S3Prefix = Annotated[str, Field(pattern=r"^[a-zA-Z0-9!_.*'()/-]+/$", max_length=512)]


class TrainingSettings(run_settings.TrainingSettings):
    """The training job's settings, plus the container it runs in (not a run setting)."""

    framework_version: FrameworkVersion
    py_version: str = Field(pattern=r"^py3\d+$")


class AutoscalingSettings(Section):
    """Target tracking on SageMakerVariantInvocationsPerInstance (invocations per instance per minute)."""

    enabled: bool
    min: int = Field(ge=1, le=100)
    max: int = Field(ge=1, le=100)
    target_invocations_per_instance: float = Field(gt=0, le=100000)

    @model_validator(mode="after")
    def _max_not_below_min(self) -> AutoscalingSettings:
        if self.max < self.min:
            raise expected(f"max >= min ({self.min})", field="max", got=self.max)
        return self


class DataCaptureSettings(Section):
    """DataCaptureConfig: requests and responses under the artifacts bucket's capture/ prefix."""

    enabled: bool
    sampling_percent: int = Field(ge=0, le=100)
    expire_after_days: int = Field(ge=1, le=3650)


class ServerlessSettings(Section):
    """ProductionVariantServerlessConfig, instead of instances (SageMaker API reference: memory in
    1 GB steps from 1024 to 6144 MB, MaxConcurrency 1-200)."""

    enabled: bool
    memory_size_mb: Literal[1024, 2048, 3072, 4096, 5120, 6144]
    max_concurrency: int = Field(ge=1, le=200)


class EndpointSettings(Section):
    name: str = Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
    instance_type: EndpointInstanceType
    initial_instance_count: int = Field(ge=1, le=100)
    inference_framework_version: FrameworkVersion
    max_wait_minutes: int = Field(ge=5, le=180)
    autoscaling: AutoscalingSettings
    data_capture: DataCaptureSettings
    serverless: ServerlessSettings
    deployment: DeploymentSettings

    @model_validator(mode="after")
    def _serverless_alone(self) -> EndpointSettings:
        # A serverless endpoint scales itself (Application Auto Scaling applies only to its
        # provisioned concurrency) and SageMaker refuses DataCaptureConfig on it.
        if self.serverless.enabled:
            for option, why in (
                ("autoscaling", "serverless endpoints scale by themselves up to serverless.max_concurrency"),
                ("data_capture", "SageMaker Serverless Inference does not support data capture"),
            ):
                if getattr(self, option).enabled:
                    raise expected(
                        f"{option}.enabled to be false when serverless.enabled is true ({why})", got=True
                    )
        return self

    @model_validator(mode="after")
    def _initial_count_in_range(self) -> EndpointSettings:
        scaling = self.autoscaling
        if scaling.enabled and not scaling.min <= self.initial_instance_count <= scaling.max:
            raise expected(
                f"initial_instance_count between autoscaling.min ({scaling.min}) and max ({scaling.max})",
                field="initial_instance_count",
                got=self.initial_instance_count,
            )
        return self

    @model_validator(mode="after")
    def _deployment_fits_the_fleet(self) -> EndpointSettings:
        # Every fleet size the update may meet: the initial count, and autoscaling's bounds.
        if self.serverless.enabled:  # no instances to count
            return self
        fleets = {"initial_instance_count": self.initial_instance_count}
        if self.autoscaling.enabled:
            fleets |= {"autoscaling.min": self.autoscaling.min, "autoscaling.max": self.autoscaling.max}
        for field, count in fleets.items():
            self.deployment.check_fleet(count, field=field)
        return self


class DataSettings(Section):
    dataset_uri_prefix: S3Prefix
    evaluation_uri_prefix: S3Prefix
    raw_uri_prefix: S3Prefix


class EvaluationSettings(Section):
    schedule_enabled: bool
    schedule_rate_hours: int = Field(ge=1, le=24 * 30)
    threshold: UnitInterval


class PipelineSettings(Section):
    """Everything `cdk.json` may tune, with the bounds SageMaker and Step Functions accept."""

    project_name: str = Field(pattern=r"^[a-z][a-z0-9-]{1,19}$")
    notification_email: str = Field(pattern=r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$")
    training: TrainingSettings
    # Read as `hyperparameters` (the name → value map train.py gets); the model is the run settings'.
    hyperparameter_settings: Hyperparameters = Field(alias="hyperparameters")
    processing: ProcessingSettings
    tuning: TuningSettings
    transform: TransformSettings
    endpoint: EndpointSettings
    quality_gate: GateSettings
    cache: CacheSettings
    data: DataSettings
    evaluation: EvaluationSettings
    workflow_timeout_hours: int = Field(ge=1, le=24 * 30)
    powertools_layer_version: int = Field(ge=1)
    log_retention_days: Literal[7, 14, 30, 90, 180, 365, 731, 3653]

    @model_validator(mode="after")
    def _last_attempt_epochs(self) -> PipelineSettings:
        check_last_attempt_epochs(self.hyperparameter_settings, self.quality_gate, "quality_gate")
        return self

    @property
    def hyperparameters(self) -> dict[str, str | int | float | bool]:
        return self.hyperparameter_settings.as_arguments()


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
    ctx = issue.get("ctx") or {}
    # A check across fields (the last attempt's epochs) names its field in ctx: its loc is the model.
    loc = issue["loc"] or tuple(str(ctx.get("field", "")).split("."))
    path = ".".join([CONTEXT_KEY, *(str(part) for part in loc)])
    if issue["type"].startswith(CUSTOM_ERROR_PREFIX):
        return f"{path}: expected {issue['msg']}, got {ctx.get('got', issue.get('input'))!r}"
    return f"{path}: {issue['msg']} (got {issue.get('input')!r})"
