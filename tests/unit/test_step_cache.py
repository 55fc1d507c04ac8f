"""step_cache: the key (what enters it and what not), lookup's checks, record's conditional write (moto)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lambdas import step_cache
from lambdas.step_cache import (
    SECONDS_PER_DAY,
    InvalidCacheEvent,
    Lookup,
    LookupEvent,
    RecordEvent,
    lookup,
    record,
)
from lambdas.step_cache_key import objects_identity, step_key
from tests.unit.lambda_fixtures import LambdaContextStub

BUCKET = "cache-test-bucket"
TABLE = "cache-test-table"
NOW = 1_800_000_000.0
REQUEST = {
    "image": "training:2.21",
    "code_version": "abc",
    "hyperparameters": {"epochs": "3", "sagemaker_submit_directory": "s3://b/code/abc.tar.gz"},
    "tuning": {"enabled": False, "max_jobs": 2},
}


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": step_cache.PARTITION_KEY, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": step_cache.PARTITION_KEY, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        s3.put_object(Bucket=BUCKET, Key="data/train/a.tfrecord", Body=b"a")
        s3.put_object(Bucket=BUCKET, Key="models/job-1/output/model.tar.gz", Body=b"model")
        yield s3, dynamodb


def _lookup_event(**overrides: Any) -> LookupEvent:
    event = {
        "action": "lookup",
        "step": "training",
        "settings": {"enabled": True, "max_age_days": 30},
        "request": REQUEST,
        "inputs": {"train": f"s3://{BUCKET}/data/train/"},
        **overrides,
    }
    return LookupEvent.model_validate(event)


def _look(aws: tuple[Any, Any], now: float = NOW, **overrides: Any) -> Lookup:
    s3, dynamodb = aws
    return lookup(_lookup_event(**overrides), s3=s3, dynamodb=dynamodb, table=TABLE, now=now)


def _record(aws: tuple[Any, Any], found: Lookup, job: str = "job-1", now: float = NOW) -> dict[str, Any]:
    s3, dynamodb = aws
    event = RecordEvent(
        action="record",
        lookup=found,
        result={"model_data_url": f"s3://{BUCKET}/models/{job}/output/model.tar.gz", "source_job": job},
        artifact_uri=f"s3://{BUCKET}/models/{job}/output/model.tar.gz",
        execution=f"arn:execution:{job}",
        max_age_days=30,
    )
    return record(event, s3=s3, dynamodb=dynamodb, table=TABLE, now=now)


# --- the key -------------------------------------------------------------------------------------


def test_key_ignores_script_mode_locations_and_disabled_tuning(aws: tuple[Any, Any]) -> None:
    s3, _ = aws
    inputs = {"train": objects_identity(s3, f"s3://{BUCKET}/data/train/")}
    moved = {
        **REQUEST,
        "hyperparameters": {"epochs": "3", "sagemaker_submit_directory": "s3://other/code/abc.tar.gz"},
        "tuning": {"enabled": False, "max_jobs": 9},
    }
    assert step_key("training", moved, inputs) == step_key("training", REQUEST, inputs)


@pytest.mark.parametrize(
    "change",
    [
        {"hyperparameters": {"epochs": "4"}},
        {"code_version": "def"},
        {"image": "training:2.22"},
        {"tuning": {"enabled": True, "max_jobs": 2}},
    ],
    ids=["hyperparameters", "code", "image", "tuning-on"],
)
def test_key_changes_with_what_determines_the_result(aws: tuple[Any, Any], change: dict[str, Any]) -> None:
    s3, _ = aws
    inputs = {"train": objects_identity(s3, f"s3://{BUCKET}/data/train/")}
    assert step_key("training", {**REQUEST, **change}, inputs) != step_key("training", REQUEST, inputs)


def test_data_identity_is_the_objects_keys_and_etags(aws: tuple[Any, Any]) -> None:
    s3, _ = aws
    here = objects_identity(s3, f"s3://{BUCKET}/data/train/")
    assert here.count == 1 and objects_identity(s3, f"s3://{BUCKET}/data/train/") == here
    s3.put_object(Bucket=BUCKET, Key="copy/train/a.tfrecord", Body=b"a")
    assert objects_identity(s3, f"s3://{BUCKET}/copy/train/") != here  # same bytes, another object
    s3.put_object(Bucket=BUCKET, Key="data/train/a.tfrecord", Body=b"changed")
    assert objects_identity(s3, f"s3://{BUCKET}/data/train/") != here
    s3.put_object(Bucket=BUCKET, Key="data/train/b.tfrecord", Body=b"a")
    assert objects_identity(s3, f"s3://{BUCKET}/data/train/").count == 2


# --- lookup and record ---------------------------------------------------------------------------


def test_a_recorded_result_is_found_with_its_source_job(aws: tuple[Any, Any]) -> None:
    first = _look(aws)
    assert (first.hit, first.miss_reason) == (False, "no entry")
    assert _record(aws, first)["recorded"] is True

    second = _look(aws, now=NOW + 60)
    assert second.hit and second.key == first.key
    assert second.result is not None
    assert second.result["source_job"] == "job-1" and second.result["reused"] is True
    assert second.result["model_data_url"].endswith("/models/job-1/output/model.tar.gz")


def test_a_result_whose_output_is_gone_is_a_miss_that_may_be_replaced(aws: tuple[Any, Any]) -> None:
    s3, _ = aws
    _record(aws, _look(aws))
    s3.delete_object(Bucket=BUCKET, Key="models/job-1/output/model.tar.gz")

    stale = _look(aws)
    assert not stale.hit and stale.replaces == "job-1" and "gone" in str(stale.miss_reason)
    s3.put_object(Bucket=BUCKET, Key="models/job-2/output/model.tar.gz", Body=b"model 2")
    assert _record(aws, stale, job="job-2")["recorded"] is True
    assert _look(aws).result == {
        "model_data_url": f"s3://{BUCKET}/models/job-2/output/model.tar.gz",
        "reused": True,
        "source_job": "job-2",
    }


def test_an_entry_older_than_the_runs_max_age_is_a_miss(aws: tuple[Any, Any]) -> None:
    _record(aws, _look(aws))
    later = NOW + 3 * SECONDS_PER_DAY
    found = _look(aws, now=later, settings={"enabled": True, "max_age_days": 2})
    assert not found.hit and "max_age_days" in str(found.miss_reason)


def test_cache_off_neither_reads_nor_writes(aws: tuple[Any, Any]) -> None:
    _, dynamodb = aws
    found = _look(aws, settings={"enabled": False, "max_age_days": 30})
    assert (found.enabled, found.hit, found.key) == (False, False, None)
    assert _record(aws, found)["recorded"] is False
    assert dynamodb.scan(TableName=TABLE)["Items"] == []


def test_two_runs_that_both_missed_keep_the_first_entry(aws: tuple[Any, Any]) -> None:
    s3, dynamodb = aws
    s3.put_object(Bucket=BUCKET, Key="models/job-2/output/model.tar.gz", Body=b"model 2")
    first, second = _look(aws), _look(aws)  # both in flight, both missed

    assert _record(aws, first, job="job-1")["recorded"] is True
    outcome = _record(aws, second, job="job-2")
    assert outcome == {"recorded": False, "reason": "another run recorded this step first"}
    [item] = dynamodb.scan(TableName=TABLE)["Items"]
    assert item["source_job"]["S"] == "job-1"
    assert _look(aws).hit


def test_a_stale_entry_replaced_by_one_run_is_not_replaced_again_by_the_other(aws: tuple[Any, Any]) -> None:
    s3, dynamodb = aws
    _record(aws, _look(aws), job="job-1")
    s3.delete_object(Bucket=BUCKET, Key="models/job-1/output/model.tar.gz")
    for job in ("job-2", "job-3"):
        s3.put_object(Bucket=BUCKET, Key=f"models/{job}/output/model.tar.gz", Body=job.encode())
    first, second = _look(aws), _look(aws)  # both saw job-1's entry stale

    assert _record(aws, first, job="job-2")["recorded"] is True
    assert _record(aws, second, job="job-3")["recorded"] is False
    [item] = dynamodb.scan(TableName=TABLE)["Items"]
    assert item["source_job"]["S"] == "job-2"


def test_an_empty_output_is_not_recorded(aws: tuple[Any, Any]) -> None:
    s3, dynamodb = aws
    s3.delete_object(Bucket=BUCKET, Key="models/job-1/output/model.tar.gz")
    outcome = _record(aws, _look(aws))
    assert outcome["recorded"] is False and "nothing under" in outcome["reason"]
    assert dynamodb.scan(TableName=TABLE)["Items"] == []


def test_handler_names_the_bad_field(aws: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(step_cache.CACHE_TABLE_ENV, TABLE)
    event = {**_lookup_event().model_dump(), "settings": {"enabled": "yes", "max_age_days": 30}}
    with pytest.raises(InvalidCacheEvent, match=r"settings\.enabled"):
        step_cache.handler(event, LambdaContextStub())
