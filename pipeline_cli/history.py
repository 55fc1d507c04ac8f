"""An execution's history as the states it went through: one `Visit` per state entered.

Pure functions over GetExecutionHistory events, shared by `watch` (live table), `graph`
(colours) and `costs` (which jobs ran).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from pipeline_cli.errors import CliError, error_code

RUNNING: Final = "RUNNING"
SUCCEEDED: Final = "SUCCEEDED"

# A state's outcome, as the console colours it.
OK: Final = "succeeded"
FAILED: Final = "failed"
CAUGHT: Final = "caught"  # an error handled by Catch: the state exited, the execution went on
IN_PROGRESS: Final = "running"
NOT_RUN: Final = "not run"
_PRECEDENCE: Final = (FAILED, IN_PROGRESS, CAUGHT, OK)

# SageMaker jobs a workflow creates: API verb → (kind, name parameter).
JOB_KINDS: Final = {
    "createTrainingJob": ("training", "TrainingJobName"),
    "createProcessingJob": ("processing", "ProcessingJobName"),
    "createTransformJob": ("transform", "TransformJobName"),
    "createHyperParameterTuningJob": ("tuning", "HyperParameterTuningJobName"),
}
ENDPOINT_DEPLOYS: Final = ("createEndpoint", "updateEndpoint")


@dataclass
class Visit:
    """One entry into a state, and what happened until it was left."""

    name: str
    state_type: str
    entered: datetime
    exited: datetime | None = None
    resource: str | None = None  # "sagemaker:createTrainingJob.sync", "lambda", ...
    parameters: dict[str, Any] = field(default_factory=dict)
    output: Any = None  # the task's own result (before ResultSelector)
    error: str | None = None  # the last failure, cleared when a retry succeeds
    cause: str | None = None
    retries: int = 0

    @property
    def operation(self) -> str:
        """`createTrainingJob` for `sagemaker:createTrainingJob.sync`."""
        return (self.resource or "").split(":")[-1].split(".")[0]

    @property
    def service(self) -> str:
        return (self.resource or "").split(":")[0] if self.resource else ""

    def job(self) -> tuple[str, str] | None:
        """(kind, name) of the SageMaker job this state created, if any."""
        if "sagemaker" not in (self.resource or "") or self.operation not in JOB_KINDS:
            return None
        kind, key = JOB_KINDS[self.operation]
        name = self.parameters.get(key)
        return (kind, str(name)) if name else None

    def elapsed(self, now: datetime) -> float:
        return ((self.exited or now) - self.entered).total_seconds()


@dataclass
class ExecutionView:
    """DescribeExecution plus the visits its history records."""

    arn: str
    state_machine_arn: str
    status: str
    started: datetime
    stopped: datetime | None
    visits: list[Visit]
    error: str | None = None
    cause: str | None = None
    output: str | None = None

    @property
    def running(self) -> bool:
        return self.status == RUNNING

    @property
    def failed(self) -> bool:
        return self.status not in (RUNNING, SUCCEEDED)

    def outcome(self, visit: Visit) -> str:
        if visit.state_type == "Fail":
            return FAILED
        if visit.exited is None:
            if self.running:
                return IN_PROGRESS
            return OK if self.status == SUCCEEDED else FAILED
        return CAUGHT if visit.error else OK

    def outcomes(self) -> dict[str, str]:
        """State name → its worst outcome over all its visits (a state not in here did not run)."""
        found: dict[str, str] = {}
        for visit in self.visits:
            outcome = self.outcome(visit)
            previous = found.get(visit.name)
            if previous is None or _PRECEDENCE.index(outcome) < _PRECEDENCE.index(previous):
                found[visit.name] = outcome
        return found

    def current(self) -> list[Visit]:
        return [v for v in self.visits if self.outcome(v) == IN_PROGRESS]


def _details(event: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def visits_from_history(events: Iterable[Mapping[str, Any]]) -> list[Visit]:
    """Visits in the order states were entered; task events belong to the visit they follow."""
    visits: list[Visit] = []
    owner: dict[int, Visit] = {}  # event id → the visit it belongs to
    for event in sorted(events, key=lambda e: int(e["id"])):
        kind = str(event["type"])
        details = _details(event)
        visit = owner.get(int(event.get("previousEventId") or 0))
        if kind.endswith("StateEntered"):
            visit = Visit(details["name"], kind.removesuffix("StateEntered"), event["timestamp"])
            visits.append(visit)
        elif kind.endswith("StateExited"):
            # Matched by name: the previous event of an exit can be a branch's last event.
            visit = next((v for v in reversed(visits) if v.name == details["name"] and not v.exited), visit)
            if visit is not None:
                visit.exited = event["timestamp"]
        elif visit is not None and not kind.startswith("Execution"):
            _apply(visit, kind, details)
        if visit is not None:
            owner[int(event["id"])] = visit
    return visits


def _apply(visit: Visit, kind: str, details: Mapping[str, Any]) -> None:
    if kind in ("TaskScheduled", "LambdaFunctionScheduled"):
        if visit.error:  # scheduled again after a failure: a retry
            visit.retries += 1
        resource_type = details.get("resourceType", "lambda")
        resource = details.get("resource", "")
        visit.resource = "lambda" if kind.startswith("Lambda") else f"{resource_type}:{resource}"
        visit.parameters = _json(details.get("parameters") or details.get("input")) or {}
        if not isinstance(visit.parameters, dict):
            visit.parameters = {}
    elif kind.endswith("Succeeded"):
        visit.error = visit.cause = None
        visit.output = _json(details.get("output"))
    elif kind.endswith(("Failed", "TimedOut")):
        visit.error = details.get("error") or kind
        visit.cause = details.get("cause")


# --- reading it from Step Functions ---------------------------------------------------------------


def execution_not_found(arn: str) -> CliError:
    return CliError(f"Execution {arn} not found: check the ARN, and --region / --local.")


def describe_execution(sfn: BaseClient, arn: str) -> dict[str, Any]:
    try:
        return dict(sfn.describe_execution(executionArn=arn))
    except ClientError as error:
        if error_code(error) in ("ExecutionDoesNotExist", "InvalidArn"):
            raise execution_not_found(arn) from None
        raise


def history_events(sfn: BaseClient, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
    while True:
        try:
            page = sfn.get_execution_history(**kwargs)
        except ClientError as error:
            if error_code(error) in ("ExecutionDoesNotExist", "InvalidArn"):
                raise execution_not_found(arn) from None
            raise
        events += page["events"]
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def load_execution(sfn: BaseClient, arn: str) -> ExecutionView:
    description = describe_execution(sfn, arn)
    return ExecutionView(
        arn=arn,
        state_machine_arn=str(description.get("stateMachineArn", "")),
        status=str(description["status"]),
        started=description.get("startDate") or datetime.now(UTC),
        stopped=description.get("stopDate"),
        visits=visits_from_history(history_events(sfn, arn)),
        error=description.get("error"),
        cause=description.get("cause"),
        output=description.get("output"),
    )
