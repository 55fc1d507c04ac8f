"""The definitions as CloudFormation deployed them (every token resolved) are valid Amazon States Language."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.workflows.support import WORKFLOWS, Stack

REPO_ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = REPO_ROOT / "node_modules" / ".bin" / "asl-validator"


@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_deployed_definition_is_valid_asl(stack: Stack, workflow: str, tmp_path: Path) -> None:
    assert VALIDATOR.exists() or shutil.which("node") is None, "run `npm ci` (make test does)"
    definition = stack.cloud.client("stepfunctions").describe_state_machine(
        stateMachineArn=stack.machine(workflow)
    )["definition"]
    assert "${Token" not in definition and "arn::" not in definition
    assert f":{stack.cloud.account_id}:" in definition  # ARNs carry the account CloudFormation resolved
    path = tmp_path / f"{workflow}.asl.json"
    path.write_text(definition)
    result = subprocess.run(
        [str(VALIDATOR), "--json-path", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(definition)["StartAt"] == "Begin"
