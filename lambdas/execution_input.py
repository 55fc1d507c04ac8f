"""Validate and complete a workflow's execution input (the ``ValidateInput`` state).

The pydantic models below are the one execution-input schema: the Lambda, local
mode and the operator CLI all validate with them. Their sections (hyperparameters,
training, processing, tuning, transform, gate) are run_settings.py's, which also
validate cdk.json at synth. The input may give any subset of the settings; it is
deep-merged over the defaults the CDK app writes into ``TRAINING_DEFAULTS`` /
``EVALUATION_DEFAULTS`` (same shape as the settings), and the merged result must be
complete and valid. See docs/architecture.md, ``$.run``.
"""

from __future__ import annotations

import copy
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, TypeVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)

from lambdas.artifact_layout import PREPARED_PREFIX
from lambdas.lambda_env import env_json_object, env_str
from lambdas.run_settings import (
    SYNTH_CHECKED,
    CacheSettings,
    GateMetric,
    GateSettings,
    Hyperparameters,
    ProcessingSettings,
    Section,
    TrainingSettings,
    TransformSettings,
    TuningSettings,
    UnitInterval,
    check_last_attempt_epochs,
)
from lambdas.s3_uris import S3_SCHEME, S3UriError, s3_prefix, split_s3_uri
from lambdas.sagemaker_api import PROCESSING_INSTANCE_TYPE, TRAINING_INSTANCE_TYPE, TRANSFORM_INSTANCE_TYPE
from lambdas.validation_messages import describe_validation_error, expected, show_value

logger = Logger()
_Model = TypeVar("_Model", bound=BaseModel)

RUN_ID_TIME_FORMAT: Final = "%y%m%d%H%M%S"
RUN_ID_PATTERN: Final = r"^[a-z0-9-]{1,24}$"
MAX_REASON_CHARS: Final = 256

TRAINING_DEFAULTS_ENV: Final = "TRAINING_DEFAULTS"
EVALUATION_DEFAULTS_ENV: Final = "EVALUATION_DEFAULTS"
DATA_BUCKET_ENV: Final = "DATA_BUCKET"
ARTIFACTS_BUCKET_ENV: Final = "ARTIFACTS_BUCKET"

# Where the defaults hold each value the app checked against SageMaker's model (run_settings.SYNTH_CHECKED).
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


# WithJsonSchema: custom validators are invisible to the generated schema, the CLI still wants the shape.
S3Prefix = Annotated[
    str,
    AfterValidator(_project_prefix),
    WithJsonSchema({"type": "string", "pattern": "^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+"}),
]


# --- the workflows' settings: run_settings' sections, plus what only an execution sets ------------


class TrainingRunSettings(Section):
    """The training workflow's settings: ``$.run`` without the derived ``run_id`` and ``preprocess``."""

    raw_data_uri: S3Prefix | None = None
    data_uri: S3Prefix | None = None
    hyperparameters: Hyperparameters
    training: TrainingSettings
    processing: ProcessingSettings
    tuning: TuningSettings
    transform: TransformSettings
    gate: GateSettings
    cache: CacheSettings
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
        check_last_attempt_epochs(self.hyperparameters, self.gate, "gate")
        return self


class EvaluationRunSettings(Section):
    """The evaluation workflow's settings (its output adds ``run_id``)."""

    data_uri: S3Prefix
    retrain_raw_data_uri: S3Prefix | None = None
    threshold: UnitInterval
    # The metric compared with the threshold (the defaults give cdk.json's quality_gate.metric).
    metric: GateMetric
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
