"""The model registry: table keys, statuses and their transitions, the status write, the readers.

The one place that knows the registry item's shape. The CDK app builds the workflows'
registry writes from it (values as JSONPaths), the operator CLI builds rollback's write and
reads the registry with it (values as literals), and so do local mode's demo and the tests.
Standard library only: it ships in the Lambda asset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final, Generic, TypeVar


class ModelStatus(StrEnum):
    """Life cycle of one trained model (one registry item)."""

    TRAINING = "TRAINING"
    TRAINED = "TRAINED"
    EVALUATED = "EVALUATED"
    # Manual approval (quality_gate.approval: manual): a person decides after the gate passed.
    PENDING_APPROVAL = "PENDING_APPROVAL"
    APPROVED = "APPROVED"
    DEPLOYED = "DEPLOYED"
    REJECTED = "REJECTED"
    # The step cache made the candidate the deployed champion's own model: nothing to deploy.
    SAME_AS_CHAMPION = "SAME_AS_CHAMPION"
    RETIRED = "RETIRED"
    FAILED = "FAILED"


PARTITION_KEY: Final = "model_name"
STATUS_INDEX: Final = "by-status"
STATUS_INDEX_PARTITION_KEY: Final = "status"
STATUS_INDEX_SORT_KEY: Final = "updated_at"


# Metrics that evaluate_predictions computes for a model. The quality gate may
# compare any of them (``gate.metric``), and the registry item's ``metrics`` map
# holds all of them plus RECORDS_METRIC (how many records they were computed on).
EVALUATION_METRICS: Final = ("accuracy", "macro_f1", "macro_precision", "macro_recall")
RECORDS_METRIC: Final = "records"


# --- transitions ------------------------------------------------------------------------------------

# The statuses a model may move to `status` from. A model is created TRAINING; every other
# status is reached by a write of `status_write` (or `transact_update`) from one of these.
ALLOWED_FROM: Final[Mapping[ModelStatus, tuple[ModelStatus, ...]]] = {
    ModelStatus.TRAINING: (),
    ModelStatus.TRAINED: (ModelStatus.TRAINING,),
    ModelStatus.EVALUATED: (ModelStatus.TRAINED,),
    # A retried approval request records the new task token: PENDING_APPROVAL again.
    ModelStatus.PENDING_APPROVAL: (ModelStatus.EVALUATED, ModelStatus.PENDING_APPROVAL),
    ModelStatus.APPROVED: (ModelStatus.PENDING_APPROVAL,),
    # Below the gate, or a person said no (or did not answer in time).
    ModelStatus.REJECTED: (ModelStatus.EVALUATED, ModelStatus.PENDING_APPROVAL),
    ModelStatus.SAME_AS_CHAMPION: (ModelStatus.EVALUATED,),
    # The training workflow promotes a candidate that passed the gate (and, with manual approval,
    # a person); rollback serves a retired champion again.
    ModelStatus.DEPLOYED: (ModelStatus.RETIRED, ModelStatus.EVALUATED, ModelStatus.APPROVED),
    ModelStatus.RETIRED: (ModelStatus.DEPLOYED,),
    # A run's failure marks its attempt's model, whatever step it had reached.
    ModelStatus.FAILED: (
        ModelStatus.TRAINING,
        ModelStatus.TRAINED,
        ModelStatus.EVALUATED,
        ModelStatus.PENDING_APPROVAL,
        ModelStatus.APPROVED,
    ),
}
# Which models rollback may serve: what DEPLOYED may be reached from, but APPROVED (a model its own
# run is deploying right now).
DEPLOYABLE: Final = tuple(s for s in ALLOWED_FROM[ModelStatus.DEPLOYED] if s != ModelStatus.APPROVED)
# What the training workflow's promotion expects: its candidate, approved or not (the run's
# quality_gate.approval decides which path it took).
PROMOTED_BY_WORKFLOW: Final = (ModelStatus.EVALUATED, ModelStatus.APPROVED)

# The registry attributes of manual approval (lambdas/approval_request.py writes the request,
# the training workflow the decision, the CLI reads both).
APPROVAL_TOKEN: Final = "approval_token"
APPROVAL_REQUESTED_AT: Final = "approval_requested_at"
APPROVAL_EXPIRES_AT: Final = "approval_expires_at"
# The champion the candidate was compared with ("" for none): an approval after another model
# was deployed would deploy a model compared with the wrong champion.
APPROVAL_CHAMPION: Final = "approval_champion"
DECIDED_BY: Final = "decided_by"
DECIDED_AT: Final = "decided_at"
DECISION_REASON: Final = "decision_reason"
# Why a REJECTED model was rejected, in words: below the quality gate, or by whom and why at approval.
REJECTION: Final = "rejection"
# A DEPLOYED model whose endpoint autoscaling could not be (re)registered after it went live: it
# serves at the config's instance count (the training workflow's deployment, endpoint_deployment.py).
AUTOSCALING_ERROR: Final = "autoscaling_error"
AUTOSCALING_CAUSE: Final = "autoscaling_cause"


def may_move(current: str, status: ModelStatus) -> bool:
    """Whether a model in `current` may move to `status`."""
    return current in ALLOWED_FROM[status]


# --- the status write -------------------------------------------------------------------------------

V = TypeVar("V")


@dataclass(frozen=True)
class StatusWrite(Generic[V]):
    """The parts of an UpdateItem that moves one model to a status, with attributes set in the same write.

    `V` is how a value is written: a DynamoDB attribute value (`{"S": "..."}`), the same with a
    JSONPath (`{"S.$": "$.path"}`), or the CDK's `DynamoAttributeValue`.
    """

    update_expression: str
    condition_expression: str
    names: dict[str, str]
    values: dict[str, V]


def status_write(
    status: ModelStatus,
    *,
    now: V,
    string: Callable[[str], V],
    attributes: Mapping[str, V] | None = None,
    expected: str | tuple[str, ...] | None = None,
) -> StatusWrite[V]:
    """Move to `status` (stamping `updated_at`), conditioned on the item being in `expected` (one
    status or any of several), or, without `expected`, on the item existing (a status write never
    creates an item)."""
    expected_statuses = (expected,) if isinstance(expected, str) else expected or ()
    for before in expected_statuses:
        if not may_move(before, status):
            raise ValueError(f"a {before} model cannot become {status}")
    extra = dict(attributes or {})
    names = {"#status": STATUS_INDEX_PARTITION_KEY, **{f"#{k}": k for k in extra}}
    values: dict[str, V] = {
        ":status": string(status.value),
        ":now": now,
        **{f":{k}": v for k, v in extra.items()},
    }
    assignments = ["#status = :status", f"{STATUS_INDEX_SORT_KEY} = :now", *(f"#{k} = :{k}" for k in extra)]
    if not expected_statuses:
        condition = ITEM_EXISTS_CONDITION
    elif len(expected_statuses) == 1:
        condition = "#status = :expected"
        values[":expected"] = string(expected_statuses[0])
    else:
        placeholders = [f":expected{i}" for i in range(len(expected_statuses))]
        condition = f"#status IN ({', '.join(placeholders)})"
        values.update({p: string(s) for p, s in zip(placeholders, expected_statuses, strict=True)})
    return StatusWrite("SET " + ", ".join(assignments), condition, names, values)


def annotation_write(
    status: ModelStatus, *, string: Callable[[str], V], attributes: Mapping[str, V]
) -> StatusWrite[V]:
    """Set attributes of a model that is (still) in `status`, leaving its status and status time."""
    if not attributes:
        raise ValueError("an annotation sets at least one attribute")
    names = {"#status": STATUS_INDEX_PARTITION_KEY, **{f"#{k}": k for k in attributes}}
    values: dict[str, V] = {":current": string(status.value), **{f":{k}": v for k, v in attributes.items()}}
    assignments = ", ".join(f"#{k} = :{k}" for k in attributes)
    return StatusWrite(f"SET {assignments}", "#status = :current", names, values)


def new_item(*, now: V, string: Callable[[str], V], key: V, attributes: Mapping[str, V]) -> dict[str, V]:
    """A new model's item: TRAINING, created and updated now (put with `NEW_ITEM_CONDITION`)."""
    return {
        PARTITION_KEY: key,
        STATUS_INDEX_PARTITION_KEY: string(ModelStatus.TRAINING.value),
        "created_at": now,
        STATUS_INDEX_SORT_KEY: now,
        **attributes,
    }


NEW_ITEM_CONDITION: Final = f"attribute_not_exists({PARTITION_KEY})"
# Every other write: it changes an item, never creates one.
ITEM_EXISTS_CONDITION: Final = f"attribute_exists({PARTITION_KEY})"


def transact_update(table: str, key: Mapping[str, Any], write: StatusWrite[Any]) -> dict[str, Any]:
    """One `Update` of a TransactWriteItems, in the DynamoDB API's shape; `key` is the attribute value."""
    return {
        "Update": {
            "TableName": table,
            "Key": {PARTITION_KEY: dict(key)},
            "UpdateExpression": write.update_expression,
            "ExpressionAttributeNames": write.names,
            "ExpressionAttributeValues": write.values,
            "ConditionExpression": write.condition_expression,
        }
    }


def literal(value: str) -> dict[str, str]:
    """A string attribute value."""
    return {"S": value}


def from_path(path: str) -> dict[str, str]:
    """A string attribute value a state machine reads from its state data (or context, `$$.`)."""
    return {"S.$": path}


# --- reading ----------------------------------------------------------------------------------------


def status_query(status: ModelStatus) -> dict[str, Any]:
    """Query parameters (table name apart) for the models in `status`, most recently updated first."""
    placeholder = f":{status.value.lower()}"
    return {
        "IndexName": STATUS_INDEX,
        "KeyConditionExpression": f"#status = {placeholder}",
        "ExpressionAttributeNames": {"#status": STATUS_INDEX_PARTITION_KEY},
        "ExpressionAttributeValues": {placeholder: {"S": status.value}},
        "ScanIndexForward": False,
    }


def plain(attribute: Mapping[str, Any]) -> Any:
    """A DynamoDB attribute value as plain JSON-able Python: numbers as ints or floats, sets as lists."""
    [(kind, value)] = attribute.items()
    if kind == "S" or kind == "B":
        return value
    if kind == "N":
        number = Decimal(value)
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "BOOL":
        return bool(value)
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: plain(v) for k, v in value.items()}
    if kind == "L":
        return [plain(v) for v in value]
    if kind in ("SS", "BS"):
        return list(value)
    if kind == "NS":
        return [plain({"N": v}) for v in value]
    raise ValueError(f"unknown DynamoDB attribute type {kind}")


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A registry item as plain Python."""
    return {key: plain(value) for key, value in item.items()}


def _pages(client: Any, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        for item in page.get("Items", []):
            yield from_item(item)


def read_models(client: Any, table: str, status: ModelStatus | None = None) -> list[dict[str, Any]]:
    """Every model (or those in `status`, from the status index), newest first; `client` is boto3's."""
    if status is None:
        models = _pages(client, "scan", TableName=table, ConsistentRead=True)
    else:
        models = _pages(client, "query", TableName=table, **status_query(status))
    return sorted(models, key=lambda m: str(m.get("created_at", "")), reverse=True)


def latest_in(client: Any, table: str, status: ModelStatus) -> list[dict[str, Any]]:
    """The models in `status`, the one that reached it last first (the index's sort key)."""
    models = read_models(client, table, status)
    return sorted(models, key=lambda m: str(m.get(STATUS_INDEX_SORT_KEY, "")), reverse=True)


def read_model(client: Any, table: str, name: str) -> dict[str, Any] | None:
    """One model's item, or None."""
    response = client.get_item(TableName=table, Key={PARTITION_KEY: literal(name)}, ConsistentRead=True)
    return from_item(response["Item"]) if "Item" in response else None


def deployed_names(client: Any, table: str) -> list[str]:
    """The models DEPLOYED now (one, unless the registry is inconsistent), most recently first."""
    return [str(m[PARTITION_KEY]) for m in latest_in(client, table, ModelStatus.DEPLOYED)]
