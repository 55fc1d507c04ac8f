"""Local mode raises exactly the error names of the one catalog (pipeline_constructs/aws_error_names.py)."""

from __future__ import annotations

from typing import Any

import pytest

from local_mode.cloud.moto_hooks import TaskContext, TaskError, TaskHooks, default_task_error
from local_mode.sagemaker.tasks import SAGEMAKER_OPERATIONS, register_sagemaker, sagemaker_handler
from pipeline_constructs.aws_error_names import task_error_names

CONTEXT = TaskContext(
    "UpdateEndpoint",
    "arn:aws:states:us-east-1:123456789012:execution:m:e",
    "e",
    "arn:aws:states:us-east-1:123456789012:stateMachine:m",
    "r",
    0,
)
BLUE_GREEN = {
    "EndpointName": "tf2-digits",
    "EndpointConfigName": "tf2-digits-config-2",
    "DeploymentConfig": {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
            "TerminationWaitInSeconds": 300,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "errors"}]},
    },
}


class ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class Endpoints:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls: list[dict[str, Any]] = []

    def update_endpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(request)
        if self.error is not None:
            raise self.error
        return {"EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/tf2-digits"}


def _update_handler(backend: Endpoints) -> Any:
    (op,) = [op for op in SAGEMAKER_OPERATIONS if op.resource == "aws-sdk:sagemaker:updateEndpoint"]
    return sagemaker_handler(backend, op)


def test_the_blue_green_update_is_served_through_the_aws_sdk_resource() -> None:
    backend = Endpoints()
    assert "aws-sdk:sagemaker:updateEndpoint" in register_sagemaker(TaskHooks(), backend)
    result = _update_handler(backend)(dict(BLUE_GREEN), CONTEXT)
    assert result == {"EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/tf2-digits"}
    assert backend.calls[0]["DeploymentConfig"] == BLUE_GREEN["DeploymentConfig"]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ResourceLimitExceeded", "SageMaker.ResourceLimitExceededException"),
        ("ValidationException", "SageMaker.SageMakerException"),
        ("ThrottlingException", "SageMaker.SageMakerException"),
    ],
)
def test_blue_green_update_errors_have_aws_sdk_names(code: str, expected: str) -> None:
    with pytest.raises(TaskError) as error:
        _update_handler(Endpoints(ApiError(code, "no")))(dict(BLUE_GREEN), CONTEXT)
    assert error.value.error == expected
    assert expected in task_error_names("arn:aws:states:::aws-sdk:sagemaker:updateEndpoint")


@pytest.mark.parametrize(
    "resource",
    [
        "sagemaker:createModel",
        "sagemaker:createTrainingJob.sync",
        "aws-sdk:sagemaker:describeEndpoint",
        "aws-sdk:dynamodb:query",
        "aws-sdk:sfn:startExecution",
        "dynamodb:putItem",
        "sns:publish",
        "states:startExecution.sync:2",
    ],
)
@pytest.mark.parametrize(
    "exc", [RuntimeError("down"), ApiError("ResourceNotFound", "gone"), ApiError("Throttled", "slow")]
)
def test_unmapped_handler_errors_become_names_the_integration_emits(resource: str, exc: Exception) -> None:
    name = default_task_error(resource, exc).error
    assert name in task_error_names(f"arn:aws:states:::{resource}"), name
