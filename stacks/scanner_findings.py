"""checkov and cfn-lint findings that were reviewed and accepted: each on one resource, with why.

Both scanners read acknowledgements from the resource's own template metadata:
checkov ``Metadata.checkov.skip: [{id, comment}]`` and cfn-lint
``Metadata.cfn-lint.config.ignore_checks: [id]`` (cfn-lint has no reason field:
the reason is kept next to it, as ``Metadata.cfn-lint.reasons: {id: why}``).
A finding on a resource nobody reviewed stays a finding (``make scan``,
tests/infra/test_scanners.py). The access-log bucket's CKV_AWS_18 is acknowledged
where that bucket is built (pipeline_constructs/storage.py).
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import IConstruct

CHECKOV = "checkov"
CFN_LINT = "cfn-lint"

_SYNCHRONOUS = (
    "Step Functions invokes this function synchronously and retries and catches its errors; "
    "a dead-letter queue only receives failed asynchronous invocations, so it would stay empty"
)
_NO_VPC = (
    "The function calls only AWS service APIs, under its IAM role, and reaches no private "
    "network resource; a VPC would add NAT or endpoints and cold starts without isolating anything"
)
_NO_RESERVED_CONCURRENCY = (
    "Invoked a bounded number of times per workflow execution; reserving concurrency takes from the "
    "account's unreserved pool, of which Lambda keeps 100, so in accounts with a low concurrency "
    "quota (new accounts) the reservation would fail the deploy"
)
_ROLE_DEPENDENCY = (
    "CDK makes the resource depend on its role construct so the role's DefaultPolicy exists before "
    "first use; the Role entry of that DependsOn is also implied by the GetAtt of the role's Arn"
)
_FUNCTION_FINDINGS = [
    (CHECKOV, "CKV_AWS_116", _SYNCHRONOUS),
    (CHECKOV, "CKV_AWS_117", _NO_VPC),
    (CHECKOV, "CKV_AWS_115", _NO_RESERVED_CONCURRENCY),
    (CFN_LINT, "W3005", _ROLE_DEPENDENCY),
]

# construct path below the stack → [(scanner, finding id, reason)]
REVIEWED_FINDINGS: dict[str, list[tuple[str, str, str]]] = {
    **{
        f"Functions/{name}": _FUNCTION_FINDINGS
        for name in ("ValidateInput", "PlanAttempt", "EvaluatePredictions", "RequestApproval", "StepCache")
    },
    "TrainingWorkflow/StateMachine": [(CFN_LINT, "W3005", _ROLE_DEPENDENCY)],
    "EvaluationWorkflow/StateMachine": [(CFN_LINT, "W3005", _ROLE_DEPENDENCY)],
}


def acknowledge_scanner_findings(stack: cdk.Stack) -> None:
    """Write each reviewed finding into its resource's metadata, where the scanner reads it."""
    for path, findings in REVIEWED_FINDINGS.items():
        resource = _find(stack, path).node.default_child
        assert isinstance(resource, cdk.CfnResource), f"{path} has no CloudFormation resource"
        for scanner, finding, reason in findings:
            acknowledge(resource, scanner, finding, reason)


def acknowledge(resource: cdk.CfnResource, scanner: str, finding: str, reason: str) -> None:
    """Accept one finding of ``scanner`` (checkov or cfn-lint) on one resource, with why."""
    if not reason.strip():
        raise ValueError(f"{finding}: a reviewed finding needs its reason")
    metadata: dict[str, Any] = resource.get_metadata(scanner) or {}
    if scanner == CHECKOV:
        skips = [*metadata.get("skip", []), {"id": finding, "comment": reason}]
        resource.add_metadata(CHECKOV, {**metadata, "skip": skips})
    elif scanner == CFN_LINT:
        config = metadata.get("config", {})
        ignored = [*config.get("ignore_checks", []), finding]
        reasons = {**metadata.get("reasons", {}), finding: reason}
        resource.add_metadata(CFN_LINT, {"config": {**config, "ignore_checks": ignored}, "reasons": reasons})
    else:
        raise ValueError(f"unknown scanner {scanner!r}")


def _find(stack: cdk.Stack, path: str) -> IConstruct:
    node: IConstruct = stack
    for part in path.split("/"):
        node = node.node.find_child(part)
    return node
