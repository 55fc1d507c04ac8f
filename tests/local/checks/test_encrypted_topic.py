"""Publishing to an encrypted topic uses its KMS key as the publisher: a Lambda function's call
(role_calls) and a Step Functions Task's request (task_calls) are refused without the key."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local_mode.checks.role_access import RoleAccess
from local_mode.checks.role_calls import RoleCalls
from local_mode.checks.task_calls import TaskCalls
from local_mode.checks.task_permissions import Account
from local_mode.cloud.moto_hooks import refused_task_error, resource_key
from local_mode.cloud.moto_server import MotoServer
from pipeline_constructs.aws_error_names import task_error_names
from tests.local.checks.role_access_cloud import trust_policy

ACCOUNT = "123456789012"
REGION = "us-east-1"
ROLE_NAME = "Publisher"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}"
MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:Training"
PUBLISH = "arn:aws:states:::sns:publish"
TRUST = trust_policy("states.amazonaws.com")


class Topic:
    """An SSE-KMS topic whose key policy delegates to the account's IAM policies, and a publisher."""

    def __init__(self, server: MotoServer) -> None:
        self.server = server
        key_policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ],
        }
        self.key_arn = server.client("kms").create_key(Policy=json.dumps(key_policy))["KeyMetadata"]["Arn"]
        sns = server.client("sns")
        self.arn = sns.create_topic(Name="notifications", Attributes={"KmsMasterKeyId": self.key_arn})[
            "TopicArn"
        ]
        server.client("iam").create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(TRUST))

    def publisher_may(self, *actions: str) -> None:
        statements: list[dict[str, Any]] = [
            {"Effect": "Allow", "Action": "sns:Publish", "Resource": self.arn}
        ]
        if actions:
            statements.append({"Effect": "Allow", "Action": list(actions), "Resource": self.key_arn})
        self.server.client("iam").put_role_policy(
            RoleName=ROLE_NAME,
            PolicyName="default",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
        )

    def access(self) -> RoleAccess:
        return RoleAccess(self.server.client, region=REGION, account_id=ACCOUNT)


@pytest.fixture
def topic(fresh_server: MotoServer) -> Topic:
    return Topic(fresh_server)


def test_the_topic_is_encrypted_as_the_template_asks(topic: Topic) -> None:
    attributes = topic.server.client("sns").get_topic_attributes(TopicArn=topic.arn)["Attributes"]
    assert attributes["KmsMasterKeyId"] == topic.key_arn


def test_a_function_without_the_key_cannot_publish(topic: Topic) -> None:
    topic.publisher_may()  # sns:Publish only
    calls = RoleCalls(topic.access(), ROLE, session_name="request-approval")
    sns = topic.server.client("sns")

    with pytest.raises(ClientError) as refused:
        calls.check("sns", "Publish", {"TopicArn": topic.arn, "Message": "m"}, client=sns)

    error = refused.value.response["Error"]
    assert type(refused.value).__name__ == "KMSAccessDeniedException"
    assert error["Code"] == "KMSAccessDenied"
    assert (
        f"is not authorized to perform: kms:GenerateDataKey on resource: {topic.key_arn}" in error["Message"]
    )


def test_generate_data_key_and_decrypt_are_both_needed(topic: Topic) -> None:
    calls = RoleCalls(topic.access(), ROLE, session_name="request-approval")
    request = {"TopicArn": topic.arn, "Message": "m"}

    topic.publisher_may("kms:GenerateDataKey")
    calls.refresh()
    assert "kms:Decrypt" in (calls.denial("sns", "Publish", request) or "")
    topic.publisher_may("kms:GenerateDataKey", "kms:Decrypt")
    calls.refresh()
    assert calls.denial("sns", "Publish", request) is None


def test_a_publish_task_without_the_key_fails_as_sns_refuses_it(topic: Topic) -> None:
    topic.publisher_may()
    tasks = TaskCalls(topic.access(), role_of={MACHINE: ROLE}.__getitem__, account=Account(REGION, ACCOUNT))

    refused = tasks.refusal(
        state_machine_arn=MACHINE,
        resource=PUBLISH,
        parameters={"TopicArn": topic.arn, "Message": {"event": "FAILED"}},
        session_name="run-1",
    )

    assert refused is not None
    assert (refused.code, refused.action) == ("KMSAccessDenied", "kms:GenerateDataKey")
    failed = refused_task_error(resource_key(PUBLISH), refused.code, refused.message)
    assert failed.error == "SNS.KMSAccessDeniedException"
    assert failed.error in task_error_names(PUBLISH)
