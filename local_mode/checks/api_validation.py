"""Validate requests and responses against botocore's service model, as the real API would.

A definition the real SageMaker API would reject must fail locally too. botocore's
`ParamValidator` checks required members, unknown members, types and minimum lengths/values; the
service model also carries maximums, enums and (Java) patterns, which it skips: those are checked
here. Patterns that use Java-only syntax (`\\p{L}`, surrogate ranges) are translated where simple and
otherwise skipped (`skipped_patterns()` lists them).

`validate_request`/`validate_response` raise `ApiValidationError`, whose `code` is
`ValidationException` like the service's own error, so callers map it to the same task error name
as any other SageMaker API error; its message names every offending member.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any, Final

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.validate import ParamValidator


class ApiValidationError(Exception):
    """A request or response does not fit the operation's shape."""

    code: Final = "ValidationException"

    def __init__(self, operation: str, direction: str, problems: list[str]) -> None:
        self.operation = operation
        self.direction = direction
        self.problems = problems
        count = len(problems)
        super().__init__(
            f"{count} validation error{'s' if count != 1 else ''} detected in the {operation} {direction}: "
            + "; ".join(problems)
        )

    @property
    def message(self) -> str:
        return str(self)


@cache
def _service_model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


def operation_model(service: str, operation: str) -> OperationModel:
    """The botocore model of `operation` (PascalCase, e.g. "CreateTrainingJob")."""
    return _service_model(service).operation_model(operation)


def modeled_error_codes(service: str) -> frozenset[str]:
    """Error codes the service model declares (SageMaker: ResourceNotFound, ResourceInUse, ...)."""
    return frozenset(shape.name for shape in _service_model(service).error_shapes)


def request_problems(service: str, operation: str, params: Mapping[str, Any]) -> list[str]:
    """Everything wrong with a request, one line per member; empty when valid."""
    return _problems(operation_model(service, operation).input_shape, params)


def response_problems(service: str, operation: str, response: Mapping[str, Any]) -> list[str]:
    """Everything wrong with a response (e.g. a Describe* result missing a required member)."""
    return _problems(operation_model(service, operation).output_shape, response)


def validate_request(service: str, operation: str, params: Mapping[str, Any]) -> None:
    problems = request_problems(service, operation, params)
    if problems:
        raise ApiValidationError(operation, "request", problems)


def validate_response(service: str, operation: str, response: Mapping[str, Any]) -> None:
    problems = response_problems(service, operation, response)
    if problems:
        raise ApiValidationError(operation, "response", problems)


def _problems(shape: Shape | None, value: Mapping[str, Any]) -> list[str]:
    if shape is None:
        return [] if not value else ["the operation takes no members"]
    report = ParamValidator().validate(dict(value), shape)
    report_lines = report.generate_report().splitlines() if report.has_errors() else []
    problems = [line.strip() for line in report_lines if line.strip()]
    problems += list(_constraint_problems(value, shape, ""))
    return problems


# --- what ParamValidator skips: max, enum, pattern ------------------------------------------


def _constraint_problems(value: Any, shape: Shape, name: str) -> Iterator[str]:
    kind = shape.type_name
    if kind == "structure" and isinstance(value, Mapping):
        for member, member_shape in shape.members.items():
            if member in value and value[member] is not None:
                yield from _constraint_problems(
                    value[member], member_shape, f"{name}.{member}" if name else member
                )
    elif kind == "list" and isinstance(value, list):
        yield from _length_problems(len(value), shape, name, "items")
        for index, item in enumerate(value):
            yield from _constraint_problems(item, shape.member, f"{name}[{index}]")
    elif kind == "map" and isinstance(value, Mapping):
        yield from _length_problems(len(value), shape, name, "entries")
        for key, item in value.items():
            yield from _constraint_problems(key, shape.key, f"{name} (key {key!r})")
            yield from _constraint_problems(item, shape.value, f"{name}[{key!r}]")
    elif kind == "string" and isinstance(value, str):
        yield from _string_problems(value, shape, name)
    elif (
        kind in ("integer", "long", "float", "double")
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
    ):
        maximum = shape.metadata.get("max")
        if maximum is not None and value > maximum:
            yield f"Invalid range for parameter {name}, value: {value}, valid max value: {maximum}"


def _length_problems(length: int, shape: Shape, name: str, unit: str) -> Iterator[str]:
    maximum = shape.metadata.get("max")
    if maximum is not None and length > maximum:
        yield f"Invalid length for parameter {name}, value: {length} {unit}, valid max length: {maximum}"


def _string_problems(value: str, shape: Shape, name: str) -> Iterator[str]:
    yield from _length_problems(len(value), shape, name, "characters")
    enum = shape.enum
    if enum and value not in enum:
        yield f"Invalid value for parameter {name}, value: {value!r}, valid values: {', '.join(enum)}"
    pattern = shape.metadata.get("pattern")
    if pattern:
        compiled = _compile(pattern)
        if compiled is not None and compiled.fullmatch(value) is None:
            yield f"Invalid value for parameter {name}, value: {value!r}, must match pattern: {pattern}"


# Java regex classes the service models use, as Python character ranges. Deliberately wide (all
# of non-ASCII counts as a letter, digit, space, symbol and punctuation): a value the real API
# accepts is never rejected; the ASCII part is exact enough to catch real mistakes.
_WIDE: Final = "\\u00a0-\\uffff"
_JAVA_CLASSES: Final = {
    "L": "a-zA-Z" + _WIDE,
    "M": _WIDE,
    "N": "0-9" + _WIDE,
    "Z": " " + _WIDE,
    "S": "$+<=>^`|~" + _WIDE,
    "P": "!-/:-@\\[-`{-~" + _WIDE,
    "Alnum": "a-zA-Z0-9",
}
_JAVA_CLASS: Final = re.compile(r"\\p\{(\w+)\}")
_skipped: set[str] = set()


def _translate(pattern: str) -> str | None:
    """Replace Java's `\\p{...}` classes; None when one is unknown."""
    out: list[str] = []
    in_class = False
    position = 0
    while position < len(pattern):
        match = _JAVA_CLASS.match(pattern, position)
        if match:
            ranges = _JAVA_CLASSES.get(match.group(1))
            if ranges is None:
                return None
            out.append(ranges if in_class else f"[{ranges}]")
            position = match.end()
            continue
        char = pattern[position]
        if char == "\\":
            out.append(pattern[position : position + 2])
            position += 2
            continue
        in_class = (in_class or char == "[") and not (in_class and char == "]")
        out.append(char)
        position += 1
    return "".join(out)


@cache
def _compile(pattern: str) -> re.Pattern[str] | None:
    translated = _translate(pattern)
    try:
        if translated is not None:
            return re.compile(translated)
    except re.error:
        pass
    _skipped.add(pattern)
    return None


def skipped_patterns() -> list[str]:
    """Service-model patterns seen so far that Python's `re` could not check."""
    return sorted(_skipped)
