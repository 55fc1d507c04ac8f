"""What each Step Functions Task makes the state machine's role do (task_permissions)."""

from __future__ import annotations

from typing import Any

from local_mode.checks.task_permissions import Account, Permission, task_permissions

ACCOUNT = "123456789012"
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/registry"
CHILD = f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:child"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/sm"


def needed(resource: str, args: dict[str, Any], account: Account | None = None) -> set[tuple[str, str]]:
    return {(p.action, p.resource) for p in task_permissions(resource, args, account or Account())}


def test_sdk_and_nested_execution_permissions() -> None:
    query = needed(
        "arn:aws:states:::aws-sdk:dynamodb:query", {"TableName": "registry", "IndexName": "by-status"}
    )
    transact = needed(
        "arn:aws:states:::aws-sdk:dynamodb:transactWriteItems",
        {"TransactItems": [{"Update": {"TableName": "registry"}}, {"Put": {"TableName": "registry"}}]},
    )
    run = needed("arn:aws:states:::states:startExecution.sync:2", {"StateMachineArn": CHILD, "Input": {}})
    executions = f"arn:aws:states:us-east-1:{ACCOUNT}:execution:child:*"
    assert query | transact | run >= {
        ("dynamodb:Query", f"{TABLE}/index/by-status"),
        ("dynamodb:UpdateItem", TABLE),
        ("dynamodb:PutItem", TABLE),
        ("states:StartExecution", CHILD),
        ("states:DescribeExecution", executions),
        ("states:StopExecution", executions),
    }


def test_region_and_account_come_from_the_account() -> None:
    account = Account(region="eu-west-1", account_id="000000000000")
    [permission] = task_permissions("arn:aws:states:::dynamodb:getItem", {"TableName": "t"}, account)
    assert permission.resource == "arn:aws:dynamodb:eu-west-1:000000000000:table/t"


def test_a_passed_role_carries_the_service_it_is_passed_to() -> None:
    args = {"ModelName": "m", "ExecutionRoleArn": ROLE, "PrimaryContainer": {}}
    permissions = task_permissions("arn:aws:states:::sagemaker:createModel", args, Account())
    [pass_role] = [p for p in permissions if p.action == "iam:PassRole"]
    assert pass_role == Permission("iam:PassRole", ROLE, {"iam:PassedToService": "sagemaker.amazonaws.com"})
    assert all(p.context == {} for p in permissions if p.action != "iam:PassRole")


def test_a_dynamic_name_is_a_pattern_and_a_function_arn_resource_is_invoked() -> None:
    [create] = needed("arn:aws:states:::sagemaker:createEndpointConfig", {"EndpointConfigName.$": "$.name"})
    assert create == (
        "sagemaker:CreateEndpointConfig",
        f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint-config/*",
    )
    function = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:plan"
    assert needed(function, {}) == {("lambda:InvokeFunction", function)}
    assert needed("arn:aws:states:us-east-1:123456789012:activity:work", {}) == set()
