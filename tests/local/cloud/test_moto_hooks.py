"""Smoke tests of the hook layer over moto's Step Functions interpreter (pinned moto==5.2.5).

Each test runs a hand-written definition in a real moto fresh_server: if a moto upgrade moves the
private internals `local_mode.cloud.moto_hooks` patches, these fail first.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import moto
import pytest

from local_mode.cloud.moto_hooks import (
    MOTO_VERSION,
    TaskContext,
    TaskError,
    TaskHooks,
    function_name,
    resource_key,
)
from local_mode.cloud.moto_server import MotoServer
from tests.local.conftest import RunDefinition, task

TRAIN = "arn:aws:states:::sagemaker:createTrainingJob.sync"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:plan"
INVOKE = "arn:aws:states:::lambda:invoke"
CATCH_ALL = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}]
CAUGHT = {"Caught": {"Type": "Pass", "End": True}}


def test_pinned_moto_version() -> None:
    assert moto.__version__ == MOTO_VERSION


def test_resource_keys_drop_partition_region_and_account() -> None:
    assert resource_key("arn:aws-cn:states:::sagemaker:createModel") == "sagemaker:createModel"
    assert (
        resource_key("arn:aws:states:::aws-sdk:sagemaker:describeEndpoint")
        == "aws-sdk:sagemaker:describeEndpoint"
    )
    assert resource_key(FUNCTION) == "function:plan"
    assert function_name("arn:aws:lambda:us-east-1:123456789012:function:plan:live") == "plan"
    assert function_name("plan:$LATEST") == "plan"


def test_handler_serves_a_sync_task_with_resolved_parameters(
    task_hooks: TaskHooks, run_definition: RunDefinition
) -> None:
    seen: list[tuple[dict[str, Any], TaskContext]] = []

    def train(params: dict[str, Any], context: TaskContext) -> dict[str, Any]:
        seen.append((params, context))
        return {
            "TrainingJobName": params["TrainingJobName"],
            "TrainingJobStatus": "Completed",
            "CreationTime": datetime(2026, 1, 2, tzinfo=UTC),
        }

    task_hooks.register(TRAIN, train)
    definition = {
        "StartAt": "Train",
        "States": {
            "Train": task(
                TRAIN,
                Parameters={"TrainingJobName.$": "$.name", "RoleArn": "arn:aws:iam::123456789012:role/r"},
                ResultPath="$.train",
            )
        },
    }
    result = run_definition(definition, {"name": "job-1"})

    assert result.status == "SUCCEEDED"
    assert result.output["train"] == {
        "TrainingJobName": "job-1",
        "TrainingJobStatus": "Completed",
        "CreationTime": "2026-01-02T00:00:00+00:00",
    }
    params, context = seen[0]
    assert params == {"TrainingJobName": "job-1", "RoleArn": "arn:aws:iam::123456789012:role/r"}
    assert context.state_name == "Train"
    assert context.execution_arn == result.execution_arn
    [call] = task_hooks.invocations_of("Train")
    assert call.hooked and call.succeeded and call.parameters == params
    assert result.events("TaskSucceeded")


def test_sync_job_that_failed_raises_states_task_failed_caught_by_catch(
    task_hooks: TaskHooks, run_definition: RunDefinition
) -> None:
    task_hooks.register(
        TRAIN, lambda params, ctx: {"TrainingJobStatus": "Failed", "FailureReason": "OOM in epoch 3"}
    )
    definition = {
        "StartAt": "Train",
        "States": {
            "Train": task(
                TRAIN,
                next_state="Done",
                Parameters={"TrainingJobName": "j"},
                Catch=[{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "Caught"}],
            ),
            "Done": {"Type": "Succeed"},
            **CAUGHT,
        },
    }
    result = run_definition(definition)

    assert result.status == "SUCCEEDED"
    assert result.entered_states() == ["Train", "Caught"]
    assert result.output["error"]["Error"] == "States.TaskFailed"
    assert json.loads(result.output["error"]["Cause"])["FailureReason"] == "OOM in epoch 3"


def test_injected_transient_error_is_retried_then_the_handler_runs(
    task_hooks: TaskHooks, run_definition: RunDefinition
) -> None:
    task_hooks.register(
        TRAIN, lambda params, ctx: {"TrainingJobStatus": "Completed", "Attempt": ctx.retry_count}
    )
    task_hooks.inject("Train", error="SageMaker.AmazonSageMakerException", times=2)
    retry = [
        {
            "ErrorEquals": ["SageMaker.AmazonSageMakerException"],
            "IntervalSeconds": 30,
            "MaxAttempts": 3,
            "BackoffRate": 2,
        }
    ]
    definition = {
        "StartAt": "Train",
        "States": {"Train": task(TRAIN, Parameters={}, Retry=retry, Catch=CATCH_ALL), **CAUGHT},
    }
    result = run_definition(definition)

    assert result.status == "SUCCEEDED"
    assert result.output == {"TrainingJobStatus": "Completed", "Attempt": 2}  # retry intervals were capped
    calls = task_hooks.invocations_of("Train")
    assert [(c.injected, c.outcome) for c in calls] == [
        (True, "failed"),
        (True, "failed"),
        (False, "succeeded"),
    ]
    assert calls[0].error == "SageMaker.AmazonSageMakerException"
    assert task_hooks.pending_injections() == []


def test_injected_permanent_error_is_caught(task_hooks: TaskHooks, run_definition: RunDefinition) -> None:
    ran: list[str] = []
    task_hooks.register(TRAIN, lambda params, ctx: ran.append("x"))
    task_hooks.inject("Train", error="SageMaker.AmazonSageMakerException", cause="quota", times=10)
    retry = [{"ErrorEquals": ["SageMaker.AmazonSageMakerException"], "MaxAttempts": 2}]
    definition = {
        "StartAt": "Train",
        "States": {"Train": task(TRAIN, Parameters={}, Retry=retry, Catch=CATCH_ALL), **CAUGHT},
    }
    result = run_definition(definition)

    assert result.entered_states() == ["Train", "Caught"]
    assert result.output["error"] == {"Error": "SageMaker.AmazonSageMakerException", "Cause": "quota"}
    assert ran == []
    assert len(task_hooks.invocations_of("Train")) == 3  # first attempt + MaxAttempts retries


def test_injection_into_a_task_moto_serves_itself(
    task_hooks: TaskHooks, fresh_server: MotoServer, run_definition: RunDefinition
) -> None:
    fresh_server.client("dynamodb").create_table(
        TableName="t",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
    )
    task_hooks.inject("Put", error="DynamoDB.ProvisionedThroughputExceededException")
    retry = [{"ErrorEquals": ["DynamoDB.ProvisionedThroughputExceededException"], "MaxAttempts": 2}]
    definition = {
        "StartAt": "Put",
        "States": {
            "Put": task(
                "arn:aws:states:::dynamodb:putItem",
                Parameters={"TableName": "t", "Item": {"k": {"S": "a"}}},
                Retry=retry,
                ResultPath=None,
            )
        },
    }
    result = run_definition(definition)

    assert result.status == "SUCCEEDED"
    assert [c.outcome for c in task_hooks.invocations_of("Put")] == ["failed", "succeeded"]
    assert not task_hooks.invocations_of("Put")[1].hooked
    assert fresh_server.client("dynamodb").get_item(TableName="t", Key={"k": {"S": "a"}})["Item"]


def test_handler_exception_names(task_hooks: TaskHooks, run_definition: RunDefinition) -> None:
    def fail(params: dict[str, Any], ctx: TaskContext) -> None:
        raise RuntimeError("service down")

    task_hooks.register("arn:aws:states:::sagemaker:createModel", fail)
    task_hooks.register("arn:aws:states:::aws-sdk:sagemaker:describeEndpoint", fail)
    task_hooks.register(
        "arn:aws:states:::sagemaker:createEndpoint",
        lambda p, c: (_ for _ in ()).throw(TaskError("SageMaker.ResourceLimitExceededException", "too many")),
    )
    branches = [
        {
            "StartAt": name,
            "States": {
                name: task(resource, Parameters={}, Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Out"}]),
                "Out": {"Type": "Pass", "End": True},
            },
        }
        for name, resource in (
            ("Model", "arn:aws:states:::sagemaker:createModel"),
            ("Describe", "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint"),
            ("Endpoint", "arn:aws:states:::sagemaker:createEndpoint"),
        )
    ]
    result = run_definition(
        {"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": branches, "End": True}}}
    )

    assert result.status == "SUCCEEDED"
    assert [o["Error"] for o in result.output] == [
        "SageMaker.AmazonSageMakerException",
        "SageMaker.SageMakerException",  # not modelled: the generic name
        "SageMaker.ResourceLimitExceededException",
    ]


@pytest.mark.parametrize("resource", [FUNCTION, INVOKE])
def test_lambda_exception_keeps_its_class_name(
    resource: str, task_hooks: TaskHooks, run_definition: RunDefinition
) -> None:
    def plan(event: Any, context: TaskContext) -> Any:
        if event.get("bad"):
            raise ValueError("attempt must be positive")
        return {"planned": event["n"] + 1, "state": context.state_name}

    task_hooks.register_lambda("plan", plan)
    parameters = (
        {"FunctionName": "plan", "Payload.$": "$"} if resource == INVOKE else {"n.$": "$.n", "bad.$": "$.bad"}
    )
    catch = [{"ErrorEquals": ["ValueError"], "ResultPath": "$.error", "Next": "Caught"}]
    definition = {
        "StartAt": "Plan",
        "States": {"Plan": task(resource, Parameters=parameters, Catch=catch, ResultPath="$.out"), **CAUGHT},
    }
    ok = run_definition(definition, {"n": 1, "bad": False})
    failed = run_definition(definition, {"n": 1, "bad": True})

    payload = ok.output["out"]["Payload"] if resource == INVOKE else ok.output["out"]
    assert payload == {"planned": 2, "state": "Plan"}
    assert failed.entered_states() == ["Plan", "Caught"]
    assert failed.output["error"]["Error"] == "ValueError"
    cause = json.loads(failed.output["error"]["Cause"])
    assert cause["errorType"] == "ValueError" and cause["errorMessage"] == "attempt must be positive"
    assert [c.outcome for c in task_hooks.invocations_of("Plan")] == ["succeeded", "failed"]
    assert task_hooks.invocations_of("Plan")[1].error == "ValueError"


def test_lambda_function_arn_accepts_injection(task_hooks: TaskHooks, run_definition: RunDefinition) -> None:
    task_hooks.register(FUNCTION, lambda event, ctx: "ok")
    task_hooks.inject("Plan", error="Lambda.ServiceException")
    retry = [{"ErrorEquals": ["Lambda.ServiceException"], "MaxAttempts": 2}]
    result = run_definition({"StartAt": "Plan", "States": {"Plan": task(FUNCTION, Retry=retry)}})

    assert result.status == "SUCCEEDED" and result.output == "ok"
    assert [c.injected for c in task_hooks.invocations_of("Plan")] == [True, False]


def test_wait_states_are_shortened_and_recorded(task_hooks: TaskHooks, run_definition: RunDefinition) -> None:
    definition = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 30, "End": True}}}
    result = run_definition(definition, timeout=5)

    assert result.status == "SUCCEEDED"
    [wait] = task_hooks.waits
    assert (wait.state_name, wait.requested_seconds, wait.waited_seconds) == ("Wait", 30.0, 0.05)


def test_no_hooks_means_moto_runs_unchanged(fresh_server: MotoServer, run_definition: RunDefinition) -> None:
    definition = {"StartAt": "Train", "States": {"Train": task(TRAIN, Parameters={})}}
    result = run_definition(definition)
    assert result.status == "FAILED"  # moto itself cannot run SageMaker .sync


def test_aws_sdk_integrations_moto_serves(
    task_hooks: TaskHooks, fresh_server: MotoServer, run_definition: RunDefinition
) -> None:
    ddb = fresh_server.client("dynamodb")
    ddb.create_table(
        TableName="t",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
    )
    fresh_server.client("sagemaker").create_model(
        ModelName="m1",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
        PrimaryContainer={"Image": "img:1"},
    )
    transact = {
        "TransactItems": [
            {"Put": {"TableName": "t", "Item": {"k": {"S": "a"}}}},
            {"Put": {"TableName": "t", "Item": {"k": {"S": "b"}}}},
        ]
    }
    definition = {
        "StartAt": "Tx",
        "States": {
            "Tx": task(
                "arn:aws:states:::aws-sdk:dynamodb:transactWriteItems",
                Parameters=transact,
                ResultPath=None,
                next_state="Describe",
            ),
            "Describe": task(
                "arn:aws:states:::aws-sdk:sagemaker:describeModel",
                Parameters={"ModelName": "m1"},
                ResultPath="$.model",
                next_state="Missing",
            ),
            "Missing": task(
                "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint",
                Parameters={"EndpointName": "no"},
                Catch=CATCH_ALL,
            ),
            **CAUGHT,
        },
    }
    result = run_definition(definition)

    assert result.status == "SUCCEEDED"
    assert ddb.scan(TableName="t")["Count"] == 2
    assert isinstance(result.output["model"]["CreationTime"], str)  # datetimes no longer break moto
    assert (
        result.output["error"]["Error"] == "SageMaker.SageMakerException"
    )  # moto alone: sagemaker.sagemakerException


def test_fail_state_can_rethrow_a_caught_states_error(
    task_hooks: TaskHooks, run_definition: RunDefinition
) -> None:
    task_hooks.register(
        TRAIN, lambda params, ctx: {"TrainingJobStatus": "Failed", "FailureReason": "bad data"}
    )
    catch = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}]
    definition = {
        "StartAt": "Train",
        "States": {
            "Train": task(TRAIN, Parameters={}, Catch=catch),
            "Failed": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"},
        },
    }
    result = run_definition(definition)

    assert result.status == "FAILED"
    assert result.error == "States.TaskFailed"  # moto alone ends this with States.Runtime
    assert "bad data" in (result.cause or "")


def test_one_hooks_instance_at_a_time() -> None:
    with TaskHooks(), pytest.raises(RuntimeError):
        TaskHooks().install()
