"""Local SageMaker jobs act as their execution roles (role_access.RoleAccess), on moto's server.

The policies are read from the server (IAM, S3 bucket policies and encryption, KMS key
policies), shaped like the synthesized template's: an SSE-KMS bucket with S3 Bucket Keys, a
TLS-only bucket policy, a key policy that delegates to the account, a role whose ListBucket is
scoped with ``s3:prefix``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local_mode.checks.role_access import RoleAccess, bucket_policy_verdict
from local_mode.cloud import moto_deploy
from local_mode.cloud.moto_server import MotoServer
from local_mode.sagemaker.jobs.s3_io import S3TransferError, S3Uri, upload_file
from local_mode.sagemaker.local_sagemaker import JobRunner, LocalSageMaker, SageMakerApiError
from tests.local.sagemaker.test_local_sagemaker_support import training_request
from tests.support.instant_sagemaker import InstantRunner

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


@pytest.fixture(autouse=True, scope="module")
def conditions_in_moto() -> None:
    """moto ignores bucket-policy conditions: the TLS-only Deny would refuse every object request."""
    moto_deploy.install()


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


@pytest.fixture
def cloud(fresh_server: MotoServer) -> Cloud:
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


# --- jobs as their roles -----------------------------------------------------------------------------


def processing_request(name: str, input_uri: str) -> dict[str, Any]:
    return {
        "ProcessingJobName": name,
        "RoleArn": ROLE,
        "ProcessingInputs": [
            {
                "InputName": "code",
                "S3Input": {
                    "S3Uri": input_uri,
                    "LocalPath": "/opt/ml/processing/input/code",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                    "S3DataDistributionType": "FullyReplicated",
                },
            }
        ],
        "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 10}
        },
        "AppSpecification": {"ImageUri": "img", "ContainerEntrypoint": ["/bin/true"]},
    }


def local_sagemaker(cloud: Cloud, tmp_path: Path, runner: JobRunner | None = None) -> LocalSageMaker:
    return LocalSageMaker(
        s3_client=cloud.client("s3"),
        workdir=tmp_path / "work",
        region=REGION,
        account_id=ACCOUNT,
        access=access(cloud),
        runner=runner,
    )


def test_processing_job_whose_role_may_not_list_fails_with_sagemakers_message(
    cloud: Cloud, tmp_path: Path
) -> None:
    """The Preprocess defect: GetObject on the code archive, but no s3:ListBucket for its S3Prefix."""
    cloud.set_role_policy(role_policy(cloud.key_arn, list_prefixes=()))
    with local_sagemaker(cloud, tmp_path) as sagemaker:
        described = sagemaker.create_processing_job(processing_request("prep-1", f"s3://{BUCKET}/raw/a.txt"))
    assert described["ProcessingJobStatus"] == "Failed"
    assert described["FailureReason"] == (
        "ClientError: Failed to download data. "
        f"ListObjectsV2 failed for s3://{BUCKET}/raw/a.txt nextToken:[null]: "
        f'User: {SESSION} is not authorized to perform: s3:ListBucket on resource: "arn:aws:s3:::{BUCKET}" '
        "because no identity-based policy allows the s3:ListBucket action "
        "(Service: Amazon S3; Status Code: 403; Error Code: AccessDenied)"
    )


def test_processing_job_refused_by_the_key_policy(cloud: Cloud, tmp_path: Path) -> None:
    cloud.set_key_policy({"Version": "2012-10-17", "Statement": []})
    with local_sagemaker(cloud, tmp_path) as sagemaker:
        described = sagemaker.create_processing_job(processing_request("prep-2", f"s3://{BUCKET}/raw/"))
    assert described["ProcessingJobStatus"] == "Failed"
    reason = described["FailureReason"]
    assert reason.startswith(
        f"ClientError: Failed to download data. GetObject failed for s3://{BUCKET}/raw/a.txt: "
    )
    assert f"kms:Decrypt on resource: {cloud.key_arn}" in reason


def test_processing_job_allowed_runs(cloud: Cloud, tmp_path: Path) -> None:
    with local_sagemaker(cloud, tmp_path) as sagemaker:
        described = sagemaker.create_processing_job(processing_request("prep-3", f"s3://{BUCKET}/raw/"))
    assert described["ProcessingJobStatus"] == "Completed", described.get("FailureReason")


def test_instant_training_job_whose_role_may_not_list_its_channel_fails(cloud: Cloud, tmp_path: Path) -> None:
    request = training_request("train-1", f"s3://{BUCKET}/raw/code.tar.gz", RoleArn=ROLE)
    request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = f"s3://{BUCKET}/secret/"
    request["OutputDataConfig"] = {"S3OutputPath": f"s3://{BUCKET}/models"}
    with local_sagemaker(cloud, tmp_path, InstantRunner()) as sagemaker:
        described = sagemaker.create_training_job(request)
    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"] == (
        "ClientError: Data download failed:"
        f"Unable to list objects under s3://{BUCKET}/secret/ (AccessDenied: "
        f'User: {SESSION} is not authorized to perform: s3:ListBucket on resource: "arn:aws:s3:::{BUCKET}" '
        "because no identity-based policy allows the s3:ListBucket action)"
    )


def test_create_model_checks_the_model_data_as_its_execution_role(cloud: Cloud, tmp_path: Path) -> None:
    request = {
        "ModelName": "m1",
        "ExecutionRoleArn": ROLE,
        "PrimaryContainer": {"Image": "img", "ModelDataUrl": f"s3://{BUCKET}/secret/b.txt"},
    }
    with local_sagemaker(cloud, tmp_path) as sagemaker:
        with pytest.raises(SageMakerApiError) as error:
            sagemaker.create_model(request)
        assert error.value.code == "ValidationException"
        assert str(error.value.message).startswith(
            f"Could not access model data at s3://{BUCKET}/secret/b.txt."
        )
        assert "s3:GetObject" in error.value.message
        sagemaker.create_model(
            {**request, "PrimaryContainer": {"Image": "img", "ModelDataUrl": f"s3://{BUCKET}/raw/a.txt"}}
        )


def test_without_access_nothing_is_checked(cloud: Cloud, tmp_path: Path) -> None:
    cloud.set_role_policy(role_policy(cloud.key_arn, list_prefixes=()))
    with LocalSageMaker(
        s3_client=cloud.client("s3"), workdir=tmp_path / "w", region=REGION, account_id=ACCOUNT
    ) as sm:
        described = sm.create_processing_job(processing_request("prep-4", f"s3://{BUCKET}/secret/"))
    assert described["ProcessingJobStatus"] == "Completed", described.get("FailureReason")


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


def test_transform_and_endpoint_read_the_model_as_its_execution_role(cloud: Cloud, tmp_path: Path) -> None:
    """After CreateModel the role loses s3:GetObject on the model: its transform job and endpoint fail."""
    cloud.client("s3").put_object(Bucket=BUCKET, Key="models/m.tar.gz", Body=b"not read")
    model_url = f"s3://{BUCKET}/models/m.tar.gz"
    model = {
        "ModelName": "m2",
        "ExecutionRoleArn": ROLE,
        "PrimaryContainer": {"Image": "img", "ModelDataUrl": model_url},
    }
    transform = {
        "TransformJobName": "t1",
        "ModelName": "m2",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/raw/"}},
            "ContentType": "application/jsonlines",
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": f"s3://{BUCKET}/models/out", "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": "m2",
        "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large",
    }
    with local_sagemaker(cloud, tmp_path, InstantRunner()) as sagemaker:
        sagemaker.create_model(model)
        policy = role_policy(cloud.key_arn)
        policy["Statement"][1]["Action"] = ["s3:PutObject"]  # no more s3:GetObject on models/*
        cloud.set_role_policy(policy)
        described = sagemaker.create_transform_job(transform)
        assert described["TransformJobStatus"] == "Failed"
        assert described["FailureReason"].startswith(
            f"ClientError: the model {model_url} could not be loaded: "
        )
        assert (
            f'perform: s3:GetObject on resource: "arn:aws:s3:::{BUCKET}/models/m.tar.gz"'
            in described["FailureReason"]
        )
        sagemaker.create_endpoint_config({"EndpointConfigName": "c1", "ProductionVariants": [variant]})
        sagemaker.create_endpoint({"EndpointName": "e1", "EndpointConfigName": "c1"})
        endpoint = sagemaker.describe_endpoint({"EndpointName": "e1"})
        while endpoint["EndpointStatus"] == "Creating":
            endpoint = sagemaker.describe_endpoint({"EndpointName": "e1"})
    assert endpoint["EndpointStatus"] == "Failed"
    assert endpoint["FailureReason"].startswith(
        f'Failed to download model data for container "container_1" from URL: "{model_url}".'
    )
    assert "s3:GetObject" in endpoint["FailureReason"]


def _code_archive() -> bytes:
    import io
    import tarfile

    script = b"print('trained', flush=True)\n"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("train.py")
        info.size = len(script)
        tar.addfile(info, io.BytesIO(script))
    return buffer.getvalue()


def test_real_training_job_acts_as_its_role(cloud: Cloud, tmp_path: Path) -> None:
    """Channels are listed and the model uploaded as the role: a refused upload fails the job."""
    cloud.client("s3").put_object(Bucket=BUCKET, Key="raw/code.tar.gz", Body=_code_archive())
    request = training_request("train-2", f"s3://{BUCKET}/raw/code.tar.gz", RoleArn=ROLE)
    request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = f"s3://{BUCKET}/raw/"
    request["OutputDataConfig"] = {"S3OutputPath": f"s3://{BUCKET}/secret-out"}
    with local_sagemaker(cloud, tmp_path) as sagemaker:
        described = sagemaker.create_training_job(request)
        assert described["TrainingJobStatus"] == "Failed"
        assert described["FailureReason"].startswith(
            "ClientError: Artifact upload failed:"
            f"Unable to upload s3://{BUCKET}/secret-out/train-2/output/model.tar.gz "
            f"(AccessDenied: User: {SESSION} is not authorized to perform: s3:PutObject on resource: "
        )
        request = {
            **request,
            "TrainingJobName": "train-3",
            "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/models"},
        }
        request["InputDataConfig"] = [
            {
                **request["InputDataConfig"][0],
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/secret/"}},
            }
        ]
        refused = sagemaker.create_training_job(request)
        assert refused["FailureReason"].startswith(
            f"ClientError: Data download failed:Unable to list objects under s3://{BUCKET}/secret/ "
            "(AccessDenied: "
        )
        request = {**request, "TrainingJobName": "train-4"}
        request["InputDataConfig"] = [
            {
                **request["InputDataConfig"][0],
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/raw/"}},
            }
        ]
        completed = sagemaker.create_training_job(request)
        assert completed["TrainingJobStatus"] == "Completed", completed.get("FailureReason")
