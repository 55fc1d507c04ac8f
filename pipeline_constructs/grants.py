"""Least-privilege grants with exact actions.

CDK's `bucket.grant_read` and friends use wildcard actions (`s3:GetObject*`,
`s3:List*`, `kms:GenerateDataKey*`); this project allows none, so grants name
every action and scope objects to prefixes.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

OBJECT_READ_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")
OBJECT_WRITE_ACTIONS = ("s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts")
KEY_DECRYPT_ACTIONS = ("kms:Decrypt", "kms:DescribeKey")
KEY_ENCRYPT_ACTIONS = ("kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo")


def grant_prefix_read(grantee: iam.IGrantable, bucket: s3.IBucket, prefixes: Sequence[str]) -> None:
    """Read and list objects under the given prefixes only."""
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(
            actions=list(OBJECT_READ_ACTIONS),
            resources=[bucket.arn_for_objects(f"{prefix}*") for prefix in prefixes],
        )
    )
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["s3:ListBucket", "s3:GetBucketLocation"],
            resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in prefixes]}},
        )
    )


def grant_object_read(grantee: iam.IGrantable, bucket: s3.IBucket, key: str) -> None:
    """Read one object (e.g. a code archive addressed by its hash)."""
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(actions=list(OBJECT_READ_ACTIONS), resources=[bucket.arn_for_objects(key)])
    )


def grant_prefix_write(grantee: iam.IGrantable, bucket: s3.IBucket, prefixes: Sequence[str]) -> None:
    """Write objects under the given prefixes only."""
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(
            actions=list(OBJECT_WRITE_ACTIONS),
            resources=[bucket.arn_for_objects(f"{prefix}*") for prefix in prefixes],
        )
    )


def grant_key_use(grantee: iam.IGrantable, key: kms.IKey, *, encrypt: bool) -> None:
    """Use the customer key for data it reads (and writes, when `encrypt`)."""
    actions = [*KEY_DECRYPT_ACTIONS, *(KEY_ENCRYPT_ACTIONS if encrypt else ())]
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(actions=actions, resources=[key.key_arn])
    )
