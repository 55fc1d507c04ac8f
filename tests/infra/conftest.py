"""One synthesized stack shared by the infrastructure tests (a synth costs seconds)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

import app as cdk_app


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    outdir = tmp_path_factory.mktemp("cdk.out")
    assembly = cdk_app.build_app(outdir=str(outdir)).synth()
    stack = assembly.get_stack_by_name(cdk_app.STACK_NAME)
    return {"template": stack.template, "outdir": outdir}


@pytest.fixture(scope="session")
def template_json(synthesized: dict[str, Any]) -> dict[str, Any]:
    return synthesized["template"]


@pytest.fixture(scope="session")
def template(template_json: dict[str, Any]) -> Template:
    return Template.from_json(template_json)


def render_with_placeholders(value: Any) -> str:
    """A DefinitionString with every token replaced by a readable placeholder (tokens sit inside JSON strings)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(render_with_placeholders(part) for part in parts)
    if isinstance(value, dict) and "Ref" in value:
        return f"REF_{value['Ref'].replace(':', '_')}"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return f"ATT_{value['Fn::GetAtt'][0]}_{value['Fn::GetAtt'][1]}"
    return "TOKEN"


def workflow_definitions(template_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Logical id → parsed Amazon States Language definition of each state machine."""
    return {
        logical_id: json.loads(render_with_placeholders(resource["Properties"]["DefinitionString"]))
        for logical_id, resource in template_json["Resources"].items()
        if resource["Type"] == "AWS::StepFunctions::StateMachine"
    }


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
