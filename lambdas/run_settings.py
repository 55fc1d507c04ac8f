"""The run settings: what a training or evaluation run may set, and what SageMaker and the workflows accept.

The one model of each setting. ``stacks/settings.py`` validates ``cdk.json``'s ``mlops`` context
with these sections at synth, and ``execution_input.py`` validates each execution's input with
them (merged over the defaults the CDK app derived from that same context), in the ValidateInput
Lambda, local mode and the operator CLI's ``--dry-run``. tests/infra/test_settings_agree.py fails
if the two can disagree on a field, a bound or an allowed value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from lambdas.model_registry import EVALUATION_METRICS
from lambdas.sagemaker_api import (
    PROCESSING_INSTANCE_TYPE,
    TRAINING_INSTANCE_TYPE,
    TRANSFORM_INSTANCE_TYPE,
    SageMakerEnum,
)
from lambdas.validation_messages import expected

# SageMaker's limits: MaxRuntimeInSeconds and MaxWaitTimeInSeconds (5 days without a quota
# increase), VolumeSizeInGB, InstanceCount; tuning's MaxNumberOfTrainingJobs / MaxParallelTrainingJobs.
MAX_RUNTIME_SECONDS: Final = 5 * 24 * 3600
MAX_VOLUME_SIZE_GB: Final = 16384
MAX_KEEP_ALIVE_SECONDS: Final = 3600
MAX_INSTANCES: Final = 100
MAX_TUNING_JOBS: Final = 100
# The workflows' own: epochs of any attempt (retries add gate.retrain_epoch_increment each) and
# how many attempts one execution makes.
MAX_EPOCHS: Final = 1000
MAX_ATTEMPTS: Final = 10
# Manual approval: how long a decision may take. At most a Standard workflow's longest run (one year).
DEFAULT_APPROVAL_TIMEOUT_SECONDS: Final = 12 * 3600
MAX_APPROVAL_SECONDS: Final = 365 * 24 * 3600
# The step cache's maximum age of an entry (ten years: effectively "until the output expires").
MAX_CACHE_AGE_DAYS: Final = 3650
# Hyperparameters reach SageMaker as a string map (and the training script as
# command-line arguments): keep the map small, names argparse-friendly, and the
# ``sagemaker_`` names (entry point, code location, distribution) to the workflow.
HYPERPARAMETER_NAME_PATTERN: Final = r"^[a-zA-Z0-9_-]{1,64}$"
RESERVED_HYPERPARAMETER_PREFIX: Final = "sagemaker_"
MAX_HYPERPARAMETERS: Final = 50
MAX_HYPERPARAMETER_VALUE_CHARS: Final = 1024
MAX_HYPERPARAMETER_TOTAL_CHARS: Final = 8192

# TrainingInputMode values train.py reads (File and FastFile both give it files; Pipe is refused).
INPUT_MODES: Final = ("File", "FastFile")

# Validation context: botocore shape → the default value the CDK app checked against it at synth.
SYNTH_CHECKED: Final = "synth_checked"


# --- field types ---------------------------------------------------------------------------------


def sagemaker_value(api: SageMakerEnum) -> Callable[[str, ValidationInfo], str]:
    """A validator: ``value`` must be one SageMaker's API model allows (instance types...).

    At run time the configured default passes as is (``context[SYNTH_CHECKED]``): the CDK app
    checked it at synth with its own botocore, which may know instance types newer than the
    botocore of the Lambda runtime.
    """

    def check(value: str, info: ValidationInfo) -> str:
        if value == (info.context or {}).get(SYNTH_CHECKED, {}).get(api.shape):
            return value
        what = api.expectation(value)
        if what is not None:
            raise expected(what)
        return value

    return check


def _gate_metric(value: str) -> str:
    # Any metric evaluate_predictions computes can gate (the evaluation workflow reads the same list).
    if value not in EVALUATION_METRICS:
        raise expected(f"one of {', '.join(EVALUATION_METRICS)}")
    return value


def _hyperparameter_name(name: str) -> str:
    if not re.match(HYPERPARAMETER_NAME_PATTERN, name):
        raise expected("a hyperparameter name of 1-64 letters, digits, '_' or '-'", got=name)
    if name.startswith(RESERVED_HYPERPARAMETER_PREFIX):
        raise expected(f"a name not starting with '{RESERVED_HYPERPARAMETER_PREFIX}' (set by the workflow)")
    # "batch_size" would reach the script as an unknown --batch_size and be silently ignored.
    spelled = {field.alias or key: key for key, field in Hyperparameters.model_fields.items()}
    canonical = name.replace("_", "-").lower()
    if canonical in spelled and canonical != name:
        raise expected(f"the spelling '{canonical}' (the training script's argument name)", got=name)
    return name


def _hyperparameter_value(value: Any) -> str | int | float | bool:
    # One check instead of a str|int|float|bool union, whose errors come one per member.
    if isinstance(value, str):
        if len(value) > MAX_HYPERPARAMETER_VALUE_CHARS:
            raise expected(f"a string of at most {MAX_HYPERPARAMETER_VALUE_CHARS} characters")
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise expected("a finite number")
    if isinstance(value, bool | int | float):
        return value
    raise expected("a string, integer, number or boolean (hyperparameters cannot be nested)")


def _input_mode(value: str) -> str:
    if value == "Pipe":
        # train.py would need PipeModeDataset (sagemaker-tensorflow-extensions), which stops at
        # TensorFlow 2.14 and is not in the pinned TF 2.x training images (docs/local-mode.md).
        raise expected(
            f"one of {', '.join(INPUT_MODES)}: Pipe needs PipeModeDataset, which the pinned TensorFlow "
            "training image does not provide; FastFile streams the channels from S3 instead"
        )
    if value not in INPUT_MODES:
        raise expected(f"one of {', '.join(INPUT_MODES)}")
    return value


# WithJsonSchema: custom validators are invisible to the generated schema, the CLI still wants the shape.
TrainingInstanceType = Annotated[
    str,
    AfterValidator(sagemaker_value(TRAINING_INSTANCE_TYPE)),
    WithJsonSchema(TRAINING_INSTANCE_TYPE.json_schema()),
]
ProcessingInstanceType = Annotated[
    str,
    AfterValidator(sagemaker_value(PROCESSING_INSTANCE_TYPE)),
    WithJsonSchema(PROCESSING_INSTANCE_TYPE.json_schema()),
]
TransformInstanceType = Annotated[
    str,
    AfterValidator(sagemaker_value(TRANSFORM_INSTANCE_TYPE)),
    WithJsonSchema(TRANSFORM_INSTANCE_TYPE.json_schema()),
]
InstanceCount = Annotated[int, Field(ge=1, le=MAX_INSTANCES)]
UnitInterval = Annotated[float, Field(ge=0.0, le=1.0)]
Seconds = Annotated[int, Field(ge=60, le=MAX_RUNTIME_SECONDS)]
GateMetric = Annotated[
    str,
    AfterValidator(_gate_metric),
    WithJsonSchema({"type": "string", "enum": list(EVALUATION_METRICS)}),
]
InputMode = Annotated[
    str, AfterValidator(_input_mode), WithJsonSchema({"type": "string", "enum": list(INPUT_MODES)})
]
HyperparameterName = Annotated[
    str,
    AfterValidator(_hyperparameter_name),
    WithJsonSchema({"type": "string", "pattern": HYPERPARAMETER_NAME_PATTERN}),
]
HyperparameterValue = Annotated[
    str | int | float | bool,
    PlainValidator(_hyperparameter_value),
    WithJsonSchema({"type": ["string", "integer", "number", "boolean"]}),
]


# --- sections ------------------------------------------------------------------------------------


class Section(BaseModel):
    # strict: "12" is not an int and 1 is not a bool; a float field still takes an int.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


class Hyperparameters(BaseModel):
    """The training script's arguments: three known ones, bounded, plus any scalar extras.

    train.py has no defaults for the three: the workflow always passes them.
    """

    model_config = ConfigDict(
        extra="allow",
        strict=True,
        allow_inf_nan=False,
        # Aliases only ("batch-size"); populate_by_name stays off so "batch_size" is an extra, refused below.
        json_schema_extra={"propertyNames": {"pattern": HYPERPARAMETER_NAME_PATTERN}},
    )
    __pydantic_extra__: dict[HyperparameterName, HyperparameterValue] = Field(init=False)

    epochs: int = Field(ge=1, le=MAX_EPOCHS)
    batch_size: int = Field(alias="batch-size", ge=1, le=65536)
    learning_rate: float = Field(alias="learning-rate", gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _bounded_size(self) -> Hyperparameters:
        values = self.as_arguments()
        if len(values) > MAX_HYPERPARAMETERS:
            raise expected(f"at most {MAX_HYPERPARAMETERS} hyperparameters", got=len(values))
        total = sum(len(name) + len(str(value)) for name, value in values.items())
        if total > MAX_HYPERPARAMETER_TOTAL_CHARS:
            raise expected(
                f"at most {MAX_HYPERPARAMETER_TOTAL_CHARS} characters of names and values in total",
                got=total,
            )
        return self

    def as_arguments(self) -> dict[str, str | int | float | bool]:
        """Name → value as the training script reads them (``batch-size``), extras last."""
        return self.model_dump(by_alias=True)


class TrainingSettings(Section):
    """The training job (tuning trials run on the training instance type too)."""

    instance_type: TrainingInstanceType
    instance_count: InstanceCount
    use_spot: bool
    max_runtime_seconds: Seconds
    # SageMaker reads MaxWaitTimeInSeconds only for managed spot training (validate_default:
    # leaving it out must fail with use_spot as None does).
    max_wait_seconds: Seconds | None = Field(default=None, validate_default=True)
    volume_size_gb: int = Field(ge=1, le=MAX_VOLUME_SIZE_GB)
    # How the TFRecord channels reach the job (TrainingInputMode); FastFile streams them from S3.
    input_mode: InputMode = "FastFile"
    # A warm pool (ResourceConfig.KeepAlivePeriodInSeconds): the retrain loop's next attempt starts
    # on the instances the last one used. 0: none. SageMaker allows at most 3600 s.
    keep_alive_seconds: int = Field(default=0, ge=0, le=MAX_KEEP_ALIVE_SECONDS)

    @field_validator("max_wait_seconds")
    @classmethod
    def _spot_needs_wait(cls, value: int | None, info: ValidationInfo) -> int | None:
        # SageMaker rejects managed spot training without MaxWaitTimeInSeconds >= MaxRuntimeInSeconds.
        runtime = info.data.get("max_runtime_seconds")
        if info.data.get("use_spot") and runtime is not None and (value is None or value < runtime):
            raise expected(
                f"at least training.max_runtime_seconds ({runtime}) when training.use_spot is true"
            )
        return value

    @field_validator("keep_alive_seconds")
    @classmethod
    def _warm_pools_are_on_demand(cls, value: int, info: ValidationInfo) -> int:
        # "Warm pools are not supported with managed spot training" (SageMaker developer guide,
        # train-warm-pools.html, Considerations).
        if value > 0 and info.data.get("use_spot"):
            raise expected(
                "0 when training.use_spot is true: SageMaker keeps no warm pool for managed spot "
                "training (set training.use_spot to false to keep instances warm between attempts)"
            )
        return value


class ProcessingSettings(Section):
    """The Preprocess step's processing job: an instance type and count."""

    instance_type: ProcessingInstanceType
    instance_count: InstanceCount


class TransformSettings(Section):
    """Batch transform (evaluation): an instance type and count."""

    instance_type: TransformInstanceType
    instance_count: InstanceCount


class TuningSettings(Section):
    enabled: bool
    max_jobs: int = Field(ge=1, le=MAX_TUNING_JOBS)
    max_parallel_jobs: int = Field(ge=1, le=MAX_TUNING_JOBS)

    @field_validator("max_parallel_jobs")
    @classmethod
    def _not_above_max_jobs(cls, value: int, info: ValidationInfo) -> int:
        max_jobs = info.data.get("max_jobs")
        if max_jobs is not None and value > max_jobs:
            raise expected(f"at most tuning.max_jobs ({max_jobs})")
        return value


class GateSettings(Section):
    """The quality gate and the retrain loop (``quality_gate`` in cdk.json, ``gate`` in the input)."""

    metric: GateMetric
    threshold: UnitInterval
    tolerance: UnitInterval
    max_attempts: int = Field(ge=1, le=MAX_ATTEMPTS)
    retrain_epoch_increment: int = Field(ge=0, le=MAX_EPOCHS)
    # After the gate passes, "manual" waits for a person's decision (pipeline_constructs/approval_gate.py)
    # for at most approval_timeout_seconds (the wait's TimeoutSeconds), then rejects the model.
    approval: Literal["none", "manual"] = "none"
    approval_timeout_seconds: int = Field(
        default=DEFAULT_APPROVAL_TIMEOUT_SECONDS, ge=1, le=MAX_APPROVAL_SECONDS
    )


class CacheSettings(Section):
    """The step cache: a job whose same work was done before is not run again (docs/architecture.md)."""

    enabled: bool
    # Entries older than this are not reused (and DynamoDB's TTL deletes them).
    max_age_days: int = Field(ge=1, le=MAX_CACHE_AGE_DAYS)


def check_last_attempt_epochs(hyperparameters: Hyperparameters, gate: GateSettings, gate_key: str) -> None:
    """Each retry trains ``retrain_epoch_increment`` more epochs: the last attempt must stay in bounds.

    ``gate_key`` is the gate's name where the settings are written (cdk.json and the input differ).
    """
    last = hyperparameters.epochs + (gate.max_attempts - 1) * gate.retrain_epoch_increment
    if last > MAX_EPOCHS:
        raise expected(
            f"epochs + ({gate_key}.max_attempts - 1) * {gate_key}.retrain_epoch_increment <= {MAX_EPOCHS} "
            "(the epochs of the last attempt)",
            field="hyperparameters.epochs",
            got=last,
        )
