"""Every command against local mode: the real synthesized workflows in LocalCloud, real executions."""

from __future__ import annotations

import json
import re

import pytest

from tests.cli.conftest import TRANSFORM_RECORDS, Invoke, LocalStack

ARN = re.compile(r"arn:aws:states:[^\s]+:execution:[^\s]+")


def _started_arn(output: str) -> str:
    match = ARN.search(output)
    assert match, output
    return match.group(0)


def test_start_validates_then_runs_training_to_a_deployed_model(local_invoke: Invoke, local_stack: LocalStack) -> None:
    result = local_invoke("start", "--set", "hyperparameters.epochs=3", "--set", "reason=cli test", "--wait")

    assert result.exit_code == 0, result.output
    arn = _started_arn(result.stdout)
    assert "SUCCEEDED" in result.stdout and "Deployed" in result.stdout
    [model] = [m for m in local_stack.registry().values() if m["execution_arn"] == arn]
    assert model["status"] == "DEPLOYED" and model["reason"] == "cli test"
    assert json.loads(model["hyperparameters"])["epochs"] == "3"


def test_bad_input_is_refused_before_anything_starts(local_invoke: Invoke, local_stack: LocalStack) -> None:
    sfn = local_stack.cloud.client("stepfunctions")
    before = sfn.list_executions(stateMachineArn=local_stack.outputs["TrainingWorkflowArn"])["executions"]

    result = local_invoke("start", "--set", "hyperparameters.epochs=0", "--set", "gate.metric=recall")

    assert result.exit_code == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert "hyperparameters.epochs" in line and "gate.metric" in line
    after = sfn.list_executions(stateMachineArn=local_stack.outputs["TrainingWorkflowArn"])["executions"]
    assert len(after) == len(before)


def test_zz_print(local_invoke: Invoke, local_stack: LocalStack) -> None:
    result = local_invoke("start", "--wait")
    print(result.stdout)
    arn = _started_arn(result.stdout)
    for args in (("models",), ("costs", arn), ("graph", "--execution", arn), ("start", "--dry-run", "-w", "evaluation")):
        r = local_invoke(*args)
        print(r.exit_code, r.stdout, r.stderr)
    name = [m for m in local_stack.registry().values() if m["execution_arn"] == arn][0]["model_name"]
    r = local_invoke("models", "show", name)
    print(r.exit_code, r.stdout, r.stderr)
    r = local_invoke("rollback", "--yes")
    print(r.exit_code, r.stdout, r.stderr)
    r = local_invoke("models")
    print(r.exit_code, r.stdout, r.stderr)
    assert 0
