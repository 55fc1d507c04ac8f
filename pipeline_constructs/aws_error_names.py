"""The error names a Step Functions Task can fail with, by integration type: one catalog.

The workflows' Retry/Catch `ErrorEquals` (pipeline_constructs/workflow_steps.py), the static
check of both definitions (tests/infra/test_error_names.py) and local mode's Task handlers
(local_mode/cloud/moto_hooks.py, local_mode/sagemaker/tasks.py) all take their names from here, so a
name AWS never emits cannot be retried on, and local mode cannot raise one. This module imports
botocore and the standard library only (no aws_cdk), so local mode can use it.

Sources (AWS wins wherever local behaviour disagreed):

- `aws-sdk:` integrations (Step Functions Developer Guide, "Learning to use AWS service SDK
  integrations in Step Functions", supported-services-awssdk.html): the Error is
  `ServiceName.ErrorName`, both PascalCase, and "always add the Exception suffix ... even if the
  suffix is not already part of the error name the service provides" (`S3.BucketAlreadyExists` is
  caught as `S3.BucketAlreadyExistsException`, `AcmPca.ResourceNotFoundException`). These
  integrations run on the AWS SDK for Java 2.x, whose client names are the service id in
  PascalCase with acronyms folded (`DynamoDb`, `Sfn`, `AcmPca`; the guide's own examples), and
  whose base exception per service (`<Client>Exception`: `SageMaker.SageMakerException`,
  `DynamoDb.DynamoDbException`, `Sfn.SfnException`) is what an error the service model does not
  declare (SageMaker's ValidationException and ThrottlingException, for instance) surfaces as —
  the convention of LocalStack's Step Functions snapshots recorded against AWS.
- Optimized integrations (`arn:aws:states:::sagemaker:createTrainingJob.sync`,
  `dynamodb:putItem`, `sns:publish`, `states:startExecution`, `lambda:invoke`) run on the AWS SDK
  for Java 1.x and name errors after its exception classes, under the prefix of each service's
  integration page: modelled errors by their class (`DynamoDB.ConditionalCheckFailedException`,
  `SageMaker.ResourceLimitExceededException`, `StepFunctions.ExecutionLimitExceededException`,
  `Lambda.TooManyRequestsException`), everything else by the service's base class
  (`DynamoDB.AmazonDynamoDBException`, `SageMaker.AmazonSageMakerException`,
  `SNS.AmazonSNSException`, `StepFunctions.AWSStepFunctionsException`, `Lambda.AWSLambdaException`)
  and client-side failures as `<Prefix>.SdkClientException`. Sources: Step Functions Developer
  Guide, "Handling transient Lambda service exceptions" (bp-lambda-serviceexception.html: retry
  `Lambda.ServiceException`, `Lambda.AWSLambdaException`, `Lambda.SdkClientException`,
  `Lambda.TooManyRequestsException`); the service integration pages' examples
  (connect-sagemaker, connect-ddb); aws-cdk#11594 (`DynamoDB.AmazonDynamoDBException`); and the
  Java 1.x class names, which append `Exception` to a shape name that lacks it, exactly as the
  aws-sdk rule does (`RequestLimitExceeded` -> `RequestLimitExceededException`,
  `InternalServerError` -> `InternalServerErrorException`).
- Lambda functions (Step Functions Developer Guide, "Error handling"): an unhandled exception
  fails the Task with the error type the runtime reports, which for Python is the exception's
  class name; a crash, a timeout or running out of memory is `Lambda.Unknown`.
- `States.*` (Step Functions Developer Guide, "Error handling", error names): the names below.
  `States.Runtime` and `States.DataLimitExceeded` exist but are terminal: no Retry or Catch
  matches them, `States.ALL` included.

The modelled error shapes come from botocore's service models, installed with boto3.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Final

import botocore.session
from botocore.model import ServiceModel

# --- States.* -----------------------------------------------------------------------------------

STATES_ALL: Final = "States.ALL"
STATES_TASK_FAILED: Final = "States.TaskFailed"
STATES_RUNTIME: Final = "States.Runtime"  # not catchable: States.ALL does not match it
# Terminal: no Retry or Catch matches these, States.ALL included ("Error handling", States.ALL).
UNCATCHABLE_STATES_ERRORS: Final = frozenset({STATES_RUNTIME, "States.DataLimitExceeded"})
CATCHABLE_STATES_ERRORS: Final = frozenset(
    {
        STATES_ALL,
        "States.ExceedToleratedFailureThreshold",
        "States.HeartbeatTimeout",
        "States.Http.Socket",
        "States.IntrinsicFailure",
        "States.ItemReaderFailed",
        "States.NoChoiceMatched",
        "States.ParameterPathFailure",
        "States.Permissions",
        "States.ResultPathMatchFailure",
        "States.ResultWriterFailed",
        "States.BranchFailed",
        STATES_TASK_FAILED,
        "States.Timeout",
        "States.QueryEvaluationError",
    }
)

# --- aws-sdk: integrations (AWS SDK for Java 2.x) ----------------------------------------------

# The service name in an `arn:aws:states:::aws-sdk:<service>:<action>` resource, where it is not
# botocore's name for the same service.
_SDK_RESOURCE_TO_BOTOCORE: Final = {
    "sfn": "stepfunctions",
    "eventbridge": "events",
    "acmpca": "acm-pca",
    "applicationautoscaling": "application-autoscaling",
}


def botocore_service(sdk_service: str) -> str:
    """botocore's name for the service of an `aws-sdk:<service>:` resource (`sfn` -> `stepfunctions`)."""
    return _SDK_RESOURCE_TO_BOTOCORE.get(sdk_service.lower(), sdk_service.lower())


@cache
def _service_model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


def _pascal(service_id: str) -> str:
    """The Java 2.x client name for a botocore service id: `DynamoDB` -> `DynamoDb`, `ACM PCA` -> `AcmPca`."""
    tokens = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", service_id)
    return "".join(token[:1].upper() + token[1:].lower() for token in tokens)


def sdk_service_prefix(sdk_service: str) -> str:
    """`SageMaker`, `DynamoDb`, `Sfn`: the prefix of an aws-sdk integration's error names."""
    try:
        service_id = _service_model(botocore_service(sdk_service)).service_id
    except Exception:  # not a botocore service name (e.g. already PascalCase): keep its spelling
        return sdk_service[:1].upper() + sdk_service[1:]
    return _pascal(str(service_id))


def with_exception_suffix(name: str) -> str:
    return name if name.endswith("Exception") else f"{name}Exception"


def sdk_error_name(sdk_service: str, code: str) -> str:
    """`SageMaker.ResourceNotFoundException`: the aws-sdk integration's error for an error code."""
    return f"{sdk_service_prefix(sdk_service)}.{with_exception_suffix(code)}"


def sdk_generic_error(sdk_service: str) -> str:
    """`SageMaker.SageMakerException`: an error the service model does not declare."""
    prefix = sdk_service_prefix(sdk_service)
    return f"{prefix}.{prefix}Exception"


def modelled_error_codes(service: str) -> frozenset[str]:
    """The error shape names botocore's model of `service` declares."""
    return frozenset(shape.name for shape in _service_model(service).error_shapes)


@cache
def _shapes_by_code(service: str) -> dict[str, str]:
    shapes = _service_model(service).error_shapes
    return {str(shape.metadata.get("error", {}).get("code", shape.name)): shape.name for shape in shapes}


def error_shape(service: str, code: str) -> str:
    """The error shape botocore's model of `service` declares for an error code on the wire (SNS's
    `AuthorizationError` is `AuthorizationErrorException`); the code itself when it declares none."""
    return _shapes_by_code(service).get(code, code)


def sdk_error_names(sdk_service: str) -> frozenset[str]:
    """Every name an `aws-sdk:<sdk_service>:` Task can fail with (States.* aside)."""
    codes = modelled_error_codes(botocore_service(sdk_service))
    return frozenset({sdk_generic_error(sdk_service), *(sdk_error_name(sdk_service, c) for c in codes)})


def sdk_task_error(sdk_service: str, code: str) -> str:
    """The error for an API error `code`: its own name when modelled, else the generic one."""
    code = error_shape(botocore_service(sdk_service), code)
    if code in modelled_error_codes(botocore_service(sdk_service)):
        return sdk_error_name(sdk_service, code)
    return sdk_generic_error(sdk_service)


# --- optimized integrations (AWS SDK for Java 1.x) ---------------------------------------------


class OptimizedService:
    """How one optimized integration names its errors."""

    def __init__(self, prefix: str, botocore_name: str, base: Iterable[str]) -> None:
        self.prefix = prefix
        self.botocore_name = botocore_name
        self.base = tuple(f"{prefix}.{name}" for name in base)

    @property
    def generic(self) -> str:
        """What an error the model does not declare (validation, throttling) is named."""
        return self.base[0]

    def error_name(self, code: str) -> str:
        return f"{self.prefix}.{with_exception_suffix(code)}"

    def task_error(self, code: str) -> str:
        code = error_shape(self.botocore_name, code)
        if code in modelled_error_codes(self.botocore_name):
            return self.error_name(code)
        return self.generic

    def names(self) -> frozenset[str]:
        modelled = (self.error_name(c) for c in modelled_error_codes(self.botocore_name))
        return frozenset({*self.base, f"{self.prefix}.SdkClientException", *modelled})


# Keyed by the service part of `arn:aws:states:::<service>:<action>`.
OPTIMIZED: Final = {
    "sagemaker": OptimizedService("SageMaker", "sagemaker", ["AmazonSageMakerException"]),
    "dynamodb": OptimizedService("DynamoDB", "dynamodb", ["AmazonDynamoDBException"]),
    "sns": OptimizedService("SNS", "sns", ["AmazonSNSException"]),
    "states": OptimizedService("StepFunctions", "stepfunctions", ["AWSStepFunctionsException"]),
    "lambda": OptimizedService("Lambda", "lambda", ["AWSLambdaException", "ServiceException"]),
}

# --- Lambda functions ---------------------------------------------------------------------------

LAMBDA_UNKNOWN: Final = "Lambda.Unknown"  # crash, timeout, out of memory
_LAMBDAS_DIR = Path(__file__).resolve().parent.parent / "lambdas"
_BUILTIN_EXCEPTIONS: Final = frozenset(
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
)


@cache
def project_handler_errors() -> frozenset[str]:
    """Class names of the exceptions defined in lambdas/ (what the handlers raise by name)."""
    known = set(_BUILTIN_EXCEPTIONS)
    classes: dict[str, list[str]] = {}
    for path in sorted(_LAMBDAS_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                classes[node.name] = [ast.unparse(base).rsplit(".", 1)[-1] for base in node.bases]
    found: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, bases in classes.items():
            if name not in found and any(b in known or b in found for b in bases):
                found.add(name)
                changed = True
    return frozenset(found)


def lambda_error_names() -> frozenset[str]:
    """Names a `lambda:invoke` Task of this project can fail with (States.* aside)."""
    return OPTIMIZED["lambda"].names() | {LAMBDA_UNKNOWN} | project_handler_errors()


# --- by Task resource ---------------------------------------------------------------------------


def integration_of(resource: str) -> tuple[str, str]:
    """(`aws-sdk` | `optimized` | `lambda-function`, service) for a Task's Resource ARN.

    A Resource that is not `arn:<partition>:states:::...` is a Lambda function's ARN (a
    `LambdaInvoke` with `payload_response_only`), or a token that resolves to one.
    """
    if ":states:::" not in resource:
        if ":activity:" in resource:
            raise KeyError(f"no error catalog for activities: {resource!r}")
        return "lambda-function", "lambda"
    parts = resource.split(":::", 1)[1].split(":")
    if parts[0] == "aws-sdk":
        return "aws-sdk", parts[1]
    return "optimized", parts[0]


def task_error_names(resource: str) -> frozenset[str]:
    """Every catchable name a Task with this Resource can fail with, States.* included."""
    kind, service = integration_of(resource)
    if kind == "aws-sdk":
        names = sdk_error_names(service)
    elif kind == "lambda-function" or service == "lambda":
        names = lambda_error_names()
    elif service in OPTIMIZED:
        names = OPTIMIZED[service].names()
    else:
        raise KeyError(f"no error catalog for the integration {resource!r}")
    return names | CATCHABLE_STATES_ERRORS
