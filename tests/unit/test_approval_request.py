"""lambdas/approval_request: the PENDING_APPROVAL write, the message, the multi-status condition."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lambdas import approval_request
from lambdas.approval_request import (
    ApprovalRequest,
    InvalidApprovalRequest,
    ModelNotAwaitingApproval,
    approval_message,
    record_pending,
)
from lambdas.execution_input import InvalidExecutionInput, ProjectBuckets, validate_training_input
from lambdas.model_registry import (
    APPROVAL_CHAMPION,
    APPROVAL_EXPIRES_AT,
    APPROVAL_TOKEN,
    ModelStatus,
    literal,
    read_model,
    status_write,
)
from tests.unit.lambda_fixtures import (
    ARTIFACTS_BUCKET,
    DATA_BUCKET,
    LambdaContextStub,
    training_defaults,
)

TABLE = "registry"
BUCKETS = ProjectBuckets(data=DATA_BUCKET, artifacts=ARTIFACTS_BUCKET)
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CANDIDATE = {
    "model_name": "cand-a1",
    "metric": 0.97,
    "metrics": {"accuracy": 0.97, "macro_f1": 0.96, "records": 360},
    "registry_metrics": {"accuracy": {"N": "0.97"}},
    "report_uri": "s3://artifacts/evaluations/cand-a1/report.json",
    "confusion_matrix_uri": "s3://artifacts/evaluations/cand-a1/confusion_matrix.png",
}
CHAMPION = {"model_name": "champ-a1", "metric": 0.95, "metrics": {"accuracy": 0.95}, "floor": 0.94}


def _event(champion: dict[str, Any] | None = CHAMPION, timeout: int = 3600) -> dict[str, Any]:
    return {
        "task_token": "token-1",
        "execution": "arn:aws:states:us-east-1:123456789012:execution:Training:run-1",
        "model_name": "cand-a1",
        "gate": {
            "metric": "accuracy",
            "threshold": 0.9,
            "approval": "manual",
            "approval_timeout_seconds": timeout,
        },
        "evaluation": {"candidate": CANDIDATE, "champion": champion},
    }


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "model_name", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "model_name", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def _model(client: Any, status: ModelStatus) -> None:
    client.put_item(
        TableName=TABLE,
        Item={"model_name": literal("cand-a1"), "status": literal(status.value), "updated_at": literal("t0")},
    )


def test_an_evaluated_model_becomes_pending_with_the_token_and_its_champion(dynamodb: Any) -> None:
    _model(dynamodb, ModelStatus.EVALUATED)

    expires = record_pending(dynamodb, TABLE, ApprovalRequest.model_validate(_event(timeout=90)), NOW)

    item = read_model(dynamodb, TABLE, "cand-a1")
    assert item is not None
    assert item["status"] == ModelStatus.PENDING_APPROVAL
    assert item[APPROVAL_TOKEN] == "token-1"
    assert item[APPROVAL_CHAMPION] == "champ-a1"
    assert item[APPROVAL_EXPIRES_AT] == expires == "2026-11-22T12:01:30.000Z"


def test_a_retried_request_replaces_the_token(dynamodb: Any) -> None:
    _model(dynamodb, ModelStatus.EVALUATED)
    record_pending(dynamodb, TABLE, ApprovalRequest.model_validate(_event()), NOW)
    retried = {**_event(champion=None), "task_token": "token-2"}

    record_pending(dynamodb, TABLE, ApprovalRequest.model_validate(retried), NOW)

    item = read_model(dynamodb, TABLE, "cand-a1")
    assert item is not None and (item[APPROVAL_TOKEN], item[APPROVAL_CHAMPION]) == ("token-2", "")


@pytest.mark.parametrize("status", [ModelStatus.REJECTED, ModelStatus.DEPLOYED, ModelStatus.APPROVED])
def test_a_model_past_the_gate_cannot_be_asked_about(dynamodb: Any, status: ModelStatus) -> None:
    _model(dynamodb, status)
    with pytest.raises(ModelNotAwaitingApproval, match="cand-a1 is not EVALUATED"):
        record_pending(dynamodb, TABLE, ApprovalRequest.model_validate(_event()), NOW)
    item = read_model(dynamodb, TABLE, "cand-a1")
    assert item is not None and item["status"] == status and APPROVAL_TOKEN not in item


def test_the_message_shows_both_models_the_report_and_the_commands() -> None:
    message = approval_message(ApprovalRequest.model_validate(_event()), "2026-11-22T13:00:00.000Z")

    assert message["event"] == "PENDING_APPROVAL" and message["model_name"] == "cand-a1"
    assert message["candidate"] == {
        "model_name": "cand-a1",
        "accuracy": 0.97,
        "metrics": CANDIDATE["metrics"],
    }
    assert message["champion"]["model_name"] == "champ-a1" and message["champion"]["accuracy"] == 0.95
    assert message["report_uri"] == CANDIDATE["report_uri"]
    assert message["confusion_matrix_uri"] == CANDIDATE["confusion_matrix_uri"]
    assert message["approve"] == "mlpipeline approve cand-a1"
    assert message["reject"].startswith("mlpipeline reject cand-a1 --reason")
    assert message["expires_at"] == "2026-11-22T13:00:00.000Z"


def test_a_first_model_has_no_champion_in_the_message() -> None:
    message = approval_message(ApprovalRequest.model_validate(_event(champion=None)), "later")
    assert message["champion"] is None


def test_the_handler_records_then_publishes(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _model(dynamodb, ModelStatus.EVALUATED)
    sns = boto3.client("sns", region_name="us-east-1")
    topic = sns.create_topic(Name="pipeline")["TopicArn"]
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
    )
    monkeypatch.setenv(approval_request.REGISTRY_TABLE_ENV, TABLE)
    monkeypatch.setenv(approval_request.TOPIC_ARN_ENV, topic)
    monkeypatch.setattr(approval_request, "_clients", lambda: (dynamodb, sns))

    approval_request.handler(_event(), LambdaContextStub())

    item = read_model(dynamodb, TABLE, "cand-a1")
    assert item is not None and item["status"] == ModelStatus.PENDING_APPROVAL
    [received] = sqs.receive_message(QueueUrl=queue)["Messages"]
    assert json.loads(received["Body"])["approve"] == "mlpipeline approve cand-a1"


def test_a_bad_payload_names_the_field() -> None:
    event = _event()
    del event["task_token"]
    with pytest.raises(InvalidApprovalRequest, match="task_token"):
        approval_request.handler(event, LambdaContextStub())


def test_a_status_write_from_several_statuses_conditions_on_each() -> None:
    write = status_write(
        ModelStatus.REJECTED,
        now=literal("t"),
        string=literal,
        expected=(ModelStatus.EVALUATED, ModelStatus.PENDING_APPROVAL),
    )
    assert write.condition_expression == "#status IN (:expected0, :expected1)"
    assert (write.values[":expected0"], write.values[":expected1"]) == (
        literal("EVALUATED"),
        literal("PENDING_APPROVAL"),
    )
    with pytest.raises(ValueError, match="a TRAINING model cannot become APPROVED"):
        status_write(ModelStatus.APPROVED, now=literal("t"), string=literal, expected=(ModelStatus.TRAINING,))


def test_a_run_asks_for_manual_approval_and_a_bad_value_is_named() -> None:
    run = validate_training_input({"gate": {"approval": "manual"}}, training_defaults(), BUCKETS)
    assert (run["gate"]["approval"], run["gate"]["approval_timeout_seconds"]) == ("manual", 43200)

    with pytest.raises(InvalidExecutionInput) as refused:
        validate_training_input(
            {"gate": {"approval": "auto", "approval_timeout_seconds": 0}}, training_defaults(), BUCKETS
        )
    assert [p.split(":")[0] for p in refused.value.problems] == [
        "gate.approval",
        "gate.approval_timeout_seconds",
    ]
    assert "'none' or 'manual'" in refused.value.problems[0]
