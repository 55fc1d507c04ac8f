"""The JSONPath subset SageMaker batch transform accepts in ``DataProcessing`` filters.

Documented operators (Developer Guide, batch-transform-data-processing "Supported JSONPath
Operators"): ``$``, ``.<name>``, ``*``, ``['<name>'(,'<name>')]``, ``[<number>(,<number>)]``
(negative indexes count from the end) and ``[<start>:<end>]``. Anything else (``..``,
filters ``?()``, scripts, several ranges in one bracket) is rejected; the message for
several ranges is the one SageMaker gives (sagemaker-python-sdk issue #1112).

A filter is a projection, as SageMaker applies it: a single name or index yields that
value, several names yield an object with those keys, several indexes or a slice yield a
list. Slices include their end, as the guide's worked example states ("``$[1:4]``
specifies the second through fifth columns").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


class JsonPathError(ValueError):
    """An expression outside the supported subset (raised when it is parsed)."""


class JsonPathApplyError(ValueError):
    """A valid expression that does not fit the record (missing key, index out of range)."""


@dataclass(frozen=True)
class _Names:
    names: tuple[str, ...]


@dataclass(frozen=True)
class _Wildcard:
    pass


@dataclass(frozen=True)
class _Range:
    start: int | None
    end: int | None


@dataclass(frozen=True)
class _Indexes:
    items: tuple[int | _Range, ...]


_Step = _Names | _Wildcard | _Indexes

_DOT_NAME = re.compile(r"\.([A-Za-z_][\w\-]*)")
_DOT_WILDCARD = re.compile(r"\.\*")
_BRACKET = re.compile(r"\.?\[([^\]]*)\]")
_QUOTED = re.compile(r"\s*'([^']*)'\s*")
_INDEX = re.compile(r"\s*(-?\d+)\s*")
_RANGE = re.compile(r"\s*(-?\d+)?\s*:\s*(-?\d+)?\s*")


@dataclass(frozen=True)
class JsonPath:
    expression: str
    steps: tuple[_Step, ...]

    @classmethod
    def parse(cls, expression: str) -> JsonPath:
        if not expression.startswith("$"):
            raise JsonPathError(f"Invalid JsonPath: {expression}: it must start with '$'")
        steps: list[_Step] = []
        position = 1
        while position < len(expression):
            rest = expression[position:]
            if rest.startswith(".."):
                raise JsonPathError(
                    f"Invalid JsonPath: {expression}: recursive descent '..' is not supported"
                )
            match = _DOT_WILDCARD.match(rest)
            if match:
                steps.append(_Wildcard())
            elif match := _DOT_NAME.match(rest):
                steps.append(_Names((match.group(1),)))
            elif match := _BRACKET.match(rest):
                steps.append(_parse_bracket(expression, match.group(1)))
            else:
                raise JsonPathError(f"Invalid JsonPath: {expression}: unsupported syntax at '{rest}'")
            position += match.end()
        return cls(expression, tuple(steps))

    def apply(self, value: Any) -> Any:
        for step in self.steps:
            value = _apply_step(self.expression, step, value)
        return value

    @property
    def is_root(self) -> bool:
        return not self.steps


def _parse_bracket(expression: str, body: str) -> _Step:
    if body.strip() == "*":
        return _Wildcard()
    parts = body.split(",")
    quoted = [_QUOTED.fullmatch(part) for part in parts]
    if all(quoted):
        return _Names(tuple(match.group(1) for match in quoted if match))
    items: list[int | _Range] = []
    for part in parts:
        if index := _INDEX.fullmatch(part):
            items.append(int(index.group(1)))
        elif span := _RANGE.fullmatch(part):
            start, end = span.groups()
            items.append(_Range(None if start is None else int(start), None if end is None else int(end)))
        else:
            raise JsonPathError(f"Invalid JsonPath: {expression}: unsupported bracket expression [{body}]")
    if sum(isinstance(item, _Range) for item in items) > 1:
        raise JsonPathError(
            f"Invalid JsonPath: {expression}: only single range filters of format (eg: [1:5]) are supported. "
            f"Format [{body}] is not supported"
        )
    return _Indexes(tuple(items))


def _apply_step(expression: str, step: _Step, value: Any) -> Any:
    if isinstance(step, _Wildcard):
        if isinstance(value, dict):
            return list(value.values())
        if isinstance(value, list):
            return list(value)
        raise JsonPathApplyError(f"{expression}: '*' applied to a {type(value).__name__}")
    if isinstance(step, _Names):
        if not isinstance(value, dict):
            raise JsonPathApplyError(f"{expression}: expected a JSON object, got {type(value).__name__}")
        if len(step.names) == 1:  # a definite path: the value itself
            name = step.names[0]
            if name not in value:
                raise JsonPathApplyError(f"{expression}: no attribute '{name}' in the record")
            return value[name]
        return {name: value[name] for name in step.names if name in value}
    if not isinstance(value, list):
        raise JsonPathApplyError(f"{expression}: expected a JSON array, got {type(value).__name__}")
    selected: list[Any] = []
    for item in step.items:
        if isinstance(item, _Range):
            start = 0 if item.start is None else _resolve(expression, item.start, len(value))
            end = len(value) - 1 if item.end is None else _resolve(expression, item.end, len(value))
            selected.extend(value[start : end + 1])
        else:
            selected.append(value[_resolve(expression, item, len(value))])
    if len(step.items) == 1 and isinstance(step.items[0], int):
        return selected[0]
    return selected


def _resolve(expression: str, index: int, size: int) -> int:
    resolved = index + size if index < 0 else index
    if not 0 <= resolved < size:
        raise JsonPathApplyError(f"{expression}: index {index} is outside the record's {size} elements")
    return resolved
