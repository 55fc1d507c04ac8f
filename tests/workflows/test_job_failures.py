"""Jobs that end Failed (not an API error): the `.sync` Task fails, the run is recorded FAILED."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from lambdas.model_registry import ModelStatus
from tests.workflows.support import RAW_PREFIX, Stack


@dataclass(frozen=True)
class JobFailure:
    state: str
    fail: str  # the instant runner's hook
    raw_input: bool = False
    item_written: bool = True
    known_bug: str | None = None


CASES = [
    JobFailure("Train", "fail_training"),
    JobFailure("Preprocess", "fail_processing", raw_input=True, item_written=False),
    JobFailure("TransformCandidate", "fail_transform"),
]


def _param(case: JobFailure) -> Any:
    marks = (
        [pytest.mark.xfail(reason=case.known_bug, strict=True, raises=AssertionError)]
        if case.known_bug
        else []
    )
    return pytest.param(case, id=case.state, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_a_failed_job_fails_the_run_with_its_failure_reason(stack: Stack, case: JobFailure) -> None:
    getattr(stack.sagemaker, case.fail)("", "the job ran out of memory")
    execution_input: dict[str, Any] = {"raw_data_uri": stack.data_uri(RAW_PREFIX)} if case.raw_input else {}

    result = stack.run("training", execution_input, hint=f"job-fails-{case.state}")

    assert (result.status, result.error) == ("FAILED", "States.TaskFailed")
    described = json.loads(str(result.cause))  # the .sync integration's cause: the final Describe*
    assert "the job ran out of memory" in described["FailureReason"]
    [call] = stack.calls(result.execution_arn, case.state)  # a failed job is not retried
    assert call.failed
    [notification] = stack.notifications(result.execution_arn, "FAILED")
    assert notification["error"] == "States.TaskFailed"
    items = stack.items_of(result.execution_arn)
    if case.item_written:
        [item] = items
        assert item["status"] == ModelStatus.FAILED
        assert "the job ran out of memory" in item["failure_cause"]
    else:
        assert items == []
    assert stack.deployed() == []
