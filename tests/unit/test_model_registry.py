"""lambdas/model_registry: the transitions, the status write in its three value shapes, the readers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lambdas.model_registry import (
    ALLOWED_FROM,
    AUTOSCALING_ERROR,
    DEPLOYABLE,
    ModelStatus,
    annotation_write,
    deployed_names,
    from_item,
    from_path,
    latest_in,
    literal,
    may_move,
    new_item,
    read_model,
    read_models,
    status_write,
    transact_update,
)

TABLE = "registry"
NOW = "2026-11-22T12:00:00.000Z"


def test_only_evaluated_or_retired_models_may_be_deployed() -> None:
    assert DEPLOYABLE == (ModelStatus.RETIRED, ModelStatus.EVALUATED)
    assert may_move("RETIRED", ModelStatus.DEPLOYED) and not may_move("REJECTED", ModelStatus.DEPLOYED)
    assert ALLOWED_FROM[ModelStatus.TRAINING] == ()  # created, never moved to
    assert set(ALLOWED_FROM) == set(ModelStatus)


def test_a_status_write_conditioned_on_the_current_status() -> None:
    write = status_write(
        ModelStatus.RETIRED,
        now=literal(NOW),
        string=literal,
        attributes={"retired_by": literal("new")},
        expected=ModelStatus.DEPLOYED,
    )
    assert transact_update(TABLE, literal("old"), write) == {
        "Update": {
            "TableName": TABLE,
            "Key": {"model_name": {"S": "old"}},
            "UpdateExpression": "SET #status = :status, updated_at = :now, #retired_by = :retired_by",
            "ExpressionAttributeNames": {"#status": "status", "#retired_by": "retired_by"},
            "ExpressionAttributeValues": {
                ":status": {"S": "RETIRED"},
                ":now": {"S": NOW},
                ":retired_by": {"S": "new"},
                ":expected": {"S": "DEPLOYED"},
            },
            "ConditionExpression": "#status = :expected",
        }
    }


def test_the_same_write_from_a_state_machines_state_data() -> None:
    write = status_write(ModelStatus.FAILED, now=from_path("$$.State.EnteredTime"), string=literal)
    assert write.values == {":status": {"S": "FAILED"}, ":now": {"S.$": "$$.State.EnteredTime"}}
    assert write.condition_expression == "attribute_exists(model_name)"  # never creates an item


def test_a_write_outside_the_transitions_is_refused() -> None:
    with pytest.raises(ValueError, match="a REJECTED model cannot become DEPLOYED"):
        status_write(ModelStatus.DEPLOYED, now=literal(NOW), string=literal, expected=ModelStatus.REJECTED)


def test_items_read_as_plain_python() -> None:
    item = {
        "model_name": {"S": "m"},
        "attempt": {"N": "2"},
        "gate_metric": {"N": "0.97"},
        "metrics": {"M": {"records": {"N": "360"}, "accuracy": {"N": "0.5"}}},
        "evaluations": {"L": [{"M": {"error": {"S": "x"}, "ok": {"BOOL": False}, "none": {"NULL": True}}}]},
        "tags": {"SS": ["a"]},
    }
    assert from_item(item) == {
        "model_name": "m",
        "attempt": 2,
        "gate_metric": 0.97,
        "metrics": {"records": 360, "accuracy": 0.5},
        "evaluations": [{"error": "x", "ok": False, "none": None}],
        "tags": ["a"],
    }


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "model_name", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": "S"}
                for name in ("model_name", "status", "updated_at")
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by-status",
                    "KeySchema": [
                        {"AttributeName": "status", "KeyType": "HASH"},
                        {"AttributeName": "updated_at", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def _put(client: Any, name: str, status: ModelStatus, created: str, updated: str) -> None:
    item = new_item(now=literal(created), string=literal, key=literal(name), attributes={})
    client.put_item(TableName=TABLE, Item=item)
    write = (
        status_write(status, now=literal(updated), string=literal) if status != ModelStatus.TRAINING else None
    )
    if write is not None:
        _apply(client, name, write)


def test_the_readers(dynamodb: Any) -> None:
    _put(dynamodb, "first", ModelStatus.RETIRED, "2026-01-01", "2026-01-05")
    _put(dynamodb, "second", ModelStatus.DEPLOYED, "2026-01-02", "2026-01-04")
    _put(dynamodb, "third", ModelStatus.RETIRED, "2026-01-03", "2026-01-03")
    _put(dynamodb, "fourth", ModelStatus.TRAINING, "2026-01-06", "2026-01-06")

    assert [m["model_name"] for m in read_models(dynamodb, TABLE)] == ["fourth", "third", "second", "first"]
    assert [m["model_name"] for m in read_models(dynamodb, TABLE, ModelStatus.RETIRED)] == ["third", "first"]
    assert [m["model_name"] for m in latest_in(dynamodb, TABLE, ModelStatus.RETIRED)] == ["first", "third"]
    assert deployed_names(dynamodb, TABLE) == ["second"]
    first = read_model(dynamodb, TABLE, "first")
    assert first is not None and first["status"] == "RETIRED" and first["created_at"] == "2026-01-01"
    assert read_model(dynamodb, TABLE, "missing") is None


def _apply(client: Any, name: str, write: Any) -> None:
    client.update_item(
        TableName=TABLE,
        Key={"model_name": literal(name)},
        UpdateExpression=write.update_expression,
        ConditionExpression=write.condition_expression,
        ExpressionAttributeNames=write.names,
        ExpressionAttributeValues=write.values,
    )


def test_an_annotation_sets_attributes_of_a_model_still_in_its_status(dynamodb: Any) -> None:
    _put(dynamodb, "live", ModelStatus.DEPLOYED, "2026-01-01", "2026-01-02")
    _put(dynamodb, "gone", ModelStatus.RETIRED, "2026-01-01", "2026-01-03")
    note = annotation_write(
        ModelStatus.DEPLOYED, string=literal, attributes={AUTOSCALING_ERROR: literal("E")}
    )

    _apply(dynamodb, "live", note)
    with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException):
        _apply(dynamodb, "gone", note)  # no longer DEPLOYED: nothing is written

    live = read_model(dynamodb, TABLE, "live")
    assert live is not None
    assert (live["status"], live["updated_at"], live[AUTOSCALING_ERROR]) == (
        ModelStatus.DEPLOYED,
        "2026-01-02",  # the status time is the status's, not the annotation's
        "E",
    )
    assert AUTOSCALING_ERROR not in (read_model(dynamodb, TABLE, "gone") or {})
    with pytest.raises(ValueError, match="at least one attribute"):
        annotation_write(ModelStatus.DEPLOYED, string=literal, attributes={})
