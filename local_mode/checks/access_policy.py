"""AWS's policy evaluation: identity policies, resource policies, key policies, with conditions.

The one evaluator of local mode: the static check of a state machine's role (`iam_check`), the
calls made as a role (`role_access`, `role_calls`) and services acting on resources
(`service_access`) all ask `authorize` or `service_principal_allowed`. Pure functions over policy
documents and one request (`AccessRequest`). What they implement, from the IAM User Guide
("Policy evaluation logic", "Grammar of the IAM JSON policy language", "NotPrincipal"), the KMS
Developer Guide ("Key policies", "Default key policy") and the S3 User Guide ("Policy actions for
S3 API operations"):

- an explicit ``Deny`` in any applicable policy wins;
- same-account requests: allowed when the identity policies **or** the resource policy allow;
  a resource policy that names the account (``arn:aws:iam::ACCOUNT:root`` or ``ACCOUNT``) instead
  of the principal only delegates to IAM: the identity policies must then allow;
- KMS keys (``authorize(..., key_policy=True)``): the key policy must allow, either naming the
  principal (enough on its own) or the account root (then an identity policy must allow too);
- ``Action``/``NotAction`` (case-insensitive), ``Resource``/``NotResource`` (an identity-policy
  statement without either is invalid and applies to nothing; a resource policy may leave it
  out), ``Principal``/``NotPrincipal``;
- ``Condition`` blocks and policy variables: `policy_conditions`; wildcards: `arn_patterns`.

A partial request (``AccessRequest(partial=True)``, the static check's) stands for every run of
a Task: ``*`` in its resource is a name computed at run time and its missing condition keys are
unknown. An ``Allow`` then counts when it may apply to some run, a ``Deny`` only when it applies to
every run, so what cannot be known never makes the check fail.

`service_principal_allowed` answers the same question for an AWS service principal acting on
a resource through its resource policy (alarm actions on SNS, EventBridge targets, log delivery
with a KMS key), where no identity policy is involved.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from local_mode.checks.arn_patterns import glob_match, patterns_overlap
from local_mode.checks.policy_conditions import conditions_hold, strings, substitute

ContextValue = str | bool | int | float | Sequence[str]
Policy = Mapping[str, Any]

IDENTITY: Final = "identity-based"
RESOURCE: Final = "resource-based"


@dataclass(frozen=True)
class AccessRequest:
    """One authorization question: may ``principal`` do ``action`` on ``resource``, in ``context``?

    ``principal`` is the ARN the caller acts as (an assumed-role session
    ``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION``, a role or user ARN), or a service
    principal (``cloudwatch.amazonaws.com``). ``principal_arn`` is the role's own ARN
    (``aws:PrincipalArn``). ``context`` holds the request's condition keys (any case).
    ``partial``: the request of every run of a Task, known from its definition (module doc).
    """

    principal: str
    action: str
    resource: str
    account_id: str
    principal_arn: str | None = None
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    partial: bool = False

    @property
    def is_service(self) -> bool:
        return not self.principal.startswith("arn:")

    def value(self, key: str) -> list[str] | None:
        """The request's values of a condition key (case-insensitive), as strings; None when absent."""
        lowered = key.lower()
        for name, value in self.context.items():
            if name.lower() == lowered:
                return strings(value)
        return None


@dataclass(frozen=True)
class PolicyMatch:
    """What one policy document says about a request."""

    deny: Mapping[str, Any] | None = None  # the first applicable Deny statement
    allow: Mapping[str, Any] | None = None  # the first applicable Allow naming the principal
    allow_via_account: Mapping[str, Any] | None = None  # an Allow naming only the principal's account


@dataclass(frozen=True)
class Decision:
    """The outcome, with the clause AWS puts after "because" in its AccessDenied message."""

    allowed: bool
    reason: str  # "no identity-based policy allows the s3:ListBucket action", ...
    statement: Mapping[str, Any] | None = None

    def __bool__(self) -> bool:
        return self.allowed


def access_denied_message(request: AccessRequest, decision: Decision, *, quote_resource: bool = True) -> str:
    """AWS's AccessDenied text: ``User: P is not authorized to perform: A on resource: "R" because ...``.

    S3 quotes the resource ARN; KMS does not (``quote_resource=False``).
    """
    resource = f'"{request.resource}"' if quote_resource else request.resource
    return (
        f"User: {request.principal} is not authorized to perform: {request.action} "
        f"on resource: {resource} because {decision.reason}"
    )


# --- evaluation ------------------------------------------------------------------------------


def authorize(
    request: AccessRequest,
    identity_policies: Sequence[Policy],
    resource_policy: Policy | None = None,
    *,
    key_policy: bool = False,
) -> Decision:
    """AWS's decision for a same-account request (explicit Deny, then Allow, else implicit deny).

    ``key_policy=True``: ``resource_policy`` is a KMS key policy, which must allow on its own
    or by delegating to the account (then the identity policies must allow as well).
    """
    identity = [match_policy(p, request, resource_policy=False) for p in identity_policies]
    resource = match_policy(resource_policy, request, resource_policy=True) if resource_policy else None
    for match in identity:
        if match.deny is not None:
            return Decision(False, f"with an explicit deny in an {IDENTITY} policy", match.deny)
    if resource is not None and resource.deny is not None:
        return Decision(False, f"with an explicit deny in a {RESOURCE} policy", resource.deny)
    identity_allow = next((m.allow for m in identity if m.allow is not None), None)
    action = request.action
    if key_policy:
        if resource is None or (resource.allow is None and resource.allow_via_account is None):
            return Decision(False, f"no {RESOURCE} policy allows the {action} action")
        if resource.allow is not None:
            return Decision(True, "allowed by the key policy", resource.allow)
        if identity_allow is None:
            return Decision(False, f"no {IDENTITY} policy allows the {action} action")
        reason = "allowed by an identity-based policy (the key policy delegates to IAM)"
        return Decision(True, reason, identity_allow)
    if identity_allow is not None:
        return Decision(True, "allowed by an identity-based policy", identity_allow)
    if resource is not None and resource.allow is not None:
        return Decision(True, "allowed by the resource-based policy", resource.allow)
    return Decision(False, f"no {IDENTITY} policy allows the {action} action")


def service_principal_allowed(
    service: str,
    action: str,
    resource: str,
    resource_policy: Policy | None,
    *,
    account_id: str,
    context: Mapping[str, ContextValue] | None = None,
) -> Decision:
    """Whether an AWS service principal may act on a resource, by that resource's policy alone.

    Services such as CloudWatch (alarm actions to SNS), EventBridge (rule targets) and
    CloudWatch Logs (a KMS-encrypted log group) act through the target's resource policy;
    no identity policy can grant them anything. Without a policy, nothing allows them.
    """
    request = AccessRequest(service, action, resource, account_id, context=dict(context or {}))
    if resource_policy is None:
        return Decision(False, f"no {RESOURCE} policy allows the {action} action")
    match = match_policy(resource_policy, request, resource_policy=True)
    if match.deny is not None:
        return Decision(False, f"with an explicit deny in a {RESOURCE} policy", match.deny)
    if match.allow is not None:
        return Decision(True, "allowed by the resource-based policy", match.allow)
    return Decision(False, f"no {RESOURCE} policy allows the {action} action")


def match_policy(policy: Policy | str, request: AccessRequest, *, resource_policy: bool) -> PolicyMatch:
    """The first applicable Deny and Allow statements of one policy document."""
    document = json.loads(policy) if isinstance(policy, str) else policy
    deny = allow = via_account = None
    for statement in statements(document):
        # Only a partial request tells "may apply" (what an Allow needs) from "surely applies" (a Deny).
        surely = statement.get("Effect") == "Deny"
        if not _applies(statement, request, surely=surely, resource_policy=resource_policy):
            continue
        principal: Literal["direct", "account"] | None = "direct"
        if resource_policy:
            principal = _principal_match(statement, request)
            if principal is None:
                continue
        if not conditions_hold(statement.get("Condition", {}), request, unknown=not surely):
            continue
        if statement.get("Effect") == "Deny":
            deny = deny or statement
        elif statement.get("Effect") == "Allow":
            if principal == "direct":
                allow = allow or statement
            else:
                via_account = via_account or statement
    return PolicyMatch(deny, allow, via_account)


def statements(policy: Policy) -> Iterator[Mapping[str, Any]]:
    found = policy.get("Statement", [])
    yield from ([found] if isinstance(found, Mapping) else found)


def _applies(
    statement: Mapping[str, Any], request: AccessRequest, *, surely: bool, resource_policy: bool
) -> bool:
    if "Action" in statement:
        if not _any_action(statement["Action"], request.action):
            return False
    elif "NotAction" in statement:
        if _any_action(statement["NotAction"], request.action):
            return False
    else:
        return False
    if "Resource" in statement:
        return any(_resource_in(p, request, surely=surely) for p in strings(statement["Resource"]))
    if "NotResource" in statement:
        return not any(_resource_in(p, request, surely=not surely) for p in strings(statement["NotResource"]))
    return resource_policy  # a resource policy may leave Resource out (it is then the resource itself)


def _resource_in(pattern: str, request: AccessRequest, *, surely: bool) -> bool:
    """Whether the request's resource is one the pattern names (for a partial one: surely, or maybe)."""
    if not request.partial or surely:  # partial: the pattern covers every name the run-time `*` stands for
        return glob_match(substitute(pattern, request), request.resource)
    return patterns_overlap(substitute(pattern, request, unresolved="*"), request.resource)


def _any_action(patterns: Any, action: str) -> bool:
    return any(glob_match(p.lower(), action.lower()) for p in strings(patterns))


# --- principals ------------------------------------------------------------------------------


def _principal_match(
    statement: Mapping[str, Any], request: AccessRequest
) -> Literal["direct", "account"] | None:
    if "Principal" in statement:
        return _principal_in(statement["Principal"], request)
    if "NotPrincipal" in statement:
        # NotPrincipal: the statement applies to everyone not listed. A role session is exempt
        # when its session ARN (or, leniently, its role ARN) is listed.
        return None if _principal_in(statement["NotPrincipal"], request) == "direct" else "direct"
    return None


def _principal_in(principal: Any, request: AccessRequest) -> Literal["direct", "account"] | None:
    if principal == "*":
        return "direct"
    if not isinstance(principal, Mapping):
        return None
    if request.is_service:
        # the default SNS topic policy's {"AWS": "*"} (with an aws:SourceOwner condition) is what lets
        # alarms publish: "*" covers service principals too.
        services = strings(principal.get("Service"))
        return "direct" if request.principal in services or "*" in strings(principal.get("AWS")) else None
    names = strings(principal.get("AWS"))
    identities = {request.principal, request.principal_arn or request.principal}
    account = _account_of(request.principal) or request.account_id
    found: Literal["direct", "account"] | None = None
    for name in names:
        if name == "*" or name in identities:
            return "direct"
        if name in (account, f"arn:aws:iam::{account}:root"):
            found = "account"
    return found


def _account_of(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4] else None
