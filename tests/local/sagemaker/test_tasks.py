"""SageMaker Task handlers: the backend's API errors as AWS error names, response checks, projections."""

from __future__ import annotations

from typing import Any

import pytest

from local_mode.cloud.moto_hooks import TaskContext, TaskError, TaskHooks
from local_mode.sagemaker.tasks import (
    SAGEMAKER_OPERATIONS,
    register_sagemaker,
    sagemaker_handler,
    sagemaker_task_error,
)

CONTEXT = TaskContext(
    "Train",
    "arn:aws:states:us-east-1:123456789012:execution:m:e",
    "e",
    "arn:aws:states:us-east-1:123456789012:stateMachine:m",
    "r",
    0,
)
ROLE = "arn:aws:iam::123456789012:role/sm"
JOB_ARN = "arn:aws:sagemaker:us-east-1:123456789012:training-job/j"


class ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def operation(resource: str) -> Any:
    return next(op for op in SAGEMAKER_OPERATIONS if op.resource == resource)


def training_request() -> dict[str, Any]:
    return {
        "TrainingJobName": "j",
        "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath": "s3://a/"},
        "AlgorithmSpecification": {"TrainingImage": "i", "TrainingInputMode": "File"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
    }


def describe_training(status: str = "Completed") -> dict[str, Any]:
    return {
        "TrainingJobName": "j",
        "TrainingJobArn": JOB_ARN,
        "TrainingJobStatus": status,
        "ModelArtifacts": {"S3ModelArtifacts": "s3://a/j/output/model.tar.gz"},
        "SecondaryStatus": status,
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
        "CreationTime": "2026-11-22T00:00:00Z",
    }


class Backend:
    def __init__(self, response: dict[str, Any] | Exception) -> None:
        self.response = response
        self.calls: list[dict[str, Any]] = []

    def create_training_job(self, request: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(request)
        if isinstance(self.response, Exception):
            raise self.response
        return self.response


@pytest.mark.parametrize(
    ("code", "sdk", "expected"),
    [
        ("ResourceLimitExceeded", False, "SageMaker.ResourceLimitExceededException"),
        ("ValidationException", False, "SageMaker.AmazonSageMakerException"),
        ("ThrottlingException", False, "SageMaker.AmazonSageMakerException"),
        ("ResourceNotFound", True, "SageMaker.ResourceNotFoundException"),
        ("ConflictException", True, "SageMaker.ConflictException"),
        ("ValidationException", True, "SageMaker.SageMakerException"),
    ],
)
def test_api_error_codes_map_to_step_functions_error_names(code: str, sdk: bool, expected: str) -> None:
    error = sagemaker_task_error(ApiError(code, "boom"), sdk=sdk)
    assert error.error == expected
    assert error.cause.startswith("boom (Service: ")


def test_a_sync_handler_returns_the_describe_output() -> None:
    backend = Backend(describe_training())
    handle = sagemaker_handler(backend, operation("sagemaker:createTrainingJob.sync"))
    assert handle(training_request(), CONTEXT)["TrainingJobStatus"] == "Completed"
    assert backend.calls == [training_request()]


def test_the_backend_validates_the_request_and_its_refusal_keeps_the_api_error_name() -> None:
    """The handler does not validate: the backend (LocalSageMaker's API layer) does, once."""
    request = training_request()
    del request["RoleArn"]
    backend = Backend(
        ApiError("ValidationException", "1 validation error: Missing required parameter RoleArn")
    )
    with pytest.raises(TaskError) as error:
        sagemaker_handler(backend, operation("sagemaker:createTrainingJob.sync"))(request, CONTEXT)
    assert error.value.error == "SageMaker.AmazonSageMakerException"
    assert "RoleArn" in error.value.cause and "ValidationException" in error.value.cause
    assert backend.calls == [request]


def test_an_invalid_backend_response_is_reported_as_a_local_mode_bug() -> None:
    broken = describe_training()
    del broken["ModelArtifacts"]
    with pytest.raises(TaskError) as error:
        sagemaker_handler(Backend(broken), operation("sagemaker:createTrainingJob.sync"))(
            training_request(), CONTEXT
        )
    assert error.value.error == "LocalMode.InvalidSageMakerResponse" and "ModelArtifacts" in error.value.cause


def test_request_response_create_returns_only_the_create_output() -> None:
    handle = sagemaker_handler(Backend(describe_training()), operation("sagemaker:createTrainingJob"))
    assert handle(training_request(), CONTEXT) == {"TrainingJobArn": JOB_ARN}


def test_backend_errors_keep_their_code() -> None:
    backend = Backend(ApiError("ResourceLimitExceeded", "too many training jobs"))
    with pytest.raises(TaskError) as error:
        sagemaker_handler(backend, operation("sagemaker:createTrainingJob.sync"))(training_request(), CONTEXT)
    assert error.value.error == "SageMaker.ResourceLimitExceededException"


def test_only_the_operations_the_backend_has_are_registered() -> None:
    registered = register_sagemaker(TaskHooks(), Backend(describe_training()))
    assert sorted(registered) == [
        "aws-sdk:sagemaker:createTrainingJob",
        "sagemaker:createTrainingJob",
        "sagemaker:createTrainingJob.sync",
    ]
