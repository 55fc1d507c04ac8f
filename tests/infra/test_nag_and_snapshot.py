"""Security checks (cdk-nag AwsSolutions) and a snapshot of the whole template."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk import aws_iam as iam
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

import app as cdk_app
from stacks.nag_suppressions import REVIEWED_WILDCARDS, render_like_nag

ASSET_HASH = re.compile(r"[0-9a-f]{64}")


def test_nag_report_has_no_unsuppressed_findings(synthesized: dict[str, Any]) -> None:
    # Synthesis raises on any unsuppressed finding; the report it leaves says so too.
    report = json.loads((synthesized["outdir"] / "validation-report.json").read_text())
    (plugin,) = report["pluginReports"]
    assert plugin["pluginName"] == "AwsSolutions"
    assert plugin["conclusion"] == "success"
    assert plugin["violations"] == []


def test_an_unreviewed_wildcard_fails_synthesis(tmp_path: Any) -> None:
    app = cdk_app.build_app(outdir=str(tmp_path))
    stack = app.node.find_child(cdk_app.STACK_NAME)
    role = stack.node.find_child("SageMaker").node.find_child("Role")
    assert isinstance(role, iam.Role)
    role.add_to_policy(
        iam.PolicyStatement(actions=["s3:GetObject"], resources=["arn:aws:s3:::someone-elses/*"])
    )
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()


def test_every_reviewed_pattern_still_matches_something(template_json: dict[str, Any]) -> None:
    """A review entry that matches nothing is stale: remove it rather than keep a blanket excuse."""
    rendered = {
        f"Resource::{render_like_nag(resource)}"
        for resource_def in template_json["Resources"].values()
        if resource_def["Type"] == "AWS::IAM::Policy"
        for statement in resource_def["Properties"]["PolicyDocument"]["Statement"]
        for resource in (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
    }
    for path, patterns in REVIEWED_WILDCARDS.items():
        for pattern, reason in patterns:
            assert reason
            assert any(re.fullmatch(pattern, finding) for finding in rendered), f"{path}: {pattern} is stale"


def _normalised(template: dict[str, Any]) -> dict[str, Any]:
    # Asset hashes change with every code edit; the snapshot is about the infrastructure.
    return json.loads(ASSET_HASH.sub("<asset-hash>", json.dumps(template, sort_keys=True)))


def test_template_snapshot(template_json: dict[str, Any], snapshot: SnapshotAssertion) -> None:
    assert _normalised(template_json) == snapshot.use_extension(JSONSnapshotExtension)


def test_synthesis_is_deterministic(template_json: dict[str, Any], tmp_path: Any) -> None:
    again = cdk_app.build_app(outdir=str(tmp_path)).synth().get_stack_by_name(cdk_app.STACK_NAME).template
    assert again == template_json
