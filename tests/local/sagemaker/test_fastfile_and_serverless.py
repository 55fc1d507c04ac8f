"""Local SageMaker: FastFile channels and serverless endpoints, and what SageMaker refuses of them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest

from local_mode.sagemaker.local_sagemaker import LocalSageMaker, SageMakerApiError
from tests.local.sagemaker.test_local_sagemaker import FAKE_TRAIN
from tests.local.sagemaker.test_local_sagemaker_support import (
    BUCKET,
    FEATURES,
    REGION,
    check_shape,
    direct_predictions,
    local_sagemaker,
    put_text,
    read_tar,
    register_model,
    training_request,
    upload_code,
)

SERVERLESS = {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
ROWS = np.arange(2 * FEATURES, dtype=np.float32).reshape(2, FEATURES)


def _algorithm(mode: str) -> dict[str, Any]:
    return {**training_request("x", "s3://x/code")["AlgorithmSpecification"], "TrainingInputMode": mode}


def test_a_fastfile_job_reads_its_channel_as_files(tmp_path: Path) -> None:
    with local_sagemaker(tmp_path) as (sagemaker, s3):
        put_text(s3, "data/train/shard-0.tfrecord", "a")
        put_text(s3, "data/train/nested/shard-1.tfrecord", "b")
        code = upload_code(s3, {"train.py": FAKE_TRAIN})
        described = sagemaker.create_training_job(
            training_request("train-fastfile", code, AlgorithmSpecification=_algorithm("FastFile"))
        )
        record = json.loads(read_tar(s3, described["ModelArtifacts"]["S3ModelArtifacts"])["record.json"])

    check_shape("DescribeTrainingJob", described)
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    assert described["AlgorithmSpecification"]["TrainingInputMode"] == "FastFile"
    assert record["train_files"] == ["nested/shard-1.tfrecord", "shard-0.tfrecord"]
    channels = json.loads(record["env"]["SM_TRAINING_ENV"])["input_data_config"]
    assert channels["train"]["TrainingInputMode"] == "FastFile"


def test_fastfile_refuses_augmented_manifests_and_pipe_is_not_emulated(tmp_path: Path) -> None:
    with local_sagemaker(tmp_path) as (sagemaker, s3):
        put_text(s3, "data/train/shard-0.tfrecord", "a")
        code = upload_code(s3, {"train.py": FAKE_TRAIN})
        manifest = training_request("train-manifest", code, AlgorithmSpecification=_algorithm("FastFile"))
        source = manifest["InputDataConfig"][0]["DataSource"]["S3DataSource"]
        source["S3DataType"] = "AugmentedManifestFile"
        source["AttributeNames"] = ["source-ref"]
        with pytest.raises(SageMakerApiError, match="FastFile input mode does not support") as refused:
            sagemaker.create_training_job(manifest)
        assert refused.value.code == "ValidationException"

        piped = sagemaker.create_training_job(
            training_request("train-pipe", code, AlgorithmSpecification=_algorithm("Pipe"))
        )
    assert piped["TrainingJobStatus"] == "Failed"
    assert "Pipe input mode" in piped["FailureReason"]


@pytest.fixture
def sagemaker(tmp_path: Path) -> Any:
    with local_sagemaker(tmp_path) as (sagemaker, s3):
        register_model(sagemaker, s3, "model-0", seed=0)
        yield sagemaker


def _config(sagemaker: LocalSageMaker, name: str, **variant: Any) -> None:
    variants = [{"VariantName": "AllTraffic", "ModelName": "model-0", **variant}]
    sagemaker.create_endpoint_config({"EndpointConfigName": name, "ProductionVariants": variants})


def _in_service(sagemaker: LocalSageMaker, endpoint: str, config: str) -> dict[str, Any]:
    sagemaker.create_endpoint({"EndpointName": endpoint, "EndpointConfigName": config})
    for _ in range(5):
        described = check_shape("DescribeEndpoint", sagemaker.describe_endpoint({"EndpointName": endpoint}))
        if described["EndpointStatus"] not in ("Creating", "Updating"):
            break
    return described


def test_a_serverless_endpoint_serves_boto3_invocations(sagemaker: LocalSageMaker) -> None:
    _config(sagemaker, "serverless", ServerlessConfig=SERVERLESS)
    described = _in_service(sagemaker, "digits", "serverless")

    assert described["EndpointStatus"] == "InService"
    (variant,) = described["ProductionVariants"]
    assert variant["CurrentServerlessConfig"] == SERVERLESS and "CurrentInstanceCount" not in variant
    runtime = boto3.client("sagemaker-runtime", region_name=REGION, endpoint_url=sagemaker.server_url)
    response = runtime.invoke_endpoint(
        EndpointName="digits", ContentType="application/json", Body=json.dumps({"instances": ROWS.tolist()})
    )
    predictions = json.loads(response["Body"].read())["predictions"]
    np.testing.assert_allclose(predictions, direct_predictions(0, ROWS), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    ("variant", "capture", "message"),
    [
        ({"ServerlessConfig": SERVERLESS, "InstanceType": "ml.m5.large"}, False, "cannot be set with"),
        ({"ServerlessConfig": {**SERVERLESS, "MemorySizeInMB": 1536}}, False, "multiple of 1024"),
        ({"ServerlessConfig": SERVERLESS}, True, "DataCaptureConfig is not supported"),
        ({}, False, "InstanceType or ServerlessConfig"),
    ],
)
def test_serverless_configs_sagemaker_refuses(
    sagemaker: LocalSageMaker, variant: dict[str, Any], capture: bool, message: str
) -> None:
    request: dict[str, Any] = {
        "EndpointConfigName": "refused",
        "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": "model-0", **variant}],
    }
    if capture:
        request["DataCaptureConfig"] = {
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"s3://{BUCKET}/capture/",
            "CaptureOptions": [{"CaptureMode": "Input"}],
        }
    with pytest.raises(SageMakerApiError, match=message) as refused:
        sagemaker.create_endpoint_config(request)
    assert refused.value.code == "ValidationException"


def test_an_instance_endpoint_cannot_become_serverless_but_the_reverse_works(
    sagemaker: LocalSageMaker,
) -> None:
    _config(sagemaker, "instances", InstanceType="ml.m5.large", InitialInstanceCount=1)
    _config(sagemaker, "serverless", ServerlessConfig=SERVERLESS)
    _in_service(sagemaker, "on-instances", "instances")
    with pytest.raises(SageMakerApiError, match="cannot be updated to a serverless"):
        sagemaker.update_endpoint({"EndpointName": "on-instances", "EndpointConfigName": "serverless"})

    _in_service(sagemaker, "serverless-first", "serverless")
    sagemaker.update_endpoint({"EndpointName": "serverless-first", "EndpointConfigName": "instances"})
    for _ in range(5):
        described = sagemaker.describe_endpoint({"EndpointName": "serverless-first"})
        if described["EndpointStatus"] == "InService":
            break
    assert described["EndpointConfigName"] == "instances"
    assert described["ProductionVariants"][0]["CurrentInstanceCount"] == 1
