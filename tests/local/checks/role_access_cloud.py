"""A local cloud shaped like the synthesized template's storage, for the role-access tests.

An SSE-KMS bucket with S3 Bucket Keys, a TLS-only bucket policy, a key policy that delegates to
the account, a role whose ListBucket is scoped with ``s3:prefix``; all on moto's server
(`make_cloud`). `create_storage` and the policy builders also set up test_role_calls' cloud.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_mode.checks.role_access import RoleAccess
from local_mode.cloud import moto_deploy
from local_mode.cloud.moto_server import MotoServer
from local_mode.sagemaker.local_sagemaker import JobRunner, LocalSageMaker

ACCOUNT = "123456789012"
REGION = "us-east-1"
# What the template grants on the storage key (CDK's Key.grant_encrypt_decrypt).
KEY_ENCRYPT_DECRYPT_ACTIONS = (
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
)


def role_arn(role_name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{role_name}"


def session_arn(role_name: str, session_name: str) -> str:
    """The assumed-role session a service acts as: the ``User`` of AWS's AccessDenied messages."""
    return f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/{session_name}"


def trust_policy(service: str) -> dict[str, Any]:
    """A role's trust policy that lets ``service`` (``sagemaker.amazonaws.com``...) assume it."""
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


BUCKET = "role-access-data"
ROLE_NAME = "SageMakerRole"
ROLE = role_arn(ROLE_NAME)
SESSION = session_arn(ROLE_NAME, "SageMaker")
DELEGATED_KEY_ACTIONS = (
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:DescribeKey",
    "kms:PutKeyPolicy",
)


def delegating_key_policy(actions: str | tuple[str, ...] = DELEGATED_KEY_ACTIONS) -> dict[str, Any]:
    """A key policy that gives the account ``actions``: IAM policies decide who in it may use them."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministersAndDelegatesToIam",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": actions if isinstance(actions, str) else list(actions),
                "Resource": "*",
            }
        ],
    }


def tls_only_bucket_policy(bucket: str, *extra: dict[str, Any]) -> dict[str, Any]:
    """The Deny that ``enforce_ssl=True`` puts in a bucket policy, then ``extra`` statements."""
    tls_only = {
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    return {"Version": "2012-10-17", "Statement": [tls_only, *extra]}


def kms_encryption(key_arn: str, *, bucket_key: bool) -> dict[str, Any]:
    """A bucket's SSE-KMS default encryption with ``key_arn``, S3 Bucket Keys on or off."""
    rule = {
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
        "BucketKeyEnabled": bucket_key,
    }
    return {"Rules": [rule]}


def create_storage(
    server: MotoServer,
    bucket: str,
    role_name: str,
    *,
    trusted_by: str,
    key_actions: str | tuple[str, ...] = DELEGATED_KEY_ACTIONS,
) -> str:
    """The template's storage on the server: a role ``trusted_by`` a service may assume (no policy
    yet), a KMS key whose policy delegates ``key_actions`` to the account, and ``bucket``: SSE-KMS
    with that key and S3 Bucket Keys, TLS-only bucket policy. Returns the key's ARN."""
    moto_deploy.install()  # moto ignores bucket-policy conditions: the TLS-only Deny would refuse all
    iam, kms, s3 = server.client("iam"), server.client("kms"), server.client("s3")
    iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust_policy(trusted_by)))
    key_policy = delegating_key_policy(key_actions)
    key_arn = str(kms.create_key(Policy=json.dumps(key_policy))["KeyMetadata"]["Arn"])
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_encryption(
        Bucket=bucket, ServerSideEncryptionConfiguration=kms_encryption(key_arn, bucket_key=True)
    )
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(tls_only_bucket_policy(bucket)))
    return key_arn


def role_policy(
    key_arn: str, *, list_prefixes: tuple[str, ...] = ("raw/*", "models/*"), kms: bool = True
) -> dict[str, Any]:
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/raw/*"},
        {
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:GetObject"],
            "Resource": f"arn:aws:s3:::{BUCKET}/models/*",
        },
    ]
    if list_prefixes:
        statements.append(
            {
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": f"arn:aws:s3:::{BUCKET}",
                "Condition": {"StringLike": {"s3:prefix": list(list_prefixes)}},
            }
        )
    if kms:
        statements.append(
            {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": key_arn}
        )
    return {"Version": "2012-10-17", "Statement": statements}


@dataclass
class Cloud:
    server: MotoServer
    key_arn: str

    def client(self, name: str) -> Any:
        return self.server.client(name)

    def set_role_policy(self, document: dict[str, Any]) -> None:
        self.client("iam").put_role_policy(
            RoleName=ROLE_NAME, PolicyName="default", PolicyDocument=json.dumps(document)
        )

    def set_bucket_policy(self, *extra: dict[str, Any]) -> None:
        policy = tls_only_bucket_policy(BUCKET, *extra)
        self.client("s3").put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))

    def set_key_policy(self, document: dict[str, Any]) -> None:
        self.client("kms").put_key_policy(
            KeyId=self.key_arn, PolicyName="default", Policy=json.dumps(document)
        )

    def set_bucket_key(self, enabled: bool) -> None:
        self.client("s3").put_bucket_encryption(
            Bucket=BUCKET, ServerSideEncryptionConfiguration=kms_encryption(self.key_arn, bucket_key=enabled)
        )


def make_cloud(fresh_server: MotoServer) -> Cloud:
    """The bucket, key, role and objects every role-access test starts from."""
    key_arn = create_storage(fresh_server, BUCKET, ROLE_NAME, trusted_by="sagemaker.amazonaws.com")
    cloud = Cloud(fresh_server, key_arn)
    cloud.set_role_policy(role_policy(key_arn))
    s3 = fresh_server.client("s3")
    s3.put_object(Bucket=BUCKET, Key="raw/a.txt", Body=b"raw data")
    s3.put_object(Bucket=BUCKET, Key="secret/b.txt", Body=b"secret")
    return cloud


def access(cloud: Cloud) -> RoleAccess:
    return RoleAccess(cloud.client, region=REGION, account_id=ACCOUNT)


def local_sagemaker(
    cloud: Cloud, tmp_path: Path, runner: JobRunner | None = None, *, as_roles: bool = True
) -> LocalSageMaker:
    """A local SageMaker on the cloud's S3; with ``as_roles`` its jobs act as their execution roles."""
    return LocalSageMaker(
        s3_client=cloud.client("s3"),
        workdir=tmp_path / "work",
        region=REGION,
        account_id=ACCOUNT,
        access=access(cloud) if as_roles else None,
        runner=runner,
    )
