"""Ask a person to approve a model (the ``RequestApproval`` state, ``lambda:invoke.waitForTaskToken``).

The workflow waits on the task token this function records: the model becomes PENDING_APPROVAL in
the registry with the token, and the topic gets the candidate's and the champion's metrics, the
evaluation report and the commands to decide. ``mlpipeline approve`` sends SendTaskSuccess with
a ``Decision``; ``mlpipeline reject`` sends SendTaskFailure with ``REJECTED_ERROR`` and a
``Decision`` as the cause. The workflow records either in the registry. See docs/architecture.md.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lambdas.lambda_env import env_str
from lambdas.model_registry import (
    APPROVAL_CHAMPION,
    APPROVAL_EXPIRES_AT,
    APPROVAL_REQUESTED_AT,
    APPROVAL_TOKEN,
    PARTITION_KEY,
    ModelStatus,
    literal,
    status_write,
)
from lambdas.validation_messages import describe_validation_error

logger = Logger()

REGISTRY_TABLE_ENV: Final = "REGISTRY_TABLE"
TOPIC_ARN_ENV: Final = "TOPIC_ARN"
# `decided_by` when nobody decided within quality_gate.approval_timeout_seconds.
TIMEOUT_DECIDER: Final = "timeout"
EVENT: Final = "PENDING_APPROVAL"
SUBJECT: Final = "ML pipeline: model awaits approval"
CLI: Final = "mlpipeline"


class ModelRejectedByReviewer(Exception):
    """Not raised here: the error `mlpipeline reject` fails the waiting task with (SendTaskFailure)."""


# The workflow's Catch for it records REJECTED (aws_error_names finds the class: a name the task emits).
REJECTED_ERROR: Final = ModelRejectedByReviewer.__name__


class InvalidApprovalRequest(ValueError):
    """The state's payload is not what this function expects; the message names each field."""


class ModelNotAwaitingApproval(RuntimeError):
    """The model is not EVALUATED (or already PENDING_APPROVAL): nothing to ask a person about."""


class Decision(BaseModel):
    """What a person's decision carries: SendTaskSuccess's output, SendTaskFailure's cause (JSON)."""

    model_config = ConfigDict(extra="forbid")

    decided_by: str = Field(min_length=1)
    reason: str = ""

    def to_json(self) -> str:
        return self.model_dump_json()


class Scored(BaseModel):
    """A model as EvaluatePredictions scored it (only what the request shows)."""

    model_config = ConfigDict(extra="ignore")

    model_name: str
    metric: float
    metrics: dict[str, float | int]
    report_uri: str | None = None
    confusion_matrix_uri: str | None = None


class Evaluation(BaseModel):
    model_config = ConfigDict(extra="ignore")

    candidate: Scored
    champion: Scored | None = None


class Gate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    metric: str
    approval_timeout_seconds: int = Field(ge=1)


class ApprovalRequest(BaseModel):
    """The state's payload (see pipeline_constructs/approval_gate.py)."""

    model_config = ConfigDict(extra="forbid")

    task_token: str = Field(min_length=1)
    execution: str = Field(min_length=1)
    model_name: str = Field(min_length=1)
    gate: Gate
    evaluation: Evaluation


def iso(moment: datetime) -> str:
    """The registry's timestamp format (as `$$.State.EnteredTime` writes it)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def commands(model_name: str) -> dict[str, str]:
    """The commands that decide, as the message shows them."""
    return {
        "approve": f"{CLI} approve {model_name}",
        "reject": f'{CLI} reject {model_name} --reason "..."',
    }


def record_pending(dynamodb: Any, table: str, request: ApprovalRequest, now: datetime) -> str:
    """The model PENDING_APPROVAL with the task token; returns when the request expires."""
    expires_at = iso(now + timedelta(seconds=request.gate.approval_timeout_seconds))
    champion = request.evaluation.champion
    write = status_write(
        ModelStatus.PENDING_APPROVAL,
        now=literal(iso(now)),
        string=literal,
        attributes={
            APPROVAL_TOKEN: literal(request.task_token),
            APPROVAL_REQUESTED_AT: literal(iso(now)),
            APPROVAL_EXPIRES_AT: literal(expires_at),
            APPROVAL_CHAMPION: literal(champion.model_name if champion else ""),
        },
        expected=(ModelStatus.EVALUATED, ModelStatus.PENDING_APPROVAL),
    )
    try:
        dynamodb.update_item(
            TableName=table,
            Key={PARTITION_KEY: literal(request.model_name)},
            UpdateExpression=write.update_expression,
            ConditionExpression=write.condition_expression,
            ExpressionAttributeNames=write.names,
            ExpressionAttributeValues=write.values,
        )
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise ModelNotAwaitingApproval(
                f"model {request.model_name} is not EVALUATED: only a model that passed the quality "
                "gate can await approval"
            ) from None
        raise
    return expires_at


def _shown(model: Scored | None, metric: str) -> dict[str, Any] | None:
    if model is None:
        return None
    return {"model_name": model.model_name, metric: model.metric, "metrics": model.metrics}


def approval_message(request: ApprovalRequest, expires_at: str) -> dict[str, Any]:
    """The notification: what to decide on, and how."""
    candidate, metric = request.evaluation.candidate, request.gate.metric
    return {
        "event": EVENT,
        "execution": request.execution,
        "model_name": request.model_name,
        "metric": metric,
        "candidate": _shown(candidate, metric),
        "champion": _shown(request.evaluation.champion, metric),
        "report_uri": candidate.report_uri,
        "confusion_matrix_uri": candidate.confusion_matrix_uri,
        "expires_at": expires_at,
        **commands(request.model_name),
    }


@functools.cache
def _clients() -> tuple[Any, Any]:
    return boto3.client("dynamodb"), boto3.client("sns")


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        request = ApprovalRequest.model_validate(event)
    except ValidationError as err:
        raise InvalidApprovalRequest("; ".join(describe_validation_error(err, ApprovalRequest))) from None
    dynamodb, sns = _clients()
    expires_at = record_pending(dynamodb, env_str(REGISTRY_TABLE_ENV), request, datetime.now(UTC))
    message = approval_message(request, expires_at)
    sns.publish(TopicArn=env_str(TOPIC_ARN_ENV), Subject=SUBJECT, Message=json.dumps(message))
    logger.info("Approval requested", extra={"model_name": request.model_name, "expires_at": expires_at})
    # Step Functions ignores this: the task's output is what SendTaskSuccess sends.
    return {"model_name": request.model_name, "expires_at": expires_at}
