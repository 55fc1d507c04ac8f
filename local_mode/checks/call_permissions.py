"""Each botocore operation a role may call, mapped to what AWS authorizes for it.

Only the operations in `OPERATIONS` (and S3's in `role_access.S3_OPERATIONS`) are mapped;
`role_calls` refuses any other call with `UnmappedOperation` rather than let it through
unchecked. What each needs (Service Authorization Reference, "Actions, resources, and condition
keys for ..."):

- the IAM action is ``PREFIX:Operation`` (PREFIX: the service model's signing name, `iam_prefix`),
  except where AWS authorizes another action: DynamoDB's transactions are authorized per item as
  ``PutItem``/``UpdateItem``/``DeleteItem``/``ConditionCheckItem``/``GetItem``; Lambda's Invoke is
  ``lambda:InvokeFunction``; S3's are `role_access`'s (``s3:ListBucket`` for ListObjectsV2, ...);
- the resource is built from the request: DynamoDB ``table/NAME`` (``table/NAME/index/INDEX``
  for Query/Scan on an index), SageMaker ``TYPE/name`` (SageMaker lowercases names in ARNs),
  Step Functions' state machine or execution ARN, the SNS topic, the KMS key, the function;
- SageMaker's Create calls that pass a role also need ``iam:PassRole`` on it (with
  ``iam:PassedToService = sagemaker.amazonaws.com``);
- the resource policy joins the identity policies where the service has one: bucket policy and
  SSE-KMS key policy (S3, by `role_access`), topic policy (SNS), key policy (KMS: it must allow,
  or delegate to the account), function policy (Lambda). ``sts:GetCallerIdentity`` needs none.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import botocore.session

from local_mode.checks.access_policy import ContextValue

__all__ = [
    "OPERATIONS",
    "Call",
    "Need",
    "PolicyKind",
    "Resolver",
    "UnmappedOperation",
    "iam_prefix",
    "service_prefix",
]

PolicyKind = Literal["none", "topic", "key", "function"]


class UnmappedOperation(Exception):
    """A call local mode cannot authorize: it is refused rather than let through unchecked."""


@dataclass(frozen=True)
class Call:
    """One API call to authorize: botocore's service and operation names, the request's parameters."""

    service: str  # botocore's name: "dynamodb", "stepfunctions", "sagemaker-runtime"
    operation: str  # "Query"
    params: Mapping[str, Any]
    prefix: str  # the IAM service prefix: "dynamodb", "states", "sagemaker"
    region: str
    account_id: str

    @property
    def action(self) -> str:
        return f"{self.prefix}:{self.operation}"

    def arn(self, resource: str, prefix: str | None = None) -> str:
        return f"arn:aws:{prefix or self.prefix}:{self.region}:{self.account_id}:{resource}"

    def param(self, name: str) -> str:
        value = self.params.get(name)
        if not isinstance(value, str) or not value:
            raise UnmappedOperation(
                f"{self.service}.{self.operation} without {name}: its resource is unknown"
            )
        return value


@dataclass(frozen=True)
class Need:
    """One authorization AWS makes for a call: ``action`` on ``resource``, and whose policy joins in."""

    action: str
    resource: str
    policy: PolicyKind = "none"
    context: Mapping[str, ContextValue] = field(default_factory=dict)


Resolver = Callable[[Call], list[Need]]

# botocore service name → IAM prefix where the signing name is not it
_PREFIXES: Final = {"cloudwatch": "cloudwatch"}


def iam_prefix(service_model: Any) -> str:
    """The IAM action prefix of a botocore service model (its signing name: ``states``, ``sagemaker``)."""
    name = str(service_model.service_name)
    return _PREFIXES.get(name) or str(service_model.signing_name)


@functools.cache
def service_prefix(service: str) -> str:
    """The IAM action prefix of a botocore service name (``stepfunctions`` → ``states``)."""
    return iam_prefix(_botocore_session().get_service_model(service))


@functools.cache
def _botocore_session() -> botocore.session.Session:
    return botocore.session.get_session()


# --- the mapping ------------------------------------------------------------------------------------


def _on(resource: Callable[[Call], str], policy: PolicyKind = "none") -> Resolver:
    """``PREFIX:Operation`` on one resource built from the request."""
    return lambda call: [Need(call.action, resource(call), policy)]


def _any_resource(call: Call) -> str:
    return "*"


# DynamoDB ("Amazon DynamoDB API permissions: Actions, resources, and conditions reference")


def _table(call: Call, name: str) -> str:
    return name if name.startswith("arn:") else call.arn(f"table/{name}")


def _dynamodb_context(call: Call) -> dict[str, ContextValue]:
    keys = (
        ("Select", "dynamodb:Select"),
        ("ReturnValues", "dynamodb:ReturnValues"),
        ("ReturnConsumedCapacity", "dynamodb:ReturnConsumedCapacity"),
    )
    return {key: str(call.params[param]) for param, key in keys if param in call.params}


def _dynamodb_item(call: Call) -> list[Need]:
    return [Need(call.action, _table(call, call.param("TableName")), context=_dynamodb_context(call))]


def _dynamodb_read(call: Call) -> list[Need]:
    resource = _table(call, call.param("TableName"))
    if call.params.get("IndexName"):
        resource += f"/index/{call.params['IndexName']}"
    return [Need(call.action, resource, context=_dynamodb_context(call))]


def _dynamodb_batch(call: Call) -> list[Need]:
    tables = call.params.get("RequestItems") or {}
    return [Need(call.action, _table(call, str(name))) for name in tables]


_TRANSACT_WRITE: Final = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def _dynamodb_transact(actions: Mapping[str, str]) -> Resolver:
    """Transactions are authorized per item, as the item's own action ("transaction-apis-iam")."""

    def resolve(call: Call) -> list[Need]:
        needs = []
        for item in call.params.get("TransactItems") or []:
            for kind, body in item.items():
                if kind not in actions:
                    raise UnmappedOperation(f"{call.service}.{call.operation} item {kind}")
                needs.append(Need(f"dynamodb:{actions[kind]}", _table(call, str(body.get("TableName", "")))))
        return needs

    return resolve


_DYNAMODB: Final[dict[str, Resolver]] = {
    **{op: _dynamodb_item for op in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "DescribeTable")},
    "Query": _dynamodb_read,
    "Scan": _dynamodb_read,
    "BatchGetItem": _dynamodb_batch,
    "BatchWriteItem": _dynamodb_batch,
    "TransactWriteItems": _dynamodb_transact(_TRANSACT_WRITE),
    "TransactGetItems": _dynamodb_transact({"Get": "GetItem"}),
    "ListTables": _on(_any_resource),
}

# SageMaker: resource type → (the request's name parameter, its operations)
_SAGEMAKER_RESOURCES: Final = {
    "training-job": ("TrainingJobName", ("CreateTrainingJob", "DescribeTrainingJob", "StopTrainingJob")),
    "processing-job": (
        "ProcessingJobName",
        ("CreateProcessingJob", "DescribeProcessingJob", "StopProcessingJob"),
    ),
    "transform-job": ("TransformJobName", ("CreateTransformJob", "DescribeTransformJob", "StopTransformJob")),
    "hyper-parameter-tuning-job": (
        "HyperParameterTuningJobName",
        (
            "CreateHyperParameterTuningJob",
            "DescribeHyperParameterTuningJob",
            "StopHyperParameterTuningJob",
            "ListTrainingJobsForHyperParameterTuningJob",
        ),
    ),
    "model": ("ModelName", ("CreateModel", "DescribeModel", "DeleteModel")),
    "endpoint-config": (
        "EndpointConfigName",
        ("CreateEndpointConfig", "DescribeEndpointConfig", "DeleteEndpointConfig"),
    ),
    "endpoint": ("EndpointName", ("CreateEndpoint", "DescribeEndpoint", "UpdateEndpoint", "DeleteEndpoint")),
}
_SAGEMAKER_LISTS: Final = (
    "ListTrainingJobs",
    "ListProcessingJobs",
    "ListTransformJobs",
    "ListHyperParameterTuningJobs",
    "ListModels",
    "ListEndpointConfigs",
    "ListEndpoints",
)


def _passed_roles(params: Mapping[str, Any]) -> list[str]:
    """The roles a SageMaker Create request passes (each needs ``iam:PassRole``)."""
    roles = [params.get("RoleArn"), params.get("ExecutionRoleArn")]
    definition = params.get("TrainingJobDefinition") or {}
    roles.append(definition.get("RoleArn"))
    roles.extend(d.get("RoleArn") for d in params.get("TrainingJobDefinitions") or [])
    return [r for r in roles if isinstance(r, str) and r]


def _sagemaker(resource_type: str, name_param: str) -> Resolver:
    def resolve(call: Call) -> list[Need]:
        resource = call.arn(f"{resource_type}/{call.param(name_param).lower()}", "sagemaker")
        needs = [Need(f"sagemaker:{call.operation}", resource)]
        if call.operation.startswith("Create"):
            pass_context = {
                "iam:PassedToService": "sagemaker.amazonaws.com",
                "iam:AssociatedResourceArn": resource,
            }
            needs += [Need("iam:PassRole", role, context=pass_context) for role in _passed_roles(call.params)]
        return needs

    return resolve


_SAGEMAKER: Final[dict[str, Resolver]] = {
    **{
        op: _sagemaker(resource_type, name_param)
        for resource_type, (name_param, ops) in _SAGEMAKER_RESOURCES.items()
        for op in ops
    },
    **{op: _on(lambda call: call.arn("*")) for op in _SAGEMAKER_LISTS},
}

_SAGEMAKER_RUNTIME: Final[dict[str, Resolver]] = {
    "InvokeEndpoint": _sagemaker("endpoint", "EndpointName"),
}

_STEP_FUNCTIONS: Final[dict[str, Resolver]] = {
    **{
        op: _on(lambda call: call.param("stateMachineArn"))
        for op in ("StartExecution", "StartSyncExecution", "DescribeStateMachine", "ListExecutions")
    },
    **{
        op: _on(lambda call: call.param("executionArn"))
        for op in (
            "DescribeExecution",
            "StopExecution",
            "GetExecutionHistory",
            "DescribeStateMachineForExecution",
        )
    },
    "ListStateMachines": _on(_any_resource),
}


def _sns_target(call: Call) -> str:
    if call.params.get("PhoneNumber"):
        return "*"  # SMS to a number: no resource
    return str(call.params.get("TopicArn") or call.param("TargetArn"))


_SNS: Final[dict[str, Resolver]] = {
    "Publish": _on(_sns_target, "topic"),
    "GetTopicAttributes": _on(lambda call: call.param("TopicArn"), "topic"),
    "ListTopics": _on(_any_resource),
}


def _kms(call: Call) -> list[Need]:
    context: dict[str, ContextValue] = {"kms:CallerAccount": call.account_id}
    encryption_context = call.params.get("EncryptionContext") or {}
    for name, value in encryption_context.items():
        context[f"kms:EncryptionContext:{name}"] = str(value)
    if encryption_context:
        context["kms:EncryptionContextKeys"] = [str(k) for k in encryption_context]
    if "EncryptionAlgorithm" in call.params:
        context["kms:EncryptionAlgorithm"] = str(call.params["EncryptionAlgorithm"])
    # Decrypt without KeyId: the key is inside the ciphertext, which local mode does not read.
    return [Need(call.action, call.param("KeyId"), "key", context)]


_KMS: Final[dict[str, Resolver]] = {
    op: _kms
    for op in ("Encrypt", "Decrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "DescribeKey")
}


def _function(call: Call) -> str:
    name = call.param("FunctionName")
    if name.startswith("arn:"):
        arn = name
    elif ":function:" in name:  # "ACCOUNT:function:NAME[:QUALIFIER]"
        arn = f"arn:aws:lambda:{call.region}:{name}"
    else:
        arn = call.arn(f"function:{name}", "lambda")
    qualifier = call.params.get("Qualifier")
    return f"{arn}:{qualifier}" if qualifier and arn.count(":") == 6 else arn


_LAMBDA: Final[dict[str, Resolver]] = {
    "Invoke": lambda call: [Need("lambda:InvokeFunction", _function(call), "function")],
    "GetFunction": _on(_function, "function"),
    "GetFunctionConfiguration": _on(_function, "function"),
}

_STS: Final[dict[str, Resolver]] = {
    "GetCallerIdentity": lambda call: [],  # no permission is required (STS API reference)
}

# S3's bucket and object operations (`role_access.S3_OPERATIONS`) are role_access's; ListBuckets:
_S3: Final[dict[str, Resolver]] = {
    "ListBuckets": lambda call: [Need("s3:ListAllMyBuckets", "*")],
}

# botocore service name → operation → what AWS authorizes for it
OPERATIONS: Final[dict[str, dict[str, Resolver]]] = {
    "dynamodb": _DYNAMODB,
    "sagemaker": _SAGEMAKER,
    "sagemaker-runtime": _SAGEMAKER_RUNTIME,
    "stepfunctions": _STEP_FUNCTIONS,
    "sns": _SNS,
    "kms": _KMS,
    "lambda": _LAMBDA,
    "sts": _STS,
    "s3": _S3,
}
