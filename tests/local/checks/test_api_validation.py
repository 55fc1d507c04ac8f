"""Requests and responses against botocore's SageMaker model."""

from __future__ import annotations

from typing import Any

import pytest

from local_mode.checks.api_validation import (
    ApiValidationError,
    modeled_error_codes,
    request_problems,
    response_problems,
    validate_request,
)

ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-training:2.16-cpu-py310"


def training_request(**overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TrainingJobName": "mnist-261122-a1b2c3-1",
        "RoleArn": ROLE,
        "AlgorithmSpecification": {
            "TrainingImage": IMAGE,
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "accuracy", "Regex": "val_accuracy=([0-9.]+)"}],
        },
        "HyperParameters": {"epochs": "12", "sagemaker_program": "train.py"},
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": "s3://data/prepared/train/",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://artifacts/models/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }
    request.update(overrides)
    return request


def test_a_valid_create_training_job_request_passes() -> None:
    assert request_problems("sagemaker", "CreateTrainingJob", training_request()) == []
    validate_request("sagemaker", "CreateTrainingJob", training_request())


def test_missing_required_member_is_named() -> None:
    request = training_request()
    del request["RoleArn"]
    with pytest.raises(ApiValidationError) as error:
        validate_request("sagemaker", "CreateTrainingJob", request)
    assert error.value.code == "ValidationException"
    assert "RoleArn" in str(error.value) and "CreateTrainingJob request" in str(error.value)


def test_wrong_type_is_named() -> None:
    request = training_request(
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": "1", "VolumeSizeInGB": 30}
    )
    [problem] = request_problems("sagemaker", "CreateTrainingJob", request)
    assert "ResourceConfig.InstanceCount" in problem


def test_numbers_where_the_api_wants_strings_are_rejected() -> None:
    [problem] = request_problems(
        "sagemaker", "CreateTrainingJob", training_request(HyperParameters={"epochs": 12})
    )
    assert "HyperParameters.epochs" in problem


def test_bad_enum_is_named() -> None:
    request = training_request()
    request["AlgorithmSpecification"]["TrainingInputMode"] = "Stream"
    [problem] = request_problems("sagemaker", "CreateTrainingJob", request)
    assert "AlgorithmSpecification.TrainingInputMode" in problem and "File" in problem


def test_pattern_and_max_length_which_botocore_skips() -> None:
    [pattern] = request_problems(
        "sagemaker", "CreateTrainingJob", training_request(TrainingJobName="bad_name!")
    )
    assert "TrainingJobName" in pattern and "pattern" in pattern
    too_long = request_problems("sagemaker", "CreateTrainingJob", training_request(TrainingJobName="a" * 64))
    assert any("TrainingJobName" in p and "max length: 63" in p for p in too_long)


def test_unknown_member_is_named() -> None:
    [problem] = request_problems(
        "sagemaker",
        "CreateModel",
        {
            "ModelName": "m",
            "ExecutionRoleArn": ROLE,
            "PrimaryContainer": {"Image": "i"},
            "Tags": [],
            "Nope": 1,
        },
    )
    assert "Nope" in problem


def test_responses_are_checked_against_the_output_shape() -> None:
    describe = {
        "TrainingJobName": "j",
        "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/j",
        "ModelArtifacts": {"S3ModelArtifacts": "s3://a/model.tar.gz"},
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
        "CreationTime": "2026-11-22T17:50:48+00:00",
    }
    assert response_problems("sagemaker", "DescribeTrainingJob", describe) == []
    broken = {**describe, "TrainingJobStatus": "Done"}
    del broken["ModelArtifacts"]
    problems = response_problems("sagemaker", "DescribeTrainingJob", broken)
    assert any("ModelArtifacts" in p for p in problems) and any("TrainingJobStatus" in p for p in problems)


def test_modeled_error_codes_come_from_the_model() -> None:
    assert {"ResourceNotFound", "ResourceLimitExceeded", "ResourceInUse"} <= modeled_error_codes("sagemaker")
    assert "ValidationException" not in modeled_error_codes("sagemaker")
