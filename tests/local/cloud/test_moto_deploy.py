"""What moto_deploy adds to moto's CloudFormation, exercised through CloudFormation's own API."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local_mode.cloud import moto_deploy
from local_mode.cloud.executions import wait_for_execution
from local_mode.cloud.moto_server import MotoServer

TLS_ONLY = {
    "Effect": "Deny",
    "Principal": {"AWS": "*"},
    "Action": "s3:*",
    "Resource": [
        {"Fn::GetAtt": ["Bucket", "Arn"]},
        {"Fn::Join": ["", [{"Fn::GetAtt": ["Bucket", "Arn"]}, "/*"]]},
    ],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
NO_DELETES = {
    "Effect": "Deny",
    "Principal": {"AWS": "*"},
    "Action": "s3:DeleteObject",
    "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": ["Bucket", "Arn"]}, "/*"]]},
}


def template() -> dict[str, Any]:
    return {
        "Resources": {
            "Bucket": {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "VersioningConfiguration": {"Status": "Enabled"},
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": True,
                        "BlockPublicPolicy": True,
                        "IgnorePublicAcls": True,
                        "RestrictPublicBuckets": True,
                    },
                    "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                    "LifecycleConfiguration": {
                        "Rules": [{"ExpirationInDays": 30, "Prefix": "transform/", "Status": "Enabled"}]
                    },
                },
            },
            "Key": {
                "Type": "AWS::KMS::Key",
                "Properties": {
                    "KeyPolicy": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                                "Action": "kms:DescribeKey",
                                "Resource": "*",
                            }
                        ],
                    }
                },
            },
            "Logs": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {"KmsKeyId": {"Fn::GetAtt": ["Key", "Arn"]}},
            },
            "BucketPolicy": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {
                    "Bucket": {"Ref": "Bucket"},
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": [TLS_ONLY, NO_DELETES]},
                },
            },
            "Topic": {"Type": "AWS::SNS::Topic"},
            "TopicPolicy": {
                "Type": "AWS::SNS::TopicPolicy",
                "Properties": {
                    "Topics": [{"Ref": "Topic"}],
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Action": "sns:Publish",
                                "Resource": {"Ref": "Topic"},
                            }
                        ],
                    },
                },
            },
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "states.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    }
                },
            },
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
                    "DefinitionString": json.dumps(
                        {
                            "StartAt": "Done",
                            "States": {"Done": {"Type": "Pass", "Result": "${Greeting}", "End": True}},
                        }
                    ),
                    "DefinitionSubstitutions": {"Greeting": "hello"},
                },
            },
            "Failures": {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "MetricName": "ExecutionsFailed",
                    "Namespace": "AWS/States",
                    "Dimensions": [{"Name": "StateMachineArn", "Value": {"Ref": "Machine"}}],
                    "Statistic": "Sum",
                    "Period": 300,
                    "EvaluationPeriods": 1,
                    "Threshold": 1,
                    "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                    "AlarmActions": [{"Ref": "Topic"}],
                },
            },
        },
        "Outputs": {
            "BucketName": {"Value": {"Ref": "Bucket"}},
            "MachineArn": {"Value": {"Ref": "Machine"}},
            "AlarmArn": {"Value": {"Fn::GetAtt": ["Failures", "Arn"]}},
            "KeyArn": {"Value": {"Fn::GetAtt": ["Key", "Arn"]}},
            "LogGroupName": {"Value": {"Ref": "Logs"}},
        },
    }


@pytest.fixture(scope="module")
def deployed(moto_server: MotoServer) -> dict[str, str]:
    """The template created through a change set, as `cdk deploy` creates stacks."""
    moto_deploy.install()
    cloudformation = moto_server.client("cloudformation")
    name = f"stack-{uuid.uuid4().hex[:8]}"
    cloudformation.create_change_set(
        StackName=name,
        ChangeSetName="deploy",
        ChangeSetType="CREATE",
        TemplateBody=json.dumps(template()),
        Capabilities=["CAPABILITY_IAM"],
    )
    cloudformation.execute_change_set(StackName=name, ChangeSetName="deploy")
    [stack] = cloudformation.describe_stacks(StackName=name)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    return {"stack": name, **{o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}}


def test_outputs_are_described_after_a_change_set(deployed: dict[str, str]) -> None:
    assert deployed["BucketName"]
    assert deployed["MachineArn"].startswith("arn:aws:states:us-east-1:123456789012:stateMachine:")
    assert deployed["AlarmArn"].startswith("arn:aws:cloudwatch:us-east-1:123456789012:alarm:")


def test_every_resource_is_in_the_stack(moto_server: MotoServer, deployed: dict[str, str]) -> None:
    summaries = moto_server.client("cloudformation").list_stack_resources(StackName=deployed["stack"])
    types = {r["LogicalResourceId"]: r["ResourceType"] for r in summaries["StackResourceSummaries"]}
    assert types["BucketPolicy"] == "AWS::S3::BucketPolicy"
    assert types["TopicPolicy"] == "AWS::SNS::TopicPolicy"
    assert types["Failures"] == "AWS::CloudWatch::Alarm"


def test_bucket_policy_applied_with_tokens_resolved(
    moto_server: MotoServer, deployed: dict[str, str]
) -> None:
    policy = json.loads(moto_server.client("s3").get_bucket_policy(Bucket=deployed["BucketName"])["Policy"])
    assert policy["Statement"][0]["Resource"][0] == f"arn:aws:s3:::{deployed['BucketName']}"


def test_tls_only_deny_lets_requests_through_and_other_denies_apply(
    moto_server: MotoServer, deployed: dict[str, str]
) -> None:
    s3 = moto_server.client("s3")
    s3.put_object(Bucket=deployed["BucketName"], Key="a", Body=b"1")  # TLS on AWS: the Deny does not match
    assert s3.get_object(Bucket=deployed["BucketName"], Key="a")["Body"].read() == b"1"
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=deployed["BucketName"], Key="a")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_topic_policy_replaces_the_default(moto_server: MotoServer, deployed: dict[str, str]) -> None:
    sns = moto_server.client("sns")
    [topic] = [t["TopicArn"] for t in sns.list_topics()["Topics"] if deployed["stack"] in t["TopicArn"]]
    policy = json.loads(sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])
    assert [s["Principal"] for s in policy["Statement"]] == [{"Service": "cloudwatch.amazonaws.com"}]


def test_alarm_created_with_its_actions(moto_server: MotoServer, deployed: dict[str, str]) -> None:
    name = deployed["AlarmArn"].rsplit(":", 1)[-1]
    [alarm] = moto_server.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert alarm["AlarmActions"][0].startswith("arn:aws:sns:")
    assert alarm["Dimensions"] == [{"Name": "StateMachineArn", "Value": deployed["MachineArn"]}]


def test_state_machine_runs_in_the_executing_backend(
    moto_server: MotoServer, deployed: dict[str, str]
) -> None:
    sfn = moto_server.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=deployed["MachineArn"], name="run-1", input="{}")
    result = wait_for_execution(sfn, execution["executionArn"], timeout=20)
    assert result.status == "SUCCEEDED"
    assert result.output == "hello"  # DefinitionSubstitutions applied


def test_bucket_properties_moto_leaves_out_are_applied(
    moto_server: MotoServer, deployed: dict[str, str]
) -> None:
    s3, bucket = moto_server.client("s3"), deployed["BucketName"]
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    [rule] = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert rule == {"ObjectOwnership": "BucketOwnerEnforced"}
    [lifecycle] = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert (lifecycle["Expiration"]["Days"], lifecycle["Filter"]["Prefix"]) == (30, "transform/")


def test_key_policy_is_a_document_the_kms_api_reads(
    moto_server: MotoServer, deployed: dict[str, str]
) -> None:
    kms = moto_server.client("kms")
    assert kms.describe_key(KeyId=deployed["KeyArn"])["KeyMetadata"]["Arn"] == deployed["KeyArn"]
    policy = kms.get_key_policy(KeyId=deployed["KeyArn"], PolicyName="default")["Policy"]
    assert json.loads(policy)["Statement"][0]["Action"] == "kms:DescribeKey"


def test_log_group_keeps_its_key(moto_server: MotoServer, deployed: dict[str, str]) -> None:
    [group] = moto_server.client("logs").describe_log_groups(logGroupNamePrefix=deployed["LogGroupName"])[
        "logGroups"
    ]
    assert group["kmsKeyId"] == deployed["KeyArn"]
