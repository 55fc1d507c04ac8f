"""`approve` and `reject`: a person's decision on a model that waits at manual approval.

The training workflow waits on the task token lambdas/approval_request.py stored in the model's
registry item. A decision reads the item (refused unless the model is PENDING_APPROVAL and the
champion it was compared with is still the one deployed), asks STS who is deciding, and sends
SendTaskSuccess (approve) or SendTaskFailure (reject) with that identity and the reason; the
workflow records both in the registry. IAM: states:SendTaskSuccess / states:SendTaskFailure,
sts:GetCallerIdentity (always allowed) and the registry read (docs/cli.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import ClientError

from lambdas.approval_request import REJECTED_ERROR, Decision
from lambdas.model_registry import (
    APPROVAL_CHAMPION,
    APPROVAL_TOKEN,
    DECIDED_AT,
    DECIDED_BY,
    DECISION_REASON,
    PARTITION_KEY,
    ModelStatus,
)
from pipeline_cli.backend import Backend
from pipeline_cli.errors import CliError, error_code
from pipeline_cli.registry import get_model, newest_with_status

# What Step Functions answers for a token whose task no longer waits (timed out, stopped, decided).
_ENDED_TASK_CODES: Final = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})
MAX_REASON_CHARS: Final = 1024


@dataclass(frozen=True)
class Pending:
    """A model waiting for a decision, with what the decision needs."""

    model_name: str
    token: str
    champion: str
    execution_arn: str


def pending_model(backend: Backend, name: str) -> Pending:
    """The model `name` if it waits for a decision; otherwise why nothing can be decided."""
    model = get_model(backend, name)
    if model is None:
        raise CliError(f"No model named {name} in the registry: see `models --status PENDING_APPROVAL`.")
    status = str(model.get("status", "?"))
    if status != ModelStatus.PENDING_APPROVAL or not model.get(APPROVAL_TOKEN):
        raise CliError(f"Model {name} is {status}, not PENDING_APPROVAL: {_why_not_pending(model)}")
    return Pending(
        model_name=name,
        token=str(model[APPROVAL_TOKEN]),
        champion=str(model.get(APPROVAL_CHAMPION, "")),
        execution_arn=str(model.get("execution_arn", "")),
    )


def _why_not_pending(model: dict[str, Any]) -> str:
    if model.get(DECIDED_BY):
        reason = model.get(DECISION_REASON) or "no reason given"
        return (
            f"it was already decided by {model[DECIDED_BY]} at {model.get(DECIDED_AT, '?')} ({reason}); "
            "a decision cannot be changed."
        )
    if model.get("status") in (ModelStatus.DEPLOYED, ModelStatus.RETIRED, ModelStatus.EVALUATED):
        return "its run did not ask for approval (quality_gate.approval is none)."
    return "only a model waiting at manual approval can be approved or rejected."


def refuse_if_superseded(backend: Backend, pending: Pending) -> None:
    """The candidate was compared with one champion: approving it after another model was deployed
    would serve a model that was never compared with what it replaces."""
    deployed = [str(m[PARTITION_KEY]) for m in newest_with_status(backend, ModelStatus.DEPLOYED)]
    current = deployed[0] if deployed else ""
    if current != pending.champion:
        compared = pending.champion or "no champion"
        raise CliError(
            f"Model {pending.model_name} is superseded: it was compared with {compared}, but "
            f"{current or 'no model'} is deployed now, so its evaluation no longer holds. Reject it "
            f"(`reject {pending.model_name} --reason superseded`) and start a new run."
        )


def caller_identity(backend: Backend) -> str:
    """Who is deciding: the caller's ARN as STS sees it (an assumed role's session included)."""
    return str(backend.client("sts").get_caller_identity()["Arn"])


def approve(backend: Backend, name: str, reason: str = "") -> Decision:
    """SendTaskSuccess for a pending, current model; returns the decision sent."""
    pending = pending_model(backend, name)
    refuse_if_superseded(backend, pending)
    decision = Decision(decided_by=caller_identity(backend), reason=_checked(reason))
    _send(
        backend,
        pending,
        lambda sfn: sfn.send_task_success(taskToken=pending.token, output=decision.to_json()),
    )
    return decision


def reject(backend: Backend, name: str, reason: str) -> Decision:
    """SendTaskFailure for a pending model (superseded or not); returns the decision sent."""
    if not reason.strip():
        raise CliError("--reason is required to reject a model: say why (it is recorded in the registry).", 2)
    pending = pending_model(backend, name)
    decision = Decision(decided_by=caller_identity(backend), reason=_checked(reason))
    _send(
        backend,
        pending,
        lambda sfn: sfn.send_task_failure(
            taskToken=pending.token, error=REJECTED_ERROR, cause=decision.to_json()
        ),
    )
    return decision


def _checked(reason: str) -> str:
    if len(reason) > MAX_REASON_CHARS:
        raise CliError(f"--reason: expected at most {MAX_REASON_CHARS} characters, got {len(reason)}.", 2)
    return reason.strip()


def _send(backend: Backend, pending: Pending, call: Any) -> None:
    try:
        call(backend.client("stepfunctions"))
    except ClientError as error:
        if error_code(error) in _ENDED_TASK_CODES:
            raise CliError(
                f"The run that waited for {pending.model_name}'s approval no longer waits "
                f"({error_code(error)}: it timed out, was stopped or was decided meanwhile); see "
                f"`watch {pending.execution_arn}`."
            ) from None
        raise
