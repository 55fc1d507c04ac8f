"""Static IAM check: does a state machine's role allow every service action its definition calls?

Pure functions over (definition, policy documents):

- `required_permissions(definition, ...)` walks every Task (inside Parallel branches and Map
  processors too) and lists what Step Functions performs for it (`task_permissions`).
- `check_definition(definition, policies, ...)` asks AWS's policy evaluation (`access_policy`)
  about each, as a *partial* request: the check runs before any execution, so it knows the
  definition but not what a run will compute. A dynamic name is ``*`` in the resource: an
  Allow passes when its resource pattern can match some such name, a Deny only counts when it
  covers every such name. Conditions are evaluated on the keys the check knows (the role:
  ``aws:PrincipalArn``, ``aws:PrincipalAccount``, ``aws:PrincipalType``; the Task: e.g.
  ``iam:PassedToService`` of a passed role); a condition on any other key lets an Allow pass and
  keeps a Deny from counting, so what the check cannot know never makes it fail.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from local_mode.checks.access_policy import AccessRequest, ContextValue, Decision, Policy, authorize
from local_mode.checks.task_permissions import Account, task_permissions

__all__ = [
    "Account",
    "Finding",
    "IamCheckError",
    "Requirement",
    "check_definition",
    "iter_tasks",
    "required_permissions",
]


@dataclass(frozen=True)
class Requirement:
    """One action a Task makes Step Functions perform, on one resource (pattern)."""

    state_path: str  # "Evaluate/Branches[0]/TransformCandidate"
    task_resource: str
    action: str  # "sagemaker:CreateTrainingJob"
    resource: str  # an ARN; `*` where the definition computes the name at run time
    context: Mapping[str, ContextValue] = field(default_factory=dict, hash=False)  # keys it surely carries

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
        for needed in task_permissions(resource, arguments, account):
            requirements.append(Requirement(path, resource, needed.action, needed.resource, needed.context))
    return requirements


def check_definition(
    definition: Mapping[str, Any] | str,
    policies: Sequence[Policy],
    account: Account | None = None,
    *,
    role_arn: str | None = None,
) -> list[Finding]:
    """Requirements of the definition that the policies (of the role ``role_arn``) do not grant."""
    account = account or Account()
    findings = []
    for requirement in required_permissions(definition, account):
        decision = authorize(_static_request(requirement, account, role_arn), policies)
        if not decision.allowed:
            findings.append(Finding(requirement, _reason(decision)))
    return findings


def _static_request(requirement: Requirement, account: Account, role_arn: str | None) -> AccessRequest:
    """The partial request of every run of the Task, as the state machine's role makes it."""
    context: dict[str, ContextValue] = {
        "aws:PrincipalAccount": account.account_id,
        "aws:PrincipalType": "AssumedRole",
        **requirement.context,
    }
    if role_arn is not None:
        context["aws:PrincipalArn"] = role_arn
    return AccessRequest(
        principal=role_arn or f"arn:{account.partition}:iam::{account.account_id}:role/*",
        action=requirement.action,
        resource=requirement.resource,
        account_id=account.account_id,
        principal_arn=role_arn,
        context=context,
        partial=True,
    )


def _reason(decision: Decision) -> str:
    if decision.statement is None:
        return decision.reason  # "no identity-based policy allows the sagemaker:StopTrainingJob action"
    statement = decision.statement
    return f"explicitly denied by statement {statement.get('Sid') or json.dumps(statement)[:120]}"
