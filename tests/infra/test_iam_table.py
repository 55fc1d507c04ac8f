"""The README's least-privilege table is the synthesized template's (like its workflow diagrams)."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.iam_report import README, policies, readme_block, reason, replace_block


def test_readme_least_privilege_table_is_current(template_json: dict[str, Any]) -> None:
    assert readme_block(template_json) in README.read_text(encoding="utf-8"), (
        "README's least-privilege table is stale: run python -m stacks.iam_report"
    )


def test_every_granted_action_has_a_reason(template_json: dict[str, Any]) -> None:
    for policy in policies(template_json):
        if policy.kind == "identity":
            for statement in policy.document["Statement"]:
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                for action in actions:
                    assert reason(action)


def test_an_action_without_a_reason_is_refused() -> None:
    with pytest.raises(KeyError, match="add one to REASONS"):
        reason("rds:DeleteDBInstance")


def test_the_table_replaces_only_its_block() -> None:
    text = "before\n<!-- iam:start -->\nold\n<!-- iam:end -->\nafter\n"
    assert replace_block(text, "<!-- iam:start -->new<!-- iam:end -->") == (
        "before\n<!-- iam:start -->new<!-- iam:end -->\nafter\n"
    )
