"""What a Step Functions Task makes the state machine's role do: IAM actions on resources.

Follows "How Step Functions generates IAM policies for integrated services" in the Step Functions
Developer Guide: e.g. ``sagemaker:createTrainingJob.sync`` needs ``sagemaker:CreateTrainingJob``,
``DescribeTrainingJob``, ``StopTrainingJob``, ``iam:PassRole`` on the job role (with
``iam:PassedToService = sagemaker.amazonaws.com``) and ``events:PutTargets/PutRule/DescribeRule``
on Step Functions' managed rule; an AWS SDK integration (``aws-sdk:SERVICE:ACTION``) needs
``PREFIX:Action`` on the resource its well-known name parameter gives.

Where a name in the Task's parameters is dynamic (``"X.$"`` JSONPath or a JSONata ``{% %}``
expression), the resource is a pattern with ``*`` in its place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from local_mode.checks.access_policy import ContextValue


@dataclass(frozen=True)
class Account:
    """Region, account and partition used to build the resource ARNs of requirements."""

    region: str = "us-east-1"
    account_id: str = "123456789012"
    partition: str = "aws"

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (
            f"arn:{self.partition}:{service}:{self.region if region else ''}:"
            f"{self.account_id if account else ''}:{resource}"
        )


ANY: Final = "*"


@dataclass(frozen=True)
class Permission:
    """One action on one resource (pattern), with the condition keys the request is known to carry."""

    action: str  # "sagemaker:CreateTrainingJob"
    resource: str  # an ARN; `*` where the definition computes the name at run time
    context: Mapping[str, ContextValue] = field(default_factory=dict, hash=False)


def task_permissions(
    resource: str, args: Mapping[str, Any], account: Account, *, polling: bool = True
) -> list[Permission]:
    """What Step Functions needs to run one Task: its ``Resource`` and ``Parameters``/``Arguments``.

    ``polling=False``: only what the Task's request is authorized for, without what a ``.sync``
    Task does afterwards (``Describe*``, ``Stop*`` on abort, the managed EventBridge rule).
    """
    parts = resource.split(":", 6)
    if len(parts) < 6 or parts[0] != "arn":
        return []
    service = parts[2]
    if service == "lambda":  # a function ARN used directly as the Resource
        return [Permission("lambda:InvokeFunction", resource)]
    if service != "states" or parts[5] == "activity":
        return []  # activities are polled by workers: the role needs nothing
    integration = resource.split(":", 5)[5]  # "sagemaker:createTrainingJob.sync"
    api, _, pattern = integration.partition(".")
    if api.startswith("aws-sdk:"):
        _, sdk_service, action = api.split(":", 2)
        return _sdk_permissions(sdk_service, action, args, account)
    optimized_service, _, action = api.partition(":")
    derive = _OPTIMIZED.get((optimized_service, action.lower()))
    if derive is None:
        return _sdk_permissions(optimized_service, action, args, account)
    return derive(args, account, polling and pattern.startswith("sync"))


# --- reading parameters ---------------------------------------------------------------------


def static_value(args: Mapping[str, Any], *path: str) -> str | None:
    """A parameter's literal string value, or None when it is computed at run time or absent."""
    node: Any = args
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    if not isinstance(node, str) or node.startswith("{%"):
        return None
    return node


def _name(args: Mapping[str, Any], *path: str) -> str:
    return static_value(args, *path) or ANY


def _tag_context(args: Mapping[str, Any]) -> dict[str, ContextValue]:
    """``aws:TagKeys`` and each ``aws:RequestTag/KEY`` of a request's ``Tags``, as far as they are
    known (Service Authorization Reference: SageMaker's Create actions and AddTags take both keys).
    A computed key leaves the keys unknown; a computed value leaves that tag's key out."""
    tags = args.get("Tags")
    if not isinstance(tags, list):
        return {}
    keys: list[str] = []
    context: dict[str, ContextValue] = {}
    for tag in tags:
        key = static_value(tag, "Key") if isinstance(tag, Mapping) else None
        if key is None:
            return {}
        keys.append(key)
        value = static_value(tag, "Value")
        if value is not None:
            context[f"aws:RequestTag/{key}"] = value
    return {"aws:TagKeys": keys, **context}


# --- the optimized integrations -------------------------------------------------------------

_Derive = Callable[[Mapping[str, Any], Account, bool], list[Permission]]


def _events_rule(account: Account, rule: str) -> list[Permission]:
    arn = account.arn("events", f"rule/{rule}")
    return [Permission(f"events:{a}", arn) for a in ("PutTargets", "PutRule", "DescribeRule")]


def _pass_role(role_arn: str | None) -> list[Permission]:
    # SageMaker is the only service these integrations pass a role to (IAM: "iam:PassedToService").
    return [Permission("iam:PassRole", role_arn or ANY, {"iam:PassedToService": "sagemaker.amazonaws.com"})]


def _sagemaker_arn(account: Account, kind: str, name: str) -> str:
    # SageMaker lower-cases resource names inside ARNs.
    return account.arn("sagemaker", f"{kind}/{name.lower()}")


def _sagemaker_job(
    kind: str,
    noun: str,
    name_key: str,
    rule: str,
    role_path: tuple[str, ...] | None,
) -> _Derive:
    def derive(args: Mapping[str, Any], account: Account, sync: bool) -> list[Permission]:
        arn = _sagemaker_arn(account, kind, _name(args, name_key))
        tagging = _tag_context(args)
        needed = [Permission(f"sagemaker:Create{noun}", arn, tagging)]
        if args.get("Tags"):
            needed.append(Permission("sagemaker:AddTags", arn, tagging))
        if role_path is not None:
            needed += _pass_role(static_value(args, *role_path))
        if sync:
            needed += [Permission(f"sagemaker:{verb}{noun}", arn) for verb in ("Describe", "Stop")]
            needed += _events_rule(account, rule)
        return needed

    return derive


def _sagemaker_simple(
    kind: str, noun: str, name_key: str, role_key: str | None = None, config_key: str | None = None
) -> _Derive:
    def derive(args: Mapping[str, Any], account: Account, sync: bool) -> list[Permission]:
        action = f"sagemaker:{noun}"
        tagging = _tag_context(args)
        needed = [Permission(action, _sagemaker_arn(account, kind, _name(args, name_key)), tagging)]
        if config_key is not None:  # CreateEndpoint/UpdateEndpoint also authorize on the config
            needed.append(
                Permission(action, _sagemaker_arn(account, "endpoint-config", _name(args, config_key)))
            )
        if role_key is not None:
            needed += _pass_role(static_value(args, role_key))
        if args.get("Tags"):
            needed.append(Permission("sagemaker:AddTags", needed[0].resource, tagging))
        return needed

    return derive


def _dynamodb_item(action: str) -> _Derive:
    def derive(args: Mapping[str, Any], account: Account, sync: bool) -> list[Permission]:
        return [Permission(f"dynamodb:{action}", _table_arn(account, static_value(args, "TableName")))]

    return derive


def _lambda_invoke(args: Mapping[str, Any], account: Account, sync: bool) -> list[Permission]:
    return [Permission("lambda:InvokeFunction", _function_arn(account, static_value(args, "FunctionName")))]


def _sns_publish(args: Mapping[str, Any], account: Account, sync: bool) -> list[Permission]:
    topic = static_value(args, "TopicArn") or static_value(args, "TargetArn")
    return [Permission("sns:Publish", topic or account.arn("sns", ANY))]


def _sqs_send(args: Mapping[str, Any], account: Account, sync: bool) -> list[Permission]:
    return [Permission("sqs:SendMessage", _queue_arn(account, static_value(args, "QueueUrl")))]


def _start_execution(args: Mapping[str, Any], account: Account, sync: bool) -> list[Permission]:
    machine = static_value(args, "StateMachineArn")
    needed = [Permission("states:StartExecution", machine or account.arn("states", "stateMachine:*"))]
    if sync:
        machine_name = machine.rsplit(":", 1)[-1] if machine else ANY
        executions = account.arn("states", f"execution:{machine_name}:*")
        needed += [
            Permission("states:DescribeExecution", executions),
            Permission("states:StopExecution", executions),
        ]
        needed += _events_rule(account, "StepFunctionsGetEventsForStepFunctionsExecutionRule")
    return needed


_OPTIMIZED: Final[dict[tuple[str, str], _Derive]] = {
    ("sagemaker", "createtrainingjob"): _sagemaker_job(
        "training-job",
        "TrainingJob",
        "TrainingJobName",
        "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
        ("RoleArn",),
    ),
    ("sagemaker", "createprocessingjob"): _sagemaker_job(
        "processing-job",
        "ProcessingJob",
        "ProcessingJobName",
        "StepFunctionsGetEventsForSageMakerProcessingJobsRule",
        ("RoleArn",),
    ),
    ("sagemaker", "createtransformjob"): _sagemaker_job(
        "transform-job",
        "TransformJob",
        "TransformJobName",
        "StepFunctionsGetEventsForSageMakerTransformJobsRule",
        None,
    ),
    ("sagemaker", "createhyperparametertuningjob"): _sagemaker_job(
        "hyper-parameter-tuning-job",
        "HyperParameterTuningJob",
        "HyperParameterTuningJobName",
        "StepFunctionsGetEventsForSageMakerTuningJobsRule",
        ("TrainingJobDefinition", "RoleArn"),
    ),
    ("sagemaker", "createmodel"): _sagemaker_simple(
        "model", "CreateModel", "ModelName", role_key="ExecutionRoleArn"
    ),
    ("sagemaker", "createendpointconfig"): _sagemaker_simple(
        "endpoint-config", "CreateEndpointConfig", "EndpointConfigName"
    ),
    ("sagemaker", "createendpoint"): _sagemaker_simple(
        "endpoint", "CreateEndpoint", "EndpointName", config_key="EndpointConfigName"
    ),
    ("sagemaker", "updateendpoint"): _sagemaker_simple(
        "endpoint", "UpdateEndpoint", "EndpointName", config_key="EndpointConfigName"
    ),
    ("dynamodb", "putitem"): _dynamodb_item("PutItem"),
    ("dynamodb", "getitem"): _dynamodb_item("GetItem"),
    ("dynamodb", "updateitem"): _dynamodb_item("UpdateItem"),
    ("dynamodb", "deleteitem"): _dynamodb_item("DeleteItem"),
    ("lambda", "invoke"): _lambda_invoke,
    ("sns", "publish"): _sns_publish,
    ("sqs", "sendmessage"): _sqs_send,
    ("states", "startexecution"): _start_execution,
}


# --- AWS SDK integrations -------------------------------------------------------------------

# Where the IAM prefix differs from the SDK service name used in `aws-sdk:<service>:<action>`.
_IAM_PREFIX: Final = {
    "sfn": "states",
    "cloudwatchlogs": "logs",
    "elasticloadbalancingv2": "elasticloadbalancing",
    "applicationautoscaling": "application-autoscaling",
}

# DynamoDB TransactWriteItems members → the action each needs on its table.
_TRANSACT_ACTIONS: Final = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def _sdk_permissions(
    service: str, action: str, args: Mapping[str, Any], account: Account
) -> list[Permission]:
    prefix = _IAM_PREFIX.get(service.lower(), service.lower())
    iam_action = f"{prefix}:{action[:1].upper()}{action[1:]}"
    if prefix == "dynamodb":
        return _sdk_dynamodb(action, args, account)
    return [Permission(iam_action, _sdk_resource(prefix, args, account))]


def _sdk_dynamodb(action: str, args: Mapping[str, Any], account: Account) -> list[Permission]:
    if action.lower() == "transactwriteitems":
        items = args.get("TransactItems")
        if not isinstance(items, list):
            return [Permission(f"dynamodb:{a}", _table_arn(account, None)) for a in ("PutItem", "UpdateItem")]
        needed: list[Permission] = []
        for item in items:
            for member, table_action in _TRANSACT_ACTIONS.items():
                if isinstance(item, Mapping) and member in item:
                    table = _table_arn(account, static_value(item[member], "TableName"))
                    needed.append(Permission(f"dynamodb:{table_action}", table))
        return needed
    table = _table_arn(account, static_value(args, "TableName"))
    index = static_value(args, "IndexName")
    if index is not None or ("IndexName" in args or "IndexName.$" in args):
        table = f"{table}/index/{index or ANY}"
    return [Permission(f"dynamodb:{action[:1].upper()}{action[1:]}", table)]


def _sdk_resource(prefix: str, args: Mapping[str, Any], account: Account) -> str:
    """The resource ARN of an AWS SDK call where a well-known name parameter gives it; else `*`."""
    if prefix == "sagemaker":
        for key, kind in (
            ("EndpointName", "endpoint"),
            ("TrainingJobName", "training-job"),
            ("ModelName", "model"),
            ("EndpointConfigName", "endpoint-config"),
            ("TransformJobName", "transform-job"),
            ("ProcessingJobName", "processing-job"),
            ("HyperParameterTuningJobName", "hyper-parameter-tuning-job"),
        ):
            if key in args or f"{key}.$" in args:
                return _sagemaker_arn(account, kind, _name(args, key))
    if prefix == "sns":
        return static_value(args, "TopicArn") or ANY
    if prefix == "lambda" and ("FunctionName" in args or "FunctionName.$" in args):
        return _function_arn(account, static_value(args, "FunctionName"))
    if prefix == "s3" and ("Bucket" in args or "Bucket.$" in args):
        bucket = _name(args, "Bucket")
        has_key = "Key" in args or "Key.$" in args
        return f"arn:{account.partition}:s3:::{bucket}" + (f"/{_name(args, 'Key')}" if has_key else "")
    if prefix == "states":
        return static_value(args, "StateMachineArn") or static_value(args, "ExecutionArn") or ANY
    return ANY


def _table_arn(account: Account, table: str | None) -> str:
    if table and table.startswith("arn:"):
        return table
    return account.arn("dynamodb", f"table/{table or ANY}")


def _function_arn(account: Account, function: str | None) -> str:
    if function and function.startswith("arn:"):
        return function
    if function and ":" in function:  # "name:qualifier" or "account:function:name"
        return account.arn("lambda", function if function.count(":") >= 2 else f"function:{function}")
    return account.arn("lambda", f"function:{function or ANY}")


def _queue_arn(account: Account, queue_url: str | None) -> str:
    if not queue_url:
        return account.arn("sqs", ANY)
    return account.arn("sqs", queue_url.rstrip("/").rsplit("/", 1)[-1])
