"""Validate and complete a workflow's execution input (the ``ValidateInput`` state).

The pydantic models below are the one execution-input schema: the Lambda, local
mode and the operator CLI all validate with them. The input may give any subset
of the settings; it is deep-merged over the defaults the CDK app writes into
``TRAINING_DEFAULTS`` / ``EVALUATION_DEFAULTS`` (same shape as the settings), and
the merged result must be complete and valid. See docs/architecture.md, ``$.run``.
"""

from __future__ import annotations

import copy
import math
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, TypeVar

from artifact_layout import PREPARED_PREFIX
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from lambda_env import env_json_object, env_str
from model_registry import EVALUATION_METRICS
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from s3_uris import S3_SCHEME, S3UriError, s3_prefix, split_s3_uri
from sagemaker_api import (
    PROCESSING_INSTANCE_TYPE,
    TRAINING_INSTANCE_TYPE,
    TRANSFORM_INSTANCE_TYPE,
    SageMakerEnum,
)
from validation_messages import describe_validation_error, expected, show_value

logger = Logger()
_Model = TypeVar("_Model", bound=BaseModel)

RUN_ID_TIME_FORMAT: Final = "%y%m%d%H%M%S"
RUN_ID_PATTERN: Final = r"^[a-z0-9-]{1,24}$"

MAX_RUNTIME_SECONDS: Final = 5 * 24 * 3600
MAX_EPOCHS: Final = 1000
MAX_INSTANCES: Final = 100
MAX_REASON_CHARS: Final = 256
# Hyperparameters reach SageMaker as a string map (and the training script as
# command-line arguments): keep the map small, names argparse-friendly, and the
# ``sagemaker_`` names (entry point, code location, distribution) to the workflow.
HYPERPARAMETER_NAME_PATTERN: Final = r"^[a-zA-Z0-9_-]{1,64}$"
RESERVED_HYPERPARAMETER_PREFIX: Final = "sagemaker_"
MAX_HYPERPARAMETERS: Final = 50
MAX_HYPERPARAMETER_VALUE_CHARS: Final = 1024
MAX_HYPERPARAMETER_TOTAL_CHARS: Final = 8192

TRAINING_DEFAULTS_ENV: Final = "TRAINING_DEFAULTS"
EVALUATION_DEFAULTS_ENV: Final = "EVALUATION_DEFAULTS"
DATA_BUCKET_ENV: Final = "DATA_BUCKET"
ARTIFACTS_BUCKET_ENV: Final = "ARTIFACTS_BUCKET"


# Validation context: botocore shape → the default value the CDK app checked against it at synth.
SYNTH_CHECKED: Final = "synth_checked"
# Where the defaults hold each value the app checked against SageMaker's model.
_SYNTH_CHECKED_FIELDS: Final = {
    TRAINING_INSTANCE_TYPE.shape: ("training", "instance_type"),
    PROCESSING_INSTANCE_TYPE.shape: ("processing", "instance_type"),
    TRANSFORM_INSTANCE_TYPE.shape: ("transform", "instance_type"),
}


class InvalidExecutionInput(ValueError):
    """The execution input cannot be used; the message lists every problem, one per field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"Invalid execution input ({count}): " + "; ".join(problems))


@dataclass(frozen=True)
class ProjectBuckets:
    """The only buckets the project's SageMaker role may read."""

    data: str
    artifacts: str

    @classmethod
    def from_env(cls) -> ProjectBuckets:
        return cls(data=env_str(DATA_BUCKET_ENV), artifacts=env_str(ARTIFACTS_BUCKET_ENV))


# --- field types ---------------------------------------------------------------------------------


def _project_prefix(value: str, info: ValidationInfo) -> str:
    try:
        uri = s3_prefix(value)
    except S3UriError as err:
        raise expected(str(err)) from err
    buckets = (info.context or {}).get("buckets")
    if not isinstance(buckets, ProjectBuckets):
        raise TypeError("validate with context={'buckets': ProjectBuckets(...)}")
    bucket, _ = split_s3_uri(uri)
    if bucket not in (buckets.data, buckets.artifacts):
        raise expected(
            f"a prefix in the project's data bucket ({buckets.data}) or artifacts bucket "
            f"({buckets.artifacts}): the SageMaker role can read nothing else"
        )
    return uri


def _sagemaker_value(api: SageMakerEnum) -> Callable[[str, ValidationInfo], str]:
    """A validator: ``value`` must be one SageMaker's API model allows (instance types...).

    The configured default passes as is: the CDK app checked it at synth with its own botocore,
    which may know instance types newer than the botocore of the Lambda runtime.
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


# WithJsonSchema: custom validators are invisible to the generated schema, the CLI still wants the shape.
S3Prefix = Annotated[
    str,
    AfterValidator(_project_prefix),
    WithJsonSchema({"type": "string", "pattern": "^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+"}),
]
TrainingInstanceType = Annotated[
    str,
    AfterValidator(_sagemaker_value(TRAINING_INSTANCE_TYPE)),
    WithJsonSchema(TRAINING_INSTANCE_TYPE.json_schema()),
]
ProcessingInstanceType = Annotated[
    str,
    AfterValidator(_sagemaker_value(PROCESSING_INSTANCE_TYPE)),
    WithJsonSchema(PROCESSING_INSTANCE_TYPE.json_schema()),
]
TransformInstanceType = Annotated[
    str,
    AfterValidator(_sagemaker_value(TRANSFORM_INSTANCE_TYPE)),
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


# --- settings models -----------------------------------------------------------------------------


class _Settings(BaseModel):
    # strict: "12" is not an int and 1 is not a bool; a float field still takes an int.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


class Hyperparameters(BaseModel):
    """The training script's arguments: three known ones, bounded, plus any scalar extras."""

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
        values = self.model_dump(by_alias=True)
        if len(values) > MAX_HYPERPARAMETERS:
            raise expected(f"at most {MAX_HYPERPARAMETERS} hyperparameters", got=len(values))
        total = sum(len(name) + len(str(value)) for name, value in values.items())
        if total > MAX_HYPERPARAMETER_TOTAL_CHARS:
            raise expected(
                f"at most {MAX_HYPERPARAMETER_TOTAL_CHARS} characters of names and values in total",
                got=total,
            )
        return self


class TrainingSettings(_Settings):
    # Tuning trials run on the training instance type too.
    instance_type: TrainingInstanceType
    instance_count: InstanceCount
    use_spot: bool
    max_runtime_seconds: Seconds
    max_wait_seconds: Seconds | None = None
    volume_size_gb: int = Field(ge=1, le=16384)

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


class ProcessingSettings(_Settings):
    """The Preprocess step's processing job: an instance type and count."""

    instance_type: ProcessingInstanceType
    instance_count: InstanceCount


class TransformSettings(_Settings):
    """Batch transform (evaluation): an instance type and count."""

    instance_type: TransformInstanceType
    instance_count: InstanceCount


class TuningSettings(_Settings):
    enabled: bool
    max_jobs: int = Field(ge=1, le=100)
    max_parallel_jobs: int = Field(ge=1, le=100)

    @field_validator("max_parallel_jobs")
    @classmethod
    def _not_above_max_jobs(cls, value: int, info: ValidationInfo) -> int:
        max_jobs = info.data.get("max_jobs")
        if max_jobs is not None and value > max_jobs:
            raise expected(f"at most tuning.max_jobs ({max_jobs})")
        return value


class GateSettings(_Settings):
    metric: GateMetric
    threshold: UnitInterval
    tolerance: UnitInterval
    max_attempts: int = Field(ge=1, le=10)
    retrain_epoch_increment: int = Field(ge=0, le=MAX_EPOCHS)


class TrainingRunSettings(_Settings):
    """The training workflow's settings: ``$.run`` without the derived ``run_id`` and ``preprocess``."""

    raw_data_uri: S3Prefix | None = None
    data_uri: S3Prefix | None = None
    hyperparameters: Hyperparameters
    training: TrainingSettings
    processing: ProcessingSettings
    tuning: TuningSettings
    transform: TransformSettings
    gate: GateSettings
    reason: str = Field(default="manual start", max_length=MAX_REASON_CHARS)

    @model_validator(mode="after")
    def _one_data_source(self) -> TrainingRunSettings:
        if self.raw_data_uri is not None and self.data_uri is not None:
            raise expected(
                "either raw_data_uri (raw data to preprocess) or data_uri (prepared data), not both",
                field="data_uri",
                got=self.data_uri,
            )
        if self.raw_data_uri is None and self.data_uri is None:
            raise expected(
                "an s3:// prefix of prepared data (or raw_data_uri), and the defaults set neither",
                field="data_uri",
                got=None,
            )
        return self

    @model_validator(mode="after")
    def _last_attempt_epochs(self) -> TrainingRunSettings:
        # Each retry trains retrain_epoch_increment more epochs; the last attempt must stay in bounds.
        last = self.hyperparameters.epochs + (self.gate.max_attempts - 1) * self.gate.retrain_epoch_increment
        if last > MAX_EPOCHS:
            raise expected(
                f"epochs + (gate.max_attempts - 1) * gate.retrain_epoch_increment <= {MAX_EPOCHS} "
                "(the epochs of the last attempt)",
                field="hyperparameters.epochs",
                got=last,
            )
        return self


class EvaluationRunSettings(_Settings):
    """The evaluation workflow's settings (its output adds ``run_id``)."""

    data_uri: S3Prefix
    retrain_raw_data_uri: S3Prefix | None = None
    threshold: UnitInterval
    # The metric compared with the threshold (evaluate_predictions computes them all).
    metric: GateMetric = "accuracy"
    transform: TransformSettings
    retrain: bool = True

    @model_validator(mode="after")
    def _retrain_needs_data(self) -> EvaluationRunSettings:
        if self.retrain and self.retrain_raw_data_uri is None:
            raise expected(
                "an s3:// prefix of the raw data to retrain on when retrain is true",
                field="retrain_raw_data_uri",
                got=None,
            )
        return self


# --- validation ----------------------------------------------------------------------------------


def new_run_id(now: datetime | None = None) -> str:
    """``261122175012-a1b2c3``: sortable by start time, unique even within one second."""
    moment = now or datetime.now(UTC)
    return f"{moment.strftime(RUN_ID_TIME_FORMAT)}-{secrets.token_hex(3)}"


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``: objects merge key by key, anything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def validate_training_input(raw: Any, defaults: dict[str, Any], buckets: ProjectBuckets) -> dict[str, Any]:
    """The training execution input, merged over ``defaults`` and validated, as ``$.run``."""
    merged = _merge_input(raw, defaults)
    # The input's data source replaces the defaults' one: naming raw data means "preprocess
    # this", naming prepared data means "skip preprocessing", whatever the defaults say.
    if raw.get("raw_data_uri") is not None and "data_uri" not in raw:
        merged["data_uri"] = None
    if raw.get("data_uri") is not None and "raw_data_uri" not in raw:
        merged["raw_data_uri"] = None
    settings = _validate(TrainingRunSettings, merged, buckets, defaults)
    run_id = new_run_id()
    run = settings.model_dump(mode="json", by_alias=True)
    preprocess = settings.raw_data_uri is not None
    if preprocess:  # the Preprocess step writes the prepared channels here
        run["data_uri"] = f"{S3_SCHEME}{buckets.data}/{PREPARED_PREFIX}{run_id}/"
    return {"run_id": run_id, "preprocess": preprocess, **run}


def validate_evaluation_input(raw: Any, defaults: dict[str, Any], buckets: ProjectBuckets) -> dict[str, Any]:
    """The evaluation execution input, merged over ``defaults`` and validated, plus ``run_id``."""
    settings = _validate(EvaluationRunSettings, _merge_input(raw, defaults), buckets, defaults)
    return {"run_id": new_run_id(), **settings.model_dump(mode="json")}


def training_input_json_schema() -> dict[str, Any]:
    """JSON Schema of a training execution input (every field optional: defaults fill the rest).

    Cross-field rules (spot wait time, parallel jobs, one data source, bucket
    membership) are not expressible here; ``validate_training_input`` checks them.
    """
    return _all_optional(TrainingRunSettings.model_json_schema(by_alias=True))


def evaluation_input_json_schema() -> dict[str, Any]:
    """JSON Schema of an evaluation execution input (every field optional)."""
    return _all_optional(EvaluationRunSettings.model_json_schema(by_alias=True))


# Step Functions adds this to the input of an execution another one started (startExecution
# with AssociateWithParent); it links the two in the console and is not a setting.
PARENT_EXECUTION_KEY: Final = "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"


def _merge_input(raw: Any, defaults: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidExecutionInput([f"input: expected a JSON object, got {show_value(raw)}"])
    settings = {key: value for key, value in raw.items() if key != PARENT_EXECUTION_KEY}
    return deep_merge(defaults, settings)


def _synth_checked(defaults: dict[str, Any]) -> dict[str, str]:
    checked = {}
    for shape, (section, field) in _SYNTH_CHECKED_FIELDS.items():
        value = defaults.get(section, {}).get(field) if isinstance(defaults.get(section), dict) else None
        if isinstance(value, str):
            checked[shape] = value
    return checked


def _validate(
    model: type[_Model], merged: dict[str, Any], buckets: ProjectBuckets, defaults: dict[str, Any]
) -> _Model:
    context = {"buckets": buckets, SYNTH_CHECKED: _synth_checked(defaults)}
    try:
        return model.model_validate(merged, context=context)
    except ValidationError as err:
        problems = describe_validation_error(
            err, model, missing="required, and neither the input nor the configured defaults set it"
        )
        raise InvalidExecutionInput(problems) from None


def _all_optional(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {key: _all_optional(value) for key, value in schema.items() if key != "required"}
    if isinstance(schema, list):
        return [_all_optional(item) for item in schema]
    return schema


# --- handler -------------------------------------------------------------------------------------


class ExecutionInputEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workflow: Literal["training", "evaluation"]
    input: Any


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        request = ExecutionInputEvent.model_validate(event)
    except ValidationError as err:
        raise InvalidExecutionInput(describe_validation_error(err, ExecutionInputEvent)) from None
    buckets = ProjectBuckets.from_env()
    if request.workflow == "training":
        run = validate_training_input(request.input, env_json_object(TRAINING_DEFAULTS_ENV), buckets)
    else:
        run = validate_evaluation_input(request.input, env_json_object(EVALUATION_DEFAULTS_ENV), buckets)
    logger.info("Execution input validated", extra={"workflow": request.workflow, "run": run})
    return run
