"""Fixtures for local mode: one moto server per module, task hooks per test, definition runners."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from local_mode.cloud.executions import ExecutionResult, wait_for_execution
from local_mode.cloud.moto_hooks import TaskHooks
from local_mode.cloud.moto_server import MotoServer

ROLE_ARN = "arn:aws:iam::123456789012:role/local-test"

RunDefinition = Callable[..., ExecutionResult]


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def fresh_server(moto_server: MotoServer) -> MotoServer:
    moto_server.reset()
    return moto_server


@pytest.fixture
def task_hooks() -> Iterator[TaskHooks]:
    with TaskHooks(wait_cap_seconds=0.05, retry_interval_cap_seconds=0.01) as installed:
        yield installed


@pytest.fixture
def run_definition(fresh_server: MotoServer) -> RunDefinition:
    """Create a state machine from a hand-written definition, run one named execution, wait."""

    def run(
        definition: Mapping[str, Any], input: Mapping[str, Any] | None = None, timeout: float = 20.0
    ) -> ExecutionResult:
        sfn = fresh_server.client("stepfunctions")
        machine = sfn.create_state_machine(
            name=f"m-{uuid.uuid4().hex[:12]}", definition=json.dumps(definition), roleArn=ROLE_ARN
        )["stateMachineArn"]
        execution = sfn.start_execution(
            stateMachineArn=machine, name=f"e-{uuid.uuid4().hex[:12]}", input=json.dumps(input or {})
        )["executionArn"]
        return wait_for_execution(sfn, execution, timeout=timeout)

    return run


def task(resource: str, *, next_state: str | None = None, **fields: Any) -> dict[str, Any]:
    """A Task state (ends the machine unless `next_state` is given)."""
    state: dict[str, Any] = {"Type": "Task", "Resource": resource, **fields}
    if next_state:
        state["Next"] = next_state
    else:
        state["End"] = True
    return state
