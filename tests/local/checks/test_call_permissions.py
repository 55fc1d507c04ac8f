"""Each botocore operation mapped to the IAM actions and resources AWS authorizes (call_permissions)."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest

from local_mode.checks.call_permissions import OPERATIONS, Call, UnmappedOperation, iam_prefix, service_prefix
from local_mode.checks.role_access import S3_OPERATIONS

ACCOUNT = "123456789012"
REGION = "us-east-1"
TABLE = "role-calls-registry"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/EvaluatePredictionsRole"
FUNCTION = "evaluate-predictions"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION}"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}"


def call(service: str, operation: str, **params: Any) -> Call:
    prefix = iam_prefix(botocore.session.get_session().get_service_model(service))
    return Call(service, operation, params, prefix, REGION, ACCOUNT)


def needs(service: str, operation: str, **params: Any) -> list[tuple[str, str]]:
    return [
        (n.action, n.resource) for n in OPERATIONS[service][operation](call(service, operation, **params))
    ]


def test_every_mapped_operation_is_one_of_the_services_api() -> None:
    session = botocore.session.get_session()
    for service, operations in OPERATIONS.items():
        model = session.get_service_model(service)
        assert set(operations) <= set(model.operation_names), service
    assert set(session.get_service_model("s3").operation_names) >= S3_OPERATIONS


def test_iam_prefix_is_the_services_signing_name() -> None:
    session = botocore.session.get_session()
    prefixes = {s: iam_prefix(session.get_service_model(s)) for s in OPERATIONS}
    assert prefixes == {
        "dynamodb": "dynamodb",
        "sagemaker": "sagemaker",
        "sagemaker-runtime": "sagemaker",
        "stepfunctions": "states",
        "sns": "sns",
        "kms": "kms",
        "lambda": "lambda",
        "sts": "sts",
        "s3": "s3",
    }


def test_dynamodb_resources_are_the_table_or_its_index() -> None:
    assert needs("dynamodb", "GetItem", TableName=TABLE, Key={}) == [("dynamodb:GetItem", TABLE_ARN)]
    assert needs("dynamodb", "Query", TableName=TABLE, IndexName="by-status") == [
        ("dynamodb:Query", f"{TABLE_ARN}/index/by-status")
    ]
    assert needs("dynamodb", "Query", TableName=TABLE_ARN) == [("dynamodb:Query", TABLE_ARN)]
    assert needs("dynamodb", "BatchGetItem", RequestItems={TABLE: {}, "other": {}}) == [
        ("dynamodb:BatchGetItem", TABLE_ARN),
        ("dynamodb:BatchGetItem", TABLE_ARN.replace(TABLE, "other")),
    ]


def test_dynamodb_transactions_are_authorized_per_item_action() -> None:
    items = [
        {"Update": {"TableName": TABLE, "Key": {}}},
        {"Put": {"TableName": TABLE, "Item": {}}},
        {"ConditionCheck": {"TableName": TABLE, "Key": {}}},
        {"Delete": {"TableName": TABLE, "Key": {}}},
    ]
    assert [a for a, _ in needs("dynamodb", "TransactWriteItems", TransactItems=items)] == [
        "dynamodb:UpdateItem",
        "dynamodb:PutItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:DeleteItem",
    ]
    assert needs("dynamodb", "TransactGetItems", TransactItems=[{"Get": {"TableName": TABLE}}]) == [
        ("dynamodb:GetItem", TABLE_ARN)
    ]


def test_sagemaker_names_are_lowercased_and_a_passed_role_needs_pass_role() -> None:
    assert needs("sagemaker", "CreateModel", ModelName="Mnist-CNN", ExecutionRoleArn=ROLE) == [
        ("sagemaker:CreateModel", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/mnist-cnn"),
        ("iam:PassRole", ROLE),
    ]
    assert needs("sagemaker", "DescribeEndpoint", EndpointName="Live") == [
        ("sagemaker:DescribeEndpoint", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/live")
    ]
    assert needs("sagemaker-runtime", "InvokeEndpoint", EndpointName="Live", Body=b"") == [
        ("sagemaker:InvokeEndpoint", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/live")
    ]
    tuning = {"TrainingJobDefinition": {"RoleArn": ROLE}}
    assert needs("sagemaker", "CreateHyperParameterTuningJob", HyperParameterTuningJobName="T", **tuning)[
        1
    ] == ("iam:PassRole", ROLE)


def test_other_services_resources() -> None:
    machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:Training"
    assert needs("stepfunctions", "StartExecution", stateMachineArn=machine) == [
        ("states:StartExecution", machine)
    ]
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:notifications"
    assert needs("sns", "Publish", TopicArn=topic, Message="m") == [("sns:Publish", topic)]
    assert needs("lambda", "Invoke", FunctionName=FUNCTION, Qualifier="live") == [
        ("lambda:InvokeFunction", f"{FUNCTION_ARN}:live")
    ]
    assert needs("sts", "GetCallerIdentity") == []
    assert needs("s3", "ListBuckets") == [("s3:ListAllMyBuckets", "*")]
    with pytest.raises(UnmappedOperation, match="KeyId"):
        needs("kms", "Decrypt", CiphertextBlob=b"x")  # the key is inside the ciphertext


def test_service_prefix_names_the_botocore_service_by_its_iam_prefix() -> None:
    assert service_prefix("stepfunctions") == "states" and service_prefix("sagemaker-runtime") == "sagemaker"


def test_a_passed_role_carries_the_service_and_the_resource_it_is_passed_for() -> None:
    resolve = OPERATIONS["sagemaker"]["CreateModel"]
    [_, pass_role] = resolve(call("sagemaker", "CreateModel", ModelName="M", ExecutionRoleArn=ROLE))
    assert pass_role.context == {
        "iam:PassedToService": "sagemaker.amazonaws.com",
        "iam:AssociatedResourceArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/m",
    }
