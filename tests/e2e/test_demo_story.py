"""`make demo`, as a test: the whole story on real training, real transform and a real endpoint."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from rich.console import Console

from local_mode.demo.run import run_demo

EXPECTED_CHECKS = {
    "TfModelLifecycle deployed by cdk deploy",
    "first training run deployed a model",
    "exactly one model is DEPLOYED",
    "first model reads clean digits",
    "data capture recorded the requests",
    "evaluation found the decay and retrained",
    "the retrained model replaced the champion",
    "shifted digits are now read well",
    "the old champion is RETIRED",
}


@pytest.mark.slow
def test_demo_story_runs_end_to_end(tmp_path: Path) -> None:
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    console = Console(record=True, width=120)
    summary = run_demo(tmp_path, console)

    assert summary.checks.keys() == EXPECTED_CHECKS, console.export_text()[-4000:]
    assert summary.ok, console.export_text()[-4000:]
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["checks"] == summary.checks
    statuses = sorted(model["status"] for model in written["models"])
    assert statuses == ["DEPLOYED", "RETIRED"]
    retired = next(m for m in written["models"] if m["status"] == "RETIRED")
    deployed = next(m for m in written["models"] if m["status"] == "DEPLOYED")
    assert retired["retired_by"] == deployed["model_name"]
    assert deployed["champion_at_training"] == retired["model_name"]  # lineage
    assert len(retired["evaluations"]) == 1  # the evaluation that found the decay
    assert (
        written["endpoint"]["shifted_accuracy_new_model"]
        > written["endpoint"]["shifted_accuracy_first_model"]
    )
    assert [e["status"] for e in written["executions"]] == ["SUCCEEDED", "SUCCEEDED"]


def test_a_relative_workdir_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `make demo` passes `local-run`; jobs run in subprocesses that `cd` into their folders.
    from local_mode.session import open_session

    monkeypatch.chdir(tmp_path)
    with open_session(Path("relative-run")) as session:
        assert session.workdir == tmp_path / "relative-run"
        assert session.template_path.is_absolute()
