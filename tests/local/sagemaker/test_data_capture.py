"""Reading an endpoint's data capture back (data_capture.read_capture_records, wait_for_capture_records).

The records are written by the real `CaptureWriter`; the writer's own tests are in
test_hosting_autoscaling_capture.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local_mode.sagemaker.serving.data_capture import (
    CaptureSettings,
    CaptureWriter,
    read_capture_records,
    wait_for_capture_records,
)
from tests.local.sagemaker.test_local_sagemaker_support import BUCKET, REGION

DESTINATION = f"s3://{BUCKET}/capture/"
CONFIG = {
    "InitialSamplingPercentage": 100,
    "DestinationS3Uri": DESTINATION,
    "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
    "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
}
START = dt.datetime(2026, 3, 4, 5, 59, 58, 100000, tzinfo=dt.UTC)
HOUR = "capture/ep/AllTraffic/2026/03/04/05"  # one hour's folder of endpoint "ep"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET)
        yield client


def writer(s3: Any, endpoint: str, variant: str = "AllTraffic", *, minutes_apart: int = 0) -> CaptureWriter:
    """A writer that samples everything; each record is `minutes_apart` later than the one before."""
    times = (START + dt.timedelta(minutes=minutes_apart * n) for n in range(1_000))
    return CaptureWriter(
        CaptureSettings.of(CONFIG), s3, endpoint, variant, sample=lambda: 0.0, clock=lambda: next(times)
    )


def invoke(capture: CaptureWriter, number: int) -> None:
    request = json.dumps({"instances": [[float(number)]]}).encode()
    capture(request, "application/json", json.dumps({"predictions": [[number]]}).encode(), "application/json")


def sent(record: dict[str, Any]) -> Any:
    return json.loads(record["captureData"]["endpointInput"]["data"])


def test_reads_one_endpoints_records_variant_by_variant_oldest_first(s3: Any) -> None:
    """Records across an hour boundary come back in time order; another endpoint's stay out, even one
    whose name starts with this one's."""
    capture = writer(s3, "ep", minutes_apart=1)
    for number in range(3):
        invoke(capture, number)
    invoke(writer(s3, "ep-other"), 99)
    invoke(writer(s3, "ep", "Shadow"), 7)

    records = read_capture_records(s3, DESTINATION, "ep")

    assert [sent(r) for r in records] == [{"instances": [[float(n)]]} for n in (0, 1, 2, 7)]
    assert [sent(r) for r in read_capture_records(s3, DESTINATION, "ep-other")] == [{"instances": [[99.0]]}]
    assert read_capture_records(s3, DESTINATION, "nothing-captured") == []


def test_a_file_holds_any_number_of_json_lines(s3: Any) -> None:
    """SageMaker buffers several records into one file; blank lines are no records."""
    lines = [{"eventVersion": "0", "n": n} for n in range(3)]
    body = "\n".join(json.dumps(line) for line in lines) + "\n\n"
    s3.put_object(Bucket=BUCKET, Key=f"{HOUR}/00-00-000-a.jsonl", Body=body)

    assert read_capture_records(s3, DESTINATION.rstrip("/"), "ep") == lines


@pytest.mark.parametrize(
    ("key", "body", "message"),
    [
        (
            "capture/ep/AllTraffic/2026/03/04/stray.jsonl",
            "{}",
            f"s3://{BUCKET}/capture/ep/AllTraffic/2026/03/04/stray.jsonl is not a capture file: expected "
            f"s3://{BUCKET}/capture/ep/<variant>/yyyy/mm/dd/hh/<name>.jsonl",
        ),
        (
            f"{HOUR}/x.jsonl",
            '{"eventVersion": "0"}\nnot json\n',
            f"s3://{BUCKET}/{HOUR}/x.jsonl line 2: not a JSON record",
        ),
        (
            f"{HOUR}/x.jsonl",
            "[1, 2]\n",
            f"s3://{BUCKET}/{HOUR}/x.jsonl line 1: expected a JSON object, got list",
        ),
    ],
)
def test_what_is_not_sagemakers_capture_is_refused_by_name(
    s3: Any, key: str, body: str, message: str
) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    with pytest.raises(ValueError) as error:
        read_capture_records(s3, DESTINATION, "ep")
    assert str(error.value).startswith(message)


def test_the_wait_returns_records_written_after_it_started(s3: Any) -> None:
    capture = writer(s3, "ep")
    invoke(capture, 0)
    late = threading.Timer(0.2, invoke, (capture, 1))
    late.start()
    try:
        records = wait_for_capture_records(s3, DESTINATION, "ep", count=2, timeout=30.0)
    finally:
        late.join()
    assert sorted(sent(r)["instances"][0][0] for r in records) == [0.0, 1.0]


def test_the_wait_is_bounded_and_returns_what_there_is(s3: Any) -> None:
    invoke(writer(s3, "ep"), 0)
    timeout = 0.3
    started = time.monotonic()

    records = wait_for_capture_records(s3, DESTINATION, "ep", count=2, timeout=timeout)

    assert time.monotonic() - started >= timeout
    assert [sent(r) for r in records] == [{"instances": [[0.0]]}]
