"""Static IAM check over (definition, policy documents)."""

from __future__ import annotations

from typing import Any

from local_mode.checks.iam_check import (
    Account,
    check_definition,
    decide,
    glob_match,
    patterns_overlap,
    required_permissions,
)

ACCOUNT = "123456789012"
SM = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}"
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/registry"
FUNCTION = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:plan"
CHILD = f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:child"


def allow(actions: list[str] | str, resources: list[str] | str, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


TRAIN: dict[str, Any] = {
    "Type": "Task",
    "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
    "End": True,
    "Parameters": {"TrainingJobName.$": "$.name", "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/sm"},
}

# What CDK grants a role for the training task (copied shape of a synthesized policy).
TRAINING_POLICY = policy(
    allow(
        ["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob"],
        f"{SM}:training-job/*",
    ),
    allow(
        "iam:PassRole",
        f"arn:aws:iam::{ACCOUNT}:role/sm",
        Condition={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
    ),
    allow(
        ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
        f"arn:aws:events:us-east-1:{ACCOUNT}:rule/StepFunctionsGetEventsForSageMakerTrainingJobsRule",
    ),
)


def definition(**states: dict[str, Any]) -> dict[str, Any]:
    return {"StartAt": next(iter(states)), "States": states}


def test_sync_training_needs_create_describe_stop_passrole_and_events_rule() -> None:
    actions = [r.action for r in required_permissions(definition(Train=TRAIN))]
    assert actions == [
        "sagemaker:CreateTrainingJob",
        "iam:PassRole",
        "sagemaker:DescribeTrainingJob",
        "sagemaker:StopTrainingJob",
        "events:PutTargets",
        "events:PutRule",
        "events:DescribeRule",
    ]
    assert check_definition(definition(Train=TRAIN), [TRAINING_POLICY]) == []


def test_missing_action_is_reported_with_its_state() -> None:
    without_stop = policy(
        allow(["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob"], f"{SM}:training-job/*"),
        *TRAINING_POLICY["Statement"][1:],
    )
    [finding] = check_definition(definition(Train=TRAIN), [without_stop])
    assert finding.requirement.state_name == "Train"
    assert finding.requirement.action == "sagemaker:StopTrainingJob"
    assert finding.requirement.resource == f"{SM}:training-job/*"
    assert "state 'Train'" in str(finding) and "sagemaker:StopTrainingJob" in str(finding)


def test_tasks_inside_parallel_branches_and_map_processors_are_checked() -> None:
    put = {
        "Type": "Task",
        "Resource": "arn:aws:states:::dynamodb:putItem",
        "End": True,
        "Parameters": {"TableName": "registry", "Item": {}},
    }
    invoke = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "End": True,
        "Parameters": {"FunctionName": FUNCTION, "Payload.$": "$"},
    }
    flow = definition(
        Evaluate={"Type": "Parallel", "Next": "Each", "Branches": [definition(Record=put)]},
        Each={"Type": "Map", "End": True, "ItemProcessor": definition(Plan=invoke)},
    )
    findings = check_definition(flow, [policy()])
    assert [(f.requirement.state_path, f.requirement.action, f.requirement.resource) for f in findings] == [
        ("Evaluate/Branches[0]/Record", "dynamodb:PutItem", TABLE),
        ("Each/ItemProcessor/Plan", "lambda:InvokeFunction", FUNCTION),
    ]
    granted = policy(
        allow("dynamodb:PutItem", TABLE), allow("lambda:InvokeFunction", [FUNCTION, f"{FUNCTION}:*"])
    )
    assert check_definition(flow, [granted]) == []


def test_wildcards_in_actions_and_resources_and_case_insensitive_actions() -> None:
    describe = definition(
        D={
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint",
            "Parameters": {"EndpointName": "Mnist-Endpoint"},
            "End": True,
        }
    )
    assert check_definition(describe, [policy(allow("sagemaker:Describe*", f"{SM}:endpoint/mnist-*"))]) == []
    assert check_definition(describe, [policy(allow("sagemaker:describeendpoint", "*"))]) == []
    assert check_definition(describe, [policy(allow("sagemaker:Describe*", f"{SM}:model/*"))]) != []
    assert check_definition(describe, [policy(allow("sagemaker:List*", "*"))]) != []


def test_explicit_deny_wins_and_not_action_is_honoured() -> None:
    flow = definition(Train=TRAIN)
    denied = policy(
        *TRAINING_POLICY["Statement"], {"Effect": "Deny", "Action": "sagemaker:Stop*", "Resource": "*"}
    )
    [finding] = check_definition(flow, [denied])
    assert finding.requirement.action == "sagemaker:StopTrainingJob" and "explicitly denied" in finding.reason
    everything_but_iam = policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert [f.requirement.action for f in check_definition(flow, [everything_but_iam])] == ["iam:PassRole"]


def test_dynamic_names_match_prefix_patterns_but_static_names_must_fit() -> None:
    prefixed = policy(
        *TRAINING_POLICY["Statement"][1:],
        allow(
            ["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob"],
            f"{SM}:training-job/mnist-*",
        ),
    )
    assert check_definition(definition(Train=TRAIN), [prefixed]) == []
    static = {**TRAIN, "Parameters": {**TRAIN["Parameters"], "TrainingJobName": "other-job"}}
    del static["Parameters"]["TrainingJobName.$"]
    assert len(check_definition(definition(Train=static), [prefixed])) == 3


def test_sdk_and_nested_execution_permissions() -> None:
    query = {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:dynamodb:query",
        "Next": "Tx",
        "Parameters": {"TableName": "registry", "IndexName": "by-status"},
    }
    transact = {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:dynamodb:transactWriteItems",
        "Next": "Run",
        "Parameters": {
            "TransactItems": [{"Update": {"TableName": "registry"}}, {"Put": {"TableName": "registry"}}]
        },
    }
    run = {
        "Type": "Task",
        "Resource": "arn:aws:states:::states:startExecution.sync:2",
        "End": True,
        "Parameters": {"StateMachineArn": CHILD, "Input": {}},
    }
    needed = {(r.action, r.resource) for r in required_permissions(definition(Q=query, Tx=transact, Run=run))}
    executions = f"arn:aws:states:us-east-1:{ACCOUNT}:execution:child:*"
    assert needed >= {
        ("dynamodb:Query", f"{TABLE}/index/by-status"),
        ("dynamodb:UpdateItem", TABLE),
        ("dynamodb:PutItem", TABLE),
        ("states:StartExecution", CHILD),
        ("states:DescribeExecution", executions),
        ("states:StopExecution", executions),
    }


def test_region_and_account_come_from_the_account() -> None:
    put = definition(
        P={
            "Type": "Task",
            "Resource": "arn:aws:states:::dynamodb:getItem",
            "End": True,
            "Parameters": {"TableName": "t"},
        }
    )
    [requirement] = required_permissions(put, Account(region="eu-west-1", account_id="000000000000"))
    assert requirement.resource == "arn:aws:dynamodb:eu-west-1:000000000000:table/t"


def test_glob_helpers() -> None:
    assert glob_match("sagemaker:Describe*", "sagemaker:DescribeEndpoint")
    assert glob_match("arn:aws:s3:::b/?ey", "arn:aws:s3:::b/key")
    assert not glob_match("arn:aws:s3:::b/*", "arn:aws:s3:::c/key")
    assert patterns_overlap("training-job/mnist-*", "training-job/*")
    assert not patterns_overlap("training-job/mnist-*", "model/*")
    assert decide("s3:GetObject", "arn:aws:s3:::b/k", [policy(allow("s3:*", "arn:aws:s3:::b/*"))])[0]
