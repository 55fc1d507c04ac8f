"""Serve Step Functions Task states from Python handlers inside moto's real interpreter.

This is the ONE module of the project that touches moto's private internals. It is written
against moto==5.2.5 (pinned in requirements.txt); `tests/local/cloud/test_moto_hooks.py` is its smoke
test and must be re-run on any moto upgrade. What it patches, and why:

Patched (module paths under moto.stepfunctions.parser.asl):

- component.state.exec.state_task.service.state_task_service: `StateTaskService._eval_execution`,
  to dispatch to registered handlers, inject faults, record invocations, make results JSON-safe.
- component.state.exec.state_task.service.state_task_service_callback:
  `StateTaskServiceCallback._eval_body`: moto rejects `.sync` for SageMaker before the Task's
  Retry/Catch run; skipped for resources a handler serves.
- component.state.exec.state_task.state_task_lambda: `StateTaskLambda._eval_execution`, the same
  for Lambda function ARNs used as Resource.
- `_from_error` of every StateTask subclass that overrides it (e.g. DynamoDB's turns any
  non-ClientError into `DynamoDB.AmazonDynamoDBException`): a failure event raised by the hooks
  passes through unchanged, as `ExecutionState._from_error` already does.
- component.state.fail.state_fail: its `CustomErrorName` global. A Fail state whose ErrorPath
  re-raises a caught `States.TaskFailed` (Catch States.ALL → Fail) ends the execution with
  States.Runtime in moto, which forbids `States.` in custom names; AWS fails it with that error.
- component.state.exec.state_parallel.branches_decl: its `CustomErrorName` global, for the same
  reason: a `States.TaskFailed` leaving a Parallel branch became States.Runtime before the
  Parallel's Catch could run.
- component.state.exec.state_task.lambda_eval_utils: `_invoke_lambda_function`, in-process Lambda
  handlers instead of moto's Docker Lambda.
- component.state.wait.wait_function.wait_function: `WaitFunction._eval_body`, optional cap on
  Wait states (moto sleeps for real; its wait loop never ends on a fractional wait, so the cap
  waits itself).
- component.common.retry.retrier_decl: its `time` global, optional cap on Retry intervals.
- moto.stepfunctions.responses: `StepFunctionResponse.send_task_failure`, which drops the request's
  `cause`; AWS gives it to the waiting Task's failure (its Catch reads it, e.g. manual approval's
  rejection: https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskFailure.html).
- utils.boto_client, and each module that imported it: `boto_client_for`, one cached client per
  service (moto builds a client per task: slow, and racy across threads).
- component.state.exec.state_task.service.state_task_service_aws_sdk: `_SERVICE_ERROR_NAMES`, so
  aws-sdk error names get AWS's prefixes (`SageMaker.`, not `sagemaker.`).
- component.state.exec.state_task.service.state_task_service:
  `StateTaskService._SERVICE_NAME_SFN_TO_BOTO_OVERRIDES`, so `aws-sdk:applicationautoscaling:*`
  reaches moto's `application-autoscaling` backend.

Read-only uses: `FailureEvent`/`FailureEventException`, `ErrorName`/`StatesErrorName`,
`EventDetails`, `HistoryEventType`, `TaskFailedEventDetails`, `LambdaFunctionFailedEventDetails`,
the `Environment`'s context object and `program_state_event`.

Everything is undone by `TaskHooks.uninstall()`; with no hooks installed moto runs unchanged.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Final, cast

from moto.core.responses import EmptyResult
from moto.stepfunctions.parser.api import (
    HistoryEventType,
    LambdaFunctionFailedEventDetails,
    TaskFailedEventDetails,
)
from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import branches_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service,
    state_task_service_aws_sdk,
    state_task_service_callback,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
from moto.stepfunctions.parser.asl.component.state.fail import state_fail
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.parse import asl_parser  # noqa: F401  (loads every integration module)
from moto.stepfunctions.parser.asl.utils import boto_client as boto_client_module
from moto.stepfunctions.responses import StepFunctionResponse

from pipeline_constructs import aws_error_names

StateTaskService = state_task_service.StateTaskService
StateTaskServiceCallback = state_task_service_callback.StateTaskServiceCallback

LOG = logging.getLogger(__name__)

MOTO_VERSION: Final = "5.2.5"


class TaskError(Exception):
    """Raise from a handler to fail the Task with exactly this Error and Cause."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error = error
        self.cause = cause


@dataclass(frozen=True)
class TaskContext:
    """What a handler knows about the Task it serves."""

    state_name: str
    execution_arn: str
    execution_name: str
    state_machine_arn: str
    resource: str
    retry_count: int


@dataclass
class TaskInvocation:
    """One attempt of one Task state, as recorded by the hooks."""

    state_name: str
    resource: str
    execution_arn: str
    retry_count: int
    parameters: Any = None
    hooked: bool = False
    injected: bool = False
    outcome: str = "running"  # "running" | "succeeded" | "failed"
    result: Any = None
    error: str | None = None
    cause: str | None = None
    started_at: float = field(default_factory=time.time)
    ended_at: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.outcome == "succeeded"

    @property
    def failed(self) -> bool:
        return self.outcome == "failed"


@dataclass(frozen=True)
class WaitRecord:
    """One Wait state evaluation: what the definition asked for and what was waited."""

    state_name: str
    execution_arn: str
    requested_seconds: float
    waited_seconds: float


Handler = Callable[[dict[str, Any], TaskContext], Any]
LambdaHandler = Callable[[Any, TaskContext], Any]
ErrorMapper = Callable[[Exception, TaskContext], "TaskError | None"]
# A Task's request (its resolved Parameters) → the error the service refuses it with, or None.
TaskAuthorizer = Callable[[TaskContext, dict[str, Any]], "TaskError | None"]


@dataclass
class _Injection:
    state_name: str
    error: str
    cause: str
    remaining: int
    state_machine: str | None


@dataclass(frozen=True)
class _Registration:
    key: str
    handler: Handler
    error_mapper: ErrorMapper | None

    def invoke(self, parameters: dict[str, Any], context: TaskContext) -> Any:
        try:
            result = self.handler(parameters, context)
        except TaskError:
            raise
        except Exception as exc:
            LOG.info("handler for %s in state %s raised", self.key, context.state_name, exc_info=True)
            mapped = self.error_mapper(exc, context) if self.error_mapper else None
            raise (mapped or default_task_error(self.key, exc)) from exc
        result = json_safe(result)
        _raise_if_sync_failed(self.key, result)
        return result


# --- resource names -------------------------------------------------------------------------


def resource_key(resource: str) -> str:
    """The part of a Task Resource that names the integration, without partition/region/account.

    `arn:aws:states:::sagemaker:createTrainingJob.sync` → `sagemaker:createTrainingJob.sync`;
    `arn:aws:lambda:us-east-1:123456789012:function:fn` → `function:fn`. Short forms pass through.
    """
    parts = resource.split(":")
    if resource.startswith("arn:") and len(parts) >= 7:
        if parts[2] == "states" and parts[5] not in ("activity", "stateMachine", "execution"):
            return ":".join(parts[5:])
        if parts[2] == "lambda" and parts[5] == "function":
            return f"function:{parts[6]}"
    return resource


def function_name(function: str) -> str:
    """A Lambda function's name from a name, a (partial) ARN, or either with a qualifier."""
    parts = function.split(":")
    if "function" in parts:
        return parts[parts.index("function") + 1]
    return parts[0]


# --- results and errors ---------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def json_safe(value: Any) -> Any:
    """A copy of `value` that survives JSON (datetimes become ISO-8601 strings).

    moto's DescribeExecution fails with HTTP 500 when a task result holds a datetime (as raw
    `aws-sdk:sagemaker:describe*` results do); every task result goes through this.
    """
    return json.loads(json.dumps(value, default=_json_default))


_SYNC_STATUS_KEYS: Final = (
    "TrainingJobStatus",
    "ProcessingJobStatus",
    "TransformJobStatus",
    "HyperParameterTuningJobStatus",
    "Status",
)
_FAILED_STATUSES: Final = frozenset({"Failed", "Stopped", "FAILED", "TIMED_OUT", "ABORTED"})


def _raise_if_sync_failed(key: str, result: Any) -> None:
    """A `.sync` job that ended Failed/Stopped fails the Task with States.TaskFailed, as on AWS."""
    if not (key.endswith(".sync") or key.endswith(".sync:2")) or not isinstance(result, Mapping):
        return
    for status_key in _SYNC_STATUS_KEYS:
        if result.get(status_key) in _FAILED_STATUSES:
            raise TaskError("States.TaskFailed", json.dumps(result, separators=(",", ":")))


def sdk_error_name(service: str, code: str) -> str:
    """`SageMaker.ResourceNotFoundException`: the aws-sdk integration's error name for a code.

    The names come from the one catalog, pipeline_constructs/aws_error_names.py. Given an
    optimized integration's prefix instead (`StepFunctions`, for `states:startExecution`), the
    name is that integration's: modelled codes by name, others its SDK base exception.
    """
    for optimized in aws_error_names.OPTIMIZED.values():
        if service == optimized.prefix:
            return optimized.task_error(code)
    return aws_error_names.sdk_task_error(service, code)


def lambda_error_payload(exc: BaseException) -> dict[str, Any]:
    """The payload the Lambda runtime returns for an unhandled exception."""
    error_type = exc.error if isinstance(exc, TaskError) else type(exc).__name__
    message = exc.cause if isinstance(exc, TaskError) else str(exc)
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": str(uuid.uuid4()),
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


class _ServiceRefusal(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def refused_task_error(key: str, code: str, message: str) -> TaskError:
    """The error a Task fails with when the service refuses its request with `code` (e.g. IAM's
    AccessDeniedException): named as the integration names that code (aws_error_names)."""
    if key.startswith(("lambda:", "function:")):  # Lambda's Invoke refused: the service's error
        return TaskError(aws_error_names.OPTIMIZED["lambda"].task_error(code), message)
    return default_task_error(key, _ServiceRefusal(code, message))


def default_task_error(key: str, exc: Exception) -> TaskError:
    """The error a handler's exception becomes when its registration gives no mapper.

    Only names the integration can emit (pipeline_constructs/aws_error_names.py): an error code
    the service model declares keeps its name, anything else gets the service's generic name.
    """
    code = getattr(exc, "code", None)
    error_code = code if isinstance(code, str) else type(exc).__name__
    if key.startswith("aws-sdk:"):
        service = key.split(":")[1]
        return TaskError(aws_error_names.sdk_task_error(service, error_code), str(exc))
    if key.startswith(("lambda:", "function:")):
        payload = lambda_error_payload(exc)
        return TaskError(payload["errorType"], json.dumps(payload, separators=(",", ":")))
    service = key.split(":")[0]
    optimized = aws_error_names.OPTIMIZED.get(service)
    if optimized is None:
        return TaskError(type(exc).__name__, str(exc))
    name = optimized.task_error(error_code)
    if service == "sagemaker":
        cause = (
            f"{exc} (Service: AmazonSageMaker; Status Code: 400; Error Code: "
            f"{error_code}; Request ID: {uuid.uuid4()}; Proxy: null)"
        )
        return TaskError(name, cause)
    return TaskError(name, str(exc))


def _error_name(error: str) -> ErrorName:
    # States.* names must be StatesErrorName so that `States.TaskFailed` does not match them.
    if error.startswith("States."):
        try:
            return StatesErrorName.from_name(error)
        except ValueError:
            pass
    return ErrorName(error_name=error)


def _branch_error_name(error_name: str) -> ErrorName:
    # branches_decl calls CustomErrorName(error_name=...).
    return _error_name(error_name)


# --- the hooks ------------------------------------------------------------------------------


class TaskHooks:
    """Handlers, fault injection and the invocation record for Task states run by moto.

    Use as a context manager (or `install()`/`uninstall()`); one instance is active at a time.
    """

    def __init__(
        self, *, wait_cap_seconds: float | None = None, retry_interval_cap_seconds: float | None = None
    ) -> None:
        self.wait_cap_seconds = wait_cap_seconds
        self.retry_interval_cap_seconds = retry_interval_cap_seconds
        self._lock = threading.Lock()
        self._registrations: dict[str, _Registration] = {}
        self._lambdas: dict[str, LambdaHandler] = {}
        self._injections: list[_Injection] = []
        self._invocations: list[TaskInvocation] = []
        self._waits: list[WaitRecord] = []
        self.authorizer: TaskAuthorizer | None = None  # IAM on each Task's request (LocalCloud's)

    # -- registration --

    def register(self, resource: str, handler: Handler, *, error_mapper: ErrorMapper | None = None) -> None:
        """Serve every Task whose Resource is `resource` (full ARN or short form) with `handler`.

        The handler gets the Task's resolved Parameters and a `TaskContext`, and returns the task
        result (for `.sync` resources the Describe*-shaped final response). `TaskError` fails the
        Task with its exact name; other exceptions go through `error_mapper`, else
        `default_task_error`. A function ARN registers an in-process Lambda (see `register_lambda`).
        """
        key = resource_key(resource)
        if key.startswith("function:"):
            self.register_lambda(key.split(":", 1)[1], handler)
            return
        with self._lock:
            self._registrations[key] = _Registration(key, handler, error_mapper)

    def register_lambda(self, function: str, handler: LambdaHandler) -> None:
        """Run Lambda function `function` (name or ARN) in process: `handler(event, context)`.

        Used both for `lambda:invoke` Tasks naming the function and for its ARN as Resource; an
        exception becomes the function error named after its class, as the Lambda runtime reports.
        """
        with self._lock:
            self._lambdas[function_name(function)] = handler

    def registration(self, resource: str) -> _Registration | None:
        return self._registrations.get(resource_key(resource))

    def lambda_handler(self, function: str) -> LambdaHandler | None:
        return self._lambdas.get(function_name(function))

    # -- authorization --

    def authorize(self, context: TaskContext, parameters: Any) -> None:
        """Raise the error the service refuses this Task's request with, if the authorizer refuses it."""
        if self.authorizer is not None:
            refused = self.authorizer(context, parameters if isinstance(parameters, dict) else {})
            if refused is not None:
                raise refused

    # -- fault injection --

    def inject(
        self,
        state_name: str,
        *,
        error: str,
        cause: str = "",
        times: int = 1,
        state_machine: str | None = None,
    ) -> None:
        """Fail the next `times` attempts of Task `state_name` with `error` before anything runs.

        Works for hooked and non-hooked resources alike; `state_machine` (a name) narrows it to one
        state machine when two use the same state name.
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._injections.append(_Injection(state_name, error, cause, times, state_machine))

    def pending_injections(self) -> list[tuple[str, str, int]]:
        """(state name, error, attempts left) of injections not yet used up."""
        with self._lock:
            return [(i.state_name, i.error, i.remaining) for i in self._injections if i.remaining > 0]

    def clear_injections(self) -> None:
        with self._lock:
            self._injections.clear()

    def _take_injection(self, context: TaskContext) -> _Injection | None:
        machine = context.state_machine_arn.rsplit(":", 1)[-1]
        with self._lock:
            for injection in self._injections:
                if (
                    injection.remaining > 0
                    and injection.state_name == context.state_name
                    and injection.state_machine in (None, machine)
                ):
                    injection.remaining -= 1
                    return injection
        return None

    # -- the record --

    @property
    def invocations(self) -> list[TaskInvocation]:
        with self._lock:
            return list(self._invocations)

    def invocations_of(
        self,
        state_name: str | None = None,
        *,
        resource_contains: str | None = None,
        execution_arn: str | None = None,
    ) -> list[TaskInvocation]:
        """Recorded attempts filtered by state name, a substring of the Resource, and execution."""
        return [
            call
            for call in self.invocations
            if (state_name is None or call.state_name == state_name)
            and (resource_contains is None or resource_contains in call.resource)
            and (execution_arn is None or call.execution_arn == execution_arn)
        ]

    @property
    def waits(self) -> list[WaitRecord]:
        with self._lock:
            return list(self._waits)

    def reset_record(self) -> None:
        with self._lock:
            self._invocations.clear()
            self._waits.clear()

    def _record(self, call: TaskInvocation) -> None:
        with self._lock:
            self._invocations.append(call)

    def _record_wait(self, record: WaitRecord) -> None:
        with self._lock:
            self._waits.append(record)

    # -- lifecycle --

    def install(self) -> TaskHooks:
        global _ACTIVE
        with _INSTALL_LOCK:
            if _ACTIVE is not None and _ACTIVE is not self:
                raise RuntimeError("another TaskHooks is already installed in this process")
            if _ACTIVE is None:
                _PATCHES.apply()
            _ACTIVE = self
        return self

    def uninstall(self) -> None:
        global _ACTIVE
        with _INSTALL_LOCK:
            if _ACTIVE is self:
                _PATCHES.restore()
                _ACTIVE = None

    def __enter__(self) -> TaskHooks:
        return self.install()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.uninstall()


_ACTIVE: TaskHooks | None = None
_INSTALL_LOCK: Final = threading.Lock()
_CURRENT: Final = threading.local()  # the _Attempt being evaluated in this thread


def active_hooks() -> TaskHooks | None:
    return _ACTIVE


# --- one Task attempt -----------------------------------------------------------------------


def _context_of(state: Any, env: Any) -> TaskContext:
    data = env.states.context_object.context_object_data
    return TaskContext(
        state_name=state.name,
        execution_arn=data["Execution"]["Id"],
        execution_name=data["Execution"]["Name"],
        state_machine_arn=data["StateMachine"]["Id"],
        resource=state.resource.resource_arn,
        retry_count=(data.get("State") or {}).get("RetryCount", 0),
    )


class _Attempt:
    """Records one Task attempt and turns errors into moto failure events."""

    def __init__(self, hooks: TaskHooks, state: Any, env: Any, parameters: Any) -> None:
        self.hooks = hooks
        self.state = state
        self.env = env
        self.context = _context_of(state, env)
        self.call = TaskInvocation(
            self.context.state_name,
            self.context.resource,
            self.context.execution_arn,
            self.context.retry_count,
            parameters=copy.deepcopy(parameters),
        )
        hooks._record(self.call)

    def __enter__(self) -> _Attempt:
        _CURRENT.attempt = self
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        _CURRENT.attempt = None
        self.call.ended_at = time.time()

    def raise_injected(self) -> None:
        injection = self.hooks._take_injection(self.context)
        if injection is not None:
            self.call.injected = True
            LOG.info(
                "injecting %s into state %s (%d more)",
                injection.error,
                injection.state_name,
                injection.remaining,
            )
            raise TaskError(
                injection.error,
                injection.cause or f"fault injected by local mode into state {injection.state_name}",
            )

    def succeeded(self, result: Any) -> None:
        self.call.outcome, self.call.result = "succeeded", copy.deepcopy(result)

    def failed(self, error: str | None, cause: str | None) -> None:
        self.call.outcome, self.call.error, self.call.cause = "failed", error, cause

    def failed_with(self, exc: Exception) -> None:
        """Record what moto will report for `exc` (its own error naming, computed the same way)."""
        try:
            failure = self.state._from_error(env=self.env, ex=exc)
            details: dict[str, Any] = next(iter((failure.event_details or {}).values()), {})
            name = failure.error_name.error_name if failure.error_name else details.get("error")
            self.failed(name, details.get("cause"))
        except Exception:  # recording must never change the outcome
            self.failed(type(exc).__name__, str(exc))

    def task_failed(self, exc: TaskError, *, lambda_function: bool = False) -> FailureEventException:
        self.failed(exc.error, exc.cause)
        # EventDetails is a TypedDict with one key set per event: plain dicts are what moto builds.
        details: dict[str, Any]
        if lambda_function:
            event_type = HistoryEventType.LambdaFunctionFailed
            details = {
                "lambdaFunctionFailedEventDetails": LambdaFunctionFailedEventDetails(
                    error=exc.error, cause=exc.cause
                )
            }
        else:
            event_type = HistoryEventType.TaskFailed
            details = {
                "taskFailedEventDetails": TaskFailedEventDetails(
                    error=exc.error,
                    cause=exc.cause,
                    resource=self.state._get_sfn_resource(),
                    resourceType=self.state._get_sfn_resource_type(),
                )
            }
        failure = FailureEvent(
            env=self.env,
            error_name=_error_name(exc.error),
            event_type=event_type,
            event_details=cast(EventDetails, details),
        )
        return FailureEventException(failure)


# --- the patched moto functions ---------------------------------------------------------------


def _service_eval_execution(self: StateTaskService, env: Any) -> None:
    """`StateTaskService._eval_execution` with handler dispatch, injection and recording."""
    hooks = _ACTIVE
    if hooks is None or env.is_mocked_mode():  # moto's own mocked-response mode stays as it is
        _PATCHES.original(StateTaskService, "_eval_execution")(self, env)
        return
    self.resource.eval(env=env)
    runtime_part = env.stack.pop()
    raw_parameters = self._eval_parameters(env=env)
    credentials = self._eval_state_credentials(env=env)
    self._before_eval_execution(
        env=env,
        resource_runtime_part=runtime_part,
        raw_parameters=raw_parameters,
        state_credentials=credentials,
    )
    normalised = copy.deepcopy(raw_parameters)
    self._normalise_parameters(normalised)
    registration = hooks.registration(self.resource.resource_arn)
    with _Attempt(hooks, self, env, raw_parameters) as attempt:
        attempt.call.hooked = registration is not None
        try:
            attempt.raise_injected()
            hooks.authorize(attempt.context, raw_parameters)
            if registration is not None:
                env.stack.append(registration.invoke(copy.deepcopy(raw_parameters), attempt.context))
                # The handler already ran the whole integration pattern: only record success.
                StateTaskService._after_eval_execution(self, env, runtime_part, normalised, credentials)
            else:
                self._eval_service_task(
                    env=env,
                    resource_runtime_part=runtime_part,
                    normalised_parameters=normalised,
                    state_credentials=credentials,
                )
                env.stack[-1] = json_safe(env.stack[-1])
                self._normalise_response(env.stack[-1])
                self._after_eval_execution(
                    env=env,
                    resource_runtime_part=runtime_part,
                    normalised_parameters=normalised,
                    state_credentials=credentials,
                )
        except TaskError as exc:
            raise attempt.task_failed(exc) from exc
        except Exception as exc:
            attempt.failed_with(exc)
            raise
        attempt.succeeded(env.stack[-1])


def _callback_eval_body(self: StateTaskServiceCallback, env: Any) -> None:
    """Skip moto's integration-pattern support check for resources a handler serves."""
    hooks = _ACTIVE
    if hooks is None or hooks.registration(self.resource.resource_arn) is None:
        _PATCHES.original(StateTaskServiceCallback, "_eval_body")(self, env)
        return
    super(StateTaskServiceCallback, self)._eval_body(env)
    env.states.context_object.context_object_data.pop("Task", None)


def _lambda_eval_execution(self: StateTaskLambda, env: Any) -> None:
    """`StateTaskLambda._eval_execution` (function ARN as Resource) with injection and recording."""
    original = _PATCHES.original(StateTaskLambda, "_eval_execution")
    hooks = _ACTIVE
    if hooks is None:
        original(self, env)
        return
    with _Attempt(hooks, self, env, None) as attempt:
        attempt.call.hooked = hooks.lambda_handler(self.resource.resource_arn) is not None
        try:
            attempt.raise_injected()
            hooks.authorize(attempt.context, {})
            original(self, env)
        except TaskError as exc:
            raise attempt.task_failed(exc, lambda_function=True) from exc
        except Exception as exc:
            attempt.failed_with(exc)
            raise
        attempt.succeeded(env.stack[-1])


def _decode_payload(payload: Any) -> Any:
    if isinstance(payload, (bytes, bytearray)):
        payload = payload.decode("utf-8")
    if isinstance(payload, str):
        try:
            return json.loads(payload)
        except json.JSONDecodeError:
            return payload
    return payload


def _invoke_lambda_function(
    parameters: dict[str, Any], region: str, state_credentials: Any
) -> dict[str, Any]:
    """moto's Lambda invocation, served in process for functions registered with the hooks."""
    hooks = _ACTIVE
    event = _decode_payload(parameters.get("Payload"))
    attempt: _Attempt | None = getattr(_CURRENT, "attempt", None)
    if attempt is not None and attempt.call.parameters is None:
        attempt.call.parameters = copy.deepcopy(event)  # a function ARN as Resource: record the event
    function = str(parameters.get("FunctionName", ""))
    handler = hooks.lambda_handler(function) if hooks else None
    if handler is None:
        return _PATCHES.original(lambda_eval_utils, "_invoke_lambda_function")(
            parameters, region, state_credentials
        )
    context = attempt.context if attempt else TaskContext("", "", "", "", function, 0)
    response: dict[str, Any] = {"StatusCode": 200, "ExecutedVersion": "$LATEST"}
    try:
        response["Payload"] = json_safe(handler(event, context))
    except Exception as exc:
        LOG.info("Lambda %s raised %s", function, type(exc).__name__, exc_info=True)
        response.update(FunctionError="Unhandled", Payload=lambda_error_payload(exc))
    return response


def _wait_eval_body(self: WaitFunction, env: Any) -> None:
    """A Wait state, capped to `wait_cap_seconds` when the hooks ask for it."""
    hooks = _ACTIVE
    seconds = self._get_wait_seconds(env=env)
    data = env.states.context_object.context_object_data
    state_name = (data.get("State") or {}).get("Name", "")
    cap = hooks.wait_cap_seconds if hooks else None
    if cap is None or seconds <= cap:
        self._wait_interval(env=env, wait_seconds=seconds)
        waited = float(seconds)
    else:
        LOG.info("Wait state %s shortened from %ss to %ss (local mode)", state_name, seconds, cap)
        if cap > 0:
            env.program_state_event.wait(cap)
        waited = cap
    if hooks is not None:
        hooks._record_wait(WaitRecord(state_name, data["Execution"]["Id"], float(seconds), waited))


def _send_task_failure(self: StepFunctionResponse) -> Any:
    """SendTaskFailure with its `cause` (moto's response handler passes only `error`)."""
    # The interpreter's backend (execute_state_machine): its send_task_failure takes the cause.
    backend: Any = self.stepfunction_backend
    backend.send_task_failure(
        self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
    )
    return EmptyResult()


class _CappedClock:
    """Stands in for the `time` module inside moto's retrier to cap Retry intervals."""

    def sleep(self, seconds: float) -> None:
        hooks = _ACTIVE
        cap = hooks.retry_interval_cap_seconds if hooks else None
        if cap is not None and seconds > cap:
            LOG.info("Retry interval shortened from %ss to %ss (local mode)", seconds, cap)
            seconds = cap
        time.sleep(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


_CLIENTS: dict[tuple[str, str, str], Any] = {}
_CLIENTS_LOCK: Final = threading.Lock()
_ORIGINAL_BOTO_CLIENT_FOR: Final = boto_client_module.boto_client_for


def _cached_boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
    key = (region, service, os.environ.get("MOTO_PORT", ""))
    with _CLIENTS_LOCK:
        if key not in _CLIENTS:
            _CLIENTS[key] = _ORIGINAL_BOTO_CLIENT_FOR(
                region=region, service=service, state_credentials=state_credentials
            )
        return _CLIENTS[key]


# --- applying and undoing the patches ---------------------------------------------------------


def _subclasses(cls: type) -> list[type]:
    found: list[type] = []
    subclasses: list[type] = cls.__subclasses__()
    for sub in subclasses:
        found += [sub, *_subclasses(sub)]
    return found


def _passing_failure_events(original: Callable[..., Any]) -> Callable[..., Any]:
    def _from_error(self: Any, env: Any, ex: Exception) -> Any:
        if isinstance(ex, FailureEventException):
            return ex.failure_event
        return original(self, env=env, ex=ex)

    return _from_error


class _Patches:
    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any, bool]] = []
        self._originals: dict[tuple[int, str], Any] = {}
        self._saved_levels: dict[str, int] = {}

    def _set(self, owner: Any, name: str, value: Any) -> None:
        had_own = name in vars(owner)
        old = vars(owner)[name] if had_own else getattr(owner, name)
        self._saved.append((owner, name, old, had_own))
        self._originals.setdefault((id(owner), name), old)
        setattr(owner, name, value)

    def original(self, owner: Any, name: str) -> Any:
        return self._originals.get((id(owner), name)) or getattr(owner, name)

    def apply(self) -> None:
        self._quiet_loggers()
        self._set(StateTaskService, "_eval_execution", _service_eval_execution)
        self._set(StateTaskServiceCallback, "_eval_body", _callback_eval_body)
        self._set(StateTaskLambda, "_eval_execution", _lambda_eval_execution)
        self._set(lambda_eval_utils, "_invoke_lambda_function", _invoke_lambda_function)
        self._set(WaitFunction, "_eval_body", _wait_eval_body)
        self._set(StepFunctionResponse, "send_task_failure", _send_task_failure)
        for task_class in {c for c in _subclasses(StateTask) if "_from_error" in vars(c)}:
            self._set(task_class, "_from_error", _passing_failure_events(vars(task_class)["_from_error"]))
        self._set(retrier_decl, "time", _CappedClock())
        self._set(state_fail, "CustomErrorName", _error_name)
        self._set(branches_decl, "CustomErrorName", _branch_error_name)
        for module in [
            m
            for name, m in list(sys.modules.items())
            if name.startswith("moto.stepfunctions.parser") and m is not None
        ]:
            if getattr(module, "boto_client_for", None) is _ORIGINAL_BOTO_CLIENT_FOR:
                self._set(module, "boto_client_for", _cached_boto_client_for)
        # aws-sdk resources whose boto3 name differs (`applicationautoscaling`): moto would build
        # a client for a service botocore does not know.
        boto_names = dict(StateTaskService._SERVICE_NAME_SFN_TO_BOTO_OVERRIDES)
        boto_names.update({s: aws_error_names.botocore_service(s) for s in _SDK_BOTO_RENAMED})
        self._set(StateTaskService, "_SERVICE_NAME_SFN_TO_BOTO_OVERRIDES", boto_names)
        names = dict(state_task_service_aws_sdk._SERVICE_ERROR_NAMES)
        names.update({s: aws_error_names.sdk_service_prefix(s) for s in _SDK_SERVICES if s not in names})
        self._set(state_task_service_aws_sdk, "_SERVICE_ERROR_NAMES", names)

    def _quiet_loggers(self) -> None:
        # moto warns that it cannot run SageMaker tasks (the hooks do), and logs every task error
        # at ERROR level even when a Retry or Catch handles it: the execution history and the
        # invocation record say what happened.
        for name, level in _QUIET_LOGGERS.items():
            logger = logging.getLogger(name)
            self._saved_levels[name] = logger.level
            logger.setLevel(level)

    def restore(self) -> None:
        for name, level in self._saved_levels.items():
            logging.getLogger(name).setLevel(level)
        self._saved_levels.clear()
        for owner, name, old, had_own in reversed(self._saved):
            if had_own:
                setattr(owner, name, old)
            else:
                delattr(owner, name)
        self._saved.clear()
        self._originals.clear()
        with _CLIENTS_LOCK:
            _CLIENTS.clear()


# aws-sdk services whose error prefix moto would get wrong (`sagemaker.`): AWS's, from the catalog.
_SDK_SERVICES: Final = (
    "sagemaker",
    "s3",
    "sns",
    "sqs",
    "lambda",
    "ecs",
    "eventbridge",
    "iam",
    "cloudwatch",
    "kms",
    "applicationautoscaling",
)
_SDK_BOTO_RENAMED: Final = ("applicationautoscaling",)

_QUIET_LOGGERS: Final = {
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_unsupported": (
        logging.ERROR
    ),
    "moto.stepfunctions.parser.asl.component.eval_component": logging.CRITICAL,
}
_PATCHES: Final = _Patches()
