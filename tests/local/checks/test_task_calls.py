"""Tasks' requests authorized as the state machine's role with the values the run computed
(task_calls.TaskCalls), on moto's server; and the errors the hook layer fails such a Task with."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local_mode.checks.iam_check import check_definition
from local_mode.checks.role_access import RoleAccess
from local_mode.checks.task_calls import TaskCallRefused, TaskCalls
from local_mode.checks.task_permissions import Account
from local_mode.cloud.moto_hooks import refused_task_error, resource_key
from local_mode.cloud.moto_server import MotoServer
from pipeline_constructs.aws_error_names import task_error_names
from tests.local.checks.role_access_cloud import trust_policy

ACCOUNT = "123456789012"
REGION = "us-east-1"
ROLE_NAME = "TrainingWorkflowRole"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}"
JOB_ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerRole"
MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:Training"
CREATE_MODEL = "arn:aws:states:::sagemaker:createModel"
TRAIN = "arn:aws:states:::sagemaker:createTrainingJob.sync"
REGISTER_TARGET = "arn:aws:states:::aws-sdk:applicationautoscaling:registerScalableTarget"
INVOKE = "arn:aws:states:::lambda:invoke"
MODEL = "tf2-digits-261129085012-a1f00d-a1"
TRUST = trust_policy("states.amazonaws.com")
PASS_JOB_ROLE = {
    "Effect": "Allow",
    "Action": "iam:PassRole",
    "Resource": JOB_ROLE,
    "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
}


def sagemaker_arn(kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{kind}/{name}"


def allow(actions: list[str], resource: str | list[str]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resource}


def model_request(*, tags: bool = True) -> dict[str, Any]:
    request: dict[str, Any] = {
        "ModelName": MODEL,
        "ExecutionRoleArn": JOB_ROLE,
        "PrimaryContainer": {"Image": "tensorflow-inference:2.20-cpu", "ModelDataUrl": "s3://a/m.tar.gz"},
    }
    if tags:
        request["Tags"] = [{"Key": "project", "Value": "tf2-digits"}]
    return request


class Role:
    def __init__(self, server: MotoServer) -> None:
        self.server = server
        server.client("iam").create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(TRUST))

    def allows(self, *statements: dict[str, Any]) -> TaskCalls:
        document = {"Version": "2012-10-17", "Statement": list(statements)}
        self.server.client("iam").put_role_policy(
            RoleName=ROLE_NAME, PolicyName="default", PolicyDocument=json.dumps(document)
        )
        access = RoleAccess(self.server.client, region=REGION, account_id=ACCOUNT)
        return TaskCalls(access, role_of={MACHINE: ROLE}.__getitem__, account=Account(REGION, ACCOUNT))

    def policies(self) -> list[dict[str, Any]]:
        iam = self.server.client("iam")
        document = iam.get_role_policy(RoleName=ROLE_NAME, PolicyName="default")["PolicyDocument"]
        return [json.loads(document) if isinstance(document, str) else document]


@pytest.fixture
def role(fresh_server: MotoServer) -> Role:
    return Role(fresh_server)


def refusal(calls: TaskCalls, resource: str, parameters: dict[str, Any]) -> TaskCallRefused | None:
    return calls.refusal(
        state_machine_arn=MACHINE, resource=resource, parameters=parameters, session_name="run-1"
    )


def test_tags_need_add_tags_on_the_name_the_run_computed(role: Role) -> None:
    calls = role.allows(
        allow(["sagemaker:CreateModel"], sagemaker_arn("model", "*")),
        allow(["sagemaker:AddTags"], sagemaker_arn("model", "other-project-*")),
        PASS_JOB_ROLE,
    )

    refused = refusal(calls, CREATE_MODEL, model_request())

    assert refused is not None
    assert (refused.code, refused.action) == ("AccessDeniedException", "sagemaker:AddTags")
    assert refused.message == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE_NAME}/run-1 is not authorized to perform: "
        f"sagemaker:AddTags on resource: {sagemaker_arn('model', MODEL)} because no identity-based "
        "policy allows the sagemaker:AddTags action"
    )
    assert refusal(calls, CREATE_MODEL, model_request(tags=False)) is None


def test_the_static_check_cannot_see_what_the_run_check_refuses(role: Role) -> None:
    """The same role passes the check before the run: `model/other-project-*` may match `model/*`."""
    role.allows(
        allow(["sagemaker:CreateModel"], sagemaker_arn("model", "*")),
        allow(["sagemaker:AddTags"], sagemaker_arn("model", "other-project-*")),
        PASS_JOB_ROLE,
    )
    parameters = {key: value for key, value in model_request().items() if key != "ModelName"}
    task = {"Type": "Task", "Resource": CREATE_MODEL, "Parameters": {**parameters, "ModelName.$": "$.name"}}
    definition = {"StartAt": "CreateModel", "States": {"CreateModel": {**task, "End": True}}}

    assert check_definition(definition, role.policies(), Account(REGION, ACCOUNT), role_arn=ROLE) == []


def test_the_passed_role_and_the_service_it_is_passed_to_are_checked(role: Role) -> None:
    create = allow(["sagemaker:CreateModel", "sagemaker:AddTags"], sagemaker_arn("model", "*"))
    to_lambda = {
        **PASS_JOB_ROLE,
        "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
    }

    assert refusal(role.allows(create, PASS_JOB_ROLE), CREATE_MODEL, model_request()) is None
    refused = refusal(role.allows(create, to_lambda), CREATE_MODEL, model_request())
    assert refused is not None and refused.action == "iam:PassRole"
    assert f"iam:PassRole on resource: {JOB_ROLE}" in refused.message


def test_a_sync_task_is_authorized_for_its_request_not_its_polling(role: Role) -> None:
    """Describe/Stop and the managed rule come after the request: the static check requires them."""
    calls = role.allows(
        allow(["sagemaker:CreateTrainingJob", "sagemaker:AddTags"], sagemaker_arn("training-job", "*")),
        PASS_JOB_ROLE,
    )
    request = {"TrainingJobName": MODEL, "RoleArn": JOB_ROLE, "Tags": [{"Key": "project", "Value": "x"}]}

    assert refusal(calls, TRAIN, request) is None
    only_ours = role.allows(
        allow(["sagemaker:CreateTrainingJob", "sagemaker:AddTags"], sagemaker_arn("training-job", "tf2-*")),
        PASS_JOB_ROLE,
    )
    refused = refusal(only_ours, TRAIN, {**request, "TrainingJobName": "Other-Job"})
    assert refused is not None
    assert sagemaker_arn("training-job", "other-job") in refused.message  # SageMaker lower-cases names


def test_a_resource_the_request_cannot_name_is_decided_as_a_pattern(role: Role) -> None:
    target = f"arn:aws:application-autoscaling:{REGION}:{ACCOUNT}:scalable-target/*"
    request = {"ServiceNamespace": "sagemaker", "ResourceId": "endpoint/tf2-digits/variant/AllTraffic"}

    calls = role.allows(allow(["application-autoscaling:RegisterScalableTarget"], target))
    assert refusal(calls, REGISTER_TARGET, request) is None
    refused = refusal(role.allows(allow(["sagemaker:CreateModel"], "*")), REGISTER_TARGET, request)
    assert refused is not None and refused.action == "application-autoscaling:RegisterScalableTarget"


def test_invoking_a_function_the_role_may_not_invoke_is_refused(role: Role) -> None:
    function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:plan-attempt"
    calls = role.allows(allow(["lambda:InvokeFunction"], [function, f"{function}:*"]))

    assert refusal(calls, INVOKE, {"FunctionName": function, "Payload": {}}) is None
    refused = refusal(calls, INVOKE, {"FunctionName": f"{function}-other", "Payload": {}})
    assert refused is not None and refused.code == "AccessDeniedException"
    refused = refusal(role.allows(PASS_JOB_ROLE), INVOKE, {"FunctionName": function, "Payload": {}})
    assert refused is not None and refused.action == "lambda:InvokeFunction"


@pytest.mark.parametrize(
    ("resource", "code", "error"),
    [
        (CREATE_MODEL, "AccessDeniedException", "SageMaker.AmazonSageMakerException"),
        (TRAIN, "AccessDeniedException", "SageMaker.AmazonSageMakerException"),
        ("arn:aws:states:::dynamodb:putItem", "AccessDeniedException", "DynamoDB.AmazonDynamoDBException"),
        ("arn:aws:states:::sns:publish", "AuthorizationError", "SNS.AuthorizationErrorException"),
        (INVOKE, "AccessDeniedException", "Lambda.AWSLambdaException"),
        (
            "arn:aws:states:::aws-sdk:sagemaker:updateEndpoint",
            "AccessDeniedException",
            "SageMaker.SageMakerException",
        ),
    ],
)
def test_a_refused_task_fails_with_a_name_its_integration_emits(resource: str, code: str, error: str) -> None:
    failed = refused_task_error(resource_key(resource), code, "User: ... is not authorized to perform: x")

    assert failed.error == error
    assert failed.error in task_error_names(resource)
    assert "is not authorized to perform: x" in failed.cause


TAG_POLICY = {
    "Effect": "Allow",
    "Action": ["sagemaker:CreateModel", "sagemaker:AddTags"],
    "Resource": sagemaker_arn("model", "*"),
    "Condition": {
        "ForAllValues:StringEquals": {"aws:TagKeys": ["project", "run_id"]},
        "StringEquals": {"aws:RequestTag/project": "tf2-digits"},
    },
}


def tagged(*tags: tuple[str, str]) -> dict[str, Any]:
    return {**model_request(), "Tags": [{"Key": key, "Value": value} for key, value in tags]}


def test_tag_conditions_see_the_tags_the_request_gives(role: Role) -> None:
    calls = role.allows(TAG_POLICY, PASS_JOB_ROLE)

    assert refusal(calls, CREATE_MODEL, tagged(("project", "tf2-digits"), ("run_id", "r1"))) is None
    other_project = refusal(calls, CREATE_MODEL, tagged(("project", "other")))
    assert other_project is not None and other_project.action == "sagemaker:CreateModel"
    extra_key = refusal(calls, CREATE_MODEL, tagged(("project", "tf2-digits"), ("owner", "me")))
    assert extra_key is not None


def test_the_static_check_knows_the_tag_keys_but_not_computed_values(role: Role) -> None:
    role.allows(TAG_POLICY, PASS_JOB_ROLE)
    account = Account(REGION, ACCOUNT)

    def definition(*tags: dict[str, str]) -> dict[str, Any]:
        parameters = {**model_request(), "Tags": list(tags)}
        task = {"Type": "Task", "Resource": CREATE_MODEL, "Parameters": parameters, "End": True}
        return {"StartAt": "CreateModel", "States": {"CreateModel": task}}

    computed_project = {"Key": "project", "Value.$": "$.project"}  # may be tf2-digits: may apply
    assert check_definition(definition(computed_project), role.policies(), account, role_arn=ROLE) == []
    owner = {"Key": "owner", "Value.$": "$.owner"}  # a key the policy never allows: refused in every run
    findings = check_definition(definition(computed_project, owner), role.policies(), account, role_arn=ROLE)
    assert {f.requirement.action for f in findings} == {"sagemaker:CreateModel", "sagemaker:AddTags"}
