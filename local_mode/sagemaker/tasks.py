"""Serve the SageMaker Task resources of the workflows from a local SageMaker backend.

The backend (`local_mode.sagemaker.local_sagemaker.LocalSageMaker`) has one method per API operation,
taking and returning the API's PascalCase dicts exactly as botocore's service model names them
(`create_training_job(request) -> DescribeTrainingJob-shaped dict`, ...). The backend is the API
layer: it validates each request, once. Each handler here passes the Task's parameters to it,
checks the response against the output shape the integration returns (the Describe* output for
`.sync`; a mismatch is a local-mode bug), and maps the backend's API errors to the error names
Step Functions gives:

- optimized integrations (`arn:aws:states:::sagemaker:...`) run on the AWS SDK for Java v1, whose
  exception classes name the error: errors the SageMaker model declares become
  `SageMaker.<Code>Exception` (e.g. `SageMaker.ResourceLimitExceededException`, which the Step
  Functions guide's SageMaker examples retry on), everything else, validation errors included,
  `SageMaker.AmazonSageMakerException` (the SDK's base class; what CDK users' Retry blocks match).
- AWS SDK integrations (`arn:aws:states:::aws-sdk:sagemaker:...`) name errors
  `<Service>.<ErrorName>` with an `Exception` suffix always added (Step Functions guide, "AWS SDK
  service integrations"): modeled codes give `SageMaker.ResourceNotFoundException`; unmodeled ones
  (ValidationException, ThrottlingException) surface as the SDK's service exception,
  `SageMaker.SageMakerException` (the convention LocalStack's AWS-validated Step Functions
  emulation follows, and moto's port of it).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from local_mode.checks import api_validation
from local_mode.cloud.moto_hooks import Handler, TaskContext, TaskError, TaskHooks
from pipeline_constructs import aws_error_names

LOG = logging.getLogger(__name__)


class SageMakerBackend(Protocol):
    """What local mode needs from the local SageMaker (the names used by the definitions)."""

    def create_training_job(self, request: dict[str, Any]) -> dict[str, Any]: ...
    def create_processing_job(self, request: dict[str, Any]) -> dict[str, Any]: ...
    def create_hyper_parameter_tuning_job(self, request: dict[str, Any]) -> dict[str, Any]: ...
    def create_transform_job(self, request: dict[str, Any]) -> dict[str, Any]: ...
    def create_model(self, request: dict[str, Any]) -> dict[str, Any]: ...
    def create_endpoint_config(self, request: dict[str, Any]) -> dict[str, Any]: ...
    def create_endpoint(self, request: dict[str, Any]) -> dict[str, Any]: ...
    def update_endpoint(self, request: dict[str, Any]) -> dict[str, Any]: ...
    def describe_endpoint(self, request: dict[str, Any]) -> dict[str, Any]: ...
    def describe_training_job(self, request: dict[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class SageMakerOperation:
    """One SageMaker Task resource and how the backend serves it."""

    resource: str  # short form, e.g. "sagemaker:createTrainingJob.sync"
    method: str  # backend method, e.g. "create_training_job"
    request_operation: str  # the API operation the Task calls
    result_operation: str  # botocore operation whose output the Task returns

    @property
    def sdk(self) -> bool:
        return self.resource.startswith("aws-sdk:")


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def _operations() -> list[SageMakerOperation]:
    jobs = ("TrainingJob", "ProcessingJob", "HyperParameterTuningJob", "TransformJob")
    simple = ("CreateModel", "CreateEndpointConfig", "CreateEndpoint", "UpdateEndpoint")
    operations = []
    for job in jobs:
        create = f"Create{job}"
        method = _snake(create)
        operations.append(
            SageMakerOperation(f"sagemaker:c{create[1:]}.sync", method, create, f"Describe{job}")
        )
        operations.append(SageMakerOperation(f"sagemaker:c{create[1:]}", method, create, create))
        operations.append(SageMakerOperation(f"aws-sdk:sagemaker:c{create[1:]}", method, create, create))
    for operation in simple:
        short = operation[0].lower() + operation[1:]
        operations.append(SageMakerOperation(f"sagemaker:{short}", _snake(operation), operation, operation))
        operations.append(
            SageMakerOperation(f"aws-sdk:sagemaker:{short}", _snake(operation), operation, operation)
        )
    for operation in (
        "DescribeEndpoint",
        "DescribeTrainingJob",
        "DescribeModel",
        "DescribeEndpointConfig",
        "DescribeTransformJob",
        "DescribeProcessingJob",
        "DescribeHyperParameterTuningJob",
        "ListEndpoints",  # the training workflow's FindEndpoint: create or update
    ):
        short = operation[0].lower() + operation[1:]
        operations.append(
            SageMakerOperation(f"aws-sdk:sagemaker:{short}", _snake(operation), operation, operation)
        )
    return operations


SAGEMAKER_OPERATIONS: Final = tuple(_operations())


def sagemaker_task_error(exc: Exception, *, sdk: bool) -> TaskError:
    """The Step Functions error for an exception from the backend (see the module docstring).

    The names come from the one catalog, pipeline_constructs/aws_error_names.py.
    """
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", None) or str(exc)
    request_id = uuid.uuid4()
    error_code = code if isinstance(code, str) else type(exc).__name__
    if sdk:
        name = aws_error_names.sdk_task_error("sagemaker", error_code)
        return TaskError(name, f"{message} (Service: SageMaker, Status Code: 400, Request ID: {request_id})")
    name = aws_error_names.OPTIMIZED["sagemaker"].task_error(error_code)
    return TaskError(
        name,
        f"{message} (Service: AmazonSageMaker; Status Code: 400; Error Code: {error_code}; "
        f"Request ID: {request_id}; Proxy: null)",
    )


def _project(response: Mapping[str, Any], operation: str) -> dict[str, Any]:
    """Keep the members of `operation`'s output (a job backend returns Describe* for Create*)."""
    shape = api_validation.operation_model("sagemaker", operation).output_shape
    members = shape.members if shape is not None else {}
    return {k: v for k, v in response.items() if k in members}


def sagemaker_handler(backend: Any, operation: SageMakerOperation, *, validate: bool = True) -> Handler:
    """A Task handler calling `backend.<method>` (which validates the request), with AWS error names.

    `validate`: check the response against the integration's output shape.
    """
    method: Callable[[dict[str, Any]], dict[str, Any]] = getattr(backend, operation.method)

    def handle(parameters: dict[str, Any], context: TaskContext) -> dict[str, Any]:
        try:
            response = method(parameters)
        except Exception as exc:
            LOG.info(
                "SageMaker %s failed in state %s: %s", operation.request_operation, context.state_name, exc
            )
            raise sagemaker_task_error(exc, sdk=operation.sdk) from exc
        if not operation.result_operation.startswith("Describe"):
            response = _project(response, operation.result_operation)
        if validate:
            problems = api_validation.response_problems("sagemaker", operation.result_operation, response)
            if problems:
                LOG.error(
                    "local SageMaker returned an invalid %s output: %s", operation.result_operation, problems
                )
                raise TaskError(
                    "LocalMode.InvalidSageMakerResponse",
                    f"the local SageMaker's {operation.result_operation} output does not fit the "
                    f"API: {'; '.join(problems)}",
                )
        return response

    return handle


def register_sagemaker(hooks: TaskHooks, backend: Any, *, validate: bool = True) -> list[str]:
    """Register a handler for every SageMaker resource the backend has a method for."""
    registered = []
    for operation in SAGEMAKER_OPERATIONS:
        if callable(getattr(backend, operation.method, None)):
            hooks.register(operation.resource, sagemaker_handler(backend, operation, validate=validate))
            registered.append(operation.resource)
    return registered


class SageMakerTasks:
    """Plugs a SageMaker backend into a `LocalCloud`: `LocalCloud(..., sagemaker=SageMakerTasks(x))`.

    `backend`: an object with (some of) the `SageMakerBackend` methods, or a factory called with the
    cloud once the stack is deployed (a backend a factory built is closed with the cloud).
    `validate`: check each SageMaker Task's response against botocore's model (requests are validated
    once, by the backend's API layer).
    """

    def __init__(self, backend: Any, *, validate: bool = True) -> None:
        self._arg = backend
        self.validate = validate
        self.backend: Any = None
        self.registered: list[str] = []
        self._owns = False

    def attach(self, cloud: Any) -> Any:
        # A backend has the API methods; anything else is a factory to call with the cloud.
        is_backend = any(callable(getattr(self._arg, op.method, None)) for op in SAGEMAKER_OPERATIONS)
        self.backend = self._arg if is_backend else self._arg(cloud)
        self._owns = not is_backend
        self.registered = register_sagemaker(cloud.hooks, self.backend, validate=self.validate)
        return self.backend

    def close(self) -> None:
        if self._owns and callable(getattr(self.backend, "close", None)):
            self.backend.close()
