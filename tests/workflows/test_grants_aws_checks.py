"""Grants and resource policies, checked the way AWS checks them on the stack `cdk deploy` created.

Each defect the AWS audit found has a mutation here: the grant removed from a copy of the
synthesized template, the copy deployed, and local mode refusing what AWS would refuse, with
AWS's (or SageMaker's) reason.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from local_mode.cloud.cdk_deploy import DeployError
from local_mode.cloud.local_cloud import LocalCloud
from tests.workflows.support import RAW_PREFIX, STACK_NAME, Stack, StackManager, template_json

Edit = Callable[[dict[str, Any]], None]


def resources_of(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def drop_statements(document: dict[str, Any], matches: Callable[[dict[str, Any]], bool]) -> None:
    before = len(document["Statement"])
    document["Statement"] = [s for s in document["Statement"] if not matches(s)]
    assert len(document["Statement"]) == before - 1, "exactly one statement is removed"


def without_code_listing(template: dict[str, Any]) -> None:
    """The SageMaker role loses `s3:ListBucket` on the CDK assets bucket (the training-code archive)."""
    [policy] = [
        p for k, p in resources_of(template, "AWS::IAM::Policy").items() if k.startswith("SageMakerRole")
    ]
    drop_statements(
        policy["Properties"]["PolicyDocument"],
        lambda s: s["Action"] == "s3:ListBucket" and "cdk-" in json.dumps(s["Resource"]),
    )


def without_alarm_publishing(template: dict[str, Any]) -> None:
    """The topic policy loses its allowance for CloudWatch alarms (it then holds only the TLS Deny)."""
    [topic_policy] = resources_of(template, "AWS::SNS::TopicPolicy").values()
    drop_statements(
        topic_policy["Properties"]["PolicyDocument"],
        lambda s: s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"},
    )


def tagging_only_other_models(template: dict[str, Any]) -> None:
    """The training workflow may create any model but tag only `model/other-project-*` ones: the
    check before a run passes (that pattern may match a computed name); the run's request does not."""
    [policy] = [
        p
        for k, p in resources_of(template, "AWS::IAM::Policy").items()
        if k.startswith("TrainingWorkflowStateMachineRole")
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    [statement] = [s for s in statements if s["Action"] == ["sagemaker:AddTags", "sagemaker:CreateModel"]]
    statement["Action"] = "sagemaker:CreateModel"
    other_models = json.loads(json.dumps(statement["Resource"]).replace(":model/*", ":model/other-project-*"))
    assert other_models != statement["Resource"]
    statements.append({"Effect": "Allow", "Action": "sagemaker:AddTags", "Resource": other_models})


def without_log_encryption(template: dict[str, Any]) -> None:
    """The key policy loses its statement for CloudWatch Logs."""
    [key] = resources_of(template, "AWS::KMS::Key").values()
    drop_statements(
        key["Properties"]["KeyPolicy"], lambda s: "aws:logs:arn" in json.dumps(s.get("Condition", {}))
    )


def edited_copy(cdk_out: Path, tmp_path: Path, *edits: Edit) -> Path:
    copy = tmp_path / "cdk.out"
    shutil.copytree(cdk_out, copy)
    template = template_json(cdk_out)
    for edit in edits:
        edit(template)
    (copy / f"{STACK_NAME}.template.json").write_text(json.dumps(template))
    return copy


@pytest.fixture(scope="module")
def weakened_stack(
    stacks: StackManager, cdk_out: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The stack with three grants weakened: the code listing, the alarms' topic allowance, and the
    training workflow's tagging of models."""
    copy = edited_copy(
        cdk_out,
        tmp_path_factory.mktemp("weakened"),
        without_code_listing,
        without_alarm_publishing,
        tagging_only_other_models,
    )
    yield stacks.get(copy)
    stacks.close()  # the next test opens the unedited stack again


def alarms_with_actions(stack: Stack) -> list[str]:
    assert stack.cloud.stack is not None
    return [
        logical_id
        for logical_id, name in stack.cloud.stack.physical_ids("AWS::CloudWatch::Alarm").items()
        if stack.cloud.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"][0][
            "AlarmActions"
        ]
    ]


# --- the deployed stack: every service may do what the workflows rely on ---------------------


def test_every_alarm_action_reaches_the_topic(stack: Stack) -> None:
    alarms = alarms_with_actions(stack)
    assert len(alarms) >= 2  # the failed-execution alarms of both workflows
    for alarm in alarms:
        [delivery] = stack.cloud.fire_alarm(alarm, reason="test")
        assert delivery.delivered, delivery.decision.message
    published = [n.json for n in stack.cloud.notifications(str(stack.outputs["NotificationTopicArn"]))]
    names = {m["AlarmName"] for m in published if isinstance(m, dict) and "AlarmName" in m}
    assert names == {stack.cloud.physical_name(a) for a in alarms}


def test_the_schedule_rule_may_start_the_evaluation_workflow(stack: Stack) -> None:
    assert stack.cloud.stack is not None
    [rule] = stack.cloud.stack.physical_ids("AWS::Events::Rule")
    [delivery] = stack.cloud.fire_rule(rule)
    assert delivery.delivered, delivery.decision.message
    assert delivery.target == stack.machine("evaluation")
    result = stack.wait(delivery.result["executionArn"])
    assert result.status == "SUCCEEDED", result.cause


def test_the_deployed_topic_is_encrypted_so_every_publisher_needs_its_key(stack: Stack) -> None:
    """Publishers are checked for the topic's key (role_calls.RoleCalls.implied): on the deployed
    stack, as CloudFormation created it."""
    assert stack.cloud.stack is not None
    [key_id] = stack.cloud.stack.physical_ids("AWS::KMS::Key").values()
    topic = str(stack.outputs["NotificationTopicArn"])
    attributes = stack.cloud.client("sns").get_topic_attributes(TopicArn=topic)["Attributes"]
    key_arn = stack.cloud.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    assert attributes.get("KmsMasterKeyId") in (key_id, key_arn)


# --- grants removed: refused as AWS would refuse ---------------------------------------------


def test_without_listing_the_code_archive_preprocessing_fails_as_sagemaker_does(
    weakened_stack: Stack,
) -> None:
    result = weakened_stack.run(
        "training", {"raw_data_uri": weakened_stack.data_uri(RAW_PREFIX)}, hint="no-list"
    )

    assert result.status == "FAILED"
    assert "Preprocess" in result.entered_states()
    assert "Train" not in result.entered_states()
    cause = result.cause or ""
    assert "ClientError: Failed to download data. ListObjectsV2 failed" in cause, cause
    assert "is not authorized to perform: s3:ListBucket" in cause, cause
    [failure] = weakened_stack.notifications(result.execution_arn, "FAILED")
    assert "s3:ListBucket" in json.dumps(failure)


def test_without_the_topic_allowance_alarm_actions_are_refused(weakened_stack: Stack) -> None:
    for alarm in alarms_with_actions(weakened_stack):
        [delivery] = weakened_stack.cloud.fire_alarm(alarm)
        assert not delivery.delivered
        assert delivery.decision.action == "sns:Publish"
        assert "no resource-based policy allows the sns:Publish action" in delivery.decision.message


def test_a_request_outside_the_grant_fails_its_task_as_aws_refuses_it(weakened_stack: Stack) -> None:
    machine = weakened_stack.machine("training")
    assert weakened_stack.cloud.check_iam(machine) == []  # what the definition says may be granted

    result = weakened_stack.run("training", {}, hint="no-model-tags")

    assert result.status == "FAILED"
    attempts = weakened_stack.cloud.hooks.invocations_of("CreateModel", execution_arn=result.execution_arn)
    assert attempts and all(a.failed for a in attempts)
    model = attempts[0].parameters["ModelName"]
    cloud = weakened_stack.cloud
    refusal = (
        "is not authorized to perform: sagemaker:AddTags on resource: "
        f"arn:aws:sagemaker:{cloud.region}:{cloud.account_id}:model/{model.lower()}"
    )
    assert attempts[0].error == "SageMaker.AmazonSageMakerException"
    assert refusal in (attempts[0].cause or "")
    [item] = weakened_stack.items_of(result.execution_arn)
    assert refusal in json.dumps(item)
    [failure] = weakened_stack.notifications(result.execution_arn, "FAILED")
    assert refusal in json.dumps(failure)


def test_a_key_logs_may_not_use_fails_the_deploy(cdk_out: Path, tmp_path: Path, stacks: StackManager) -> None:
    stacks.close()  # one LocalCloud per process
    copy = edited_copy(cdk_out, tmp_path, without_log_encryption)
    with (
        pytest.raises(DeployError, match="CloudWatch Logs may not use the key"),
        LocalCloud(copy, STACK_NAME),
    ):
        pass
