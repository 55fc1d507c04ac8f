"""The model registry (DynamoDB) as the CLI reads and writes it; vocabulary from lambdas/model_registry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.client import BaseClient

from lambdas.model_registry import (
    PARTITION_KEY,
    STATUS_INDEX,
    STATUS_INDEX_PARTITION_KEY,
    STATUS_INDEX_SORT_KEY,
    ModelStatus,
)
from pipeline_cli.backend import Backend

_DESERIALIZER = TypeDeserializer()


def plain(value: Any) -> Any:
    """DynamoDB's Decimals as ints or floats, recursively (for tables and JSON)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [plain(v) for v in value]
    return value


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: plain(_DESERIALIZER.deserialize(value)) for key, value in item.items()}


def json_attribute(model: dict[str, Any], key: str) -> Any:
    """Attributes the workflow stores as JSON strings (hyperparameters, training_metrics)."""
    value = model.get(key)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _pages(client: BaseClient, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        for item in page.get("Items", []):
            yield from_item(item)


def list_models(backend: Backend, status: ModelStatus | None = None) -> list[dict[str, Any]]:
    """Every model (or those in one status, from the status index), newest first."""
    dynamodb = backend.client("dynamodb")
    table = backend.output("ModelRegistryTableName")
    if status is None:
        models = list(_pages(dynamodb, "scan", TableName=table))
    else:
        models = list(
            _pages(
                dynamodb,
                "query",
                TableName=table,
                IndexName=STATUS_INDEX,
                KeyConditionExpression="#status = :status",
                ExpressionAttributeNames={"#status": STATUS_INDEX_PARTITION_KEY},
                ExpressionAttributeValues={":status": {"S": status.value}},
            )
        )
    return sorted(models, key=lambda m: str(m.get("created_at", "")), reverse=True)


def get_model(backend: Backend, name: str) -> dict[str, Any] | None:
    response = backend.client("dynamodb").get_item(
        TableName=backend.output("ModelRegistryTableName"),
        Key={PARTITION_KEY: {"S": name}},
        ConsistentRead=True,
    )
    return from_item(response["Item"]) if "Item" in response else None


def newest_with_status(backend: Backend, status: ModelStatus) -> list[dict[str, Any]]:
    """Models in `status`, most recently updated first (the index's sort key)."""
    models = list_models(backend, status)
    return sorted(models, key=lambda m: str(m.get(STATUS_INDEX_SORT_KEY, "")), reverse=True)


def now_iso() -> str:
    """The registry's `updated_at` format: ISO-8601 UTC, as `$$.State.EnteredTime` writes it."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def status_update(
    table: str, name: str, status: ModelStatus, expected: str, now: str, extra: dict[str, str]
) -> dict[str, Any]:
    """One Update of a TransactWriteItems, in the shape the workflow's PromoteAndRetire writes."""
    names = {"#status": "status", **{f"#{key}": key for key in extra}}
    values = {
        ":status": {"S": status.value},
        ":now": {"S": now},
        ":expected": {"S": expected},
        **{f":{key}": {"S": value} for key, value in extra.items()},
    }
    assignments = ["#status = :status", f"{STATUS_INDEX_SORT_KEY} = :now", *(f"#{k} = :{k}" for k in extra)]
    return {
        "Update": {
            "TableName": table,
            "Key": {PARTITION_KEY: {"S": name}},
            "UpdateExpression": "SET " + ", ".join(assignments),
            "ConditionExpression": "#status = :expected",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }
