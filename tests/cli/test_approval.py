"""`approve`, `reject` and `models --status PENDING_APPROVAL`: against AWS (botocore Stubbers) and --local."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any, Final

import boto3
import pytest
from botocore.stub import Stubber

import pipeline_cli.cli as cli
from lambdas.approval_request import REJECTED_ERROR
from lambdas.model_registry import ModelStatus
from tests.cli.conftest import OUTPUTS, REGION, Invoke, LocalStack, Stubs

MODEL: Final = "tf2-digits-261122175012-a1b2c3-a1"
CHAMPION: Final = "tf2-digits-261120093001-9f8e7d-a1"
TOKEN: Final = "AQB8AAAAKgAAAAMAAAAAAAAAAQ"
CALLER: Final = "arn:aws:sts::123456789012:assumed-role/Reviewer/ana"
EXECUTION: Final = "arn:aws:states:us-east-1:123456789012:execution:Training:training-1"


@pytest.fixture
def aws(stubs: Stubs, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubs]:
    """The stubbed backend, with STS, for every command."""
    sts = boto3.session.Session().client("sts", region_name=REGION)
    stubs.clients["sts"], stubs.stubbers["sts"] = sts, Stubber(sts)
    stubs.stubbers["sts"].activate()
    monkeypatch.setattr(cli, "make_backend", lambda target: stubs.backend)
    yield stubs


def _item(status: ModelStatus = ModelStatus.PENDING_APPROVAL, **extra: str) -> dict[str, Any]:
    attributes = {
        "model_name": MODEL,
        "status": status.value,
        "updated_at": "2026-11-22T12:00:00.000Z",
        "created_at": "2026-11-22T11:00:00.000Z",
        "execution_arn": EXECUTION,
        "approval_token": TOKEN,
        "approval_champion": CHAMPION,
        "approval_expires_at": "2026-11-23T00:00:00.000Z",
        **extra,
    }
    return {key: {"S": value} for key, value in attributes.items()}


def _registry_has(stubs: Stubs, item: dict[str, Any], deployed: str | None = CHAMPION) -> None:
    stubs["dynamodb"].add_response(
        "get_item",
        {"Item": item},
        {
            "TableName": OUTPUTS["ModelRegistryTableName"],
            "Key": {"model_name": {"S": MODEL}},
            "ConsistentRead": True,
        },
    )
    if deployed is not None:
        champion = {"model_name": {"S": deployed}, "status": {"S": "DEPLOYED"}, "updated_at": {"S": "t"}}
        stubs["dynamodb"].add_response("query", {"Items": [champion]})


def _caller(stubs: Stubs) -> None:
    stubs["sts"].add_response(
        "get_caller_identity", {"UserId": "AROA:ana", "Account": "123456789012", "Arn": CALLER}, {}
    )


def test_approve_sends_the_stored_token_with_the_callers_identity(aws: Stubs, invoke: Invoke) -> None:
    _registry_has(aws, _item())
    _caller(aws)
    aws["stepfunctions"].add_response(
        "send_task_success",
        {},
        {
            "taskToken": TOKEN,
            "output": json.dumps({"decided_by": CALLER, "reason": "reviewed"}, separators=(",", ":")),
        },
    )

    result = invoke("approve", MODEL, "--reason", "reviewed")

    assert result.exit_code == 0, result.output
    assert f"approved {MODEL} as {CALLER}" in " ".join(result.stdout.split())


def test_reject_sends_a_failure_with_the_reason(aws: Stubs, invoke: Invoke) -> None:
    # No champion read: superseded or not, a rejection ends the wait.
    _registry_has(aws, _item(), deployed=None)
    _caller(aws)
    cause = json.dumps({"decided_by": CALLER, "reason": "too many 4/9 confusions"}, separators=(",", ":"))
    aws["stepfunctions"].add_response(
        "send_task_failure", {}, {"taskToken": TOKEN, "error": REJECTED_ERROR, "cause": cause}
    )

    result = invoke("reject", MODEL, "--reason", "too many 4/9 confusions")

    assert result.exit_code == 0, result.output
    assert "its run ends without deploying" in " ".join(result.stdout.split())


def test_reject_needs_a_reason(aws: Stubs, invoke: Invoke) -> None:
    assert invoke("reject", MODEL).exit_code == 2
    blank = invoke("reject", MODEL, "--reason", "  ")
    assert blank.exit_code == 2
    assert "--reason is required to reject a model" in blank.stderr


def test_a_superseded_model_is_not_approved(aws: Stubs, invoke: Invoke) -> None:
    _registry_has(aws, _item(), deployed="tf2-digits-newer-a1")

    result = invoke("approve", MODEL)

    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert (
        f"{MODEL} is superseded: it was compared with {CHAMPION}, but tf2-digits-newer-a1 is deployed" in line
    )


def test_a_decided_model_is_refused_with_who_decided(aws: Stubs, invoke: Invoke) -> None:
    decided = _item(
        ModelStatus.REJECTED,
        decided_by="timeout",
        decided_at="2026-11-23T00:00:00.000Z",
        decision_reason="late",
    )
    _registry_has(aws, decided, deployed=None)

    result = invoke("approve", MODEL)

    assert result.exit_code == 1
    assert (
        f"Model {MODEL} is REJECTED, not PENDING_APPROVAL: it was already decided by timeout" in result.stderr
    )


def test_a_run_that_no_longer_waits_is_explained(aws: Stubs, invoke: Invoke) -> None:
    _registry_has(aws, _item())
    _caller(aws)
    aws["stepfunctions"].add_client_error("send_task_success", "TaskTimedOut", "Task Timed Out")

    result = invoke("approve", MODEL)

    assert result.exit_code == 1
    assert "no longer waits (TaskTimedOut" in result.stderr and EXECUTION in result.stderr


def test_an_unknown_model_is_named(aws: Stubs, invoke: Invoke) -> None:
    aws["dynamodb"].add_response("get_item", {})

    result = invoke("approve", "nope")

    assert result.exit_code == 1 and "No model named nope in the registry" in result.stderr


def test_models_lists_what_waits(aws: Stubs, invoke: Invoke) -> None:
    aws["dynamodb"].add_response("query", {"Items": [_item()]})

    result = invoke("models", "--status", "PENDING_APPROVAL")

    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert MODEL[:20] in text and "awaits approval" in text


# --- against the local stack ----------------------------------------------------------------------


def _wait_for(stack: LocalStack, arn: str, status: ModelStatus) -> str:
    deadline = time.monotonic() + 120  # the package's first run also imports TensorFlow
    while time.monotonic() < deadline:
        mine = [m for m in stack.registry().values() if m["execution_arn"] == arn]
        if mine and mine[0]["status"] == status:
            return str(mine[0]["model_name"])
        time.sleep(0.05)
    raise AssertionError(f"no {status} model for {arn}: {stack.registry()}")


def _start_manual(stack: LocalStack, epochs: int) -> str:
    """A run that waits for approval; its own epochs make it a new model (not the package's others)."""
    machine = stack.outputs["TrainingWorkflowArn"]
    settings = {"gate": {"approval": "manual", "max_attempts": 1}, "hyperparameters": {"epochs": epochs}}
    return stack.cloud.start_execution(machine, settings, name=f"manual-{uuid.uuid4().hex[:8]}")


def test_local_approve_lists_then_deploys(local_invoke: Invoke, local_stack: LocalStack) -> None:
    arn = _start_manual(local_stack, epochs=7)
    name = _wait_for(local_stack, arn, ModelStatus.PENDING_APPROVAL)

    listed = local_invoke("models", "--status", "PENDING_APPROVAL")
    assert listed.exit_code == 0 and "awaits approval" in listed.stdout
    approved = local_invoke("approve", name, "--reason", "ok")
    assert approved.exit_code == 0, approved.output

    result = local_stack.cloud.wait_for_execution(arn, timeout=60)
    assert result.status == "SUCCEEDED", result.cause
    model = local_stack.registry()[name]
    assert model["status"] == "DEPLOYED" and model["decision_reason"] == "ok"
    assert model["decided_by"] == local_stack.cloud.client("sts").get_caller_identity()["Arn"]


def test_local_reject_ends_the_run(local_invoke: Invoke, local_stack: LocalStack) -> None:
    arn = _start_manual(local_stack, epochs=8)
    name = _wait_for(local_stack, arn, ModelStatus.PENDING_APPROVAL)

    rejected = local_invoke("reject", name, "--reason", "not today")
    assert rejected.exit_code == 0, rejected.output

    result = local_stack.cloud.wait_for_execution(arn, timeout=60)
    assert (result.status, result.error) == ("FAILED", "ModelRejected")
    assert local_stack.registry()[name]["rejection"].endswith(": not today")
    again = local_invoke("approve", name)
    assert again.exit_code == 1 and "is REJECTED, not PENDING_APPROVAL" in again.stderr
