"""Manual approval (gate.approval: manual): approve, reject, time out, and a decision that comes too late.

Decisions go through the CLI's own functions (pipeline_cli/approval.py) against the local stack:
the registry read, STS's caller identity, SendTaskSuccess / SendTaskFailure on the stored token.
"""

from __future__ import annotations

from typing import Any, Final

import pytest

from lambdas.model_registry import (
    APPROVAL_CHAMPION,
    APPROVAL_TOKEN,
    DECIDED_AT,
    DECIDED_BY,
    DECISION_REASON,
    ModelStatus,
)
from pipeline_cli import approval
from pipeline_cli.errors import CliError
from tests.workflows.support import Stack, cli_backend, retried

MANUAL: Final = {"gate": {"approval": "manual", "max_attempts": 1}}


def pending(stack: Stack, arn: str) -> dict[str, Any]:
    """The execution's model once it waits for a decision (recorded, then announced)."""

    def waiting() -> bool:
        recorded = any(i["status"] == ModelStatus.PENDING_APPROVAL for i in stack.items_of(arn))
        return recorded and bool(stack.notifications(arn, "PENDING_APPROVAL"))

    assert retried(waiting, timeout=60), (stack.items_of(arn), stack.wait(arn, timeout=0.1))
    [item] = stack.items_of(arn)
    return item


def whoami(stack: Stack) -> str:
    return str(stack.cloud.client("sts").get_caller_identity()["Arn"])


def test_an_approved_model_is_deployed_and_the_registry_says_who_approved_it(stack: Stack) -> None:
    champion = stack.seed_champion()
    arn = stack.start("training", MANUAL, "approve")
    model = pending(stack, arn)
    name = str(model["model_name"])
    assert model[APPROVAL_TOKEN] and model[APPROVAL_CHAMPION] == champion
    assert stack.deployed() == [champion]  # nothing deployed while it waits
    [request] = stack.notifications(arn, "PENDING_APPROVAL")
    assert request["model_name"] == name and request["champion"]["model_name"] == champion
    assert request["candidate"]["accuracy"] == model["gate_metric"]
    assert request["report_uri"] == model["evaluation_report_uri"]
    assert request["approve"] == f"mlpipeline approve {name}"

    decision = approval.approve(cli_backend(stack), name, "metrics and report reviewed")
    result = stack.wait(arn)

    assert result.status == "SUCCEEDED", result.cause
    item = stack.items()[name]
    assert item["status"] == ModelStatus.DEPLOYED
    assert (item[DECIDED_BY], item[DECISION_REASON]) == (whoami(stack), "metrics and report reviewed")
    assert decision.decided_by == whoami(stack) and item[DECIDED_AT] <= item["updated_at"]
    assert stack.deployed() == [name]
    assert stack.items()[champion]["status"] == ModelStatus.RETIRED


def test_a_rejected_model_is_never_deployed_and_the_run_ends_without_retraining(stack: Stack) -> None:
    arn = stack.start("training", {"gate": {"approval": "manual", "max_attempts": 3}}, "reject")
    name = str(pending(stack, arn)["model_name"])

    approval.reject(cli_backend(stack), name, "confusion between 4 and 9 too high")
    result = stack.wait(arn)

    assert (result.status, result.error) == ("FAILED", "ModelRejected")
    [item] = stack.items_of(arn)  # one attempt: a person's no is not retrained away
    assert item["status"] == ModelStatus.REJECTED
    assert item[DECIDED_BY] == whoami(stack)
    assert item[DECISION_REASON] == "confusion between 4 and 9 too high"
    assert item["rejection"] == f"rejected by {whoami(stack)}: confusion between 4 and 9 too high"
    [announced] = stack.notifications(arn, "REJECTED")
    assert (announced["stage"], announced["reason"]) == ("approval", "confusion between 4 and 9 too high")
    for state in ("CreateEndpointConfig", "CreateEndpoint", "UpdateEndpoint", "RecordApproved"):
        assert stack.calls(arn, state) == [], state
    assert stack.deployed() == [] and stack.endpoint() is None


def test_no_decision_in_time_rejects_the_model_with_that_reason(stack: Stack) -> None:
    arn = stack.start("training", {"gate": {"approval": "manual", "approval_timeout_seconds": 1}}, "timeout")

    result = stack.wait(arn)

    assert (result.status, result.error) == ("FAILED", "ModelRejected")
    [item] = stack.items_of(arn)
    assert item["status"] == ModelStatus.REJECTED
    assert (item[DECIDED_BY], item[DECISION_REASON]) == ("timeout", "no decision within 1 seconds")
    assert stack.deployed() == []
    # The request expired: approving it now is refused, and says why.
    with pytest.raises(
        CliError, match=r"is REJECTED, not PENDING_APPROVAL: it was already decided by timeout"
    ):
        approval.approve(cli_backend(stack), str(item["model_name"]))


def test_an_approval_after_another_model_was_deployed_is_refused(stack: Stack) -> None:
    arn = stack.start("training", MANUAL, "superseded")
    name = str(pending(stack, arn)["model_name"])  # compared with no champion
    newer = stack.seed_champion()  # meanwhile, another model went live

    with pytest.raises(
        CliError, match=rf"{name} is superseded: it was compared with no champion, but {newer}"
    ):
        approval.approve(cli_backend(stack), name)

    assert stack.items()[name]["status"] == ModelStatus.PENDING_APPROVAL  # nothing was sent
    approval.reject(cli_backend(stack), name, "superseded")  # rejecting it is how it ends
    assert stack.wait(arn).error == "ModelRejected"
    assert stack.deployed() == [newer]


def test_a_decided_model_cannot_be_decided_again(stack: Stack) -> None:
    arn = stack.start("training", MANUAL, "decided-twice")
    name = str(pending(stack, arn)["model_name"])
    approval.approve(cli_backend(stack), name)
    assert stack.wait(arn).status == "SUCCEEDED"

    with pytest.raises(
        CliError, match=rf"{name} is DEPLOYED, not PENDING_APPROVAL: it was already decided by"
    ):
        approval.reject(cli_backend(stack), name, "changed my mind")


def test_without_manual_approval_the_gate_deploys_at_once(stack: Stack) -> None:
    result = stack.run("training", {}, hint="no-approval")

    assert result.status == "SUCCEEDED", result.cause
    assert stack.calls(result.execution_arn, "RequestApproval") == []
    [item] = stack.items_of(result.execution_arn)
    assert item["status"] == ModelStatus.DEPLOYED and DECIDED_BY not in item
