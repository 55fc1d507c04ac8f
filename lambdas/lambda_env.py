"""Reading the environment variables the CDK app gives each Lambda function."""

from __future__ import annotations

import json
import os
from typing import Any


class FunctionMisconfigured(RuntimeError):
    """An environment variable the CDK app should have set is missing or invalid.

    Distinct from the input errors: retrying or fixing the execution input will not help.
    """


def env_str(name: str) -> str:
    """The non-empty value of environment variable ``name``."""
    value = os.environ.get(name, "").strip()
    if not value:
        raise FunctionMisconfigured(f"environment variable {name} is not set (the CDK app sets it)")
    return value


def env_json_object(name: str) -> dict[str, Any]:
    """Environment variable ``name`` parsed as a JSON object."""
    text = env_str(name)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise FunctionMisconfigured(f"environment variable {name} is not valid JSON: {err}") from err
    if not isinstance(value, dict):
        raise FunctionMisconfigured(
            f"environment variable {name} must hold a JSON object, got {type(value).__name__}"
        )
    return value
