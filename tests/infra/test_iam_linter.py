"""An IAM policy linter (parliament, with its community auditors) over every policy of the template.

Identity, trust and resource policies (buckets, topic, key), tokens rendered as realistic ARNs
(stacks/iam_report.py). Each statement is linted on its own, so a finding names one statement;
each whole document is linted too, for what only shows across statements. A finding is fixed in
the constructs, or reviewed on its one statement in `IAM_LINTER_FINDINGS`
(stacks/nag_suppressions.py); a review that matches no finding fails as stale.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from stacks.iam_report import describe, lint_targets, policies, readable, statement_matches
from stacks.nag_suppressions import IAM_LINTER_FINDINGS, LinterFinding

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # parliament imports pkg_resources
    import parliament

Found = tuple[str, str, dict[str, Any], str]  # policy, issue, statement, detail


def _lint(document: dict[str, Any]) -> list[Any]:
    return list(
        parliament.analyze_policy_string(json.dumps(document), include_community_auditors=True).findings
    )


def _findings(template: dict[str, Any]) -> Iterator[Found]:
    for target in lint_targets(template):
        for finding in _lint(target.document):
            # The statement as linted: a trust statement names its role as Resource.
            statement = target.document["Statement"][0]
            yield target.policy, finding.issue, statement, json.dumps(finding.detail, default=str)


def _reviewed(found: Found) -> LinterFinding | None:
    policy, issue, statement, _ = found
    for review in IAM_LINTER_FINDINGS:
        if (review.policy, review.issue) == (policy, issue) and statement_matches(
            statement, review.statement
        ):
            return review
    return None


@pytest.fixture(scope="module")
def findings(template_json: dict[str, Any]) -> list[Found]:
    return list(_findings(template_json))


def test_the_linter_knows_every_policy(template_json: dict[str, Any]) -> None:
    kinds = {policy.kind for policy in policies(template_json)}
    assert kinds == {"identity", "trust", "resource"}
    types = {template_json["Resources"][p.logical_id]["Type"] for p in policies(template_json)}
    assert {"AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy", "AWS::KMS::Key", "AWS::IAM::Role"} <= types


def test_the_iam_linter_reports_nothing_unreviewed(findings: list[Found]) -> None:
    unreviewed = [
        f"{policy}: {issue} on {describe(statement)}: {detail}"
        for policy, issue, statement, detail in findings
        if _reviewed((policy, issue, statement, detail)) is None
    ]
    assert not unreviewed, (
        "The IAM linter (parliament) reports, on one statement each:\n"
        + "\n".join(unreviewed)
        + "\nFix the grant in pipeline_constructs/, or review it on that statement (by Sid, or as "
        "'<action> on <resource>') with the reason in IAM_LINTER_FINDINGS (stacks/nag_suppressions.py)."
    )


def test_whole_documents_add_no_finding(template_json: dict[str, Any]) -> None:
    """What only shows across statements (privilege escalation, bucket policy take-over) is absent."""
    per_statement: dict[str, set[str]] = {}
    for target in lint_targets(template_json):
        per_statement.setdefault(target.policy, set()).update(f.issue for f in _lint(target.document))
    extra = {
        policy: {f.issue for f in _lint(document)} - per_statement.get(policy, set())
        for policy, document in _documents(template_json).items()
    }
    assert not {policy: issues for policy, issues in extra.items() if issues}, (
        "the IAM linter reports, only for whole documents (a combination of statements): "
        f"{ {policy: issues for policy, issues in extra.items() if issues} }"
    )


def _documents(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each policy as one document of its linted statements."""
    found: dict[str, dict[str, Any]] = {}
    for target in lint_targets(template):
        document = found.setdefault(target.policy, {"Version": "2012-10-17", "Statement": []})
        document["Statement"] += target.document["Statement"]
    return found


def test_every_reviewed_linter_finding_is_still_reported(findings: list[Found]) -> None:
    for review in IAM_LINTER_FINDINGS:
        assert review.reason
        assert any(
            (policy, issue) == (review.policy, review.issue)
            and statement_matches(statement, review.statement)
            for policy, issue, statement, _ in findings
        ), (
            f"stale review in IAM_LINTER_FINDINGS: {review.policy} {review.issue} {review.statement}: "
            "remove it"
        )


def test_the_linter_finds_a_prefix_condition_on_get_bucket_location() -> None:
    """The linter sees what it is here for: a grant whose condition its request never carries."""
    statement = {
        "Effect": "Allow",
        "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
        "Resource": "arn:aws:s3:::bucket",
        "Condition": {"StringLike": {"s3:prefix": ["raw/*"]}},
    }
    issues = {f.issue for f in _lint({"Version": "2012-10-17", "Statement": [statement]})}
    assert "UNKNOWN_CONDITION_FOR_ACTION" in issues


def test_policy_names_are_readable(template_json: dict[str, Any]) -> None:
    assert {readable(p.logical_id) for p in policies(template_json)} >= {"StorageKey", "SageMakerRole"}
