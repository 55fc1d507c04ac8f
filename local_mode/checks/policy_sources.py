"""What governs one role's access, read from the local services (never from the template).

A `PolicySnapshot` reads, through the local cloud's administrative boto3 clients, the role's
inline and attached policies and tags (IAM), bucket policies and default encryption (S3), the
encryption an object was stored with (S3 ``HeadObject``), key policies (KMS), topic policies
(SNS) and function policies (Lambda). Each is read once, when first needed, and kept for the
snapshot's lifetime: a job's or an invocation's session takes a new snapshot, so a grant removed
from the deployed stack is refused from then on, as on AWS.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from local_mode.checks.access_policy import Policy

__all__ = [
    "ClientFactory",
    "KmsEncryption",
    "PolicySnapshot",
    "RoleIdentity",
    "aws_managed_s3_key_policy",
    "policy_document",
]

ClientFactory = Callable[[str], BaseClient]
UNKNOWN_ROLE_ID = "AROAUNKNOWNROLE"


@dataclass(frozen=True)
class RoleIdentity:
    """A role's identity policies, tags (``aws:PrincipalTag/*``) and unique id (``aws:userid``)."""

    policies: list[Policy] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    role_id: str = UNKNOWN_ROLE_ID


@dataclass(frozen=True)
class KmsEncryption:
    """SSE-KMS of a bucket or an object: the key (None: the AWS managed key aws/s3), S3 Bucket Keys on."""

    key_id: str | None
    bucket_key: bool


def aws_managed_s3_key_policy(account_id: str, region: str) -> dict[str, Any]:
    """The key policy of the AWS managed key ``aws/s3`` (SSE-KMS without a KMSMasterKeyID).

    As AWS shows it for every account: any principal of the account, through S3 only.
    """
    return {
        "Version": "2012-10-17",
        "Id": "auto-s3-2",
        "Statement": [
            {
                "Sid": (
                    "Allow access through S3 for all principals in the account that are authorized to use S3"
                ),
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": [
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:DescribeKey",
                ],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "kms:CallerAccount": account_id,
                        "kms:ViaService": f"s3.{region}.amazonaws.com",
                    }
                },
            },
        ],
    }


def policy_document(value: Any) -> Policy:
    """A policy document from boto3 (moto hands some back as dicts, some as JSON text)."""
    if isinstance(value, Mapping):
        return value
    return json.loads(value) if isinstance(value, str) else dict(value)


class PolicySnapshot:
    """One role's policies and the resources' policies it meets, each read once (thread-safe)."""

    def __init__(self, admin: ClientFactory, role_name: str, *, region: str, account_id: str) -> None:
        self._admin = admin
        self.role_name = role_name
        self.region = region
        self.account_id = account_id
        self._lock = threading.RLock()
        self._cache: dict[tuple[str, ...], Any] = {}

    def _once(self, key: tuple[str, ...], read: Callable[[], Any]) -> Any:
        with self._lock:
            if key not in self._cache:
                self._cache[key] = read()
            return self._cache[key]

    def identity(self) -> RoleIdentity:
        """The role's inline and attached policy documents, tags and id, as IAM holds them."""
        result: RoleIdentity = self._once(("identity",), self._read_identity)
        return result

    def bucket_policy(self, bucket: str) -> Policy | None:
        result: Policy | None = self._once(
            ("bucket-policy", bucket), lambda: self._read_bucket_policy(bucket)
        )
        return result

    def default_encryption(self, bucket: str) -> KmsEncryption | None:
        """The bucket's first default-encryption rule, when it is SSE-KMS (else None)."""
        result: KmsEncryption | None = self._once(
            ("bucket-encryption", bucket), lambda: self._read_default_encryption(bucket)
        )
        return result

    def object_encryption(self, bucket: str, key: str, version_id: str | None) -> KmsEncryption | None:
        """The SSE-KMS an object was stored with, as S3 recorded it (None: not SSE-KMS, or no object)."""
        params: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            params["VersionId"] = version_id
        try:
            head = self._admin("s3").head_object(**params)
        except ClientError:
            return None  # the call itself will fail (NoSuchKey)
        if not str(head.get("ServerSideEncryption", "")).startswith("aws:kms"):
            return None
        return KmsEncryption(head.get("SSEKMSKeyId"), bool(head.get("BucketKeyEnabled", False)))

    def key(self, key_id: str | None) -> tuple[str, Policy | None]:
        """(key ARN, key policy) of a KMS key id, ARN or alias; ``None`` is the AWS managed key aws/s3."""
        result: tuple[str, Policy | None] = self._once(
            ("key", key_id or "alias/aws/s3"), lambda: self._read_key(key_id)
        )
        return result

    def topic_key(self, topic_arn: str) -> str | None:
        """The KMS key (id, ARN or alias) an SNS topic encrypts messages with; None when it does not."""
        result: str | None = self._once(("topic-key", topic_arn), lambda: self._read_topic_key(topic_arn))
        return result

    def resource_policy(self, kind: str, arn: str) -> Policy | None:
        """A ``topic``'s (SNS) or a ``function``'s (Lambda) policy (None: no such resource, or no policy)."""
        if kind not in ("topic", "function"):
            raise ValueError(f"kind must be 'topic' or 'function', not {kind!r}")
        result: Policy | None = self._once((kind, arn), lambda: self._read_resource_policy(kind, arn))
        return result

    # -- the reads ----------------------------------------------------------------------------------

    def _read_identity(self) -> RoleIdentity:
        iam = self._admin("iam")
        try:
            role = iam.get_role(RoleName=self.role_name)["Role"]
        except ClientError as error:
            if error.response["Error"]["Code"] != "NoSuchEntity":
                raise
            return RoleIdentity()  # a role that does not exist: nothing allows it
        policies: list[Policy] = []
        for page in iam.get_paginator("list_role_policies").paginate(RoleName=self.role_name):
            for name in page["PolicyNames"]:
                document = iam.get_role_policy(RoleName=self.role_name, PolicyName=name)["PolicyDocument"]
                policies.append(policy_document(document))
        for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=self.role_name):
            for attached in page["AttachedPolicies"]:
                arn = attached["PolicyArn"]
                version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
                found = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]
                policies.append(policy_document(found["Document"]))
        tags = {tag["Key"]: tag["Value"] for tag in role.get("Tags", [])}
        return RoleIdentity(policies, tags, str(role.get("RoleId", UNKNOWN_ROLE_ID)))

    def _read_bucket_policy(self, bucket: str) -> Policy | None:
        try:
            return policy_document(self._admin("s3").get_bucket_policy(Bucket=bucket)["Policy"])
        except ClientError as error:
            if error.response["Error"]["Code"] not in ("NoSuchBucketPolicy", "NoSuchBucket"):
                raise
            return None

    def _read_default_encryption(self, bucket: str) -> KmsEncryption | None:
        try:
            config = self._admin("s3").get_bucket_encryption(Bucket=bucket)
        except ClientError as error:
            if error.response["Error"]["Code"] not in (
                "ServerSideEncryptionConfigurationNotFoundError",
                "NoSuchBucket",
            ):
                raise
            return None
        rules = config["ServerSideEncryptionConfiguration"]["Rules"]
        first = rules[0] if rules else {}
        default = first.get("ApplyServerSideEncryptionByDefault", {})
        if not str(default.get("SSEAlgorithm", "")).startswith("aws:kms"):
            return None
        return KmsEncryption(default.get("KMSMasterKeyID"), bool(first.get("BucketKeyEnabled", False)))

    def _read_key(self, key_id: str | None) -> tuple[str, Policy | None]:
        managed_arn = f"arn:aws:kms:{self.region}:{self.account_id}:alias/aws/s3"
        if key_id is None or key_id in ("alias/aws/s3", managed_arn):
            return managed_arn, aws_managed_s3_key_policy(self.account_id, self.region)
        if key_id.startswith("arn:aws:kms:") and ":key/" not in key_id and ":alias/" not in key_id:
            return key_id, None
        kms = self._admin("kms")
        try:
            arn = str(kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"])
            policy = kms.get_key_policy(KeyId=arn, PolicyName="default")["Policy"]
        except ClientError:
            return key_id, None  # an unknown key: nothing allows its use
        return arn, policy_document(policy)

    def _read_topic_key(self, arn: str) -> str | None:
        try:
            attributes = self._admin("sns").get_topic_attributes(TopicArn=arn)["Attributes"]
        except ClientError:
            return None  # no such topic: the publish itself fails
        return attributes.get("KmsMasterKeyId") or None

    def _read_resource_policy(self, kind: str, arn: str) -> Policy | None:
        try:
            if kind == "topic":
                text = self._admin("sns").get_topic_attributes(TopicArn=arn)["Attributes"].get("Policy")
            else:
                text = self._admin("lambda").get_policy(FunctionName=arn)["Policy"]
        except ClientError:
            return None  # no such resource or no policy: the identity policies decide
        return policy_document(text) if text else None
