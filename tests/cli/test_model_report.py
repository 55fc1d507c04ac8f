"""`models show` writes the evaluation report and its confusion matrix next to each other on disk."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from lambdas.s3_uris import split_s3_uri
from tests.cli.conftest import Invoke, LocalStack


def _evaluated_model(stack: LocalStack) -> dict[str, str]:
    """A model with an evaluation report: one already in the shared stack's registry, else a new one
    (training again on the same data would change what other tests of the package find)."""
    reported = [m for m in stack.registry().values() if m.get("evaluation_report_uri")]
    if reported:
        return reported[0]
    result = stack.train(name=f"report-{uuid.uuid4().hex[:8]}")
    assert result.status == "SUCCEEDED", result
    return next(m for m in stack.registry().values() if m.get("execution_arn") == result.execution_arn)


def test_show_writes_the_report_and_the_evaluations_confusion_matrix(
    local_invoke: Invoke, local_stack: LocalStack, tmp_path: Path
) -> None:
    model = _evaluated_model(local_stack)
    name = model["model_name"]

    shown = local_invoke("models", "show", name, "--report-dir", str(tmp_path))

    assert shown.exit_code == 0, shown.output
    folder = tmp_path / name
    assert f"wrote {folder / 'report.json'} and {folder / 'confusion_matrix.png'}" in shown.stdout
    s3 = local_stack.cloud.client("s3")
    bucket, key = split_s3_uri(model["evaluation_report_uri"])
    stored_report = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert json.loads((folder / "report.json").read_text()) == json.loads(stored_report)
    # The same picture the evaluation Lambda drew beside the report.
    stored_png = s3.get_object(Bucket=bucket, Key=key.replace("report.json", "confusion_matrix.png"))
    assert (folder / "confusion_matrix.png").read_bytes() == stored_png["Body"].read()


def test_show_as_json_writes_nothing(local_invoke: Invoke, local_stack: LocalStack, tmp_path: Path) -> None:
    model = _evaluated_model(local_stack)

    shown = local_invoke("models", "show", model["model_name"], "--json", "--report-dir", str(tmp_path))

    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["model_name"] == model["model_name"]
    assert list(tmp_path.iterdir()) == []
