"""What the local SageMaker shares with the real API: errors, request validation, ARNs, times.

Requests are checked against botocore's SageMaker service model (``api_validation``: required
and unknown members, types, lengths, enums, patterns), the model the real service enforces,
so a malformed request a synthesized state machine sends fails locally as it would on AWS.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from botocore.model import StructureShape

from local_mode.checks.api_validation import ApiValidationError, operation_model
from local_mode.checks.api_validation import validate_request as _validate

FAILURE_REASON_MAX = 1024  # every Describe* FailureReason / ExitMessage is at most 1024 characters


class SageMakerApiError(Exception):
    """An error the SageMaker API would return; ``code`` is the AWS error code (``ValidationException``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def input_shape(operation: str) -> StructureShape:
    shape = operation_model("sagemaker", operation).input_shape
    assert shape is not None
    return shape


def validate_request(operation: str, request: dict[str, Any]) -> None:
    try:
        _validate("sagemaker", operation, request)
    except ApiValidationError as error:
        raise SageMakerApiError("ValidationException", error.message) from error


def echo_request(describe_operation: str, request: dict[str, Any]) -> dict[str, Any]:
    """The request members a Describe* response repeats back (those its output shape also has)."""
    shape = operation_model("sagemaker", describe_operation).output_shape
    assert shape is not None
    return {name: value for name, value in request.items() if name in shape.members}


def failure_reason(text: str) -> str:
    return text[:FAILURE_REASON_MAX]


class Arns:
    """ARNs as SageMaker writes them: the resource name is lower-cased in the ARN."""

    def __init__(self, region: str, account_id: str) -> None:
        self.region = region
        self.account_id = account_id

    def __call__(self, resource_type: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:{resource_type}/{name.lower()}"


def drop_none(values: dict[str, Any]) -> dict[str, Any]:
    """Responses omit absent members instead of carrying nulls, as botocore's parser does."""
    return {key: value for key, value in values.items() if value is not None}
