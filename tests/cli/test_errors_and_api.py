"""Error messages for boto3's exceptions, and the local SageMaker API server's wire format."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError

from local_mode.sagemaker.api_server import SageMakerApiServer
from pipeline_cli.backend import DEFAULT_STACK, LOCAL_CREDENTIALS
from pipeline_cli.errors import explain


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (NoCredentialsError(), "No AWS credentials found"),
        (NoRegionError(), "No AWS region: pass --region"),
        (EndpointConnectionError(endpoint_url="https://states.x"), "Cannot reach https://states.x"),
        (
            ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "not allowed: states:Start"}}, "Start"
            ),
            "Access denied: not allowed: states:Start",
        ),
        (
            ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "DescribeExecution"
            ),
            "DescribeExecution failed: ThrottlingException: slow down",
        ),
    ],
)
def test_boto_errors_become_one_actionable_line(error: Exception, message: str) -> None:
    explained = explain(error)
    assert explained is not None and str(explained).startswith(message)


def test_bugs_are_not_disguised() -> None:
    assert explain(KeyError("x")) is None


def test_default_stack_is_the_apps() -> None:
    import app as cdk_app

    assert DEFAULT_STACK == cdk_app.STACK_NAME


class ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class Backend:
    def describe_training_job(self, request: dict[str, Any]) -> dict[str, Any]:
        if request["TrainingJobName"] != "job":
            raise ApiError("ValidationException", "Requested resource not found.")
        return {"TrainingJobName": "job", "CreationTime": datetime(2026, 11, 22, 12, 0, tzinfo=UTC)}


def test_the_local_api_speaks_sagemakers_protocol() -> None:
    with SageMakerApiServer(Backend()) as server:
        client = boto3.session.Session(region_name="us-east-1", **LOCAL_CREDENTIALS).client(
            "sagemaker", endpoint_url=server.url
        )
        described = client.describe_training_job(TrainingJobName="job")
        with pytest.raises(ClientError) as missing:
            client.describe_training_job(TrainingJobName="other")
        with pytest.raises(ClientError) as unsupported:
            client.describe_endpoint(EndpointName="e")

    assert described["CreationTime"] == datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert missing.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "Requested resource not found.",
    }
    assert unsupported.value.response["Error"]["Code"] == "UnknownOperationException"
