"""Pydantic validation errors as one line per problem: ``<dotted.path>: expected <what>, got <value>``.

Step Functions shows the Lambda's error message as the execution's ``Cause``, so
each line has to be readable on its own by whoever started the execution.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Final, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

# Error types raised with PydanticCustomError in our validators: their message is
# already the expectation ("an s3://bucket/prefix/ URI ..."). ``ctx["field"]``
# names the field for model-level checks, whose loc is the model itself.
CUSTOM_ERROR_PREFIX: Final = "expected_"
_PYDANTIC_PHRASE: Final = re.compile(r"^(Input|String|Value|Dictionary|List) should (be |have )?")
_MAX_VALUE_CHARS: Final = 80
# Bound violations read better as symbols: "expected <= 1000, got 5000".
_BOUNDS: Final = {
    "greater_than_equal": (">=", "ge"),
    "greater_than": (">", "gt"),
    "less_than_equal": ("<=", "le"),
    "less_than": ("<", "lt"),
}


def expected(what: str, **ctx: Any) -> PydanticCustomError:
    """The error a validator raises: ``what`` is the expectation, the path and value are added here.

    ``ctx`` may give ``field`` (the path, for model-level checks) and ``got`` (the value to show).
    """
    return PydanticCustomError(CUSTOM_ERROR_PREFIX + "value", what, ctx or None)


def describe_validation_error(
    error: ValidationError, model: type[BaseModel] | None = None, *, missing: str = "required"
) -> list[str]:
    """One message per problem.

    ``model`` (the validated model) lets unknown fields list the allowed ones;
    ``missing`` is what to say about a required field that is absent.
    """
    return [_describe(detail, model, missing) for detail in error.errors(include_url=False)]


def dotted_path(loc: Sequence[str | int]) -> str:
    """``("training", "instance_count") -> "training.instance_count"``; list indices as ``[i]``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def show_value(value: Any) -> str:
    """A short JSON rendering of an offending value."""
    try:
        text = json.dumps(value, sort_keys=True, default=repr)
    except ValueError:  # circular structures cannot come from JSON, but never fail while reporting
        text = repr(value)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 3] + "..."


def _describe(detail: ErrorDetails, model: type[BaseModel] | None, missing: str) -> str:
    kind = detail["type"]
    ctx = detail.get("ctx") or {}
    loc = tuple(detail["loc"])
    path = dotted_path(loc) or str(ctx.get("field", "input"))
    if kind == "missing":
        return f"{path}: {missing}"
    if kind == "extra_forbidden":
        allowed = _allowed_fields(model, loc[:-1])
        hint = f" (expected one of: {', '.join(allowed)})" if allowed else ""
        return f"{path}: unknown field{hint}, got {show_value(detail['input'])}"
    if kind.startswith(CUSTOM_ERROR_PREFIX):
        expected = detail["msg"]
    elif kind in _BOUNDS:
        symbol, ctx_key = _BOUNDS[kind]
        expected = f"{symbol} {ctx[ctx_key]}"
    elif kind in ("model_type", "dict_type", "model_attributes_type"):
        expected = "a JSON object"
    else:
        expected = _PYDANTIC_PHRASE.sub("", detail["msg"])
    got = ctx["got"] if "got" in ctx else detail["input"]
    return f"{path}: expected {expected}, got {show_value(got)}"


def _allowed_fields(model: type[BaseModel] | None, loc: Sequence[str | int]) -> list[str]:
    """Field names (aliases where set) of the nested model found at ``loc``."""
    for part in loc:
        if model is None or not isinstance(part, str):
            return []
        field = next(
            (f for name, f in model.model_fields.items() if part in (name, f.alias)),
            None,
        )
        # The nested model itself, or the model inside an optional ``Model | None``.
        candidates = [field.annotation, *get_args(field.annotation)] if field else []
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]
