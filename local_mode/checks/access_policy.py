"""AWS's policy evaluation, with conditions: identity policies, resource policies, key policies.

Pure functions over policy documents and one request (`AccessRequest`). What they implement,
from the IAM User Guide ("Policy evaluation logic", "IAM JSON policy elements: Condition
operators", "Single-valued vs. multivalued context keys", "Policy variables", "NotPrincipal"),
the KMS Developer Guide ("Key policies", "Default key policy", "kms:ViaService",
"kms:EncryptionContext:") and the S3 User Guide ("Policy actions for S3 API operations",
"Condition key examples"):

- an explicit ``Deny`` in any applicable policy wins;
- same-account requests: allowed when the identity policies **or** the resource policy allow;
  a resource policy that names the account (``arn:aws:iam::ACCOUNT:root`` or ``ACCOUNT``) instead
  of the principal only delegates to IAM: the identity policies must then allow;
- KMS keys (``authorize(..., key_policy=True)``): the key policy must allow, either naming the
  principal (enough on its own) or the account root (then an identity policy must allow too);
- ``Action``/``NotAction``, ``Resource``/``NotResource``, ``Principal``/``NotPrincipal``;
- condition operators ``String*`` (``IgnoreCase`` too), ``Arn*``, ``Numeric*``, ``Date*``,
  ``Bool``, ``Null``, ``BinaryEquals``, ``IpAddress``/``NotIpAddress``, each with ``IfExists``
  and the set qualifiers ``ForAnyValue:``/``ForAllValues:``; keys compare case-insensitively;
  a key missing from the request makes a positive operator false and a negated one true;
- policy variables ``${aws:...}``, ``${*}``, ``${?}``, ``${$}`` in ``Resource`` and condition values.

`service_principal_allowed` answers the same question for an AWS service principal acting on
a resource through its resource policy (alarm actions on SNS, EventBridge targets, log delivery
with a KMS key), where no identity policy is involved.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from local_mode.checks.iam_check import glob_match

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
    """

    principal: str
    action: str
    resource: str
    account_id: str
    principal_arn: str | None = None
    context: Mapping[str, ContextValue] = field(default_factory=dict)

    @property
    def is_service(self) -> bool:
        return not self.principal.startswith("arn:")

    def value(self, key: str) -> list[str] | None:
        """The request's values of a condition key (case-insensitive), as strings; None when absent."""
        lowered = key.lower()
        for name, value in self.context.items():
            if name.lower() == lowered:
                return _strings(value)
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
        if not _applies(statement, request):
            continue
        principal: Literal["direct", "account"] | None = "direct"
        if resource_policy:
            principal = _principal_match(statement, request)
            if principal is None:
                continue
        if not conditions_hold(statement.get("Condition", {}), request):
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


def _applies(statement: Mapping[str, Any], request: AccessRequest) -> bool:
    if "Action" in statement:
        if not _any_action(statement["Action"], request.action):
            return False
    elif "NotAction" in statement:
        if _any_action(statement["NotAction"], request.action):
            return False
    else:
        return False
    if "Resource" in statement:
        patterns = _strings(statement["Resource"])
        return any(glob_match(substitute(p, request), request.resource) for p in patterns)
    if "NotResource" in statement:
        patterns = _strings(statement["NotResource"])
        return not any(glob_match(substitute(p, request), request.resource) for p in patterns)
    return True  # resource policies may leave Resource out (it is then the resource itself)


def _any_action(patterns: Any, action: str) -> bool:
    return any(glob_match(p.lower(), action.lower()) for p in _strings(patterns))


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
        services = _strings(principal.get("Service"))
        return "direct" if request.principal in services or "*" in _strings(principal.get("AWS")) else None
    names = _strings(principal.get("AWS"))
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


# --- conditions ------------------------------------------------------------------------------

_OPERATOR: Final = re.compile(r"^(?:(ForAnyValue|ForAllValues):)?([A-Za-z]+?)(IfExists)?$")


def conditions_hold(block: Mapping[str, Any], request: AccessRequest) -> bool:
    """Every operator, every key in it: AND; the values of one key: OR (NOR for negated operators)."""
    for operator, keys in block.items():
        found = _OPERATOR.match(operator)
        if found is None or not isinstance(keys, Mapping):
            return False  # an unknown operator never matches (AWS rejects such policies)
        qualifier, name, if_exists = found.group(1), found.group(2), bool(found.group(3))
        if name not in _TESTS and name != "Null":
            return False
        for key, wanted in keys.items():
            expected = [substitute(v, request) for v in _strings(wanted)]
            if not _condition_holds(qualifier, name, if_exists, key, expected, request):
                return False
    return True


def _condition_holds(
    qualifier: str | None, name: str, if_exists: bool, key: str, expected: list[str], request: AccessRequest
) -> bool:
    actual = request.value(key)
    if name == "Null":
        absent = actual is None or actual == []
        return any((value.lower() == "true") == absent for value in expected)
    negated = "Not" in name
    if actual is None or actual == []:
        if qualifier == "ForAllValues":
            return True
        if qualifier == "ForAnyValue":
            return False
        return if_exists or negated
    test = _TESTS[name]
    if negated:  # a negated operator holds when no request value matches any condition value
        positive = _TESTS[name.replace("Not", "", 1)]
        if qualifier == "ForAllValues":
            return all(not any(positive(a, e) for e in expected) for a in actual)
        if qualifier == "ForAnyValue":
            return any(not any(positive(a, e) for e in expected) for a in actual)
        return not any(positive(a, e) for a in actual for e in expected)
    if qualifier == "ForAllValues":
        return all(any(test(a, e) for e in expected) for a in actual)
    return any(test(a, e) for a in actual for e in expected)


def _arn_like(actual: str, pattern: str) -> bool:
    a_parts, p_parts = actual.split(":", 5), pattern.split(":", 5)
    if len(a_parts) != 6 or len(p_parts) != 6:
        return glob_match(pattern, actual)
    return all(glob_match(p, a) for p, a in zip(p_parts, a_parts, strict=True))


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _numeric(compare: Any) -> Any:
    def test(actual: str, expected: str) -> bool:
        a, e = _number(actual), _number(expected)
        return a is not None and e is not None and bool(compare(a, e))

    return test


def _date(value: str) -> dt.datetime | None:
    try:
        if re.fullmatch(r"\d+(\.\d+)?", value):
            return dt.datetime.fromtimestamp(float(value), dt.UTC)
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def _dates(compare: Any) -> Any:
    def test(actual: str, expected: str) -> bool:
        a, e = _date(actual), _date(expected)
        return a is not None and e is not None and bool(compare(a, e))

    return test


def _ip(actual: str, expected: str) -> bool:
    try:
        return ipaddress.ip_address(actual) in ipaddress.ip_network(expected, strict=False)
    except ValueError:
        return False


_TESTS: Final[dict[str, Any]] = {
    "StringEquals": lambda a, e: a == e,
    "StringNotEquals": lambda a, e: a == e,
    "StringEqualsIgnoreCase": lambda a, e: a.lower() == e.lower(),
    "StringNotEqualsIgnoreCase": lambda a, e: a.lower() == e.lower(),
    "StringLike": lambda a, e: glob_match(e, a),
    "StringNotLike": lambda a, e: glob_match(e, a),
    "ArnEquals": lambda a, e: a == e,
    "ArnNotEquals": lambda a, e: a == e,
    "ArnLike": _arn_like,
    "ArnNotLike": _arn_like,
    "Bool": lambda a, e: a.lower() == e.lower(),
    "BinaryEquals": lambda a, e: a == e,
    "NumericEquals": _numeric(lambda a, e: a == e),
    "NumericNotEquals": _numeric(lambda a, e: a == e),
    "NumericLessThan": _numeric(lambda a, e: a < e),
    "NumericLessThanEquals": _numeric(lambda a, e: a <= e),
    "NumericGreaterThan": _numeric(lambda a, e: a > e),
    "NumericGreaterThanEquals": _numeric(lambda a, e: a >= e),
    "DateEquals": _dates(lambda a, e: a == e),
    "DateNotEquals": _dates(lambda a, e: a == e),
    "DateLessThan": _dates(lambda a, e: a < e),
    "DateLessThanEquals": _dates(lambda a, e: a <= e),
    "DateGreaterThan": _dates(lambda a, e: a > e),
    "DateGreaterThanEquals": _dates(lambda a, e: a >= e),
    "IpAddress": _ip,
    "NotIpAddress": _ip,
}


# --- policy variables and values --------------------------------------------------------------

_VARIABLE: Final = re.compile(r"\$\{([^}]*)\}")


def substitute(text: str, request: AccessRequest) -> str:
    """Replace ``${key}`` (and ``${key, 'default'}``) with the request's value; ``${*}``, ``${?}``, ``${$}``.

    A variable whose key is absent (and has no default) makes the text unmatchable, as AWS
    treats it: the statement then does not apply.
    """
    if "${" not in text:
        return text

    def replace(found: re.Match[str]) -> str:
        inner = found.group(1)
        if inner in ("*", "?", "$"):
            return inner
        key, _, default = inner.partition(",")
        values = request.value(key.strip())
        if values:
            return values[0]
        default = default.strip().strip("'")
        return default if default else "\x00unresolved\x00"

    return _VARIABLE.sub(replace, text)


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, str | int | float):
        return [str(value)]
    return [_strings(v)[0] if isinstance(v, bool) else str(v) for v in value]
