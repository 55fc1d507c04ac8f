"""LocalSageMaker with the instant runner keeps the real API: validation, name claims, Describe* shapes, S3
layout."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from contract import METRIC_DEFINITIONS
from local_mode.checks.api_validation import response_problems
from local_mode.sagemaker.shapes import SageMakerApiError
from tests.workflows.support import PREPARED_PREFIX, Stack


def training_request(stack: Stack, name: str, data_prefix: str = PREPARED_PREFIX) -> dict[str, Any]:
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {
            "TrainingImage": "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-training:2.21-cpu",
            "TrainingInputMode": "File",
            "MetricDefinitions": [dict(d) for d in METRIC_DEFINITIONS],
        },
        "RoleArn": str(stack.outputs["SageMakerRoleArn"]),
        "HyperParameters": {"epochs": "3"},
        "InputDataConfig": [
            {
                "ChannelName": channel,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": stack.data_uri(f"{data_prefix}{channel}/"),
                    }
                },
            }
            for channel in ("train", "validation")
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{stack.artifacts_bucket}/models/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }


def transform_request(stack: Stack, name: str, model: str) -> dict[str, Any]:
    return {
        "TransformJobName": name,
        "ModelName": model,
        "BatchStrategy": "SingleRecord",
        "TransformInput": {
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": stack.data_uri(f"{PREPARED_PREFIX}transform/"),
                }
            },
            "ContentType": "application/jsonlines",
            "SplitType": "Line",
        },
        "TransformOutput": {
            "S3OutputPath": f"s3://{stack.artifacts_bucket}/transform/{name}/",
            "Accept": "application/jsonlines",
            "AssembleWith": "Line",
        },
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "DataProcessing": {
            "InputFilter": "$.features",
            "JoinSource": "Input",
            "OutputFilter": "$['id','label','SageMakerOutput']",
        },
    }


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_training_writes_a_servable_model_and_a_describe_response(stack: Stack) -> None:
    job = name("instant-train")
    described = stack.sagemaker.create_training_job(training_request(stack, job))

    assert response_problems("sagemaker", "DescribeTrainingJob", described) == []
    assert described["TrainingJobStatus"] == "Completed"
    assert [m["MetricName"] for m in described["FinalMetricDataList"]] == [
        d["Name"] for d in METRIC_DEFINITIONS
    ]
    assert described["BillableTimeInSeconds"] >= 1
    artifact = described["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifact == f"s3://{stack.artifacts_bucket}/models/{job}/output/model.tar.gz"
    head = stack.cloud.client("s3").head_object(
        Bucket=stack.artifacts_bucket, Key=f"models/{job}/output/model.tar.gz"
    )
    assert head["ContentLength"] > 0
    assert stack.sagemaker.describe_training_job({"TrainingJobName": job}) == described


def test_a_name_in_use_and_an_invalid_request_are_refused_as_by_the_api(stack: Stack) -> None:
    job = name("instant-dup")
    stack.sagemaker.create_training_job(training_request(stack, job))
    with pytest.raises(SageMakerApiError) as in_use:
        stack.sagemaker.create_training_job(training_request(stack, job))
    assert in_use.value.code == "ResourceInUse"
    with pytest.raises(SageMakerApiError) as invalid:
        stack.sagemaker.create_training_job(training_request(stack, "not_a_valid_name"))
    assert invalid.value.code == "ValidationException" and "TrainingJobName" in invalid.value.message
    spot = {**training_request(stack, name("instant-spot")), "EnableManagedSpotTraining": True}
    with pytest.raises(SageMakerApiError, match="MaxWaitTimeInSeconds"):
        stack.sagemaker.create_training_job(spot)
    assert [op for op, _ in stack.sagemaker.requests] == ["CreateTrainingJob"]


def test_training_fails_like_sagemaker_on_empty_channels_and_on_request(stack: Stack) -> None:
    empty = stack.sagemaker.create_training_job(
        training_request(stack, name("instant-empty"), "prepared/none/")
    )
    assert empty["TrainingJobStatus"] == "Failed"
    assert empty["FailureReason"].startswith("ClientError: No S3 objects found under S3 URL")

    stack.sagemaker.fail_training("instant-oom", "out of memory")
    failed = stack.sagemaker.create_training_job(training_request(stack, name("instant-oom")))
    assert (failed["TrainingJobStatus"], failed["FailureReason"]) == (
        "Failed",
        "AlgorithmError: out of memory, exit code: 1",
    )
    assert response_problems("sagemaker", "DescribeTrainingJob", failed) == []


def test_transform_writes_joined_predictions_right_for_the_set_fraction(stack: Stack) -> None:
    model = stack.seed_champion()
    stack.sagemaker.set_model_accuracy(model, 0.25)
    job = name("instant-transform")
    described = stack.sagemaker.create_transform_job(transform_request(stack, job, model))

    assert response_problems("sagemaker", "DescribeTransformJob", described) == []
    assert described["TransformJobStatus"] == "Completed"
    body = stack.cloud.client("s3").get_object(
        Bucket=stack.artifacts_bucket, Key=f"transform/{job}/part-00000.jsonl.out"
    )["Body"]
    lines = [json.loads(line) for line in body.read().decode().splitlines()]
    assert len(lines) == 20
    assert all(set(line) == {"id", "label", "SageMakerOutput"} for line in lines)
    predictions = [line["SageMakerOutput"]["predictions"][0] for line in lines]
    assert all(len(p) == 10 and abs(sum(p) - 1) < 1e-4 for p in predictions)
    right = [p.index(max(p)) == line["label"] for p, line in zip(predictions, lines, strict=True)]
    assert sum(right) == 5


def test_transform_of_an_unknown_model_is_refused(stack: Stack) -> None:
    with pytest.raises(SageMakerApiError, match="Could not find model"):
        stack.sagemaker.create_transform_job(transform_request(stack, name("instant-none"), "no-such-model"))
