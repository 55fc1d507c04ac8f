"""A local cloud shaped like the synthesized template's storage, for the role-access tests.

An SSE-KMS bucket with S3 Bucket Keys, a TLS-only bucket policy, a key policy that delegates to
the account, a role whose ListBucket is scoped with ``s3:prefix``; all on moto's server.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from local_mode.checks.role_access import RoleAccess
from local_mode.cloud import moto_deploy
from local_mode.cloud.moto_server import MotoServer

ACCOUNT = "123456789012"
REGION = "us-east-1"
BUCKET = "role-access-data"
ROLE_NAME = "SageMakerRole"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE_NAME}/SageMaker"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


def delegating_key_policy() -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministersAndDelegatesToIam",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": [
                    "kms:Decrypt",
                    "kms:Encrypt",
                    "kms:GenerateDataKey",
                    "kms:DescribeKey",
                    "kms:PutKeyPolicy",
                ],
                "Resource": "*",
            }
        ],
    }


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
        tls_only = {
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
        policy = {"Version": "2012-10-17", "Statement": [tls_only, *extra]}
        self.client("s3").put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))

    def set_key_policy(self, document: dict[str, Any]) -> None:
        self.client("kms").put_key_policy(
            KeyId=self.key_arn, PolicyName="default", Policy=json.dumps(document)
        )

    def set_bucket_key(self, enabled: bool) -> None:
        rule = {
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": self.key_arn},
            "BucketKeyEnabled": enabled,
        }
        self.client("s3").put_bucket_encryption(
            Bucket=BUCKET, ServerSideEncryptionConfiguration={"Rules": [rule]}
        )


def make_cloud(fresh_server: MotoServer) -> Cloud:
    """The bucket, key, role and objects every role-access test starts from."""
    moto_deploy.install()  # moto ignores bucket-policy conditions: the TLS-only Deny would refuse all
    kms, s3, iam = fresh_server.client("kms"), fresh_server.client("s3"), fresh_server.client("iam")
    key_arn = kms.create_key(Policy=json.dumps(delegating_key_policy()))["KeyMetadata"]["Arn"]
    s3.create_bucket(Bucket=BUCKET)
    cloud = Cloud(fresh_server, key_arn)
    cloud.set_bucket_key(True)
    cloud.set_bucket_policy()
    iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(TRUST))
    cloud.set_role_policy(role_policy(key_arn))
    s3.put_object(Bucket=BUCKET, Key="raw/a.txt", Body=b"raw data")
    s3.put_object(Bucket=BUCKET, Key="secret/b.txt", Body=b"secret")
    return cloud


def access(cloud: Cloud) -> RoleAccess:
    return RoleAccess(cloud.client, region=REGION, account_id=ACCOUNT)
