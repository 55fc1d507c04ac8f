"""Static IAM check over (definition, policy documents), evaluated as partial requests."""

from __future__ import annotations

from typing import Any

from local_mode.checks.access_policy import AccessRequest, authorize
from local_mode.checks.iam_check import check_definition, required_permissions

ACCOUNT = "123456789012"
SM = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}"
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/registry"
FUNCTION = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:plan"


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


def static_request(action: str, resource: str) -> AccessRequest:
    role = f"arn:aws:iam::{ACCOUNT}:role/workflow"
    return AccessRequest(role, action, resource, ACCOUNT, principal_arn=role, partial=True)


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


def test_a_static_check_allow_may_apply_but_a_deny_must_cover_every_run() -> None:
    job = f"{SM}:training-job/*"  # a name computed at run time
    allowed = policy(allow("sagemaker:CreateTrainingJob", f"{SM}:training-job/mnist-*"))
    assert authorize(static_request("sagemaker:CreateTrainingJob", job), [allowed])
    some_denied = policy(
        allow("sagemaker:*", "*"),
        {"Effect": "Deny", "Action": "sagemaker:*", "Resource": f"{SM}:training-job/x-*"},
    )
    assert authorize(static_request("sagemaker:CreateTrainingJob", job), [some_denied])
    all_denied = policy(
        allow("sagemaker:*", "*"),
        {"Effect": "Deny", "Action": "sagemaker:*", "Resource": f"{SM}:training-job/*"},
    )
    assert not authorize(static_request("sagemaker:CreateTrainingJob", job), [all_denied])
    assert authorize(
        static_request("s3:GetObject", "arn:aws:s3:::b/k"), [policy(allow("s3:*", "arn:aws:s3:::b/*"))]
    )


PASS_ROLE = {**TRAINING_POLICY["Statement"][1]}


def passing_to(service: str) -> dict[str, Any]:
    return {**PASS_ROLE, "Condition": {"StringEquals": {"iam:PassedToService": service}}}


def test_conditions_on_keys_the_check_knows_are_evaluated() -> None:
    flow = definition(Train=TRAIN)
    others = TRAINING_POLICY["Statement"][0], TRAINING_POLICY["Statement"][2]
    assert check_definition(flow, [policy(*others, passing_to("sagemaker.amazonaws.com"))]) == []
    [finding] = check_definition(flow, [policy(*others, passing_to("lambda.amazonaws.com"))])
    assert finding.requirement.action == "iam:PassRole"
    assert finding.requirement.context == {"iam:PassedToService": "sagemaker.amazonaws.com"}
    role = f"arn:aws:iam::{ACCOUNT}:role/workflow"
    not_this_role = {
        "Effect": "Deny",
        "Action": "sagemaker:StopTrainingJob",
        "Resource": "*",
        "Condition": {"ArnNotEquals": {"aws:PrincipalArn": role}},
    }
    assert check_definition(flow, [TRAINING_POLICY, policy(not_this_role)], role_arn=role) == []
    [denied] = check_definition(flow, [TRAINING_POLICY, policy(not_this_role)], role_arn=f"{role}-other")
    assert denied.requirement.action == "sagemaker:StopTrainingJob" and "explicitly denied" in denied.reason


def test_conditions_on_keys_known_only_at_run_time_never_fail_the_check() -> None:
    flow = definition(Train=TRAIN)
    tagged = {"Condition": {"StringEquals": {"aws:RequestTag/team": "ml"}}}
    conditional_allows = policy(*({**statement, **tagged} for statement in TRAINING_POLICY["Statement"]))
    assert check_definition(flow, [conditional_allows]) == []
    conditional_deny = {"Effect": "Deny", "Action": "*", "Resource": "*", **tagged}
    assert check_definition(flow, [TRAINING_POLICY, policy(conditional_deny)]) == []
    assert len(check_definition(flow, [policy(conditional_deny)])) == len(required_permissions(flow))
