"""Any AWS call made as an IAM role: each botocore operation mapped to its IAM action and resource.

`RoleCalls(access, role_arn, session_name=...)` stands for one assumed-role session, e.g. a Lambda
function's (``arn:aws:sts::ACCOUNT:assumed-role/ROLE/FUNCTION``). While ``with calls.acting():``
runs, every botocore client created **in that thread** (``boto3.client(...)``, ``boto3.resource``,
a new ``boto3.Session``: all go through ``botocore.session.Session.create_client``) gets a
``before-parameter-build`` hook that authorizes each of its operations as the role before the
request is sent, as AWS authorizes a request signed with the role's credentials. The hook stays
on the client: a client a handler caches at import keeps acting as its function's role, with the
policies of the latest ``acting()`` (each one takes a fresh snapshot, read lazily from the local
services; see `role_access.RoleSession`). Clients of other threads, and clients created before
or outside ``acting()``, are not touched.

A refused call raises what botocore raises for AWS's answer: ``client.exceptions.from_code(code)``
(``ClientError`` unless the service models the code) with AWS's message, ``User: arn:aws:sts::
ACCOUNT:assumed-role/ROLE/SESSION is not authorized to perform: dynamodb:Query on resource: ARN
because no identity-based policy allows the dynamodb:Query action`` (IAM User Guide, "Troubleshoot
access denied error messages"). The codes: S3 ``AccessDenied`` (403, the resource quoted, as
`role_access` does), SNS ``AuthorizationError`` (403, ``SNS:Publish`` as SNS spells it), every
other mapped service ``AccessDeniedException``.

Only the operations in `OPERATIONS` (and S3's in `S3_OPERATIONS`) are mapped; any other call is
refused with `UnmappedOperation` rather than let through unchecked. What each needs (Service
Authorization Reference, "Actions, resources, and condition keys for ..."):

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

Not evaluated (as in `role_access`): SCPs, permission boundaries, session policies, DynamoDB
resource policies, VPC endpoint policies; presigned URLs are not authorized when they are made
(AWS authorizes them when they are used, which local mode does not see).
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import botocore.session
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from local_mode.checks.access_policy import AccessRequest, ContextValue, Decision, Policy, authorize
from local_mode.checks.role_access import S3_OPERATIONS, RoleAccess, RoleSession, policy_document

__all__ = [
    "OPERATIONS",
    "S3_OPERATIONS",
    "Call",
    "Need",
    "RoleCalls",
    "UnmappedOperation",
    "iam_prefix",
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
def _service_prefix(service: str) -> str:
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

# service → (error code, HTTP status) of its refusal
_DENIED: Final = {"s3": ("AccessDenied", 403), "sns": ("AuthorizationError", 403)}
_DEFAULT_DENIED: Final = ("AccessDeniedException", 400)


# --- acting as the role -------------------------------------------------------------------------------

_STATE: Final = threading.local()  # .calls: the RoleCalls this thread acts as; .reading: policies being read
_PATCH_LOCK: Final = threading.Lock()
_patch_users = 0
_original_create_client: Callable[..., BaseClient] = botocore.session.Session.create_client


def _create_client(self: botocore.session.Session, *args: Any, **kwargs: Any) -> BaseClient:
    client = _original_create_client(self, *args, **kwargs)
    calls: RoleCalls | None = getattr(_STATE, "calls", None)
    if calls is not None and not getattr(_STATE, "reading", False):
        calls.attach(client)
    return client


def _install() -> None:
    global _patch_users, _original_create_client
    with _PATCH_LOCK:
        if _patch_users == 0 and botocore.session.Session.create_client is not _create_client:
            _original_create_client = botocore.session.Session.create_client
            botocore.session.Session.create_client = _create_client
        _patch_users += 1


def _uninstall() -> None:
    global _patch_users
    with _PATCH_LOCK:
        _patch_users -= 1
        if _patch_users == 0 and botocore.session.Session.create_client is _create_client:
            botocore.session.Session.create_client = _original_create_client


@contextlib.contextmanager
def _reading() -> Iterator[None]:
    """The authorizer's own reads (IAM, S3, KMS through the administrative clients) are not checked."""
    before = getattr(_STATE, "reading", False)
    _STATE.reading = True
    try:
        yield
    finally:
        _STATE.reading = before


class RoleCalls:
    """One assumed-role session whose clients' calls are authorized as AWS would (see the module doc).

    ``context``: condition keys every request carries besides the global ones (a Lambda
    function's: ``lambda:SourceFunctionArn``).
    """

    def __init__(
        self,
        access: RoleAccess,
        role_arn: str,
        *,
        session_name: str,
        context: Mapping[str, ContextValue] | None = None,
    ) -> None:
        self.access = access
        self.role_arn = role_arn
        self.session_name = session_name
        self.context = dict(context or {})
        self._session: RoleSession | None = None
        self._resource_policies: dict[tuple[str, str], Policy | None] = {}
        self._lock = threading.RLock()

    @property
    def principal(self) -> str:
        return self.session().principal

    def session(self) -> RoleSession:
        """The current snapshot of the role's policies (a new one per `acting`)."""
        with self._lock:
            if self._session is None:
                self.refresh()
            assert self._session is not None
            return self._session

    def refresh(self) -> None:
        """Forget what was read: the next call reads the policies again (IAM changes apply)."""
        with self._lock:
            self._session = self.access.session(
                self.role_arn, session_name=self.session_name, context=self.context
            )
            self._resource_policies = {}

    @contextlib.contextmanager
    def acting(self) -> Iterator[RoleCalls]:
        """Clients created in this thread until the block ends act as the role (a fresh snapshot)."""
        self.refresh()
        _install()
        previous = getattr(_STATE, "calls", None)
        _STATE.calls = self
        try:
            yield self
        finally:
            _STATE.calls = previous
            _uninstall()

    def attach(self, client: BaseClient) -> BaseClient:
        """Authorize every operation of ``client`` as this role from now on."""

        def before_parameter_build(
            params: Mapping[str, Any], model: Any, context: Mapping[str, Any] | None = None, **_: Any
        ) -> None:
            if context and context.get("is_presign_request"):
                return  # authorized when the URL is used, not when it is made
            self.check(model.service_model.service_name, model.name, params, client=client)

        client.meta.events.register(
            "before-parameter-build", before_parameter_build, unique_id=f"role-calls-{id(self)}"
        )
        return client

    # -- authorization ----------------------------------------------------------------------------

    def check(
        self, service: str, operation: str, params: Mapping[str, Any], *, client: BaseClient | None = None
    ) -> None:
        """Raise what botocore raises for AWS's refusal unless the role may make this call."""
        region = client.meta.region_name if client is not None else None
        message = self.denial(service, operation, params, region=region)
        if message is None:
            return
        code, status = _DENIED.get(service, _DEFAULT_DENIED)
        response: dict[str, Any] = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        error_class = client.exceptions.from_code(code) if client is not None else ClientError
        raise error_class(response, operation)

    def denial(
        self, service: str, operation: str, params: Mapping[str, Any], *, region: str | None = None
    ) -> str | None:
        """AWS's message for the first authorization of this call refused, else None.

        Raises `UnmappedOperation` for a call it cannot map.
        """
        with _reading():
            if service == "s3" and operation in S3_OPERATIONS:
                return self.session().denial(operation, params)  # bucket policy and SSE-KMS too
            for request, decision in self.decisions(service, operation, params, region=region):
                if not decision.allowed:
                    return self._message(service, request, decision)
        return None

    def decisions(
        self, service: str, operation: str, params: Mapping[str, Any], *, region: str | None = None
    ) -> list[tuple[AccessRequest, Decision]]:
        """Each authorization AWS makes for a call of `OPERATIONS`, with its outcome."""
        resolver = (OPERATIONS.get(service) or {}).get(operation)
        if resolver is None:
            raise self._unmapped(service, operation)
        session = self.session()
        call = Call(
            service, operation, params, _service_prefix(service), region or session.region, session.account_id
        )
        found = []
        with _reading():
            for need in resolver(call):
                request = AccessRequest(
                    principal=session.principal,
                    action=need.action,
                    resource=need.resource,
                    account_id=session.account_id,
                    principal_arn=self.role_arn,
                    context={**session.global_context(), "aws:RequestedRegion": call.region, **need.context},
                )
                found.append((request, self._decide(session, need, request)))
        return found

    def _unmapped(self, service: str, operation: str) -> UnmappedOperation:
        return UnmappedOperation(
            f"local mode cannot authorize {service}.{operation} as {self.role_arn} (session "
            f"{self.session_name}): map it in local_mode/checks/role_calls.py"
        )

    def _decide(self, session: RoleSession, need: Need, request: AccessRequest) -> Decision:
        identity = session.identity_policies()
        if need.policy == "key":
            _, key_policy = session.key(need.resource)
            return authorize(request, identity, key_policy, key_policy=True)
        return authorize(request, identity, self._resource_policy(need))

    def _resource_policy(self, need: Need) -> Policy | None:
        if need.policy == "none" or need.resource == "*":
            return None
        cache_key = (need.policy, need.resource)
        with self._lock:
            if cache_key not in self._resource_policies:
                self._resource_policies[cache_key] = self._read_resource_policy(need)
            return self._resource_policies[cache_key]

    def _read_resource_policy(self, need: Need) -> Policy | None:
        try:
            if need.policy == "topic":
                attributes = self.access.admin("sns").get_topic_attributes(TopicArn=need.resource)
                text = attributes["Attributes"].get("Policy")
            else:
                text = self.access.admin("lambda").get_policy(FunctionName=need.resource)["Policy"]
        except ClientError:
            return None  # no such resource or no policy: the identity policies decide
        return policy_document(text) if text else None

    @staticmethod
    def _message(service: str, request: AccessRequest, decision: Decision) -> str:
        action, reason = request.action, decision.reason
        if service == "sns":  # SNS spells its actions "SNS:Publish" in its messages
            shown = "SNS:" + action.split(":", 1)[1]
            action, reason = shown, reason.replace(request.action, shown)
        return (
            f"User: {request.principal} is not authorized to perform: {action} "
            f"on resource: {request.resource} because {reason}"
        )
