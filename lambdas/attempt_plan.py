"""Plan one training attempt (the ``PlanAttempt`` state): names, URIs and hyperparameters.

Everything is derived from the run and the attempt number only, so a retried
Lambda invocation plans the same names (SageMaker then rejects a duplicate job
instead of the workflow starting a second one). See docs/architecture.md, ``$.attempt``;
besides the documented keys the plan carries what the SageMaker tasks take as a
whole (script-mode hyperparameters, stopping condition, output URIs).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Final

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lambdas.artifact_layout import CHECKPOINTS_PREFIX, EVALUATIONS_PREFIX, MODELS_PREFIX, TRANSFORM_PREFIX
from lambdas.attempt_state import TUNED_HYPERPARAMETERS, AttemptPlan
from lambdas.execution_input import ARTIFACTS_BUCKET_ENV, RUN_ID_PATTERN
from lambdas.lambda_env import env_str
from lambdas.plain_numbers import plain_decimal
from lambdas.validation_messages import describe_validation_error

logger = Logger()

PROJECT_PREFIX_ENV: Final = "PROJECT_PREFIX"
TRAINING_CODE_URI_ENV: Final = "TRAINING_CODE_URI"
TRAINING_ENTRY_POINT_ENV: Final = "TRAINING_ENTRY_POINT"
# SageMaker's rule for model, job and endpoint-config names; tuning job names are shorter.
SAGEMAKER_NAME_PATTERN: Final = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
SAGEMAKER_NAME_MAX: Final = 63
TUNING_JOB_NAME_MAX: Final = 32
CANDIDATE_TRANSFORM_SUFFIX: Final = "-eval"
CHAMPION_TRANSFORM_SUFFIX: Final = "-champ"
EPOCHS_HYPERPARAMETER: Final = "epochs"
# Makes the TensorFlow container start MultiWorkerMirroredStrategy across instances.
MULTI_WORKER_HYPERPARAMETER: Final = "sagemaker_multi_worker_mirrored_strategy_enabled"
# Script mode: the TensorFlow container downloads the code archive and runs the entry point.
PROGRAM_HYPERPARAMETER: Final = "sagemaker_program"
SUBMIT_DIRECTORY_HYPERPARAMETER: Final = "sagemaker_submit_directory"
REGION_HYPERPARAMETER: Final = "sagemaker_region"
__all__ = ["TUNED_HYPERPARAMETERS", "AttemptPlan", "handler", "plan_attempt"]


class InvalidAttemptEvent(ValueError):
    """The event is not ``{"run": $.run, "attempt": n}`` with a usable run and attempt number."""


class InvalidResourceName(ValueError):
    """A planned SageMaker name breaks SageMaker's naming rules (usually: PROJECT_PREFIX is too long)."""


class _View(BaseModel):
    # The run was validated by ValidateInput; read only what planning needs.
    model_config = ConfigDict(extra="ignore", strict=True)


class _TrainingView(_View):
    instance_type: str
    instance_count: int = Field(ge=1)
    volume_size_gb: int = Field(ge=1)
    keep_alive_seconds: int = Field(default=0, ge=0)
    use_spot: bool
    max_runtime_seconds: int = Field(ge=1)
    max_wait_seconds: int | None = None


class _GateView(_View):
    max_attempts: int = Field(ge=1)
    retrain_epoch_increment: int = Field(ge=0)


class RunView(_View):
    run_id: str = Field(pattern=RUN_ID_PATTERN)
    hyperparameters: dict[str, Any]
    training: _TrainingView
    gate: _GateView


class AttemptEvent(_View):
    run: RunView
    attempt: int = Field(ge=1)


@dataclass(frozen=True)
class PlanSettings:
    """What the CDK app fixes for every attempt (the function's environment)."""

    project_prefix: str
    artifacts_bucket: str
    code_uri: str  # the training-code archive, s3://.../*.tar.gz
    entry_point: str
    region: str | None = None

    @classmethod
    def from_env(cls) -> PlanSettings:
        return cls(
            project_prefix=env_str(PROJECT_PREFIX_ENV),
            artifacts_bucket=env_str(ARTIFACTS_BUCKET_ENV),
            code_uri=env_str(TRAINING_CODE_URI_ENV),
            entry_point=env_str(TRAINING_ENTRY_POINT_ENV),
            region=os.environ.get("REGION") or os.environ.get("AWS_REGION"),
        )


def hyperparameter_string(value: object) -> str:
    """A hyperparameter value as SageMaker takes it: ``True -> "true"``, ``1e-05 -> "0.00001"``."""
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "true" if value else "false"
    if isinstance(value, int | float):
        return plain_decimal(value)
    if isinstance(value, str):
        return value
    raise TypeError(f"expected a string, number or boolean hyperparameter, got {type(value).__name__}")


def check_sagemaker_name(kind: str, name: str, max_length: int = SAGEMAKER_NAME_MAX) -> str:
    """``name`` if SageMaker accepts it for ``kind``; otherwise InvalidResourceName saying why."""
    if len(name) > max_length:
        raise InvalidResourceName(
            f"{kind} '{name}' is {len(name)} characters, SageMaker allows {max_length}: "
            f"shorten {PROJECT_PREFIX_ENV} by {len(name) - max_length} or more"
        )
    if not SAGEMAKER_NAME_PATTERN.match(name):
        raise InvalidResourceName(
            f"{kind} '{name}' must be letters, digits and hyphens, start and end with a letter or digit"
        )
    return name


def tuning_job_name(project_prefix: str, run_id: str, number: int) -> str:
    """``{prefix}-{run_id}-a{n}`` cut to 32 characters by shortening the prefix, never the unique part."""
    unique = f"{run_id}-a{number}"
    room = TUNING_JOB_NAME_MAX - len(unique) - 1  # one hyphen between prefix and unique part
    short_prefix = project_prefix[: max(room, 0)].rstrip("-")
    name = f"{short_prefix}-{unique}" if short_prefix else unique
    return check_sagemaker_name("tuning job name", name, TUNING_JOB_NAME_MAX)


def plan_attempt(run: RunView, number: int, settings: PlanSettings) -> dict[str, Any]:
    """``$.attempt`` (an ``AttemptPlan``, as state data) for attempt ``number`` (1-based) of ``run``."""
    if number > run.gate.max_attempts:
        raise InvalidAttemptEvent(
            f"attempt: expected 1..gate.max_attempts ({run.gate.max_attempts}), got {number}"
        )
    prefix = settings.project_prefix
    if not SAGEMAKER_NAME_PATTERN.match(prefix):
        raise InvalidResourceName(
            f"{PROJECT_PREFIX_ENV} '{prefix}' must be letters, digits and hyphens, "
            "start and end with a letter or digit"
        )
    base = f"{prefix}-{run.run_id}-a{number}"
    transform_job = check_sagemaker_name("transform job name", base + CANDIDATE_TRANSFORM_SUFFIX)
    champion_job = check_sagemaker_name("champion transform job name", base + CHAMPION_TRANSFORM_SUFFIX)
    hyperparameters = attempt_hyperparameters(run, number, settings)
    artifacts = f"s3://{settings.artifacts_bucket}/"
    plan = AttemptPlan(
        number=number,
        model_name=check_sagemaker_name("model name", base),
        training_job_name=check_sagemaker_name("training job name", base),
        tuning_job_name=tuning_job_name(prefix, run.run_id, number),
        endpoint_config_name=check_sagemaker_name("endpoint config name", base),
        transform_job_name=transform_job,
        champion_transform_job_name=champion_job,
        hyperparameters=hyperparameters,
        static_hyperparameters={
            name: value for name, value in hyperparameters.items() if name not in TUNED_HYPERPARAMETERS
        },
        stopping_condition=stopping_condition(run),
        resource_config=resource_config(run),
        # SageMaker adds <job name>/output/model.tar.gz below the output path.
        training_output_uri=artifacts + MODELS_PREFIX,
        # Per attempt: a spot restart resumes its own job, a retry with more epochs starts afresh.
        checkpoint_uri=f"{artifacts}{CHECKPOINTS_PREFIX}{base}/",
        transform_output_uri=f"{artifacts}{TRANSFORM_PREFIX}{transform_job}/",
        champion_transform_output_uri=f"{artifacts}{TRANSFORM_PREFIX}{champion_job}/",
        report_uri=f"{artifacts}{EVALUATIONS_PREFIX}{base}/",
    )
    return plan.model_dump()


def attempt_hyperparameters(run: RunView, number: int, settings: PlanSettings) -> dict[str, str]:
    """The run's hyperparameters as SageMaker strings, adjusted for this attempt, plus script mode's."""
    epochs = run.hyperparameters.get(EPOCHS_HYPERPARAMETER)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise InvalidAttemptEvent(f"run.hyperparameters.epochs: expected an integer >= 1, got {epochs!r}")
    try:
        hyperparameters = {name: hyperparameter_string(value) for name, value in run.hyperparameters.items()}
    except (TypeError, ValueError) as err:
        raise InvalidAttemptEvent(f"run.hyperparameters: {err}") from err
    # Each rejected attempt trains longer: the usual reason for missing the gate is under-training.
    hyperparameters[EPOCHS_HYPERPARAMETER] = str(epochs + (number - 1) * run.gate.retrain_epoch_increment)
    if run.training.instance_count > 1:
        hyperparameters[MULTI_WORKER_HYPERPARAMETER] = "true"
    hyperparameters[PROGRAM_HYPERPARAMETER] = settings.entry_point
    hyperparameters[SUBMIT_DIRECTORY_HYPERPARAMETER] = settings.code_uri
    if settings.region:
        hyperparameters[REGION_HYPERPARAMETER] = settings.region
    return hyperparameters


def stopping_condition(run: RunView) -> dict[str, int]:
    """SageMaker's StoppingCondition; MaxWaitTimeInSeconds only with spot (it is refused otherwise)."""
    condition = {"MaxRuntimeInSeconds": run.training.max_runtime_seconds}
    if run.training.use_spot:
        if run.training.max_wait_seconds is None:
            raise InvalidAttemptEvent(
                "run.training.max_wait_seconds: expected a number when use_spot is true"
            )
        condition["MaxWaitTimeInSeconds"] = run.training.max_wait_seconds
    return condition


def resource_config(run: RunView) -> dict[str, str | int]:
    """SageMaker's ResourceConfig; KeepAlivePeriodInSeconds only when the run asks for a warm pool."""
    config: dict[str, str | int] = {
        "InstanceType": run.training.instance_type,
        "InstanceCount": run.training.instance_count,
        "VolumeSizeInGB": run.training.volume_size_gb,
    }
    if run.training.keep_alive_seconds > 0:
        config["KeepAlivePeriodInSeconds"] = run.training.keep_alive_seconds
    return config


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        request = AttemptEvent.model_validate(event)
    except ValidationError as err:
        raise InvalidAttemptEvent("; ".join(describe_validation_error(err, AttemptEvent))) from None
    attempt = plan_attempt(request.run, request.attempt, PlanSettings.from_env())
    logger.info("Attempt planned", extra={"run_id": request.run.run_id, "attempt": attempt})
    return attempt
