"""Canary blue/green updates, deployed locally: the canary share of the traffic reaches the new model
during the bake, and a rollback alarm firing then puts everything back on the old model."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import app as cdk_app
from lambdas.model_registry import ModelStatus
from local_mode.sagemaker.rollout import TrafficSplit, TrafficStep
from stacks.settings import CONTEXT_KEY
from tests.workflows.support import Stack, StackManager

CANARY_PERCENT = 20
REQUESTS_DURING_THE_BAKE = 10


@pytest.fixture(scope="module")
def canary_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app synthesized with `endpoint.deployment.strategy` canary (20% of the fleet)."""
    context = copy.deepcopy(cdk_app.default_context())
    deployment: Any = context[CONTEXT_KEY]["endpoint"]["deployment"]  # type: ignore[index]
    deployment.update(strategy="canary", step={"type": "CAPACITY_PERCENT", "value": CANARY_PERCENT})
    out = tmp_path_factory.mktemp("canary.out")
    cdk_app.build_app(outdir=str(out), context=context).synth()
    return out


@pytest.fixture
def canary_stack(stacks: StackManager, canary_out: Path) -> Iterator[Stack]:
    stack = stacks.get(canary_out)
    stack.reset()
    yield stack
    stacks.close()  # the next test opens the default stack again


def _latency_alarm(stack: Stack) -> str:
    [logical_id] = [
        name
        for name, resource in stack.template["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
        and resource["Properties"].get("MetricName") == "ModelLatency"
    ]
    return stack.cloud.physical_name(logical_id)


def _deploy_champion(stack: Stack) -> str:
    first = stack.run("training", {}, hint="champion")
    assert first.status == "SUCCEEDED", first.cause
    [champion] = stack.items_of(first.execution_arn)
    return str(champion["model_name"])


def test_canary_update_shifts_a_share_then_all_traffic(canary_stack: Stack) -> None:
    stack = canary_stack
    _deploy_champion(stack)
    steps: list[tuple[TrafficStep, dict[str, int]]] = []

    def during_bake(endpoint: str, step: TrafficStep, split: TrafficSplit) -> None:
        for _ in range(REQUESTS_DURING_THE_BAKE):
            assert len(stack.invoke_endpoint()[0]) == 10
        steps.append((step, dict(split.answered)))

    stack.sagemaker.watch_rollouts(during_bake)
    result = stack.run("training", {"hyperparameters": {"epochs": 3}}, hint="canary-update")

    assert result.status == "SUCCEEDED", result.cause
    [candidate] = stack.items_of(result.execution_arn)
    canary_requests = REQUESTS_DURING_THE_BAKE * CANARY_PERCENT // 100
    assert [(step.new_share, answered) for step, answered in steps] == [
        (CANARY_PERCENT / 100, {"old": REQUESTS_DURING_THE_BAKE - canary_requests, "new": canary_requests}),
        (1.0, {"old": 0, "new": REQUESTS_DURING_THE_BAKE}),  # the rest of the traffic, then its bake
        (1.0, {"old": 0, "new": REQUESTS_DURING_THE_BAKE}),  # the termination wait
    ]
    assert stack.deployed() == [candidate["model_name"]]
    endpoint = stack.endpoint()
    assert endpoint is not None and endpoint["EndpointConfigName"] == candidate["model_name"]


def test_alarm_during_the_canary_bake_rolls_the_update_back(canary_stack: Stack) -> None:
    stack = canary_stack
    champion = _deploy_champion(stack)
    champion_container = stack.sagemaker.server.lookup(stack.endpoint_name)
    alarm = _latency_alarm(stack)
    shares: list[float] = []

    def latency_spikes(endpoint: str, step: TrafficStep, split: TrafficSplit) -> None:
        shares.append(step.new_share)
        stack.cloud.fire_alarm(alarm, reason="p90 ModelLatency above the threshold")

    stack.sagemaker.watch_rollouts(latency_spikes)
    result = stack.run("training", {"hyperparameters": {"epochs": 3}}, hint="canary-rollback")

    assert (result.status, result.error) == ("FAILED", "EndpointNotInService")
    assert shares == [CANARY_PERCENT / 100]  # rolled back in the canary step: no further shift
    arn = result.execution_arn
    assert "EndpointRolledBack" in result.entered_states()
    [candidate] = stack.items_of(arn)
    assert candidate["status"] == ModelStatus.FAILED
    cause = candidate["failure_cause"]
    assert cause.startswith(f"Endpoint update rolled back to config {champion}: ")
    assert alarm in cause and f"{CANARY_PERCENT}% of the traffic" in cause
    [notification] = stack.notifications(arn, "FAILED")
    assert alarm in notification["cause"]
    # SageMaker's view: InService on the old config, the update's failure reason kept.
    endpoint = stack.endpoint()
    assert endpoint is not None
    assert (endpoint["EndpointStatus"], endpoint["EndpointConfigName"]) == ("InService", champion)
    assert alarm in endpoint["FailureReason"]
    # The champion is still DEPLOYED, and its model answers every request.
    assert stack.deployed() == [champion]
    served = stack.sagemaker.server.lookup(stack.endpoint_name)
    assert served is champion_container
    assert len(stack.invoke_endpoint()[0]) == 10
