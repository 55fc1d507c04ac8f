"""A role's policies and the resources' policies, read from moto's server once (policy_sources)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local_mode.checks.policy_sources import KmsEncryption, PolicySnapshot, aws_managed_s3_key_policy
from local_mode.cloud.moto_server import MotoServer

ACCOUNT = "123456789012"
REGION = "us-east-1"
ROLE_NAME = "SourcesRole"
BUCKET = "policy-sources-data"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


def statement(action: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}


@pytest.fixture
def server(fresh_server: MotoServer) -> MotoServer:
    iam = fresh_server.client("iam")
    iam.create_role(
        RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(TRUST), Tags=[{"Key": "team", "Value": "ml"}]
    )
    iam.put_role_policy(RoleName=ROLE_NAME, PolicyName="inline", PolicyDocument=json.dumps(statement("s3:*")))
    managed = iam.create_policy(PolicyName="attached", PolicyDocument=json.dumps(statement("sns:*")))
    iam.attach_role_policy(RoleName=ROLE_NAME, PolicyArn=managed["Policy"]["Arn"])
    fresh_server.client("s3").create_bucket(Bucket=BUCKET)
    return fresh_server


def snapshot(server: MotoServer, role_name: str = ROLE_NAME) -> PolicySnapshot:
    return PolicySnapshot(server.client, role_name, region=REGION, account_id=ACCOUNT)


def test_identity_is_the_inline_and_attached_policies_tags_and_role_id(server: MotoServer) -> None:
    identity = snapshot(server).identity()
    actions = [p["Statement"][0]["Action"] for p in identity.policies]
    assert actions == ["s3:*", "sns:*"]
    assert identity.tags == {"team": "ml"}
    assert identity.role_id == server.client("iam").get_role(RoleName=ROLE_NAME)["Role"]["RoleId"]
    assert snapshot(server, "missing").identity().policies == []


def test_each_source_is_read_once_per_snapshot(server: MotoServer) -> None:
    first = snapshot(server)
    assert first.bucket_policy(BUCKET) is None and first.default_encryption(BUCKET) is None
    reader = {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "s3:GetObject", "Resource": "*"}
    policy = {"Version": "2012-10-17", "Statement": [reader]}
    server.client("s3").put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))
    server.client("iam").delete_role_policy(RoleName=ROLE_NAME, PolicyName="inline")
    assert len(first.identity().policies) == 1  # read after the change
    assert first.bucket_policy(BUCKET) is None  # read before it: kept
    assert snapshot(server).bucket_policy(BUCKET) == policy


def test_keys_and_encryption(server: MotoServer) -> None:
    kms = server.client("kms")
    key_policy = statement("kms:*")
    key_arn = kms.create_key(Policy=json.dumps(key_policy))["KeyMetadata"]["Arn"]
    rule = {
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
        "BucketKeyEnabled": True,
    }
    s3 = server.client("s3")
    s3.put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration={"Rules": [rule]})
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"x")
    sources = snapshot(server)
    assert sources.default_encryption(BUCKET) == KmsEncryption(key_arn, True)
    assert sources.object_encryption(BUCKET, "k", None) == KmsEncryption(key_arn, True)
    assert sources.object_encryption(BUCKET, "absent", None) is None
    assert sources.key(key_arn) == (key_arn, key_policy)
    managed = f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/aws/s3"
    assert sources.key(None) == (managed, aws_managed_s3_key_policy(ACCOUNT, REGION))
    unknown = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000"
    assert sources.key(unknown) == (unknown, None)


def test_topic_and_function_policies(server: MotoServer) -> None:
    topic = server.client("sns").create_topic(Name="notifications")["TopicArn"]
    sources = snapshot(server)
    default = sources.resource_policy("topic", topic)
    assert default is not None and default["Statement"][0]["Principal"] == {"AWS": "*"}
    assert sources.resource_policy("topic", topic + "-gone") is None
    missing_function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:none"
    assert sources.resource_policy("function", missing_function) is None
    with pytest.raises(ValueError, match="'topic' or 'function'"):
        sources.resource_policy("queue", topic)
