"""cdk-nag findings that were reviewed and accepted: each on one resource, with why.

cdk-nag 3 reads acknowledgements of exact finding ids (`AwsSolutions-IAM5[Resource::<X.Arn>/models/*]`).
The review is kept as patterns per resource; `suppress_reviewed_findings` renders each
wildcard resource of that resource's policy the way cdk-nag does and acknowledges
exactly those that match a reviewed pattern. A wildcard nobody reviewed stays a finding.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import IConstruct

_JOB_NAMES = (
    "SageMaker job, model and endpoint-config names are generated per run; only a name pattern can be granted"
)
_LAMBDA_VERSIONS = "CDK grants invoke on the function and its versions (ARN:*); the function itself is fixed"
_NO_RESOURCE_LEVEL = (
    "These actions have no resource-level permissions (log delivery, X-Ray, sagemaker:ListTags, "
    "sagemaker:ListEndpoints, "
    "ecr:GetAuthorizationToken, cloudwatch:PutMetricData with a namespace condition): "
    "AWS documents Resource '*'"
)
_PREFIXES = "Objects under one prefix of one bucket: keys carry run ids, so the prefix is the narrowest scope"
_SAGEMAKER_LOGS = "SageMaker containers write their own log groups under /aws/sagemaker/"
_CHILD_EXECUTIONS = (
    "startExecution.sync describes and stops the training executions it starts, whose names are generated"
)
_RUNTIME = "Pinned to Python 3.13: the newest runtime the public Powertools layer is published for"

ANY = r"Resource::\*"
BUCKET_PREFIX = r"Resource::<Storage(Data|Artifacts)[A-Z0-9]{8}\.Arn>/[a-z]+/\*"
SAGEMAKER_NAMES = r"Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:[a-z-]+/\*"
FUNCTION_VERSIONS = r"Resource::<Functions[A-Za-z]+[A-Z0-9]{8}\.Arn>:\*"

# construct path below the stack → [(finding pattern, reason)]
REVIEWED_WILDCARDS: dict[str, list[tuple[str, str]]] = {
    "SageMaker/Role": [
        (ANY, _NO_RESOURCE_LEVEL),
        (BUCKET_PREFIX, _PREFIXES),
        (
            r"Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/sagemaker/\*",
            _SAGEMAKER_LOGS,
        ),
    ],
    "Functions/ValidateInputRole": [(ANY, _NO_RESOURCE_LEVEL)],
    "Functions/PlanAttemptRole": [(ANY, _NO_RESOURCE_LEVEL)],
    "Functions/EvaluatePredictionsRole": [(ANY, _NO_RESOURCE_LEVEL), (BUCKET_PREFIX, _PREFIXES)],
    "TrainingWorkflow/StateMachine/Role": [
        (ANY, _NO_RESOURCE_LEVEL),
        (FUNCTION_VERSIONS, _LAMBDA_VERSIONS),
        (SAGEMAKER_NAMES, _JOB_NAMES),
    ],
    "EvaluationWorkflow/StateMachine/Role": [
        (ANY, _NO_RESOURCE_LEVEL),
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
    for name in ("ValidateInput", "PlanAttempt", "EvaluatePredictions")
}


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


def _wildcard_resources(stack: cdk.Stack, role: iam.Role) -> Iterator[tuple[IConstruct, str]]:
    """(policy resource, rendered resource) for every wildcard resource of the role's policies."""
    for child in role.node.find_all():
        if isinstance(child, iam.CfnPolicy):
            document = stack.resolve(child.policy_document)
            for statement in document.get("Statement", []):
                resources = statement.get("Resource", [])
                for resource in resources if isinstance(resources, list) else [resources]:
                    rendered = render_like_nag(resource)
                    if "*" in rendered:
                        yield child, f"Resource::{rendered}"


def suppress_reviewed_findings(stack: cdk.Stack) -> None:
    """Acknowledge exactly the reviewed findings, each on its own resource."""
    for path, patterns in REVIEWED_WILDCARDS.items():
        role = _find(stack, path)
        assert isinstance(role, iam.Role), f"{path} is not a role"
        for policy, finding in _wildcard_resources(stack, role):
            for pattern, reason in patterns:
                if re.fullmatch(pattern, finding):
                    acknowledge(policy, f"AwsSolutions-IAM5[{finding}]", reason)
                    break
    for path, rules in REVIEWED_RULES.items():
        resource = _find(stack, path).node.default_child
        assert resource is not None, f"{path} has no resource"
        for rule, reason in rules:
            acknowledge(resource, rule, reason)


def _find(stack: cdk.Stack, path: str) -> IConstruct:
    node: IConstruct = stack
    for part in path.split("/"):
        node = node.node.find_child(part)
    return node
