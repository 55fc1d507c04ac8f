"""Static IAM check: does a state machine's role allow every service action its definition calls?

Pure functions over (definition, policy documents):

- `required_permissions(definition, ...)` walks every Task (inside Parallel branches and Map
  processors too) and derives the IAM actions Step Functions performs for it, on which resource,
  following "How Step Functions generates IAM policies for integrated services" in the Step
  Functions developer guide (e.g. `sagemaker:createTrainingJob.sync` needs
  `sagemaker:CreateTrainingJob`, `DescribeTrainingJob`, `StopTrainingJob`, `iam:PassRole` on the
  job role and `events:PutTargets/PutRule/DescribeRule` on Step Functions' managed rule).
- `check_definition(definition, policies, ...)` evaluates each against the policy documents:
  explicit Deny wins, otherwise some Allow must match; `Action`/`NotAction`, `Resource`/
  `NotResource` with `*` and `?` wildcards; actions compare case-insensitively (CDK writes
  `sagemaker:createEndpoint`). `Condition` blocks are ignored (treated as satisfied): local mode
  cannot know the request context, so a condition never makes the check fail.

Where a name in the definition is dynamic (`"X.$"` JSONPath or a JSONata `{% %}` expression),
the resource is a pattern with `*` in its place: an Allow passes when its resource pattern can
match some such name; a Deny only counts when it covers every such name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Final


@dataclass(frozen=True)
class Requirement:
    """One action a Task makes Step Functions perform, on one resource (pattern)."""

    state_path: str  # "Evaluate/Branches[0]/TransformCandidate"
    task_resource: str
    action: str  # "sagemaker:CreateTrainingJob"
    resource: str  # an ARN; `*` where the definition computes the name at run time

    @property
    def state_name(self) -> str:
        return self.state_path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Finding:
    """A requirement the role's policies do not grant."""

    requirement: Requirement
    reason: str

    def __str__(self) -> str:
        r = self.requirement
        return (
            f"state '{r.state_name}' ({r.state_path}) calls {r.task_resource}, which needs {r.action} "
            f"on {r.resource}: {self.reason}"
        )


class IamCheckError(Exception):
    """Raised before an execution starts when the role lacks an action its definition needs."""

    def __init__(self, state_machine: str, role: str, findings: Sequence[Finding]) -> None:
        self.findings = list(findings)
        lines = "\n  ".join(str(f) for f in self.findings)
        super().__init__(f"state machine {state_machine}: role {role} is missing permissions:\n  {lines}")


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


# --- walking the definition -----------------------------------------------------------------


def iter_tasks(definition: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(state path, Task state) for every Task, including those in Parallel branches and Maps."""
    for name, state in definition.get("States", {}).items():
        path = f"{prefix}{name}"
        kind = state.get("Type")
        if kind == "Task":
            yield path, state
        elif kind == "Parallel":
            for index, branch in enumerate(state.get("Branches", [])):
                yield from iter_tasks(branch, f"{path}/Branches[{index}]/")
        elif kind == "Map":
            processor = state.get("ItemProcessor") or state.get("Iterator")
            if processor:
                yield from iter_tasks(processor, f"{path}/ItemProcessor/")


def required_permissions(
    definition: Mapping[str, Any] | str, account: Account | None = None
) -> list[Requirement]:
    """Every (action, resource) the Tasks of a definition need, in definition order."""
    parsed = json.loads(definition) if isinstance(definition, str) else definition
    account = account or Account()
    requirements: list[Requirement] = []
    for path, state in iter_tasks(parsed):
        resource = state.get("Resource", "")
        arguments = state.get("Parameters") or state.get("Arguments") or {}
        for action, target in _task_permissions(resource, arguments, account):
            requirements.append(Requirement(path, resource, action, target))
    return requirements


def _task_permissions(resource: str, args: Mapping[str, Any], account: Account) -> list[tuple[str, str]]:
    parts = resource.split(":", 6)
    if len(parts) < 6 or parts[0] != "arn":
        return []
    service = parts[2]
    if service == "lambda":  # a function ARN used directly as the Resource
        return [("lambda:InvokeFunction", resource)]
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
    return derive(args, account, pattern.startswith("sync"))


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


# --- the optimized integrations -------------------------------------------------------------

_Derive = Callable[[Mapping[str, Any], Account, bool], list[tuple[str, str]]]


def _events_rule(account: Account, rule: str) -> list[tuple[str, str]]:
    arn = account.arn("events", f"rule/{rule}")
    return [(f"events:{a}", arn) for a in ("PutTargets", "PutRule", "DescribeRule")]


def _pass_role(role_arn: str | None) -> list[tuple[str, str]]:
    return [("iam:PassRole", role_arn or ANY)]


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
    def derive(args: Mapping[str, Any], account: Account, sync: bool) -> list[tuple[str, str]]:
        arn = _sagemaker_arn(account, kind, _name(args, name_key))
        needed = [(f"sagemaker:Create{noun}", arn)]
        if args.get("Tags"):
            needed.append(("sagemaker:AddTags", arn))
        if role_path is not None:
            needed += _pass_role(static_value(args, *role_path))
        if sync:
            needed += [(f"sagemaker:{verb}{noun}", arn) for verb in ("Describe", "Stop")]
            needed += _events_rule(account, rule)
        return needed

    return derive


def _sagemaker_simple(
    kind: str, noun: str, name_key: str, role_key: str | None = None, config_key: str | None = None
) -> _Derive:
    def derive(args: Mapping[str, Any], account: Account, sync: bool) -> list[tuple[str, str]]:
        action = f"sagemaker:{noun}"
        needed = [(action, _sagemaker_arn(account, kind, _name(args, name_key)))]
        if config_key is not None:  # CreateEndpoint/UpdateEndpoint also authorize on the config
            needed.append((action, _sagemaker_arn(account, "endpoint-config", _name(args, config_key))))
        if role_key is not None:
            needed += _pass_role(static_value(args, role_key))
        if args.get("Tags"):
            needed.append(("sagemaker:AddTags", needed[0][1]))
        return needed

    return derive


def _dynamodb_item(action: str) -> _Derive:
    def derive(args: Mapping[str, Any], account: Account, sync: bool) -> list[tuple[str, str]]:
        return [(f"dynamodb:{action}", _table_arn(account, static_value(args, "TableName")))]

    return derive


def _lambda_invoke(args: Mapping[str, Any], account: Account, sync: bool) -> list[tuple[str, str]]:
    return [("lambda:InvokeFunction", _function_arn(account, static_value(args, "FunctionName")))]


def _sns_publish(args: Mapping[str, Any], account: Account, sync: bool) -> list[tuple[str, str]]:
    topic = static_value(args, "TopicArn") or static_value(args, "TargetArn")
    return [("sns:Publish", topic or account.arn("sns", ANY))]


def _sqs_send(args: Mapping[str, Any], account: Account, sync: bool) -> list[tuple[str, str]]:
    return [("sqs:SendMessage", _queue_arn(account, static_value(args, "QueueUrl")))]


def _start_execution(args: Mapping[str, Any], account: Account, sync: bool) -> list[tuple[str, str]]:
    machine = static_value(args, "StateMachineArn")
    needed = [("states:StartExecution", machine or account.arn("states", "stateMachine:*"))]
    if sync:
        machine_name = machine.rsplit(":", 1)[-1] if machine else ANY
        executions = account.arn("states", f"execution:{machine_name}:*")
        needed += [("states:DescribeExecution", executions), ("states:StopExecution", executions)]
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
) -> list[tuple[str, str]]:
    prefix = _IAM_PREFIX.get(service.lower(), service.lower())
    iam_action = f"{prefix}:{action[:1].upper()}{action[1:]}"
    if prefix == "dynamodb":
        return _sdk_dynamodb(action, args, account)
    return [(iam_action, _sdk_resource(prefix, args, account))]


def _sdk_dynamodb(action: str, args: Mapping[str, Any], account: Account) -> list[tuple[str, str]]:
    if action.lower() == "transactwriteitems":
        items = args.get("TransactItems")
        if not isinstance(items, list):
            return [(f"dynamodb:{a}", _table_arn(account, None)) for a in ("PutItem", "UpdateItem")]
        needed: list[tuple[str, str]] = []
        for item in items:
            for member, table_action in _TRANSACT_ACTIONS.items():
                if isinstance(item, Mapping) and member in item:
                    needed.append(
                        (
                            f"dynamodb:{table_action}",
                            _table_arn(account, static_value(item[member], "TableName")),
                        )
                    )
        return needed
    table = _table_arn(account, static_value(args, "TableName"))
    index = static_value(args, "IndexName")
    if index is not None or ("IndexName" in args or "IndexName.$" in args):
        table = f"{table}/index/{index or ANY}"
    return [(f"dynamodb:{action[:1].upper()}{action[1:]}", table)]


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


# --- evaluating policies --------------------------------------------------------------------


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def glob_match(pattern: str, text: str) -> bool:
    """IAM wildcard match: `*` any run of characters, `?` one character."""
    return _overlap(pattern, text, literal_b=True)


def patterns_overlap(a: str, b: str) -> bool:
    """Whether some string matches both wildcard patterns."""
    return _overlap(a, b, literal_b=False)


@cache
def _overlap(a: str, b: str, *, literal_b: bool) -> bool:
    # Dynamic programming over both patterns; `literal_b` treats b's `*`/`?` as plain characters.
    @cache
    def go(i: int, j: int) -> bool:
        a_star = i < len(a) and a[i] == "*"
        b_star = not literal_b and j < len(b) and b[j] == "*"
        if i == len(a) and j == len(b):
            return True
        if a_star and go(i + 1, j):
            return True
        if b_star and go(i, j + 1):
            return True
        if i == len(a) or j == len(b):
            return False
        if a_star:
            return go(i, j + 1)
        if b_star:
            return go(i + 1, j)
        same = a[i] == b[j] or a[i] == "?" or (not literal_b and b[j] == "?")
        return same and go(i + 1, j + 1)

    return go(0, 0)


def _action_matches(patterns: list[str], action: str) -> bool:
    return any(glob_match(p.lower(), action.lower()) for p in patterns)


def _statement_applies(statement: Mapping[str, Any], action: str, resource: str, *, for_deny: bool) -> bool:
    if "Action" in statement:
        if not _action_matches(_as_list(statement["Action"]), action):
            return False
    elif "NotAction" in statement:
        if _action_matches(_as_list(statement["NotAction"]), action):
            return False
    else:
        return False
    if "Resource" in statement:
        return any(_resource_matches(p, resource, for_deny) for p in _as_list(statement["Resource"]))
    if "NotResource" in statement:
        return not any(
            _resource_matches(p, resource, not for_deny) for p in _as_list(statement["NotResource"])
        )
    return False


def _resource_matches(pattern: str, resource: str, covering: bool) -> bool:
    # Allow: some concrete name fits both patterns. Deny: the statement must cover every name.
    return glob_match(pattern, resource) if covering else patterns_overlap(pattern, resource)


def _statements(policies: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for policy in policies:
        statements = policy.get("Statement", [])
        yield from ([statements] if isinstance(statements, Mapping) else statements)


def decide(action: str, resource: str, policies: Sequence[Mapping[str, Any]]) -> tuple[bool, str]:
    """(allowed, reason) for one action on one resource under the given policy documents."""
    allowed = False
    for statement in _statements(policies):
        effect = statement.get("Effect")
        if effect == "Deny" and _statement_applies(statement, action, resource, for_deny=True):
            return (
                False,
                f"explicitly denied by statement {statement.get('Sid') or json.dumps(statement)[:120]}",
            )
        if effect == "Allow" and _statement_applies(statement, action, resource, for_deny=False):
            allowed = True
    return allowed, "allowed" if allowed else "no policy statement allows it"


def check_definition(
    definition: Mapping[str, Any] | str,
    policies: Sequence[Mapping[str, Any]],
    account: Account | None = None,
) -> list[Finding]:
    """Requirements of the definition that the policies do not grant (empty when all are)."""
    findings = []
    for requirement in required_permissions(definition, account):
        allowed, reason = decide(requirement.action, requirement.resource, policies)
        if not allowed:
            findings.append(Finding(requirement, reason))
    return findings
