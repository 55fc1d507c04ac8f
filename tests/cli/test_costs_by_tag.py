"""`costs --by model|run` against local mode: SageMaker costs added up from the cost allocation tags."""

from __future__ import annotations

import re
import uuid
from typing import Any

from tests.cli.conftest import Invoke, LocalStack


def _model_of(stack: LocalStack, execution_arn: str) -> dict[str, Any]:
    [model] = [m for m in stack.registry().values() if m["execution_arn"] == execution_arn]
    return model


def _jobs_by_group(stdout: str) -> dict[str, int]:
    """{tag value: jobs} from the --by table's rows."""
    return {
        match.group(1): int(match.group(2))
        for match in re.finditer(r"^│ (\S+)\s+│\s+(\d+)\s+│", stdout, flags=re.MULTILINE)
        if match.group(1) != "total"
    }


def test_costs_by_run_and_by_model(local_invoke: Invoke, local_stack: LocalStack) -> None:
    first = local_stack.train(name=f"champion-{uuid.uuid4().hex[:8]}")
    second = local_stack.train(name=f"challenger-{uuid.uuid4().hex[:8]}")
    champion, challenger = (
        _model_of(local_stack, first.execution_arn),
        _model_of(local_stack, second.execution_arn),
    )

    by_run = local_invoke("costs", "--by", "run", second.execution_arn)
    by_model = local_invoke("costs", "--by", "model", second.execution_arn)
    first_by_model = local_invoke("costs", "--by", "model", first.execution_arn)
    everything = local_invoke("costs", "--by", "model")

    for result in (by_run, by_model, first_by_model, everything):
        assert result.exit_code == 0, result.output
    # Everything the second run created carries its run id, the champion's transform included ...
    runs = _jobs_by_group(by_run.stdout)
    assert list(runs) == [challenger["run_id"]]
    # ... and the model it concerns: the champion's transform is the champion's cost.
    models = _jobs_by_group(by_model.stdout)
    assert set(models) == {challenger["model_name"], champion["model_name"]}
    assert models[champion["model_name"]] == 1
    assert sum(models.values()) == runs[challenger["run_id"]]
    # Over every execution: the champion's own jobs (its run may also have transformed an older
    # champion: that is the older model's cost), plus the transform the challenger ran of it.
    own_jobs = _jobs_by_group(first_by_model.stdout)[champion["model_name"]]
    assert _jobs_by_group(everything.stdout)[champion["model_name"]] == own_jobs + 1
    assert "model_name tag" in everything.stdout
