"""The synthesized guards on optional response members, run in moto's Step Functions interpreter.

A path that does not resolve raises States.Runtime, which no Catch handles. Each case runs the
guarding Choice (and what follows it, up to the first state outside the guard) from the
synthesized training definition, with a response that lacks the optional member.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

import app as cdk_app
from pipeline_cli.definitions import definition_by_workflow
from tests.local.conftest import RunDefinition


@pytest.fixture(scope="module")
def training_states(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    assembly = cdk_app.build_app(outdir=str(tmp_path_factory.mktemp("cdk.out"))).synth()
    template = assembly.get_stack_by_name(cdk_app.STACK_NAME).template
    return dict(definition_by_workflow(template, "training")["States"])


def subgraph(states: dict[str, Any], start: str, keep: Iterable[str]) -> dict[str, Any]:
    """`start` and `keep`; every transition leaving them ends in a Pass named after its target."""
    kept = {name: dict(states[name]) for name in (start, *keep)}
    exits: dict[str, Any] = {}

    def redirect(target: str) -> str:
        if target in kept:
            return target
        exits[f"Out:{target}"] = {"Type": "Pass", "Result": target, "ResultPath": "$.reached", "End": True}
        return f"Out:{target}"

    for state in kept.values():
        if "Next" in state:
            state["Next"] = redirect(state["Next"])
        if state["Type"] == "Choice":
            state["Choices"] = [{**rule, "Next": redirect(rule["Next"])} for rule in state["Choices"]]
            state["Default"] = redirect(state["Default"])
    return {"StartAt": start, "States": {**kept, **exits}}


TRAINING_JOB = {
    "TrainingJobName": "j",
    "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/j",
    "ModelArtifacts": {"S3ModelArtifacts": "s3://a/j/output/model.tar.gz"},
    "TrainingJobStatus": "Completed",
}


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [(None, []), ([{"MetricName": "loss", "Value": 0.1}], [{"MetricName": "loss", "Value": 0.1}])],
)
def test_a_training_job_without_metrics_is_summarized(
    training_states: dict[str, Any], run_definition: RunDefinition, metrics: Any, expected: Any
) -> None:
    job = dict(TRAINING_JOB, **({"FinalMetricDataList": metrics} if metrics else {}))
    definition = subgraph(
        training_states, "MetricsReported?", ["SummarizeTraining", "SummarizeTrainingWithoutMetrics"]
    )
    result = run_definition(definition, {"training": job})
    assert result.status == "SUCCEEDED", result.history[-1]
    assert result.output["training"] == {
        "training_job_name": "j",
        "model_data_url": "s3://a/j/output/model.tar.gz",
        "final_metrics": expected,
    }
    # Then the step cache records the fresh job's result (pipeline_constructs/step_cache.py).
    assert result.output["reached"] == "FreshTraining"


def test_a_tuning_job_without_a_best_training_job_is_a_recorded_failure(
    training_states: dict[str, Any], run_definition: RunDefinition
) -> None:
    definition = subgraph(training_states, "BestTrainingJobFound?", ["NoBestTrainingJob"])
    result = run_definition(
        definition,
        {"tuning": {"HyperParameterTuningJobStatus": "Completed"}, "attempt": {"tuning_job_name": "t"}},
    )
    assert result.status == "SUCCEEDED", result.history[-1]
    assert result.output["error"]["Error"] == "NoBestTrainingJob"
    assert result.output["reached"] == "ErrorHasCause?"


ENDPOINT_POLL = ["PollsLeft?", "UpdateRolledBack?", "EndpointState", "EndpointInService?"]


def test_an_endpoint_without_a_config_name_is_polled_again(
    training_states: dict[str, Any], run_definition: RunDefinition
) -> None:
    definition = subgraph(training_states, "EndpointConfigKnown?", ENDPOINT_POLL)
    result = run_definition(definition, {"endpoint": {"EndpointStatus": "Creating"}, "poll": {"polls": 3}})
    assert result.status == "SUCCEEDED", result.history[-1]
    assert result.output["reached"] == "CountPoll"


def test_an_endpoint_in_service_on_the_new_config_is_promoted(
    training_states: dict[str, Any], run_definition: RunDefinition
) -> None:
    definition = subgraph(training_states, "EndpointConfigKnown?", ENDPOINT_POLL)
    state = {
        "endpoint": {"EndpointStatus": "InService", "EndpointConfigName": "c2", "EndpointName": "e"},
        "poll": {"polls": 3},
        "attempt": {"endpoint_config_name": "c2"},
    }
    result = run_definition(definition, state)
    assert result.status == "SUCCEEDED", result.history[-1]
    assert result.output["endpoint"] == {"status": "InService", "config": "c2"}
    # InService on the new config: the promotion (the current champion read again first), then
    # autoscaling (cdk.json's default).
    assert result.output["reached"] == "FindCurrentChampion"


def test_an_update_rolled_back_by_an_alarm_is_a_recorded_failure(
    training_states: dict[str, Any], run_definition: RunDefinition
) -> None:
    definition = subgraph(training_states, "EndpointConfigKnown?", [*ENDPOINT_POLL, "EndpointRolledBack"])
    state = {
        "endpoint": {
            "EndpointStatus": "InService",
            "EndpointConfigName": "c1",
            "EndpointName": "e",
            "FailureReason": "alarm fired",
        },
        "poll": {"polls": 3},
        "attempt": {"endpoint_config_name": "c2"},
    }
    result = run_definition(definition, state)
    assert result.status == "SUCCEEDED", result.history[-1]
    assert result.output["error"] == {
        "Error": "EndpointNotInService",
        "Cause": "Endpoint update rolled back to config c1: alarm fired",
    }
    assert result.output["reached"] == "ErrorHasCause?"


def test_an_error_without_a_cause_still_reaches_the_failure_handlers(
    training_states: dict[str, Any], run_definition: RunDefinition
) -> None:
    definition = subgraph(training_states, "ErrorHasCause?", ["ErrorHasCauseMissing"])
    result = run_definition(definition, {"error": {"Error": "States.Timeout"}})
    assert result.status == "SUCCEEDED", result.history[-1]
    assert result.output["error"] == {"Error": "States.Timeout", "Cause": "(no cause given)"}
    assert result.output["reached"] == "RecordFailure"


def test_a_query_without_items_means_no_champion(
    training_states: dict[str, Any], run_definition: RunDefinition
) -> None:
    definition = subgraph(training_states, "ChampionDeployed?", ["NoChampion", "ChampionFound"])
    result = run_definition(definition, {"champion_query": {"Count": 0, "ScannedCount": 0}})
    assert result.status == "SUCCEEDED", result.history[-1]
    assert result.output["champion"] == {"present": False}  # no model name, not a "none" one
