"""IAM condition blocks and policy variables, evaluated against one request's context keys.

From the IAM User Guide ("IAM JSON policy elements: Condition operators", "Single-valued vs.
multivalued context keys", "Policy variables"):

- operators ``String*`` (``IgnoreCase`` too), ``Arn*``, ``Numeric*``, ``Date*``, ``Bool``,
  ``Null``, ``BinaryEquals``, ``IpAddress``/``NotIpAddress``, each with ``IfExists`` and the set
  qualifiers ``ForAnyValue:``/``ForAllValues:``; an unknown operator never matches;
- keys compare case-insensitively; a key missing from the request makes a positive operator
  false and a negated one true;
- policy variables ``${aws:...}`` (with a ``, 'default'``), ``${*}``, ``${?}``, ``${$}``.

A *partial* request (the static check's: what a state machine will send, known from its
definition) lacks keys it cannot know rather than keys the request does not carry; a test on
such a key is neither true nor false, and the caller says what it counts as (``unknown=``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

from local_mode.checks.arn_patterns import arn_like, glob_match

UNRESOLVED: Final = "\x00unresolved\x00"  # a variable without a value: the text then matches nothing


class ConditionContext(Protocol):
    """What conditions read from a request: its context keys, and whether missing ones are unknown."""

    @property
    def partial(self) -> bool: ...

    def value(self, key: str) -> list[str] | None: ...


_OPERATOR: Final = re.compile(r"^(?:(ForAnyValue|ForAllValues):)?([A-Za-z]+?)(IfExists)?$")


def conditions_hold(block: Mapping[str, Any], request: ConditionContext, *, unknown: bool = False) -> bool:
    """Every operator, every key in it: AND; the values of one key: OR (NOR for negated operators).

    ``unknown``: what a test counts as when ``request.partial`` and it reads a key (or a policy
    variable) that the request does not know.
    """
    for operator, keys in block.items():
        found = _OPERATOR.match(operator)
        if found is None or not isinstance(keys, Mapping):
            return False  # an unknown operator never matches (AWS rejects such policies)
        qualifier, name, if_exists = found.group(1), found.group(2), bool(found.group(3))
        if name not in _TESTS and name != "Null":
            return False
        for key, wanted in keys.items():
            expected = [substitute(v, request) for v in strings(wanted)]
            if request.partial and (request.value(key) is None or any(UNRESOLVED in e for e in expected)):
                held = unknown
            else:
                held = _condition_holds(qualifier, name, if_exists, request.value(key), expected)
            if not held:
                return False
    return True


def _condition_holds(
    qualifier: str | None, name: str, if_exists: bool, actual: list[str] | None, expected: list[str]
) -> bool:
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


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


_Test = Callable[[str, str], bool]


def _numeric(compare: Callable[[float, float], bool]) -> _Test:
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


def _dates(compare: Callable[[dt.datetime, dt.datetime], bool]) -> _Test:
    def test(actual: str, expected: str) -> bool:
        a, e = _date(actual), _date(expected)
        return a is not None and e is not None and bool(compare(a, e))

    return test


def _ip(actual: str, expected: str) -> bool:
    try:
        return ipaddress.ip_address(actual) in ipaddress.ip_network(expected, strict=False)
    except ValueError:
        return False


_TESTS: Final[dict[str, _Test]] = {
    "StringEquals": lambda a, e: a == e,
    "StringNotEquals": lambda a, e: a == e,
    "StringEqualsIgnoreCase": lambda a, e: a.lower() == e.lower(),
    "StringNotEqualsIgnoreCase": lambda a, e: a.lower() == e.lower(),
    "StringLike": lambda a, e: glob_match(e, a),
    "StringNotLike": lambda a, e: glob_match(e, a),
    "ArnEquals": lambda a, e: a == e,
    "ArnNotEquals": lambda a, e: a == e,
    "ArnLike": arn_like,
    "ArnNotLike": arn_like,
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


def substitute(text: str, request: ConditionContext, *, unresolved: str = UNRESOLVED) -> str:
    """Replace ``${key}`` (and ``${key, 'default'}``) with the request's value; ``${*}``, ``${?}``, ``${$}``.

    A variable whose key is absent (and has no default) becomes ``unresolved``: by default a text
    that matches nothing, as AWS treats it (the statement then does not apply).
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
        return default if default else unresolved

    return _VARIABLE.sub(replace, text)


def strings(value: Any) -> list[str]:
    """A policy or context value as the strings IAM compares (booleans as ``true``/``false``)."""
    if value is None:
        return []
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, str | int | float):
        return [str(value)]
    return [strings(v)[0] if isinstance(v, bool) else str(v) for v in value]
