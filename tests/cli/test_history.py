"""Execution history → visits and outcomes (what watch shows and graph colours)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline_cli.history import ExecutionView, visits_from_history

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


class History:
    """Builds events the way Step Functions links them (each names the event before it)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(self, kind: str, previous: int | None = None, **details: Any) -> int:
        event_id = len(self.events) + 1
        event: dict[str, Any] = {
            "id": event_id,
            "previousEventId": event_id - 1 if previous is None else previous,
            "type": kind,
            "timestamp": T0 + timedelta(seconds=event_id),
        }
        if details:
            key = kind[0].lower() + kind[1:] + "EventDetails"
            if kind.endswith("StateEntered"):
                key = "stateEnteredEventDetails"
            elif kind.endswith("StateExited"):
                key = "stateExitedEventDetails"
            event[key] = details
        self.events.append(event)
        return event_id


def _view(history: History, status: str) -> ExecutionView:
    return ExecutionView("arn", "machine", status, T0, None, visits_from_history(history.events))


def _train_retried_then_caught() -> History:
    h = History()
    h.add("ExecutionStarted", input="{}")
    h.add("TaskStateEntered", name="Train")
    params = json.dumps({"TrainingJobName": "job-1"})
    h.add("TaskScheduled", resourceType="sagemaker", resource="createTrainingJob.sync", parameters=params)
    h.add("TaskStarted", resourceType="sagemaker", resource="createTrainingJob.sync")
    h.add("TaskFailed", error="SageMaker.AmazonSageMakerException", cause="throttled")
    h.add("TaskScheduled", resourceType="sagemaker", resource="createTrainingJob.sync", parameters=params)
    h.add("TaskStarted", resourceType="sagemaker", resource="createTrainingJob.sync")
    h.add("TaskFailed", error="States.Timeout", cause="too slow")
    h.add("TaskStateExited", name="Train", output="{}")
    h.add("TaskStateEntered", name="RecordFailure")
    return h


def test_task_events_belong_to_their_state_and_retries_are_counted() -> None:
    [train, record] = visits_from_history(_train_retried_then_caught().events)

    assert (train.name, train.state_type, train.resource) == (
        "Train",
        "Task",
        "sagemaker:createTrainingJob.sync",
    )
    assert train.job() == ("training", "job-1")
    assert train.retries == 1
    assert (train.error, train.cause) == ("States.Timeout", "too slow")
    assert train.elapsed(T0) == 7.0  # entered at event 2, exited at event 9
    assert record.exited is None


def test_outcomes_of_a_running_and_of_a_failed_execution() -> None:
    history = _train_retried_then_caught()

    assert _view(history, "RUNNING").outcomes() == {"Train": "caught", "RecordFailure": "running"}
    assert _view(history, "FAILED").outcomes() == {"Train": "caught", "RecordFailure": "failed"}


def test_a_retry_that_succeeds_leaves_no_error_and_a_fail_state_is_failed() -> None:
    h = History()
    h.add("TaskStateEntered", name="Plan")
    h.add("LambdaFunctionScheduled", resource="arn:aws:lambda:::function:plan", input="{}")
    h.add("LambdaFunctionFailed", error="Lambda.ServiceException", cause="busy")
    h.add("LambdaFunctionScheduled", resource="arn:aws:lambda:::function:plan", input="{}")
    h.add("LambdaFunctionSucceeded", output='{"number": 1}')
    h.add("TaskStateExited", name="Plan")
    h.add("FailStateEntered", name="Rejected")
    view = _view(h, "FAILED")

    plan = view.visits[0]
    assert (plan.resource, plan.retries, plan.error, plan.output) == ("lambda", 1, None, {"number": 1})
    assert view.outcomes() == {"Plan": "succeeded", "Rejected": "failed"}


def test_parallel_branches_and_repeated_states_take_their_worst_outcome() -> None:
    h = History()
    parallel = h.add("ParallelStateEntered", name="Evaluate")
    started = h.add("ParallelStateStarted")
    h.add("TaskStateEntered", previous=started, name="TransformCandidate")
    branch_two = h.add("PassStateEntered", previous=started, name="NoChampion")
    h.add("PassStateExited", previous=branch_two, name="NoChampion")
    h.add("TaskStateEntered", name="Poll")
    h.add("TaskStateExited", name="Poll")
    h.add("TaskStateEntered", name="Poll")
    view = _view(h, "RUNNING")

    assert [v.name for v in view.visits] == ["Evaluate", "TransformCandidate", "NoChampion", "Poll", "Poll"]
    assert view.visits[0].exited is None and parallel == 1
    assert view.outcomes() == {
        "Evaluate": "running",
        "TransformCandidate": "running",
        "NoChampion": "succeeded",
        "Poll": "running",
    }
    assert [v.name for v in view.current()] == ["Evaluate", "TransformCandidate", "Poll"]
