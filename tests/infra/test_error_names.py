"""Every Retry and Catch of both workflows names errors their state can actually fail with.

A name AWS never emits (`DynamoDB.RequestLimitExceeded`, `StepFunctions.SfnException`) matches
nothing, so the fault it was meant for skips its retries. The names each integration can emit
come from one catalog, pipeline_constructs/aws_error_names.py (botocore's models + the Step
Functions guide).
"""

from __future__ import annotations

from typing import Any

import pytest

from pipeline_cli.definitions import all_states, definition_by_workflow
from pipeline_constructs import aws_error_names as names


def emittable(state: dict[str, Any]) -> frozenset[str]:
    """What a Task, Parallel or Map state can fail with (errors its branches do not catch included)."""
    if state["Type"] == "Task":
        return names.task_error_names(str(state["Resource"]))
    inner: set[str] = set(names.CATCHABLE_STATES_ERRORS)
    branches = [*state.get("Branches", [])]
    branches += [state[k] for k in ("Iterator", "ItemProcessor") if k in state]
    for branch in branches:
        for child in all_states(branch).values():
            if child["Type"] in {"Task", "Parallel", "Map"}:
                inner |= emittable(child)
            if child["Type"] == "Fail" and "Error" in child:
                inner.add(child["Error"])
    return frozenset(inner)


def unknown_error_names(definition: dict[str, Any]) -> list[str]:
    """`state: name` for every ErrorEquals name the state cannot fail with."""
    problems: list[str] = []
    for name, state in all_states(definition).items():
        if state["Type"] not in {"Task", "Parallel", "Map"}:
            continue
        allowed = emittable(state)
        for rule in [*state.get("Retry", []), *state.get("Catch", [])]:
            problems.extend(f"{name}: {error}" for error in rule["ErrorEquals"] if error not in allowed)
    return problems


@pytest.mark.parametrize("workflow", ["training", "evaluation"])
def test_every_error_equals_names_an_error_the_state_can_emit(
    template_json: dict[str, Any], workflow: str
) -> None:
    assert unknown_error_names(definition_by_workflow(template_json, workflow)) == []


def test_the_check_rejects_names_aws_never_emits() -> None:
    definition = {
        "StartAt": "Put",
        "States": {
            "Put": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:putItem",
                "Retry": [{"ErrorEquals": ["DynamoDB.RequestLimitExceeded", "DynamoDB.ThrottlingException"]}],
                "End": True,
            },
            "Start": {
                "Type": "Task",
                "Resource": "arn:aws:states:::states:startExecution.sync:2",
                "Retry": [{"ErrorEquals": ["StepFunctions.SfnException", "States.Runtime"]}],
                "End": True,
            },
        },
    }
    assert unknown_error_names(definition) == [
        "Put: DynamoDB.RequestLimitExceeded",
        "Start: StepFunctions.SfnException",
        "Start: States.Runtime",
    ]


@pytest.mark.parametrize(
    ("resource", "name"),
    [
        ("arn:aws:states:::dynamodb:putItem", "DynamoDB.ConditionalCheckFailedException"),
        ("arn:aws:states:::dynamodb:updateItem", "DynamoDB.AmazonDynamoDBException"),
        ("arn:aws:states:::dynamodb:updateItem", "DynamoDB.RequestLimitExceededException"),
        ("arn:aws:states:::sagemaker:createTrainingJob.sync", "SageMaker.AmazonSageMakerException"),
        ("arn:aws:states:::sagemaker:createModel", "SageMaker.ResourceLimitExceededException"),
        ("arn:aws:states:::sns:publish", "SNS.AmazonSNSException"),
        ("arn:aws:states:::states:startExecution.sync:2", "StepFunctions.AWSStepFunctionsException"),
        ("arn:aws:states:::states:startExecution.sync:2", "StepFunctions.ExecutionLimitExceededException"),
        ("arn:aws:states:::lambda:invoke", "Lambda.SdkClientException"),
        ("arn:aws:states:::lambda:invoke", "Lambda.TooManyRequestsException"),
        ("arn:aws:states:::lambda:invoke", "InvalidExecutionInput"),
        ("arn:aws:states:::aws-sdk:dynamodb:query", "DynamoDb.DynamoDbException"),
        ("arn:aws:states:::aws-sdk:dynamodb:query", "DynamoDb.InternalServerErrorException"),
        ("arn:aws:states:::aws-sdk:sagemaker:updateEndpoint", "SageMaker.ResourceLimitExceededException"),
        ("arn:aws:states:::aws-sdk:sagemaker:updateEndpoint", "SageMaker.SageMakerException"),
        ("arn:aws:states:::aws-sdk:sfn:startExecution", "Sfn.ExecutionLimitExceededException"),
        ("arn:aws:states:::aws-sdk:s3:createBucket", "S3.BucketAlreadyExistsException"),
        ("arn:aws:states:::aws-sdk:acmpca:deleteCertificateAuthority", "AcmPca.ResourceNotFoundException"),
        ("arn:aws:states:::sns:publish", "States.TaskFailed"),
    ],
)
def test_the_catalog_holds_the_names_aws_documents(resource: str, name: str) -> None:
    assert name in names.task_error_names(resource)


@pytest.mark.parametrize(
    ("resource", "name"),
    [
        ("arn:aws:states:::dynamodb:putItem", "DynamoDb.ThrottlingException"),  # aws-sdk spelling
        ("arn:aws:states:::aws-sdk:dynamodb:query", "DynamoDB.ThrottlingException"),  # optimized spelling
        ("arn:aws:states:::aws-sdk:sfn:startExecution", "StepFunctions.SfnException"),
        ("arn:aws:states:::sagemaker:createModel", "SageMaker.SageMakerException"),
        ("arn:aws:states:::sagemaker:createModel", "States.Runtime"),  # exists, but cannot be caught
        ("arn:aws:states:::sagemaker:createModel", "States.DataLimitExceeded"),  # terminal too
    ],
)
def test_the_catalog_refuses_names_aws_never_emits(resource: str, name: str) -> None:
    assert name not in names.task_error_names(resource)
