"""AWS calls made as a role (role_calls.RoleCalls), authorized on moto's server.

The policies are shaped like the synthesized template's EvaluatePredictions role: ``s3:ListBucket``
on the artifacts bucket under an ``s3:prefix`` condition, ``s3:GetObject`` on ``transform/*``,
``s3:PutObject`` on ``evaluations/*``, the storage key's actions on the key (whose policy
delegates to the account), an SSE-KMS bucket with S3 Bucket Keys and a TLS-only bucket policy;
plus a registry-table grant like the state machine role's (``dynamodb:Query`` on the table's
indexes).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError

from local_mode.checks.call_permissions import UnmappedOperation
from local_mode.checks.role_access import RoleAccess
from local_mode.checks.role_calls import RoleCalls
from local_mode.cloud.lambdas import LocalLambda
from local_mode.cloud.moto_hooks import TaskContext, lambda_error_payload
from local_mode.cloud.moto_server import MotoServer
from tests.local.checks.role_access_cloud import (
    ACCOUNT,
    KEY_ENCRYPT_DECRYPT_ACTIONS,
    REGION,
    create_storage,
    role_arn,
    session_arn,
)

BUCKET = "role-calls-artifacts"
TABLE = "role-calls-registry"
ROLE_NAME = "EvaluatePredictionsRole"
ROLE = role_arn(ROLE_NAME)
FUNCTION = "evaluate-predictions"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION}"
SESSION = session_arn(ROLE_NAME, FUNCTION)
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}"


# --- on the server --------------------------------------------------------------------------------


def role_policy(key_arn: str, *extra: dict[str, Any]) -> dict[str, Any]:
    """The EvaluatePredictions role's default policy, as the template grants it."""
    artifacts = f"arn:aws:s3:::{BUCKET}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": f"{artifacts}/transform/*",
            },
            {
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": artifacts,
                "Condition": {"StringLike": {"s3:prefix": ["transform/*"]}},
            },
            {"Effect": "Allow", "Action": "s3:GetBucketLocation", "Resource": artifacts},
            {
                "Effect": "Allow",
                "Action": ["s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:PutObject"],
                "Resource": f"{artifacts}/evaluations/*",
            },
            {"Effect": "Allow", "Action": list(KEY_ENCRYPT_DECRYPT_ACTIONS), "Resource": key_arn},
            *extra,
        ],
    }


@dataclass
class Cloud:
    server: MotoServer
    key_arn: str
    topic_arn: str

    def client(self, name: str) -> Any:
        return self.server.client(name)

    def set_role_policy(self, *extra: dict[str, Any]) -> None:
        self.client("iam").put_role_policy(
            RoleName=ROLE_NAME,
            PolicyName="default",
            PolicyDocument=json.dumps(role_policy(self.key_arn, *extra)),
        )

    def calls(self) -> RoleCalls:
        access = RoleAccess(self.client, region=REGION, account_id=ACCOUNT)
        return RoleCalls(
            access, ROLE, session_name=FUNCTION, context={"lambda:SourceFunctionArn": FUNCTION_ARN}
        )

    def role_client(self, service: str) -> Any:
        """A client as a handler makes it: boto3's default session, pointed at the server."""
        return boto3.client(service, region_name=REGION, endpoint_url=self.server.endpoint_url, **CREDENTIALS)


CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}


@pytest.fixture
def cloud(fresh_server: MotoServer) -> Cloud:
    key_arn = create_storage(
        fresh_server, BUCKET, ROLE_NAME, trusted_by="lambda.amazonaws.com", key_actions="kms:*"
    )
    s3 = fresh_server.client("s3")
    for key in ("transform/run-1/part-0.out", "models/m/model.tar.gz"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b'{"label": 1}\n')
    fresh_server.client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "model_name", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "model_name", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-status",
                "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    topic_arn = fresh_server.client("sns").create_topic(Name="notifications")["TopicArn"]
    cloud = Cloud(fresh_server, key_arn, topic_arn)
    cloud.set_role_policy()
    return cloud


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, str]:
    error = excinfo.value.response["Error"]
    return type(excinfo.value).__name__, error["Code"], error["Message"]


def test_the_handlers_s3_calls_are_allowed_as_the_template_grants_them(cloud: Cloud) -> None:
    with cloud.calls().acting():
        s3 = cloud.role_client("s3")
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="transform/run-1/")
        assert [o["Key"] for o in listed["Contents"]] == ["transform/run-1/part-0.out"]
        assert s3.get_object(Bucket=BUCKET, Key="transform/run-1/part-0.out")["Body"].read()
        s3.put_object(Bucket=BUCKET, Key="evaluations/m/report.json", Body=b"{}")  # SSE-KMS: GenerateDataKey


def test_an_object_outside_the_grant_is_refused_with_s3s_message(cloud: Cloud) -> None:
    with cloud.calls().acting():
        s3 = cloud.role_client("s3")
        with pytest.raises(ClientError) as excinfo:
            s3.get_object(Bucket=BUCKET, Key="models/m/model.tar.gz")
        with pytest.raises(ClientError) as listing:
            s3.list_objects_v2(Bucket=BUCKET, Prefix="models/")

    name, code, message = error_of(excinfo)
    assert (name, code) == (s3.exceptions.from_code("AccessDenied").__name__, "AccessDenied")
    assert message == (
        f"User: {SESSION} is not authorized to perform: s3:GetObject on resource: "
        f'"arn:aws:s3:::{BUCKET}/models/m/model.tar.gz" because no identity-based policy allows '
        "the s3:GetObject action"
    )
    assert "s3:ListBucket" in error_of(listing)[2]


def test_without_the_key_grant_reading_an_sse_kms_object_is_refused(cloud: Cloud) -> None:
    document = role_policy(cloud.key_arn)
    document["Statement"] = [s for s in document["Statement"] if "kms:Decrypt" not in s["Action"]]
    cloud.client("iam").put_role_policy(
        RoleName=ROLE_NAME, PolicyName="default", PolicyDocument=json.dumps(document)
    )
    with cloud.calls().acting(), pytest.raises(ClientError) as excinfo:
        cloud.role_client("s3").get_object(Bucket=BUCKET, Key="transform/run-1/part-0.out")
    assert f"is not authorized to perform: kms:Decrypt on resource: {cloud.key_arn}" in error_of(excinfo)[2]


def test_a_dynamodb_call_the_role_does_not_allow_is_refused_with_awss_message(cloud: Cloud) -> None:
    with cloud.calls().acting():
        dynamodb = cloud.role_client("dynamodb")
        with pytest.raises(ClientError) as excinfo:
            dynamodb.query(
                TableName=TABLE,
                KeyConditionExpression="model_name = :m",
                ExpressionAttributeValues={":m": {"S": "x"}},
            )

    assert error_of(excinfo) == (
        "ClientError",
        "AccessDeniedException",
        f"User: {SESSION} is not authorized to perform: dynamodb:Query on resource: {TABLE_ARN} "
        "because no identity-based policy allows the dynamodb:Query action",
    )
    assert str(excinfo.value).startswith(
        "An error occurred (AccessDeniedException) when calling the Query operation"
    )


def test_an_index_grant_covers_queries_on_the_index_only(cloud: Cloud) -> None:
    cloud.set_role_policy({"Effect": "Allow", "Action": "dynamodb:Query", "Resource": f"{TABLE_ARN}/index/*"})
    query = {
        "KeyConditionExpression": "#s = :s",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":s": {"S": "DEPLOYED"}},
    }
    with cloud.calls().acting():
        dynamodb = cloud.role_client("dynamodb")
        assert dynamodb.query(TableName=TABLE, IndexName="by-status", **query)["Items"] == []
        with pytest.raises(ClientError, match="dynamodb:Query on resource: " + TABLE_ARN + " because"):
            dynamodb.query(TableName=TABLE, **{**query, "KeyConditionExpression": "model_name = :s"})


def test_an_explicit_deny_wins_and_says_so(cloud: Cloud) -> None:
    cloud.set_role_policy(
        {"Effect": "Allow", "Action": "dynamodb:*", "Resource": TABLE_ARN},
        {"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": "*"},
    )
    with cloud.calls().acting():
        dynamodb = cloud.role_client("dynamodb")
        dynamodb.put_item(TableName=TABLE, Item={"model_name": {"S": "m"}})
        with pytest.raises(ClientError, match="with an explicit deny in an identity-based policy"):
            dynamodb.delete_item(TableName=TABLE, Key={"model_name": {"S": "m"}})
    assert cloud.client("dynamodb").get_item(TableName=TABLE, Key={"model_name": {"S": "m"}})["Item"]


def test_conditions_see_the_functions_context(cloud: Cloud) -> None:
    cloud.set_role_policy(
        {
            "Effect": "Allow",
            "Action": "dynamodb:GetItem",
            "Resource": TABLE_ARN,
            "Condition": {"ArnEquals": {"lambda:SourceFunctionArn": FUNCTION_ARN}},
        }
    )
    with cloud.calls().acting():
        cloud.role_client("dynamodb").get_item(TableName=TABLE, Key={"model_name": {"S": "m"}})
    other = RoleCalls(RoleAccess(cloud.client, region=REGION, account_id=ACCOUNT), ROLE, session_name="other")
    with other.acting(), pytest.raises(ClientError, match="assumed-role/EvaluatePredictionsRole/other"):
        cloud.role_client("dynamodb").get_item(TableName=TABLE, Key={"model_name": {"S": "m"}})


def test_sns_refusal_is_authorization_error_with_snss_spelling(cloud: Cloud) -> None:
    owner_only: dict[str, Any] = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "sns:Publish",
                "Resource": cloud.topic_arn,
            }
        ],
    }
    cloud.client("sns").set_topic_attributes(
        TopicArn=cloud.topic_arn, AttributeName="Policy", AttributeValue=json.dumps(owner_only)
    )
    with cloud.calls().acting(), pytest.raises(ClientError) as excinfo:
        cloud.role_client("sns").publish(TopicArn=cloud.topic_arn, Message="m")
    assert error_of(excinfo) == (
        "AuthorizationErrorException",
        "AuthorizationError",
        f"User: {SESSION} is not authorized to perform: SNS:Publish on resource: {cloud.topic_arn} "
        "because no identity-based policy allows the SNS:Publish action",
    )
    # a topic policy naming the role lets it publish without an identity grant
    owner_only["Statement"][0]["Principal"] = {"AWS": ROLE}
    cloud.client("sns").set_topic_attributes(
        TopicArn=cloud.topic_arn, AttributeName="Policy", AttributeValue=json.dumps(owner_only)
    )
    with cloud.calls().acting():
        assert cloud.role_client("sns").publish(TopicArn=cloud.topic_arn, Message="m")["MessageId"]


def test_sagemaker_create_needs_pass_role_on_the_passed_role(cloud: Cloud) -> None:
    cloud.set_role_policy({"Effect": "Allow", "Action": "sagemaker:CreateModel", "Resource": "*"})
    with cloud.calls().acting(), pytest.raises(ClientError) as excinfo:
        cloud.role_client("sagemaker").create_model(
            ModelName="m", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "i"}
        )
    assert error_of(excinfo)[2] == (
        f"User: {SESSION} is not authorized to perform: iam:PassRole on resource: {ROLE} "
        "because no identity-based policy allows the iam:PassRole action"
    )


def test_an_unmapped_operation_is_refused_not_sent(cloud: Cloud) -> None:
    cloud.set_role_policy({"Effect": "Allow", "Action": "*", "Resource": "*"})
    with cloud.calls().acting():
        dynamodb, s3 = cloud.role_client("dynamodb"), cloud.role_client("s3")
        with pytest.raises(UnmappedOperation, match=r"dynamodb\.CreateBackup"):
            dynamodb.create_backup(TableName=TABLE, BackupName="b")
        with pytest.raises(UnmappedOperation, match=r"s3\.DeleteBucketPolicy"):
            s3.delete_bucket_policy(Bucket=BUCKET)
        with pytest.raises(UnmappedOperation, match=r"sqs\.ListQueues"):
            cloud.role_client("sqs").list_queues()
    assert cloud.client("s3").get_bucket_policy(Bucket=BUCKET)["Policy"]


def test_only_clients_created_in_the_acting_thread_are_checked(cloud: Cloud) -> None:
    cloud.set_role_policy()  # nothing on the table
    made: dict[str, Any] = {}
    before = cloud.role_client("dynamodb")
    with cloud.calls().acting():
        thread = threading.Thread(target=lambda: made.setdefault("client", cloud.role_client("dynamodb")))
        thread.start()
        thread.join()
        inside = cloud.role_client("dynamodb")
        for unchecked in (before, made["client"], cloud.client("dynamodb")):
            unchecked.describe_table(TableName=TABLE)
        with pytest.raises(ClientError, match="dynamodb:DescribeTable"):
            inside.describe_table(TableName=TABLE)
    assert botocore.session.Session.create_client.__module__ == "botocore.session"  # unpatched again
    after = cloud.role_client("dynamodb")
    after.describe_table(TableName=TABLE)


def test_a_cached_client_acts_as_the_role_with_each_invocations_policies(cloud: Cloud) -> None:
    calls = cloud.calls()
    with calls.acting():
        cached = cloud.role_client("dynamodb")  # as a handler caches it at import
        with pytest.raises(ClientError):
            cached.describe_table(TableName=TABLE)
    cloud.set_role_policy({"Effect": "Allow", "Action": "dynamodb:DescribeTable", "Resource": TABLE_ARN})
    with calls.acting():  # the next invocation reads the policies again
        assert cached.describe_table(TableName=TABLE)["Table"]["TableName"] == TABLE


# --- LocalLambda -------------------------------------------------------------------------------------

HANDLER = """
import os

import boto3

_dynamodb = boto3.client("dynamodb")  # at import, as the project's handlers do


def handler(event, context):
    return _dynamodb.get_item(TableName=os.environ["TABLE"], Key={"model_name": {"S": "m"}}).get("Item")
"""


@pytest.fixture
def function(cloud: Cloud, tmp_path: Path) -> Iterator[LocalLambda]:
    (tmp_path / "role_calls_handler.py").write_text(HANDLER)
    yield LocalLambda(
        name=FUNCTION,
        arn=FUNCTION_ARN,
        code_dir=tmp_path,
        handler="role_calls_handler.handler",
        environment={
            "TABLE": TABLE,
            "AWS_ENDPOINT_URL": cloud.server.endpoint_url,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
        },
        role=cloud.calls(),
    )


def test_a_lambda_handler_acts_as_its_role(cloud: Cloud, function: LocalLambda) -> None:
    task = TaskContext("GetItem", "", "", "", FUNCTION_ARN, 0)
    with pytest.raises(ClientError) as excinfo:
        function({}, task)
    payload = lambda_error_payload(excinfo.value)  # what the Lambda runtime reports for it
    assert payload["errorType"] == "ClientError"
    assert payload["errorMessage"] == (
        "An error occurred (AccessDeniedException) when calling the GetItem operation: "
        f"User: {SESSION} is not authorized to perform: dynamodb:GetItem on resource: {TABLE_ARN} "
        "because no identity-based policy allows the dynamodb:GetItem action"
    )

    cloud.set_role_policy({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE_ARN})
    assert function({}, task) is None  # the same module-level client, the new policy: allowed


def test_a_lambda_without_a_role_is_not_checked(cloud: Cloud, function: LocalLambda) -> None:
    function.role = None
    assert function({}, TaskContext("GetItem", "", "", "", FUNCTION_ARN, 0)) is None
