"""Workflow definitions as they appear in a synthesized template."""

from __future__ import annotations

import json
from typing import Any

WORKFLOW_OUTPUTS = {"training": "TrainingWorkflowArn", "evaluation": "EvaluationWorkflowArn"}


def render_with_placeholders(value: Any) -> str:
    """A DefinitionString with each token replaced by a placeholder (tokens sit inside JSON strings)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(render_with_placeholders(part) for part in parts)
    if isinstance(value, dict) and "Ref" in value:
        return f"REF_{value['Ref'].replace(':', '_')}"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return f"ATT_{value['Fn::GetAtt'][0]}_{value['Fn::GetAtt'][1]}"
    return "TOKEN"


def workflow_definitions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Logical id → parsed Amazon States Language definition of each state machine."""
    return {
        logical_id: json.loads(render_with_placeholders(resource["Properties"]["DefinitionString"]))
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::StepFunctions::StateMachine"
    }


def definition_by_workflow(template: dict[str, Any], workflow: str) -> dict[str, Any]:
    """`training` or `evaluation` → its definition, found through the stack's outputs."""
    logical_id = template["Outputs"][WORKFLOW_OUTPUTS[workflow]]["Value"]["Ref"]
    return workflow_definitions(template)[logical_id]


def all_states(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state, including those inside Parallel branches and Map iterators."""
    found: dict[str, dict[str, Any]] = {}
    for name, state in definition["States"].items():
        found[name] = state
        for branch in state.get("Branches", []):
            found.update(all_states(branch))
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                found.update(all_states(state[key]))
    return found
