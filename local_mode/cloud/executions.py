"""Step Functions executions and SNS notifications as LocalCloud reports them."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.client import BaseClient

from local_mode.cloud.moto_hooks import TaskContext, TaskError


@dataclass(frozen=True)
class ExecutionResult:
    """A finished (or timed-out) execution: DescribeExecution and the full history."""

    execution_arn: str
    description: Mapping[str, Any]
    history: list[dict[str, Any]]

    @property
    def status(self) -> str:
        return str(self.description.get("status"))

    @property
    def output(self) -> Any:
        raw = self.description.get("output")
        if not isinstance(raw, str):
            return None
        try:
            return json.loads(raw)
        except json.JSONDecodeError:  # moto reports a string output without its JSON quotes
            return raw

    @property
    def error(self) -> str | None:
        return self.description.get("error")

    @property
    def cause(self) -> str | None:
        return self.description.get("cause")

    def events(self, *types: str) -> list[dict[str, Any]]:
        return [e for e in self.history if not types or e.get("type") in types]

    def entered_states(self) -> list[str]:
        """Names of the states entered, in order (repeats included)."""
        return [e[key]["name"] for e in self.history for key in e if key == "stateEnteredEventDetails"]


def execution_history(sfn: BaseClient, execution_arn: str) -> list[dict[str, Any]]:
    """Every history event of an execution, oldest first."""
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events += page["events"]
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def wait_for_execution(
    sfn: BaseClient, execution_arn: str, timeout: float = 120.0, poll: float = 0.05
) -> ExecutionResult:
    """Wait until an execution ends; on timeout stop it and raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        description = sfn.describe_execution(executionArn=execution_arn)
        if description["status"] != "RUNNING":
            return ExecutionResult(execution_arn, description, execution_history(sfn, execution_arn))
        if time.monotonic() > deadline:
            sfn.stop_execution(
                executionArn=execution_arn, error="LocalMode.Timeout", cause=f"no result within {timeout}s"
            )
            entered = ExecutionResult(
                execution_arn, description, execution_history(sfn, execution_arn)
            ).entered_states()
            raise TimeoutError(f"{execution_arn} still running after {timeout}s; states entered: {entered}")
        time.sleep(poll)


@dataclass(frozen=True)
class Notification:
    """One message published to an SNS topic of the stack."""

    topic_arn: str
    message: str
    subject: str | None
    attributes: Mapping[str, Any]

    @property
    def json(self) -> Any:
        """The message parsed as JSON (None when it is not JSON)."""
        try:
            return json.loads(self.message)
        except json.JSONDecodeError:
            return None


def epoch_millis(value: Any) -> Any:
    """A datetime as epoch milliseconds, as Step Functions' integrations return dates."""
    return int(value.timestamp() * 1000) if hasattr(value, "timestamp") else value


def _sync_execution_result(description: Mapping[str, Any], parse: bool) -> dict[str, Any]:
    """DescribeExecution as the `.sync` integration returns it: PascalCase, dates in epoch ms."""
    result = {
        key[:1].upper() + key[1:]: epoch_millis(value)
        for key, value in description.items()
        if key != "ResponseMetadata"
    }
    if parse:
        for key in ("Input", "Output"):
            if isinstance(result.get(key), str):
                result[key] = json.loads(result[key])
    return result


def notification_from_message(topic_arn: str, body: str) -> Notification:
    """A message of a topic's SQS queue (the SNS envelope) as a Notification."""
    envelope = json.loads(body)
    return Notification(
        topic_arn=envelope.get("TopicArn", topic_arn),
        message=envelope.get("Message", body),
        subject=envelope.get("Subject"),
        attributes={k: v.get("Value") for k, v in envelope.get("MessageAttributes", {}).items()},
    )


def await_child_execution(
    sfn: BaseClient, execution_arn: str, parent: TaskContext, parse: bool
) -> dict[str, Any]:
    """Wait for a nested execution as `states:startExecution.sync` does; stop it if the parent ends."""
    while True:
        child = sfn.describe_execution(executionArn=execution_arn)
        if child["status"] != "RUNNING":
            break
        if sfn.describe_execution(executionArn=parent.execution_arn)["status"] != "RUNNING":
            sfn.stop_execution(executionArn=execution_arn, cause="parent execution ended")
            raise TaskError("States.TaskFailed", f"parent {parent.execution_arn} ended")
        time.sleep(0.05)
    result = _sync_execution_result(child, parse)
    if child["status"] != "SUCCEEDED":
        raise TaskError("States.TaskFailed", json.dumps(result, separators=(",", ":")))
    return result
