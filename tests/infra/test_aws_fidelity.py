"""What AWS requires that local mode did not check (../shared/research/aws-fidelity.md), in the template.

Each test fails on the template before its fix, the way AWS would: a Processing input that cannot
be listed, alarm actions the topic refuses, a blue/green rollback whose alarms cannot be read,
`DeploymentConfig` through the optimized integration, and a GetBucketLocation Allow that never applies.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pipeline_cli.definitions import all_states, definition_by_workflow


def _statements(template_json: dict[str, Any], logical_prefix: str = "") -> list[dict[str, Any]]:
    found = []
    for logical_id, resource in template_json["Resources"].items():
        if not logical_id.startswith(logical_prefix):
            continue
        properties = resource.get("Properties", {})
        for document in filter(None, [properties.get("PolicyDocument"), properties.get("KeyPolicy")]):
            found.extend(document["Statement"])
    return found


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return actions if isinstance(actions, list) else [actions]


def _resources(statement: dict[str, Any]) -> list[Any]:
    resources = statement.get("Resource", [])
    return resources if isinstance(resources, list) else [resources]


def _of_type(template_json: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template_json["Resources"].items() if v["Type"] == resource_type}


def _code_key(template_json: dict[str, Any]) -> str:
    """The S3 key of the training-code archive that Preprocess reads as an S3Prefix input."""
    preprocess = all_states(definition_by_workflow(template_json, "training"))["Preprocess"]
    (code,) = [i for i in preprocess["Parameters"]["ProcessingInputs"] if i["InputName"] == "code"]
    assert code["S3Input"]["S3DataType"] == "S3Prefix"
    # The URI is a token in the parsed definition (`Fn::Sub` of the assets bucket): read the raw one.
    (machine,) = [
        m
        for k, m in _of_type(template_json, "AWS::StepFunctions::StateMachine").items()
        if k.startswith("Training")
    ]
    (key,) = set(
        re.findall(
            r"s3://cdk-[a-z0-9]+-assets-\$\{AWS::AccountId\}-\$\{AWS::Region\}/([^\"]+)", json.dumps(machine)
        )
    )
    return key


def test_processing_may_list_exactly_the_code_archive_it_reads_as_a_prefix(
    template_json: dict[str, Any],
) -> None:
    key = _code_key(template_json)
    listings = [
        s
        for s in _statements(template_json, "SageMakerRole")
        if s["Effect"] == "Allow"
        and "s3:ListBucket" in _actions(s)
        and "cdk-hnb659fds-assets" in str(s["Resource"])
    ]
    assert listings, "the SageMaker role cannot list the assets bucket: Preprocess's ListObjectsV2 fails"
    (listing,) = listings
    assert _actions(listing) == ["s3:ListBucket"]
    assert listing["Condition"] == {"StringEquals": {"s3:prefix": [key]}}


def test_get_bucket_location_is_never_under_a_prefix_condition(template_json: dict[str, Any]) -> None:
    # GetBucketLocation requests carry no s3:prefix: under that condition the Allow never applies.
    located = [s for s in _statements(template_json) if "s3:GetBucketLocation" in _actions(s)]
    assert located
    for statement in located:
        assert "s3:prefix" not in str(statement.get("Condition", {})), statement


def test_cloudwatch_alarms_may_publish_to_the_topic(template_json: dict[str, Any]) -> None:
    (policy,) = _of_type(template_json, "AWS::SNS::TopicPolicy").values()
    allows = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow" and s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert allows, "the topic policy replaces the default one: alarm actions are refused"
    (allow,) = allows
    assert _actions(allow) == ["sns:Publish"]
    source_arn = allow["Condition"]["ArnLike"]["aws:SourceArn"]
    assert source_arn == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":cloudwatch:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                ":alarm:*",
            ],
        ]
    }
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    # The topic is encrypted: CloudWatch must also be able to use its key.
    key_allows = [
        s
        for s in _statements(template_json, "StorageKey")
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"} and s["Effect"] == "Allow"
    ]
    assert key_allows and {"kms:Decrypt", "kms:GenerateDataKey"} <= set(_actions(key_allows[0]))


def test_alarm_actions_target_the_topic(template_json: dict[str, Any]) -> None:
    topics = set(_of_type(template_json, "AWS::SNS::Topic"))
    for alarm in _of_type(template_json, "AWS::CloudWatch::Alarm").values():
        for action in alarm["Properties"].get("AlarmActions", []):
            assert action.get("Ref") in topics


def _rollback_alarms(template_json: dict[str, Any]) -> list[str]:
    """The logical ids of the endpoint's 5XX and ModelLatency alarms, in that order."""
    by_metric = {
        v["Properties"].get("MetricName"): k
        for k, v in _of_type(template_json, "AWS::CloudWatch::Alarm").items()
    }
    return [by_metric["Invocation5XXErrors"], by_metric["ModelLatency"]]


def test_blue_green_update_goes_through_the_aws_sdk_integration(template_json: dict[str, Any]) -> None:
    states = all_states(definition_by_workflow(template_json, "training"))
    update = states["UpdateEndpoint"]
    assert update["Resource"].endswith(":states:::aws-sdk:sagemaker:updateEndpoint")
    config = update["Parameters"]["DeploymentConfig"]
    assert config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "ALL_AT_ONCE"
    assert config["AutoRollbackConfiguration"]["Alarms"]
    for name, state in states.items():
        resource = str(state.get("Resource", ""))
        if ":states:::sagemaker:" in resource:  # optimized: Step Functions' own Parameters schema
            assert "DeploymentConfig" not in state.get("Parameters", {}), name


def test_the_update_endpoint_caller_may_describe_exactly_the_rollback_alarms(
    template_json: dict[str, Any],
) -> None:
    alarm_arns = [{"Fn::GetAtt": [alarm, "Arn"]} for alarm in _rollback_alarms(template_json)]
    for role in ("TrainingWorkflowStateMachineRole", "SageMakerRole"):
        describes = [
            s for s in _statements(template_json, role) if "cloudwatch:DescribeAlarms" in _actions(s)
        ]
        assert describes, f"{role} cannot DescribeAlarms: UpdateEndpoint's auto-rollback fails"
        for statement in describes:
            # Besides the rollback alarms: target tracking's own alarms of the endpoint variant
            # (the autoscaling states create, read and delete them; endpoint_autoscaling.py).
            if all(":alarm:TargetTracking-endpoint/" in str(r) for r in _resources(statement)):
                continue
            assert _resources(statement) == alarm_arns, role
    updates = [
        s
        for s in _statements(template_json, "TrainingWorkflowStateMachineRole")
        if "sagemaker:UpdateEndpoint" in _actions(s)
    ]
    assert updates
    rendered = str(updates)
    assert ":endpoint/" in rendered and ":endpoint-config/" in rendered


def test_event_rules_reach_their_targets_through_a_role(template_json: dict[str, Any]) -> None:
    # A target without a RoleArn (an SNS topic, an SQS queue, a Lambda) would need an allowance in
    # its resource policy for events.amazonaws.com; every target here is started through a role.
    rules = _of_type(template_json, "AWS::Events::Rule")
    assert rules
    for rule in rules.values():
        for target in rule["Properties"].get("Targets", []):
            assert "RoleArn" in target, target
