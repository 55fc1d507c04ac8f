"""What the local SageMaker shares with the real API: errors, request validation, ARNs, times.

Requests are checked against botocore's own SageMaker service model, the same model the real
service (and Step Functions' SageMaker integration) enforces, so a malformed request that a
synthesized state machine sends fails locally the way it would on AWS.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from typing import Any

import botocore.session
from botocore.model import ServiceModel, Shape, StructureShape
from botocore.validate import ParamValidator


class SageMakerApiError(Exception):
    """An error the SageMaker API would return; ``code`` is the AWS error code (``ValidationException``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@cache
def service_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("sagemaker")


def input_shape(operation: str) -> StructureShape:
    shape = service_model().operation_model(operation).input_shape
    assert shape is not None
    return shape


def output_shape(operation: str) -> StructureShape | None:
    return service_model().operation_model(operation).output_shape


def validate_request(operation: str, request: dict[str, Any]) -> None:
    """Reject what the real API rejects: missing/unknown members, wrong types, bad names.

    botocore checks structure, types and minimums; the name patterns and maximum lengths of
    the top-level string members are checked here (the API reports them the same way).
    """
    shape = input_shape(operation)
    report = ParamValidator().validate(request, shape)
    if report.has_errors():
        raise SageMakerApiError("ValidationException", report.generate_report())
    for name, member in shape.members.items():
        value = request.get(name)
        if isinstance(value, str):
            _check_string_constraints(name, value, member)


def _check_string_constraints(name: str, value: str, member: Shape) -> None:
    constraint = ""
    maximum = member.metadata.get("max")
    pattern = member.metadata.get("pattern")
    if maximum is not None and len(value) > maximum:
        constraint = f"Member must have length less than or equal to {maximum}"
    elif pattern and name.endswith("Name"):
        try:
            matched = re.fullmatch(pattern, value) is not None
        except re.error:  # a Java-only construct: the real API's check is not reproducible here
            matched = True
        if not matched:
            constraint = f"Member must satisfy regular expression pattern: {pattern}"
    if constraint:
        field = name[0].lower() + name[1:]
        message = f"Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"
        raise SageMakerApiError("ValidationException", f"1 validation error detected: {message}")


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


def echo_request(describe_operation: str, request: dict[str, Any]) -> dict[str, Any]:
    """The request members a Describe* response repeats back (those its output shape also has)."""
    shape = output_shape(describe_operation)
    assert shape is not None
    return {name: value for name, value in request.items() if name in shape.members}
