"""Deployment's typed entry: what the training workflow's deploy states read, and where.

The deploy states (CreateModel, CreateEndpointConfig, UpdateEndpoint / CreateEndpoint) need a
model's name, its model data and an endpoint config name. `DeploymentTarget` is that input as a
type; `IN_TRAINING_WORKFLOW` says where the training workflow's state data holds each field, and
the workflow builds its deploy states from it. `rollback` replays those states for another model
by filling them from a `DeploymentTarget` (`state_data`), without knowing the workflow's layout.

Without the CDK: the operator CLI imports it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Final

from lambdas.attempt_state import ATTEMPT


@dataclass(frozen=True)
class DeploymentTarget:
    """The model to serve; the fields a deploy step does not read may be left out."""

    model_name: str
    endpoint_config_name: str | None = None
    model_data_url: str | None = None

    def state_data(self) -> dict[str, str]:
        """The JSONPaths the deploy states read, each with this target's value (where it has one)."""
        paths = asdict(IN_TRAINING_WORKFLOW)
        return {
            paths[f.name]: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }


@dataclass(frozen=True)
class DeploymentPaths:
    """Where a workflow's state data holds each of DeploymentTarget's fields."""

    model_name: str
    endpoint_config_name: str
    model_data_url: str


# What the deploy states' cost allocation tags read besides the model name (cost_tags.py).
RUN_ID_PATH: Final = "$.run.run_id"
EXECUTION_PATH: Final = "$$.Execution.Id"

# Where the training workflow's state data holds them when deployment starts.
IN_TRAINING_WORKFLOW: Final = DeploymentPaths(
    model_name=ATTEMPT.model_name,
    endpoint_config_name=ATTEMPT.endpoint_config_name,
    model_data_url="$.training.model_data_url",
)
