"""Two executions with the same input, in flight together: distinct names, no collision."""

from __future__ import annotations

from lambdas.model_registry import ModelStatus
from local_mode.cloud.executions import ExecutionResult
from tests.workflows.support import Stack, retried

SAME_INPUT = {"reason": "same input twice", "hyperparameters": {"epochs": 3}}


def run_two_together(stack: Stack) -> tuple[ExecutionResult, ExecutionResult]:
    """Start two executions with one input; both train at once, then finish one after the other.

    Both are past FindChampion (no champion) and inside Train before either goes on; the first
    then deploys, and only then does the second leave Train (so the endpoint is not contended).
    """
    stack.sagemaker.hold_training()
    first = stack.start("training", SAME_INPUT, "twin-1")
    second = stack.start("training", SAME_INPUT, "twin-2")
    assert retried(lambda: len(stack.sagemaker.held_trainings()) == 2, timeout=30), "both should be training"
    [first_job] = [c.parameters["TrainingJobName"] for c in stack.calls(first, "Train")]
    [second_job] = [c.parameters["TrainingJobName"] for c in stack.calls(second, "Train")]
    stack.sagemaker.release_training(first_job)
    done = stack.wait(first)
    stack.sagemaker.release_training(second_job)
    return done, stack.wait(second)


def test_same_input_twice_gives_distinct_jobs_models_and_items(stack: Stack) -> None:
    first, second = run_two_together(stack)

    assert (first.status, second.status) == ("SUCCEEDED", "SUCCEEDED"), (first.cause, second.cause)
    runs = [r.output["run"] for r in (first, second)]
    attempts = [r.output["attempt"] for r in (first, second)]
    assert runs[0]["run_id"] != runs[1]["run_id"]
    for key in (
        "model_name",
        "training_job_name",
        "endpoint_config_name",
        "transform_job_name",
        "champion_transform_job_name",
        "tuning_job_name",
        "checkpoint_uri",
        "report_uri",
    ):
        assert attempts[0][key] != attempts[1][key], key
    items = [stack.items_of(r.execution_arn) for r in (first, second)]
    assert [len(i) for i in items] == [1, 1]
    assert items[0][0]["model_name"] != items[1][0]["model_name"]
    assert {i[0]["training_job_name"] for i in items} == {a["training_job_name"] for a in attempts}
    for result in (first, second):  # no request was refused for a name in use
        for call in stack.sagemaker_calls(result.execution_arn):
            assert call.succeeded, (call.state_name, call.error, call.cause)
    created = [r for op, r in stack.sagemaker.requests if op == "CreateTrainingJob"]
    assert len({r["TrainingJobName"] for r in created}) == len(created) == 2
    # The second run, deployed after the first, serves now.
    endpoint = stack.endpoint()
    assert endpoint is not None and endpoint["EndpointConfigName"] == attempts[1]["endpoint_config_name"]


def test_runs_in_flight_together_leave_one_model_deployed(stack: Stack) -> None:
    first, second = run_two_together(stack)

    assert (first.status, second.status) == ("SUCCEEDED", "SUCCEEDED")
    statuses = [stack.items_of(r.execution_arn)[0]["status"] for r in (first, second)]
    assert statuses == [ModelStatus.RETIRED, ModelStatus.DEPLOYED]
    assert len(stack.deployed()) == 1
