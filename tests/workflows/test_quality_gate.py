"""The quality gate: the bounded retrain loop, and a candidate that loses to the champion."""

from __future__ import annotations

from app import default_context
from lambdas.model_registry import ModelStatus
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
