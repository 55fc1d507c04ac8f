"""S3 clients that act as a role (role_access.RoleAccess), on moto's server.

The policies are read from the server (IAM, S3 bucket policies and encryption, KMS key
policies), shaped like the synthesized template's (`role_access_cloud`). The jobs that use these
clients: test_jobs_as_roles.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from local_mode.checks.role_access import bucket_policy_verdict
from local_mode.sagemaker.jobs.s3_io import S3TransferError, S3Uri, upload_file
from tests.local.checks.role_access_cloud import (
    ACCOUNT,
    BUCKET,
    REGION,
    ROLE,
    SESSION,
    Cloud,
    access,
    role_policy,
)


def refusal(error: pytest.ExceptionInfo[ClientError]) -> str:
    assert error.value.response["Error"]["Code"] == "AccessDenied"
    return str(error.value.response["Error"]["Message"])


# --- the role-bound client -------------------------------------------------------------------------


def test_role_client_does_what_its_policies_allow_over_tls(cloud: Cloud) -> None:
    """The TLS-only bucket policy does not refuse SageMaker: its requests carry aws:SecureTransport=true."""
    s3 = access(cloud).s3_for(ROLE)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="raw/")["Contents"]]
    assert keys == ["raw/a.txt"]
    assert s3.get_object(Bucket=BUCKET, Key="raw/a.txt")["Body"].read() == b"raw data"
    s3.put_object(Bucket=BUCKET, Key="models/m.tar.gz", Body=b"model")
    assert s3.head_object(Bucket=BUCKET, Key="models/m.tar.gz")["ServerSideEncryption"] == "aws:kms"


def test_listing_outside_the_granted_prefixes_is_refused_with_aws_message(cloud: Cloud) -> None:
    s3 = access(cloud).s3_for(ROLE)
    with pytest.raises(ClientError) as error:
        s3.list_objects_v2(Bucket=BUCKET, Prefix="secret/")
    assert error.value.operation_name == "ListObjectsV2"
    assert refusal(error) == (
        f'User: {SESSION} is not authorized to perform: s3:ListBucket on resource: "arn:aws:s3:::{BUCKET}" '
        "because no identity-based policy allows the s3:ListBucket action"
    )
    with pytest.raises(ClientError) as error:
        s3.get_object(Bucket=BUCKET, Key="secret/b.txt")
    assert f'perform: s3:GetObject on resource: "arn:aws:s3:::{BUCKET}/secret/b.txt"' in refusal(error)


def test_key_policy_refusal_blocks_reads_and_writes_but_not_head(cloud: Cloud) -> None:
    cloud.set_key_policy({"Version": "2012-10-17", "Statement": []})  # delegates nothing to IAM
    s3 = access(cloud).s3_for(ROLE)
    assert s3.head_object(Bucket=BUCKET, Key="raw/a.txt")["ContentLength"] == 8  # HEAD needs no kms:Decrypt
    with pytest.raises(ClientError) as error:
        s3.get_object(Bucket=BUCKET, Key="raw/a.txt")
    assert refusal(error) == (
        f"User: {SESSION} is not authorized to perform: kms:Decrypt on resource: {cloud.key_arn} "
        "because no resource-based policy allows the kms:Decrypt action"
    )
    with pytest.raises(ClientError) as error:
        s3.put_object(Bucket=BUCKET, Key="models/x", Body=b"x")
    assert "kms:GenerateDataKey" in refusal(error)


def test_role_without_kms_grant_is_refused_by_a_delegating_key_policy(cloud: Cloud) -> None:
    cloud.set_role_policy(role_policy(cloud.key_arn, kms=False))
    with pytest.raises(ClientError) as error:
        access(cloud).s3_for(ROLE).get_object(Bucket=BUCKET, Key="raw/a.txt")
    assert "no identity-based policy allows the kms:Decrypt action" in refusal(error)


def test_encryption_context_is_the_bucket_arn_with_bucket_keys(cloud: Cloud) -> None:
    scoped = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ROLE},
                "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "kms:ViaService": f"s3.{REGION}.amazonaws.com",
                        "kms:CallerAccount": ACCOUNT,
                    },
                    "ArnEquals": {"kms:EncryptionContext:aws:s3:arn": f"arn:aws:s3:::{BUCKET}"},
                },
            }
        ],
    }
    cloud.set_key_policy(scoped)
    access(cloud).s3_for(ROLE).put_object(Bucket=BUCKET, Key="models/ok", Body=b"x")
    cloud.set_bucket_key(False)  # now the context is the object ARN, which the key policy does not name
    with pytest.raises(ClientError) as error:
        access(cloud).s3_for(ROLE).put_object(Bucket=BUCKET, Key="models/no", Body=b"x")
    assert "kms:GenerateDataKey" in refusal(error)


def test_bucket_policy_deny_and_allow_apply(cloud: Cloud) -> None:
    deny = {
        "Effect": "Deny",
        "Principal": {"AWS": ROLE},
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/raw/*",
    }
    cloud.set_bucket_policy(deny)
    with pytest.raises(ClientError) as error:
        access(cloud).s3_for(ROLE).get_object(Bucket=BUCKET, Key="raw/a.txt")
    assert refusal(error).endswith("with an explicit deny in a resource-based policy")
    allow = {
        "Effect": "Allow",
        "Principal": {"AWS": ROLE},
        "Action": "s3:ListBucket",
        "Resource": f"arn:aws:s3:::{BUCKET}",
    }
    cloud.set_bucket_policy(allow)
    access(cloud).s3_for(ROLE).list_objects_v2(Bucket=BUCKET, Prefix="secret/")  # the bucket policy grants it


def test_policies_are_read_from_the_services_so_a_removed_grant_refuses(cloud: Cloud) -> None:
    roles = access(cloud)
    roles.s3_for(ROLE).list_objects_v2(Bucket=BUCKET, Prefix="raw/")
    cloud.set_role_policy(role_policy(cloud.key_arn, list_prefixes=()))
    with pytest.raises(ClientError):
        roles.s3_for(ROLE).list_objects_v2(Bucket=BUCKET, Prefix="raw/")


def test_an_unknown_role_may_do_nothing(cloud: Cloud) -> None:
    with pytest.raises(ClientError) as error:
        access(cloud).s3_for(f"arn:aws:iam::{ACCOUNT}:role/missing").list_objects_v2(
            Bucket=BUCKET, Prefix="raw/"
        )
    assert "assumed-role/missing/SageMaker" in refusal(error)


def test_transfer_uploads_surface_the_refusal(cloud: Cloud, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x")
    with pytest.raises(S3TransferError) as error:
        upload_file(access(cloud).s3_for(ROLE), path, S3Uri(BUCKET, "secret/f"))
    assert error.value.code == "AccessDenied"
    assert f'perform: s3:PutObject on resource: "arn:aws:s3:::{BUCKET}/secret/f"' in error.value.message


def test_moto_bucket_policy_check_with_conditions() -> None:
    tls_only = {
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "s3:*",
                "Resource": "arn:aws:s3:::b/*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "s3:DeleteObject",
                "Resource": "arn:aws:s3:::b/*",
            },
        ]
    }
    assert bucket_policy_verdict(tls_only, "s3:GetObject", "arn:aws:s3:::b/k") == "NEUTRAL"
    assert bucket_policy_verdict(tls_only, "s3:DeleteObject", "arn:aws:s3:::b/k") == "DENIED"
