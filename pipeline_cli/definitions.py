"""Workflow definitions as they appear in a synthesized template."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pipeline_cli._paths import REPO_ROOT

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


def synthesized_template(stack: str) -> dict[str, Any]:
    """The stack's template from `cdk.out/` (here or in the checkout), else from a fresh synth."""
    for cdk_out in (Path.cwd() / "cdk.out", REPO_ROOT / "cdk.out"):
        path = cdk_out / f"{stack}.template.json"
        if path.exists():
            return dict(json.loads(path.read_text()))
    import app as cdk_app  # seconds to import and synthesize: only when there is no cdk.out

    print(
        f"no cdk.out/{stack}.template.json: synthesizing the app (make synth writes it once)", file=sys.stderr
    )
    return dict(cdk_app.build_app().synth().get_stack_by_name(stack).template)
