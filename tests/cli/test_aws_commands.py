"""Commands against AWS, with botocore Stubbers: the requests they make and what they print."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY

import pipeline_cli.cli as cli
from pipeline_cli.backend import Target, aws_backend
from tests.cli.conftest import OUTPUTS, Invoke, Stubs

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:Training:training-1"
T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
EMPTY_TEMPLATE = json.dumps({"Resources": {}, "Outputs": {}})
NO_AWS_CONFIG = {
    "AWS_ACCESS_KEY_ID": None,
    "AWS_SECRET_ACCESS_KEY": None,
    "AWS_SESSION_TOKEN": None,
    "AWS_PROFILE": None,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": None,
    "AWS_CONTAINER_CREDENTIALS_FULL_URI": None,
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
    "AWS_CONFIG_FILE": "/nonexistent/config",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture
def aws(stubs: Stubs, monkeypatch: pytest.MonkeyPatch) -> Stubs:
    """Commands build their backend the deployed-stack way, from the stubbed clients."""
    monkeypatch.setattr(
        cli, "make_backend", lambda target: aws_backend(target, client_factory=stubs.clients.get)
    )
    return stubs


def _stack_found(stubs: Stubs, stack: str = "TfModelLifecycle") -> None:
    outputs = [{"OutputKey": k, "OutputValue": v} for k, v in OUTPUTS.items()]
    stubs["cloudformation"].add_response(
        "describe_stacks",
        {
            "Stacks": [
                {"StackName": stack, "CreationTime": T0, "StackStatus": "CREATE_COMPLETE", "Outputs": outputs}
            ]
        },
        {"StackName": stack},
    )


def _event(event_id: int, kind: str, details_key: str | None = None, **details: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": event_id,
        "previousEventId": event_id - 1,
        "type": kind,
        "timestamp": T0 + timedelta(seconds=10 * event_id),
    }
    if details_key:
        event[details_key] = details
    return event


def _training_history(finished: bool) -> list[dict[str, Any]]:
    events = [
        _event(1, "ExecutionStarted", "executionStartedEventDetails", input="{}"),
        _event(2, "TaskStateEntered", "stateEnteredEventDetails", name="Train"),
        _event(
            3,
            "TaskScheduled",
            "taskScheduledEventDetails",
            resourceType="sagemaker",
            resource="createTrainingJob.sync",
            region="us-east-1",
            parameters=json.dumps({"TrainingJobName": "job-1"}),
        ),
    ]
    if finished:
        events += [
            _event(4, "TaskSucceeded", "taskSucceededEventDetails", resourceType="sagemaker", resource="x"),
            _event(5, "TaskStateExited", "stateExitedEventDetails", name="Train"),
            _event(6, "SucceedStateEntered", "stateEnteredEventDetails", name="Done"),
            _event(7, "ExecutionSucceeded", "executionSucceededEventDetails", output='{"ok": true}'),
        ]
    return events


def _execution(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "executionArn": EXECUTION,
        "stateMachineArn": OUTPUTS["TrainingWorkflowArn"],
        "status": status,
        "startDate": T0,
        **extra,
    }


def _training_job(status: str, secondary: str, metrics: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "TrainingJobName": "job-1",
        "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/job-1",
        "ModelArtifacts": {"S3ModelArtifacts": "s3://a/m.tar.gz"},
        "TrainingJobStatus": status,
        "SecondaryStatus": secondary,
        "AlgorithmSpecification": {"TrainingInputMode": "File"},
        "ResourceConfig": {"InstanceType": "ml.g5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "CreationTime": T0,
        "FinalMetricDataList": metrics,
    }


# --- stack and credentials -------------------------------------------------------------------------


def test_stack_outputs_come_from_describe_stacks(stubs: Stubs) -> None:
    _stack_found(stubs, "Other")

    backend = aws_backend(Target(stack="Other"), client_factory=stubs.clients.get)

    assert backend.outputs == OUTPUTS
    assert backend.workflow_arn("evaluation") == OUTPUTS["EvaluationWorkflowArn"]
    assert backend.console_url(EXECUTION) == (
        "https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1"
        f"#/v2/executions/details/{EXECUTION}"
    )


def test_missing_stack_is_one_actionable_line(aws: Stubs, invoke: Invoke) -> None:
    aws["cloudformation"].add_client_error(
        "describe_stacks",
        "ValidationError",
        "Stack with id Nope does not exist",
        expected_params={"StackName": "Nope"},
    )

    result = invoke("--stack", "Nope", "models")

    assert result.exit_code == 1
    assert result.stderr == (
        "error: Stack Nope not found in us-east-1: deploy it (npx cdk deploy Nope), "
        "or pass --stack / --region.\n"
    )


def test_no_credentials_is_one_actionable_line(invoke: Invoke) -> None:
    result = invoke("models", env=NO_AWS_CONFIG)

    assert result.exit_code == 1
    assert result.stderr.startswith("error: No AWS credentials found: run `aws configure`")
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.output


def test_no_region_is_one_actionable_line(invoke: Invoke) -> None:
    result = invoke("models", env={**NO_AWS_CONFIG, "AWS_DEFAULT_REGION": None, "AWS_REGION": None})

    assert result.exit_code == 1
    assert result.stderr.startswith("error: No AWS region: pass --region")


def test_other_aws_errors_name_the_call(aws: Stubs, invoke: Invoke) -> None:
    aws["cloudformation"].add_client_error("describe_stacks", "ExpiredToken", "The security token expired")

    result = invoke("models")

    assert result.exit_code == 1
    assert (
        result.stderr
        == "error: AWS rejected your credentials (ExpiredToken): refresh them (e.g. `aws sso login`).\n"
    )


# --- start -----------------------------------------------------------------------------------------


def test_start_sends_the_input_and_prints_the_arn_and_console_link(
    aws: Stubs, invoke: Invoke, tmp_path: Path
) -> None:
    _stack_found(aws)
    aws["cloudformation"].add_response("get_template", {"TemplateBody": EMPTY_TEMPLATE})
    input_file = tmp_path / "input.json"
    input_file.write_text(json.dumps({"hyperparameters": {"epochs": 30}, "reason": "from a file"}))
    sent = {"hyperparameters": {"epochs": 3, "learning-rate": 0.001}, "reason": "from a file"}
    aws["stepfunctions"].add_response(
        "start_execution",
        {"executionArn": EXECUTION, "startDate": T0},
        {"stateMachineArn": OUTPUTS["TrainingWorkflowArn"], "name": ANY, "input": json.dumps(sent)},
    )

    result = invoke(
        "start",
        "--input",
        str(input_file),
        "--set",
        "hyperparameters.epochs=3",
        "-s",
        "hyperparameters.learning-rate=1e-3",
    )

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"started {EXECUTION}",
        f"https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/{EXECUTION}",
    ]


def test_start_checks_the_shape_when_the_stack_defaults_are_unknown(aws: Stubs, invoke: Invoke) -> None:
    _stack_found(aws)
    aws["cloudformation"].add_response("get_template", {"TemplateBody": EMPTY_TEMPLATE})

    result = invoke("start", "--set", 'hyperparameters.epochs="many"', "--set", "tuning.enabled=1")

    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert "hyperparameters.epochs: 'many' is not of type 'integer'" in line
    assert "tuning.enabled: 1 is not of type 'boolean'" in line


def test_start_with_a_taken_name(aws: Stubs, invoke: Invoke) -> None:
    _stack_found(aws)
    aws["cloudformation"].add_response("get_template", {"TemplateBody": EMPTY_TEMPLATE})
    aws["stepfunctions"].add_client_error(
        "start_execution", "ExecutionAlreadyExists", "Execution Already Exists"
    )

    result = invoke("start", "--name", "nightly")

    assert result.exit_code == 2
    assert result.stderr == "error: An execution named nightly already exists: choose another --name.\n"


# --- watch -----------------------------------------------------------------------------------------


def _history_page(events: list[dict[str, Any]]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    return "get_execution_history", {"events": events}, {"executionArn": EXECUTION, "maxResults": 1000}


def test_watch_polls_until_the_end_with_the_training_jobs_status(aws: Stubs, invoke: Invoke) -> None:
    _stack_found(aws)
    sfn, sagemaker = aws["stepfunctions"], aws["sagemaker"]
    sfn.add_response("describe_execution", _execution("RUNNING"), {"executionArn": EXECUTION})
    sfn.add_response(*_history_page(_training_history(finished=False)))
    sagemaker.add_response("describe_training_job", _training_job("InProgress", "Training", []))
    sfn.add_response(
        "describe_execution",
        _execution("SUCCEEDED", stopDate=T0 + timedelta(seconds=70), output='{"ok": true}'),
    )
    sfn.add_response(*_history_page(_training_history(finished=True)))
    metrics = [{"MetricName": "val_accuracy", "Value": 0.97, "Timestamp": T0}]
    sagemaker.add_response("describe_training_job", _training_job("Completed", "Completed", metrics))

    result = invoke("watch", EXECUTION, "--interval", "0")

    assert result.exit_code == 0, result.output
    assert re.search(
        r"│ 1 │ Train\s+│ Task\s+│ ✓ succeeded .* 30.0s\s+│ training job job-1 Completed/Completed "
        r"val_accuracy=0.97",
        result.stdout,
    )
    assert re.search(r"│ 2 │ Done\s+│ Succeed\s+│ ✓ succeeded .* 10.0s", result.stdout)  # ended with the run
    assert 'SUCCEEDED  output: {"ok": true}' in result.stdout


def test_watch_exits_non_zero_with_the_error_and_cause(aws: Stubs, invoke: Invoke) -> None:
    _stack_found(aws)
    cause = "ClientError: AlgorithmError: out of memory"
    aws["stepfunctions"].add_response(
        "describe_execution", _execution("FAILED", error="States.TaskFailed", cause=cause, stopDate=T0)
    )
    aws["stepfunctions"].add_response(*_history_page(_training_history(finished=False)))
    aws["sagemaker"].add_client_error(
        "describe_training_job", "ValidationException", "Requested resource not found"
    )

    result = invoke("watch", EXECUTION)

    assert result.exit_code == 1
    assert "FAILED  error: States.TaskFailed" in result.stdout
    assert f"cause: {cause}" in result.stdout
    assert re.search(r"│ Train\s+│ Task\s+│ ✗ failed", result.stdout)


def test_watch_gives_up_after_its_timeout(aws: Stubs, invoke: Invoke) -> None:
    _stack_found(aws)
    aws["stepfunctions"].add_response("describe_execution", _execution("RUNNING"))
    aws["stepfunctions"].add_response(*_history_page([]))

    result = invoke("watch", EXECUTION, "--timeout", "0")

    assert result.exit_code == 1
    assert result.stderr == f"error: {EXECUTION} is still running after 0.0s: watch it again later.\n"


def test_watch_of_an_unknown_execution(aws: Stubs, invoke: Invoke) -> None:
    _stack_found(aws)
    aws["stepfunctions"].add_client_error(
        "describe_execution", "ExecutionDoesNotExist", "Execution Does Not Exist"
    )

    result = invoke("watch", EXECUTION)

    assert result.exit_code == 1
    assert (
        result.stderr == f"error: Execution {EXECUTION} not found: check the ARN, and --region / --local.\n"
    )
