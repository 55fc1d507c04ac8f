"""Cost allocation tags on everything the workflows create in SageMaker.

Every job (processing, training, tuning, transform), model, endpoint config and endpoint gets
`project`, `run_id`, `model_name` and `execution` in its Create request's `Tags`, and the stack's
own tags (`cdk.Tags.of(stack)`) as well: CDK tags resources of the template, not the request
parameters of Step Functions tasks, so they are copied into the requests here. SageMaker needs
`sagemaker:AddTags` on the created resource for a Create request with tags (API reference,
e.g. CreateModel's `Tags`; IAM guide, "Actions defined by Amazon SageMaker AI"); each tagged task
grants it on exactly the resources it creates.

Values come from the state: `$.run.run_id`, the model's name (none before a model exists: the
preprocessing job's `model_name` is empty), and `$$.Execution.Id`. A SageMaker tag value is at most
256 characters of letters, digits, spaces and `_.:/=+-@` (botocore's `TagValue` pattern): an
execution ARN is at most 48 + 80 + 1 + 80 characters of those when its execution name keeps to
them, which the operator CLI's generated names do (docs/architecture.md).
"""

from __future__ import annotations

from typing import Any, Final

import jsii
from aws_cdk import IStableAnyProducer, Lazy, Stack, Token
from aws_cdk import aws_iam as iam
from constructs import Construct

from .deployment_entry import EXECUTION_PATH, RUN_ID_PATH

TAG_KEYS: Final = ("project", "run_id", "model_name", "execution")
_CONSTRUCT_ID: Final = "CostAllocationTags"


class CostAllocationTags(Construct):
    """The stack's project name for the request tags; one per stack, found by `request_tags`."""

    def __init__(self, stack: Stack, *, project: str) -> None:
        super().__init__(stack, _CONSTRUCT_ID)
        self.project = project


def request_tags(scope: Construct, *, model_name_path: str | None) -> Any:
    """The `Tags` of a Create request made in `scope`'s stack (a token resolved at synthesis, when
    the stack's tags are known); None when the stack has no `CostAllocationTags` (a construct
    built outside the app)."""
    stack = Stack.of(scope)
    found = stack.node.try_find_child(_CONSTRUCT_ID)
    if not isinstance(found, CostAllocationTags):
        return None
    model_name = {"Value.$": model_name_path} if model_name_path else {"Value": ""}
    own = [
        {"Key": "project", "Value": found.project},
        {"Key": "run_id", "Value.$": RUN_ID_PATH},
        {"Key": "model_name", **model_name},
        {"Key": "execution", "Value.$": EXECUTION_PATH},
    ]
    # A whole-string token: it crosses jsii as JSON (to_state_json) and resolves to the list.
    return Token.as_string(Lazy.any(_WithStackTags(stack, own)))


@jsii.implements(IStableAnyProducer)
class _WithStackTags:
    """The request's own tags, then the stack's (cdk.Tags are applied just before synthesis)."""

    def __init__(self, stack: Stack, own: list[dict[str, str]]) -> None:
        self._stack, self._own = stack, own

    def produce(self) -> Any:
        inherited = _stack_tags(self._stack)
        return self._own + [{"Key": k, "Value": v} for k, v in inherited.items() if k not in TAG_KEYS]


def _stack_tags(stack: Stack) -> dict[str, str]:
    rendered: Any = stack.tags.render_tags() or {}
    if isinstance(rendered, list):
        return {str(tag["Key"]): str(tag["Value"]) for tag in rendered}
    return {str(key): str(value) for key, value in dict(rendered).items()}


def add_tags_statement(scope: Construct, resource_type: str, name: str = "*") -> iam.PolicyStatement:
    """`sagemaker:AddTags` on the resources of one type a tagged Create request makes."""
    arn = Stack.of(scope).format_arn(service="sagemaker", resource=resource_type, resource_name=name)
    return iam.PolicyStatement(actions=["sagemaker:AddTags"], resources=[arn])
