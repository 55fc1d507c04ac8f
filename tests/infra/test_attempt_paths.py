"""Every `$.attempt` path the synthesized workflows read is a field of the typed attempt plan."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from lambdas.attempt_state import ATTEMPT, ATTEMPT_PATH, AttemptPlan
from pipeline_cli.definitions import definition_by_workflow


@pytest.mark.parametrize("workflow", ["training", "evaluation"])
def test_the_workflows_read_only_fields_of_the_attempt_plan(
    template_json: dict[str, Any], workflow: str
) -> None:
    text = json.dumps(definition_by_workflow(template_json, workflow))
    read = set(re.findall(r"\$\.attempt\.([A-Za-z_]+)", text))
    assert read <= set(AttemptPlan.model_fields), read - set(AttemptPlan.model_fields)
    if workflow == "training":
        assert {"model_name", "hyperparameters", "static_hyperparameters", "number"} <= read


def test_paths_are_derived_from_the_model() -> None:
    assert ATTEMPT.model_name == f"{ATTEMPT_PATH}.model_name" == "$.attempt.model_name"
    with pytest.raises(AttributeError, match="AttemptPlan has no field model"):
        _ = ATTEMPT.model
