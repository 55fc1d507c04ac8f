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
    grant_prefix_listing(grantee, bucket, prefixes)


def grant_prefix_listing(grantee: iam.IGrantable, bucket: s3.IBucket, prefixes: Sequence[str]) -> None:
    """List keys and ETags under the given prefixes, without reading any object."""
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["s3:ListBucket"],
            resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in prefixes]}},
        )
    )
    grant_bucket_location(grantee, bucket)


def grant_bucket_location(grantee: iam.IGrantable, bucket: s3.IBucket) -> None:
    """`s3:GetBucketLocation`, in a statement of its own: that request never carries `s3:prefix`,
    so under a prefix condition the Allow would never apply (IAM condition keys for S3)."""
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(actions=["s3:GetBucketLocation"], resources=[bucket.bucket_arn])
    )


def grant_object_read(grantee: iam.IGrantable, bucket: s3.IBucket, key: str) -> None:
    """Read one object (e.g. a code archive addressed by its hash)."""
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(actions=list(OBJECT_READ_ACTIONS), resources=[bucket.arn_for_objects(key)])
    )


def grant_object_listing(grantee: iam.IGrantable, bucket: s3.IBucket, key: str) -> None:
    """List exactly one key: what reading that object as an `S3Prefix` input needs.

    SageMaker Processing lists an `S3Prefix` input with ListObjectsV2 (prefix = the key) before it
    downloads anything; without `s3:ListBucket` the job fails with "ClientError: Failed to download
    data. ListObjectsV2 failed". The condition admits that one prefix and nothing else.
    """
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["s3:ListBucket"],
            resources=[bucket.bucket_arn],
            conditions={"StringEquals": {"s3:prefix": [key]}},
        )
    )
    grant_bucket_location(grantee, bucket)


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
