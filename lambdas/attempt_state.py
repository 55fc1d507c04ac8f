"""`$.attempt`, typed: what PlanAttempt returns and where the training workflow reads each field.

`AttemptPlan` is the plan of one training attempt (docs/architecture.md). `attempt_plan.py`
builds it; the CDK app reads its fields through `ATTEMPT`, whose JSONPaths are derived from the
model, so a renamed or misspelt field fails at synth instead of at run time. The tuning job's
search space lives here too: the plan leaves the tuned names out of the static hyperparameters.

Imports nothing from its siblings: the Lambda asset and the CDK app both import it.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict

ATTEMPT_PATH: Final = "$.attempt"

# Search space of the tuning job (CreateHyperParameterTuningJob's ParameterRanges).
TUNING_PARAMETER_RANGES: Final[dict[str, list[dict[str, str]]]] = {
    "ContinuousParameterRanges": [
        {"Name": "learning-rate", "MinValue": "0.0001", "MaxValue": "0.01", "ScalingType": "Logarithmic"}
    ],
    "IntegerParameterRanges": [
        {"Name": "batch-size", "MinValue": "32", "MaxValue": "512", "ScalingType": "Logarithmic"},
        {"Name": "epochs", "MinValue": "5", "MaxValue": "30", "ScalingType": "Linear"},
    ],
}
# The names the ranges cover: SageMaker refuses them as static hyperparameters too.
TUNED_HYPERPARAMETERS: Final = tuple(r["Name"] for ranges in TUNING_PARAMETER_RANGES.values() for r in ranges)


class AttemptPlan(BaseModel):
    """`$.attempt`: names, URIs and hyperparameters of one attempt (hyperparameters as strings)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    number: int
    model_name: str
    training_job_name: str
    tuning_job_name: str
    endpoint_config_name: str
    transform_job_name: str
    champion_transform_job_name: str
    hyperparameters: dict[str, str]
    static_hyperparameters: dict[str, str]  # the above minus TUNED_HYPERPARAMETERS
    stopping_condition: dict[str, int]
    resource_config: dict[str, str | int]  # with KeepAlivePeriodInSeconds only for a warm pool
    training_output_uri: str
    checkpoint_uri: str
    transform_output_uri: str
    champion_transform_output_uri: str
    report_uri: str


class StatePaths:
    """The JSONPath of each field of a model that sits at `root` in the state data."""

    def __init__(self, model: type[BaseModel], root: str) -> None:
        self._model = model
        self._root = root

    def __getattr__(self, field: str) -> str:
        if field.startswith("_") or field not in self._model.model_fields:
            raise AttributeError(f"{self._model.__name__} has no field {field}")
        return f"{self._root}.{field}"

    def __str__(self) -> str:
        return self._root

    def __repr__(self) -> str:
        return f"StatePaths({self._model.__name__}, {self._root!r})"


ATTEMPT: Final = StatePaths(AttemptPlan, ATTEMPT_PATH)
