"""The synthesized definitions, tokens resolved to real-shaped values, are valid Amazon States Language."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import app as cdk_app
from local_mode.template import CfnTemplate
from pipeline_cli.definitions import WORKFLOW_OUTPUTS

REPO_ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = REPO_ROOT / "node_modules" / ".bin" / "asl-validator"


@pytest.fixture(scope="module")
def resolved_definitions(synthesized: dict[str, Any]) -> dict[str, str]:
    template = CfnTemplate.from_cdk_out(synthesized["outdir"], cdk_app.STACK_NAME)
    definitions = {}
    for workflow, output in WORKFLOW_OUTPUTS.items():
        logical_id = _logical_id(synthesized, output)
        definitions[workflow] = template.resolve(template.property(logical_id, "DefinitionString"))
    return definitions


def _logical_id(synthesized: dict[str, Any], output: str) -> str:
    return str(synthesized["template"]["Outputs"][output]["Value"]["Ref"])


@pytest.mark.parametrize("workflow", sorted(WORKFLOW_OUTPUTS))
def test_definition_is_valid_asl(resolved_definitions: dict[str, str], workflow: str, tmp_path: Path) -> None:
    assert VALIDATOR.exists() or shutil.which("node") is None, "run `npm ci` (make test does)"
    definition = resolved_definitions[workflow]
    assert "${Token" not in definition and "arn::" not in definition
    path = tmp_path / f"{workflow}.asl.json"
    path.write_text(definition)
    result = subprocess.run(
        [str(VALIDATOR), "--json-path", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(definition)["StartAt"] == "Begin"
