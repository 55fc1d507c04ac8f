"""Local SageMaker jobs, models, transforms and endpoints act as their execution roles (RoleAccess)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from local_mode.sagemaker.local_sagemaker import SageMakerApiError
from tests.local.checks.role_access_cloud import BUCKET, ROLE, SESSION, Cloud, local_sagemaker, role_policy
from tests.local.sagemaker.test_local_sagemaker_support import training_request
from tests.support.instant_sagemaker import InstantRunner


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
    with local_sagemaker(cloud, tmp_path, as_roles=False) as sagemaker:
        described = sagemaker.create_processing_job(processing_request("prep-4", f"s3://{BUCKET}/secret/"))
    assert described["ProcessingJobStatus"] == "Completed", described.get("FailureReason")


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
