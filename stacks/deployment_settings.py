"""`endpoint.deployment` in cdk.json: how a blue/green UpdateEndpoint shifts traffic to the new fleet.

The bounds are the SageMaker API reference's (BlueGreenUpdatePolicy, TrafficRoutingConfig,
CapacitySize): waits of 0-3600 s, a MaximumExecutionTimeoutInSeconds of 600-28800 s that is larger
than the deployment's waits together, a canary of at most 50% of the variant's instances and a
linear step of 10-50% of them.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, model_validator

from lambdas.run_settings import Section
from lambdas.validation_messages import expected

Strategy = Literal["all_at_once", "canary", "linear"]
STRATEGY_TYPES: dict[str, str] = {"all_at_once": "ALL_AT_ONCE", "canary": "CANARY", "linear": "LINEAR"}
# The share of the fleet one canary or linear step may turn on (API reference, TrafficRoutingConfig).
STEP_PERCENT_BOUNDS: dict[str, tuple[int, int]] = {"canary": (1, 50), "linear": (10, 50)}


class CapacityStep(Section):
    """CapacitySize: the canary (canary) or each step (linear), in instances or percent of the fleet."""

    type: Literal["CAPACITY_PERCENT", "INSTANCE_COUNT"]
    value: int = Field(ge=1)

    def percent_of(self, instance_count: int) -> float:
        if self.type == "CAPACITY_PERCENT":
            return float(self.value)
        return 100.0 * self.value / instance_count


class DeploymentSettings(Section):
    """BlueGreenUpdatePolicy of the workflow's UpdateEndpoint; the rollback alarms watch every wait."""

    strategy: Strategy
    step: CapacityStep  # canary: CanarySize; linear: LinearStepSize; all_at_once: not used
    wait_interval_seconds: int = Field(ge=0, le=3600)
    termination_wait_seconds: int = Field(ge=0, le=3600)
    maximum_execution_timeout_seconds: int = Field(ge=600, le=28800)
    # The ModelLatency rollback alarm's threshold (p90 over a minute, two minutes in a row).
    max_model_latency_ms: int = Field(ge=1, le=60000)

    @model_validator(mode="after")
    def _timeout_covers_the_waits(self) -> DeploymentSettings:
        self._check_timeout(instance_count=1)  # the fewest steps; the fleet is checked by check_fleet
        return self

    def _check_timeout(self, *, instance_count: int) -> None:
        waits = self.steps(instance_count=instance_count) * self.wait_interval_seconds
        waits += self.termination_wait_seconds
        if self.maximum_execution_timeout_seconds <= waits:
            raise expected(
                f"deployment.maximum_execution_timeout_seconds above the deployment's waits together "
                f"({waits} s with {instance_count} instance(s): wait_interval_seconds per traffic step "
                "plus termination_wait_seconds)",
                field="deployment.maximum_execution_timeout_seconds",
                got=self.maximum_execution_timeout_seconds,
            )

    def steps(self, *, instance_count: int) -> int:
        """How many traffic shifts the deployment makes (each followed by wait_interval_seconds)."""
        if self.strategy == "all_at_once":
            return 1
        if self.strategy == "canary":
            return 2
        return math.ceil(100.0 / min(100.0, self.step.percent_of(instance_count)))

    def check_fleet(self, instance_count: int, *, field: str) -> None:
        """The canary or linear step is the share of `instance_count` instances the API accepts."""
        if self.strategy == "all_at_once":
            return
        low, high = STEP_PERCENT_BOUNDS[self.strategy]
        percent = self.step.percent_of(instance_count)
        if not low <= percent <= high:
            raise expected(
                f"deployment.step to be {low}-{high}% of the variant's instances for {self.strategy} "
                f"({field} = {instance_count}; {self.step.type} {self.step.value} is {percent:.0f}%), "
                "as SageMaker's TrafficRoutingConfig requires",
                field="deployment.step.value",
                got=self.step.value,
            )
        self._check_timeout(instance_count=instance_count)

    def blue_green_policy(self) -> dict[str, Any]:
        """UpdateEndpoint's DeploymentConfig.BlueGreenUpdatePolicy."""
        routing: dict[str, Any] = {
            "Type": STRATEGY_TYPES[self.strategy],
            "WaitIntervalInSeconds": self.wait_interval_seconds,
        }
        size = {"Type": self.step.type, "Value": self.step.value}
        if self.strategy == "canary":
            routing["CanarySize"] = size
        elif self.strategy == "linear":
            routing["LinearStepSize"] = size
        return {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": self.termination_wait_seconds,
            "MaximumExecutionTimeoutInSeconds": self.maximum_execution_timeout_seconds,
        }
