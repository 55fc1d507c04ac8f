"""The quality gate: the bounded retrain loop, and a candidate that loses to the champion."""

from __future__ import annotations

from app import default_context
from lambdas.model_registry import ModelStatus
from tests.support.instant_sagemaker import attempt
from tests.workflows.support import Stack

SETTINGS = default_context()["mlops"]
assert isinstance(SETTINGS, dict)
EPOCHS = int(SETTINGS["hyperparameters"]["epochs"])
INCREMENT = int(SETTINGS["quality_gate"]["retrain_epoch_increment"])
THRESHOLD = float(SETTINGS["quality_gate"]["threshold"])


def test_gate_rejects_every_attempt(stack: Stack) -> None:
    stack.sagemaker.set_model_accuracy("", 0.5)  # every model, every attempt
    result = stack.run("training", {"gate": {"max_attempts": 2}}, hint="always-rejected")

    assert (result.status, result.error) == ("FAILED", "ModelRejected")
    arn = result.execution_arn
    items = stack.items_of(arn)
    assert [(i["attempt"], i["status"]) for i in items] == [
        (1, ModelStatus.REJECTED),
        (2, ModelStatus.REJECTED),
    ]
    assert all(i["rejection"] for i in items)  # its wording: test_rejection_names_the_metric_and_value
    assert len({i["model_name"] for i in items}) == 2
    # Each attempt trained, and the second one longer.
    trainings = [c for c in stack.calls(arn, "Train") if c.succeeded]
    assert [c.parameters["HyperParameters"]["epochs"] for c in trainings] == [
        str(EPOCHS),
        str(EPOCHS + INCREMENT),
    ]
    assert len(stack.calls(arn, "PlanAttempt")) == 2
    # Rejected: announced once, nothing deployed.
    [rejected] = stack.notifications(arn, "REJECTED")
    assert (rejected["attempts"], rejected["value"], rejected["threshold"]) == (2, 0.5, THRESHOLD)
    assert rejected["model_name"] == items[-1]["model_name"]
    assert stack.notifications(arn, "FAILED") == []
    for state in ("CreateEndpointConfig", "CreateEndpoint", "UpdateEndpoint"):
        assert stack.calls(arn, state) == [], state
    assert stack.endpoint() is None
    assert stack.deployed() == []


def test_gate_rejects_a_candidate_that_loses_to_the_champion(stack: Stack) -> None:
    champion = stack.seed_champion()
    stack.sagemaker.set_model_accuracy(lambda name: name != champion, THRESHOLD)  # passes the threshold
    result = stack.run("training", {"gate": {"max_attempts": 1}}, hint="loses-to-champion")

    assert (result.status, result.error) == ("FAILED", "ModelRejected")
    [item] = stack.items_of(result.execution_arn)
    assert item["status"] == ModelStatus.REJECTED
    assert item["gate_metric"] == THRESHOLD and item["champion_at_training"] == champion
    [scoring] = stack.calls(result.execution_arn, "EvaluatePredictions")
    assert scoring.result["champion"]["floor"] == 0.99
    assert stack.deployed() == [champion]
    endpoint = stack.endpoint()
    assert endpoint is not None and endpoint["EndpointConfigName"] == champion


def test_rejection_names_the_metric_and_value(stack: Stack) -> None:
    stack.sagemaker.set_model_accuracy("", 0.5)
    result = stack.run("training", {"gate": {"max_attempts": 1}}, hint="rejection-reason")

    assert result.error == "ModelRejected"
    [item] = stack.items_of(result.execution_arn)
    assert item["rejection"] == "accuracy 0.5 below the gate"


def test_retrain_attempts_keep_the_training_instances_warm_when_asked(stack: Stack) -> None:
    stack.sagemaker.set_model_accuracy(attempt(1), 0.5)  # attempt 1 misses the gate, attempt 2 passes
    warm = {"use_spot": False, "keep_alive_seconds": 600}
    result = stack.run(
        "training",
        {"training": warm, "gate": {"max_attempts": 2}, "cache": {"enabled": False}},
        hint="warm-pool",
    )

    assert result.status == "SUCCEEDED", result.cause
    trainings = [c for c in stack.calls(result.execution_arn, "Train") if c.succeeded]
    assert len(trainings) == 2
    for call in trainings:
        assert call.parameters["ResourceConfig"]["KeepAlivePeriodInSeconds"] == 600
        assert call.parameters["EnableManagedSpotTraining"] is False


def test_a_warm_pool_with_spot_training_is_refused_before_any_job(stack: Stack) -> None:
    result = stack.run(
        "training", {"training": {"use_spot": True, "keep_alive_seconds": 600}}, hint="warm-spot"
    )

    assert (result.status, result.error) == ("FAILED", "InvalidExecutionInput")
    assert "training.keep_alive_seconds: expected 0 when training.use_spot is true" in str(result.cause)
    assert stack.sagemaker_calls(result.execution_arn) == []
