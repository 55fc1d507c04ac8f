"""Each definition's actions are checked against its role before an execution starts."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_mode.checks.iam_check import IamCheckError
from pipeline_cli.definitions import WORKFLOW_OUTPUTS
from tests.workflows.support import STACK_NAME, WORKFLOWS, Stack, StackManager, template_json

REMOVED_ACTION = "sagemaker:CreateTransformJob"
NEEDED_BY = ("TransformCandidate", "TransformChampion")  # the training workflow's transform jobs


def role_policy(template: dict[str, Any], workflow: str) -> dict[str, Any]:
    """The AWS::IAM::Policy resource attached to a workflow's state machine role."""
    machine = template["Resources"][template["Outputs"][WORKFLOW_OUTPUTS[workflow]]["Value"]["Ref"]]
    role = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    [policy] = [
        resource
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role} in resource["Properties"]["Roles"]
    ]
    return dict(policy)


def without_action(template: dict[str, Any], workflow: str, action: str) -> dict[str, Any]:
    """A copy of the template whose workflow role has lost `action` from the one statement granting it."""
    edited = json.loads(json.dumps(template))
    statements = role_policy(edited, workflow)["Properties"]["PolicyDocument"]["Statement"]
    [statement] = [
        s for s in statements if action in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert isinstance(statement["Action"], list) and len(statement["Action"]) > 1, "keep the statement valid"
    statement["Action"] = [a for a in statement["Action"] if a != action]
    return edited


@pytest.fixture
def ungranted_stack(stacks: StackManager, cdk_out: Path, tmp_path: Path) -> Iterator[Stack]:
    copy = tmp_path / "cdk.out"
    shutil.copytree(cdk_out, copy)
    template_file = copy / f"{STACK_NAME}.template.json"
    template_file.write_text(json.dumps(without_action(template_json(cdk_out), "training", REMOVED_ACTION)))
    yield stacks.get(copy)
    stacks.close()  # the next test opens the unedited stack again


def test_synthesized_roles_grant_everything_the_definitions_need(stack: Stack) -> None:
    for workflow in WORKFLOWS:
        assert stack.cloud.check_iam(stack.machine(workflow)) == [], workflow


def test_a_missing_action_stops_the_start_naming_action_and_states(ungranted_stack: Stack) -> None:
    machine = ungranted_stack.machine("training")
    with pytest.raises(IamCheckError) as raised:
        ungranted_stack.start("training", {}, "ungranted")

    message = str(raised.value)
    assert REMOVED_ACTION in message
    for state in NEEDED_BY:
        assert f"state '{state}'" in message
    assert {f.requirement.state_name for f in raised.value.findings} == set(NEEDED_BY)
    assert {f.requirement.action for f in raised.value.findings} == {REMOVED_ACTION}
    sfn = ungranted_stack.cloud.client("stepfunctions")
    assert sfn.list_executions(stateMachineArn=machine)["executions"] == []
    # The evaluation workflow's role was not touched: it still starts.
    result = ungranted_stack.run("evaluation", {}, hint="still-granted")
    assert result.status == "SUCCEEDED", result.cause
