"""`resume`'s input and name, what it refuses, and what `watch` says about a step-cache lookup."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from lambdas.execution_input import PARENT_EXECUTION_KEY
from pipeline_cli.backend import Backend
from pipeline_cli.errors import EXIT_USAGE, CliError
from pipeline_cli.history import Visit
from pipeline_cli.resume import resume_name, resumed_input
from pipeline_cli.watch import cache_note

TRAINING = "arn:aws:states:us-east-1:123456789012:stateMachine:Training"
EVALUATION = "arn:aws:states:us-east-1:123456789012:stateMachine:Evaluation"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:Training:training-20261122-101500-1a2b3c"


class _StepFunctions:
    def __init__(self, description: dict[str, Any]) -> None:
        self.description = description

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        assert executionArn == EXECUTION
        return self.description


def _backend(status: str, execution_input: Any, machine: str = TRAINING) -> Backend:
    client = _StepFunctions(
        {"status": status, "stateMachineArn": machine, "input": json.dumps(execution_input)}
    )
    return Backend(
        region="us-east-1",
        outputs={"TrainingWorkflowArn": TRAINING, "EvaluationWorkflowArn": EVALUATION},
        client_factory=lambda service: client,
        load_template=dict,
        console_url=lambda _arn: None,
    )


@pytest.mark.parametrize("status", ["FAILED", "TIMED_OUT", "ABORTED"])
def test_a_failed_run_is_started_again_with_its_own_input(status: str) -> None:
    original = {"hyperparameters": {"epochs": 3}, "reason": "nightly", PARENT_EXECUTION_KEY: "arn:parent"}
    raw = resumed_input(_backend(status, original), EXECUTION)
    assert raw == {"hyperparameters": {"epochs": 3}, "reason": "resume of training-20261122-101500-1a2b3c"}


@pytest.mark.parametrize(
    ("status", "execution_input", "machine", "message"),
    [
        ("SUCCEEDED", {}, TRAINING, "SUCCEEDED: only a failed"),
        ("RUNNING", {}, TRAINING, "RUNNING: only a failed"),
        ("FAILED", {}, EVALUATION, "evaluation execution"),
        ("FAILED", {"cache": {"enabled": False}}, TRAINING, r"cache\.enabled false"),
    ],
    ids=["succeeded", "running", "evaluation", "cache-off"],
)
def test_what_cannot_be_resumed_is_refused_saying_why(
    status: str, execution_input: dict[str, Any], machine: str, message: str
) -> None:
    with pytest.raises(CliError, match=message) as raised:
        resumed_input(_backend(status, execution_input, machine), EXECUTION)
    assert raised.value.exit_code == EXIT_USAGE


def test_the_new_name_says_what_it_resumes_and_fits_step_functions() -> None:
    name = resume_name(EXECUTION)
    assert name.startswith("resume-training-20261122-101500-1a2b3c-")
    long_name = resume_name(EXECUTION.rsplit(":", 1)[0] + ":" + "x" * 80)
    assert len(long_name) == 80 and long_name != resume_name(EXECUTION.rsplit(":", 1)[0] + ":" + "x" * 80)


def _lookup(output: Any) -> Visit:
    return Visit("FindTrainingInCache", "Task", datetime(2026, 11, 22, tzinfo=UTC), output=output)


def test_watch_names_the_job_a_step_reuses_or_why_it_did_not() -> None:
    hit = {"enabled": True, "hit": True, "step": "training", "result": {"source_job": "job-a1"}}
    miss = {"enabled": True, "hit": False, "step": "transform", "miss_reason": "no entry"}
    assert cache_note(_lookup(hit)) == "reused: training of job-a1"
    assert cache_note(_lookup(miss)) == "not cached: no entry"
    assert cache_note(_lookup({"Payload": "anything else"})) is None
