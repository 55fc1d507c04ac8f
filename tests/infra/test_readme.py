"""The README's promises: its first commands and its diagrams match the code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline_cli.definitions import definition_by_workflow
from pipeline_cli.graph import readme_block

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_diagrams_are_current(template_json: dict[str, Any]) -> None:
    text = README.read_text(encoding="utf-8")
    for workflow in ("training", "evaluation"):
        assert readme_block(workflow, definition_by_workflow(template_json, workflow)) in text, (
            f"README diagram of the {workflow} workflow is stale: run python -m pipeline_cli.graph"
        )


def test_readme_starts_with_the_demo_and_test_commands() -> None:
    first_block = README.read_text(encoding="utf-8").split("```")[1]
    assert "make demo" in first_block and "make test" in first_block
