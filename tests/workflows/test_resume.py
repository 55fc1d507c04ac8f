"""`resume` on the deployed training workflow: after a failure in Train, Evaluate or Deploy, the new
execution reuses every SageMaker job that had succeeded and finishes the run."""

from __future__ import annotations

import json

import pytest

from lambdas.model_registry import ModelStatus
from local_mode.cloud.executions import ExecutionResult
from pipeline_cli.errors import CliError
from pipeline_cli.resume import resume_name, resumed_input
from tests.workflows.support import PERMANENT_ERROR, Stack, cli_backend
from tests.workflows.test_step_cache import jobs_started


def resume(stack: Stack, failed: ExecutionResult) -> ExecutionResult:
    raw = resumed_input(cli_backend(stack), failed.execution_arn)
    name = resume_name(failed.execution_arn)
    return stack.wait(stack.cloud.start_execution(stack.machine("training"), json.dumps(raw), name=name))


@pytest.mark.parametrize(
    ("failing_state", "succeeded_before", "runs_again"),
    [
        ("Train", [], ["Train", "TransformCandidate"]),
        ("TransformCandidate", ["Train"], ["TransformCandidate"]),
        ("CreateEndpointConfig", ["Train", "TransformCandidate"], []),
    ],
    ids=["train", "evaluate", "deploy"],
)
def test_resume_after_a_failure_reruns_no_step_that_succeeded(
    stack: Stack, failing_state: str, succeeded_before: list[str], runs_again: list[str]
) -> None:
    stack.inject("training", failing_state, PERMANENT_ERROR)
    failed = stack.run("training", {"hyperparameters": {"epochs": 2}}, hint=f"fail-{failing_state}")
    assert failed.status == "FAILED" and failed.error == PERMANENT_ERROR
    assert stack.calls(failed.execution_arn, failing_state)[0].injected
    assert set(succeeded_before) <= set(jobs_started(stack, failed))

    resumed = resume(stack, failed)

    assert resumed.status == "SUCCEEDED", f"{resumed.error}: {resumed.cause}"
    assert jobs_started(stack, resumed) == runs_again
    [item] = stack.items_of(resumed.execution_arn)
    assert item["status"] == ModelStatus.DEPLOYED
    assert item["reason"] == f"resume of {failed.execution_arn.rsplit(':', 1)[-1]}"
    assert item["training_reused"] is ("Train" not in runs_again)
    assert stack.deployed() == [item["model_name"]]


def test_resume_refuses_what_it_cannot_resume(stack: Stack) -> None:
    succeeded = stack.run("training", {}, hint="resume-succeeded")
    with pytest.raises(CliError, match="SUCCEEDED: only a failed"):
        resumed_input(cli_backend(stack), succeeded.execution_arn)

    stack.inject("training", "Train", PERMANENT_ERROR)
    uncached = stack.run("training", {"cache": {"enabled": False}}, hint="resume-uncached")
    with pytest.raises(CliError, match=r"cache\.enabled false"):
        resumed_input(cli_backend(stack), uncached.execution_arn)
