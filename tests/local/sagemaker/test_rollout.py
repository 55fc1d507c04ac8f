"""Blue/green traffic shifting in the local SageMaker: the steps of each strategy, the split, the rollback."""

from __future__ import annotations

from typing import Any
from unittest.mock import MagicMock

import pytest

from local_mode.sagemaker.rollout import Rollout, TrafficSplit, alarms_in_alarm, shift_traffic
from local_mode.sagemaker.serving.endpoint_server import EndpointServer, ServedModel
from local_mode.sagemaker.serving.tfs_emulation import TfsContainer, TfsResponse


def _request(
    routing: dict[str, Any], *, termination: int = 120, alarms: tuple[str, ...] = ()
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": termination,
        }
    }
    if alarms:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": name} for name in alarms]}
    return {"EndpointName": "e", "EndpointConfigName": "new", "DeploymentConfig": config}


@pytest.mark.parametrize(
    ("routing", "instances", "shares"),
    [
        ({"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 60}, 2, [1.0]),
        (
            {
                "Type": "CANARY",
                "WaitIntervalInSeconds": 60,
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
            },
            4,
            [0.1, 1.0],
        ),
        (
            {
                "Type": "CANARY",
                "WaitIntervalInSeconds": 60,
                "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
            },
            4,
            [0.25, 1.0],
        ),
        (
            {
                "Type": "LINEAR",
                "WaitIntervalInSeconds": 60,
                "LinearStepSize": {"Type": "INSTANCE_COUNT", "Value": 1},
            },
            3,
            [1 / 3, 2 / 3, 1.0],
        ),
        (
            {
                "Type": "LINEAR",
                "WaitIntervalInSeconds": 60,
                "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 40},
            },
            2,
            [0.4, 0.8, 1.0],
        ),
    ],
)
def test_each_strategy_shifts_in_its_steps_then_waits_for_termination(
    routing: dict[str, Any], instances: int, shares: list[float]
) -> None:
    rollout = Rollout.of(_request(routing), old_config="old", instance_count=instances)
    assert rollout is not None
    assert [step.new_share for step in rollout.steps] == pytest.approx([*shares, 1.0])
    assert [step.wait_seconds for step in rollout.steps] == [60] * len(shares) + [120]


def test_an_update_without_a_blue_green_policy_has_no_rollout() -> None:
    assert (
        Rollout.of({"EndpointName": "e", "EndpointConfigName": "new"}, old_config="old", instance_count=1)
        is None
    )


class _Model(TfsContainer):
    """A container that answers with its own name (which model served the request)."""

    def __init__(self, name: str) -> None:
        super().__init__(model=None)  # type: ignore[arg-type]
        self.name = name

    def invocations(
        self,
        body: bytes,
        content_type: str | None,
        accept: str | None = None,
        custom_attributes: str | None = None,
    ) -> TfsResponse:
        return TfsResponse(200, self.name.encode(), "text/plain")


def test_the_split_sends_exactly_the_share_to_the_new_model() -> None:
    split = TrafficSplit(_Model("old"), _Model("new"), 0.3)
    answers = [split.invocations(b"{}", "application/json").body for _ in range(10)]
    assert answers.count(b"new") == 3 and answers.count(b"old") == 7
    assert split.answered == {"old": 7, "new": 3}


def test_an_alarm_in_a_step_restores_the_old_model_and_says_why() -> None:
    routing = {
        "Type": "CANARY",
        "WaitIntervalInSeconds": 60,
        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 20},
    }
    rollout = Rollout.of(_request(routing, alarms=("latency", "errors")), old_config="old", instance_count=1)
    assert rollout is not None
    cloudwatch = MagicMock()
    cloudwatch.describe_alarms.return_value = {
        "MetricAlarms": [
            {"AlarmName": "latency", "StateValue": "ALARM"},
            {"AlarmName": "errors", "StateValue": "OK"},
        ]
    }
    with EndpointServer() as server:
        old = ServedModel(_Model("old"), "AllTraffic")
        server.serve("e", old)
        seen: list[float] = []
        reason = shift_traffic(
            server,
            "e",
            _Model("new"),
            rollout,
            alarms_in_alarm=alarms_in_alarm(cloudwatch),
            observers=[lambda _endpoint, step, _split: seen.append(step.new_share)],
        )
        assert server.lookup("e") is old
    assert seen == [0.2]
    assert reason is not None and "latency" in reason and "errors" not in reason and "20%" in reason
    cloudwatch.describe_alarms.assert_called_once_with(AlarmNames=["latency", "errors"])


def test_quiet_alarms_let_every_step_through() -> None:
    routing = {
        "Type": "LINEAR",
        "WaitIntervalInSeconds": 60,
        "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 50},
    }
    rollout = Rollout.of(_request(routing, alarms=("latency",)), old_config="old", instance_count=2)
    assert rollout is not None
    cloudwatch = MagicMock()
    cloudwatch.describe_alarms.return_value = {"MetricAlarms": [{"AlarmName": "latency", "StateValue": "OK"}]}
    with EndpointServer() as server:
        server.serve("e", ServedModel(_Model("old"), "AllTraffic"))
        seen: list[float] = []
        reason = shift_traffic(
            server,
            "e",
            _Model("new"),
            rollout,
            alarms_in_alarm=alarms_in_alarm(cloudwatch),
            observers=[lambda _endpoint, step, _split: seen.append(step.new_share)],
        )
    assert reason is None and seen == [0.5, 1.0, 1.0]
