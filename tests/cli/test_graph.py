"""Mermaid with an execution's outcomes."""

from __future__ import annotations

from typing import Any

from pipeline_cli.graph import node_ids, to_mermaid

DEFINITION: dict[str, Any] = {
    "StartAt": "Plan",
    "States": {
        "Plan": {"Type": "Task", "Resource": "r", "Next": "Evaluate", "Catch": [{"Next": "Failed"}]},
        "Evaluate": {
            "Type": "Parallel",
            "Next": "Gate?",
            "Branches": [
                {"StartAt": "Score", "States": {"Score": {"Type": "Task", "Resource": "r", "End": True}}},
                {"StartAt": "Skip", "States": {"Skip": {"Type": "Pass", "End": True}}},
            ],
        },
        "Gate?": {"Type": "Choice", "Choices": [{"Next": "Done"}], "Default": "Failed"},
        "Done": {"Type": "Succeed"},
        "Failed": {"Type": "Fail"},
    },
}


def test_node_ids_follow_branches() -> None:
    assert node_ids(DEFINITION) == {
        "Plan": "Plan",
        "Evaluate": "Evaluate",
        "Score": "Evaluate_b0_Score",
        "Skip": "Evaluate_b1_Skip",
        "Gate?": "Gate_",
        "Done": "Done",
        "Failed": "Failed",
    }


def test_outcomes_become_classes_and_states_not_run_are_grey() -> None:
    outcomes = {"Plan": "caught", "Evaluate": "running", "Score": "running", "Failed": "failed"}

    diagram = to_mermaid(DEFINITION, catches=False, outcomes=outcomes)

    lines = diagram.splitlines()
    assert "    class Plan caught" in lines
    assert "    class Evaluate,Evaluate_b0_Score running" in lines
    assert "    class Failed failed" in lines
    assert "    class Evaluate_b1_Skip,Gate_,Done notrun" in lines
    assert not any(line.startswith("    class ") and line.endswith(" succeeded") for line in lines)
    assert diagram.startswith(
        to_mermaid(DEFINITION, catches=False).rstrip("\n")
    )  # the drawing itself unchanged


def test_catch_edges_are_dashed_when_asked_for() -> None:
    assert "    Plan -.->|error| Failed" in to_mermaid(DEFINITION, catches=True).splitlines()
    assert "-.->" not in to_mermaid(DEFINITION, catches=False)
