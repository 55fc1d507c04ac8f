"""Blue/green endpoint updates: traffic shifted to the new fleet step by step, rolled back on an alarm.

What the local SageMaker does with UpdateEndpoint's ``DeploymentConfig`` (SageMaker guide,
"Blue/Green Deployments": all at once, canary, linear traffic shifting, and "Auto-Rollback
Configuration and Monitoring"):

- the new model loads next to the old one; each traffic step routes its share of the requests
  to the new model (``TrafficSplit``) and the rest to the old one;
- after each step comes its wait (``WaitIntervalInSeconds``; the last, full step is followed by
  ``TerminationWaitInSeconds``), during which the ``AutoRollbackConfiguration`` alarms are
  watched; one in ALARM sends all traffic back to the old model and fails the update.

Local mode has no clock to bake on: a wait takes no time. Observers (``Observer``) run at each
step instead; that is where a test or the operator invokes the endpoint or fires an alarm.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from local_mode.sagemaker.hosting_rules import Retention
from local_mode.sagemaker.serving.endpoint_server import EndpointServer
from local_mode.sagemaker.serving.tfs_emulation import TfsContainer, TfsResponse

ALARM_ROLLBACK = (
    "Deployment of endpoint config {new} was rolled back to {old}: the auto-rollback alarm(s) {alarms} "
    "went into ALARM state while {percent:.0f}% of the traffic reached the new fleet."
)


@dataclass(frozen=True)
class TrafficStep:
    """One step of the shift: the share of requests the new fleet answers, then the wait."""

    new_share: float
    wait_seconds: int


@dataclass(frozen=True)
class Rollout:
    """UpdateEndpoint's blue/green deployment, as the steps the endpoint goes through."""

    old_config: str
    new_config: str
    steps: tuple[TrafficStep, ...]
    alarm_names: tuple[str, ...]

    @classmethod
    def of(cls, request: dict[str, Any], *, old_config: str, instance_count: int) -> Rollout | None:
        """None when the request has no BlueGreenUpdatePolicy (the update swaps at once)."""
        deployment = request.get("DeploymentConfig") or {}
        policy = deployment.get("BlueGreenUpdatePolicy")
        if not policy:
            return None
        routing = policy["TrafficRoutingConfiguration"]
        wait = int(routing["WaitIntervalInSeconds"])
        shares = _shares(routing, instance_count)
        steps = [TrafficStep(share, wait) for share in shares]
        steps.append(TrafficStep(1.0, int(policy.get("TerminationWaitInSeconds", 0))))
        alarms = (deployment.get("AutoRollbackConfiguration") or {}).get("Alarms", [])
        return cls(
            old_config=old_config,
            new_config=request["EndpointConfigName"],
            steps=tuple(steps),
            alarm_names=tuple(alarm["AlarmName"] for alarm in alarms),
        )


def fleet_size(
    live_variants: list[dict[str, Any]], config: dict[str, Any], *, retain: Retention | None
) -> int:
    """The updated variant's instance count: the live one when the update retains it
    (``RetainAllVariantProperties`` without excluding it), else the new config's."""
    retained = retain is not None and "DesiredInstanceCount" not in retain.excluded
    variant = config["ProductionVariants"][0]
    live = {v["VariantName"]: v for v in live_variants}.get(variant["VariantName"], {})
    if retained and "DesiredInstanceCount" in live:
        return int(live["DesiredInstanceCount"])
    return int(variant.get("InitialInstanceCount", 1))


def _shares(routing: dict[str, Any], instance_count: int) -> list[float]:
    """The new fleet's share of the traffic after each shift."""
    kind = routing["Type"]
    if kind == "ALL_AT_ONCE":
        return [1.0]
    size = routing["CanarySize" if kind == "CANARY" else "LinearStepSize"]
    if size["Type"] == "CAPACITY_PERCENT":
        step = size["Value"] / 100.0
    else:
        step = size["Value"] / max(instance_count, 1)
    step = min(step, 1.0)
    if kind == "CANARY":
        return [step, 1.0]
    shares, share = [], 0.0
    while share < 1.0:
        share = min(1.0, share + step)
        shares.append(share)
    return shares


class TrafficSplit(TfsContainer):
    """Serves `new_share` of the requests with the new model and the rest with the old one.

    The split is deterministic (request n goes to the new model when the running share rounds
    up to it), so a test that sends 10 requests during a 20% canary sees exactly 2 on the new one.
    """

    def __init__(self, old: TfsContainer, new: TfsContainer, new_share: float) -> None:
        super().__init__(new.model)
        self.old, self.new, self.new_share = old, new, new_share
        self.answered = {"old": 0, "new": 0}
        self._lock = threading.Lock()

    def _pick(self) -> TfsContainer:
        with self._lock:
            total = self.answered["old"] + self.answered["new"] + 1
            to_new = self.answered["new"] < round(total * self.new_share)
            self.answered["new" if to_new else "old"] += 1
        return self.new if to_new else self.old

    def invocations(
        self,
        body: bytes,
        content_type: str | None,
        accept: str | None = None,
        custom_attributes: str | None = None,
    ) -> TfsResponse:
        return self._pick().invocations(body, content_type, accept, custom_attributes)


Observer = Callable[[str, TrafficStep, TrafficSplit], None]  # (endpoint name, step, the split it serves)
AlarmsInAlarm = Callable[[Sequence[str]], list[str]]


def shift_traffic(
    server: EndpointServer,
    endpoint_name: str,
    new: TfsContainer,
    rollout: Rollout,
    *,
    alarms_in_alarm: AlarmsInAlarm,
    observers: Sequence[Observer],
) -> str | None:
    """Run the steps; None when the new fleet took all traffic, else the rollback's failure reason.

    On a rollback the old model serves everything again; on success the caller serves the new one.
    """
    old = server.lookup(endpoint_name)
    if old is None:  # nothing served (the endpoint was withdrawn): nothing to shift from
        return None
    for step in rollout.steps:
        split = TrafficSplit(old.container, new, step.new_share)
        server.serve(endpoint_name, replace(old, container=split))
        for observe in observers:
            observe(endpoint_name, step, split)
        fired = alarms_in_alarm(rollout.alarm_names) if rollout.alarm_names else []
        if fired:
            server.serve(endpoint_name, old)
            return ALARM_ROLLBACK.format(
                new=rollout.new_config,
                old=rollout.old_config,
                alarms=", ".join(fired),
                percent=100 * step.new_share,
            )
    return None


def alarms_in_alarm(cloudwatch: Any) -> AlarmsInAlarm:
    """The named alarms now in ALARM, read from CloudWatch (None: no alarm ever fires)."""

    def check(names: Sequence[str]) -> list[str]:
        if cloudwatch is None:
            return []
        alarms = cloudwatch.describe_alarms(AlarmNames=list(names))["MetricAlarms"]
        return [alarm["AlarmName"] for alarm in alarms if alarm["StateValue"] == "ALARM"]

    return check
