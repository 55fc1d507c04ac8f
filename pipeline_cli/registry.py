"""The model registry as the CLI reads it: lambdas/model_registry's readers on the backend's table."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from lambdas.model_registry import ModelStatus, from_item, latest_in, read_model, read_models
from pipeline_cli.backend import Backend

__all__ = ["from_item", "get_model", "json_attribute", "list_models", "newest_with_status", "now_iso"]


def _table(backend: Backend) -> tuple[Any, str]:
    return backend.client("dynamodb"), backend.output("ModelRegistryTableName")


def list_models(backend: Backend, status: ModelStatus | None = None) -> list[dict[str, Any]]:
    """Every model (or those in one status, from the status index), newest first."""
    return read_models(*_table(backend), status)


def get_model(backend: Backend, name: str) -> dict[str, Any] | None:
    return read_model(*_table(backend), name)


def newest_with_status(backend: Backend, status: ModelStatus) -> list[dict[str, Any]]:
    """Models in `status`, most recently updated first (the index's sort key)."""
    return latest_in(*_table(backend), status)


def json_attribute(model: dict[str, Any], key: str) -> Any:
    """Attributes the workflow stores as JSON strings (hyperparameters, training_metrics)."""
    value = model.get(key)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def now_iso() -> str:
    """The registry's `updated_at` format: ISO-8601 UTC, as `$$.State.EnteredTime` writes it."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
