"""An endpoint's data capture, written the way SageMaker writes it and read back as Model Monitor reads it.

Each sampled invocation becomes one JSON Lines record (SageMaker guide, "Capture data from
real-time endpoint"; the format Model Monitor reads):

    {"captureData": {"endpointInput": {"observedContentType", "mode": "INPUT", "data", "encoding"},
                     "endpointOutput": {... "mode": "OUTPUT" ...}},
     "eventMetadata": {"eventId", "inferenceTime"}, "eventVersion": "0"}

under ``<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/``. ``encoding`` is ``JSON`` for the
``JsonContentTypes`` of ``CaptureContentTypeHeader``, ``CSV`` for its ``CsvContentTypes``, else
``BASE64`` (the body base64-encoded). SageMaker buffers records into files every few minutes; here
each record is its own object, written as the model's execution role, encrypted with ``KmsKeyId``.

`read_capture_records` lists and parses an endpoint's files (any number of records each);
`wait_for_capture_records` waits, bounded, for records written after the answer.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import random
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local_mode.sagemaker.jobs.s3_io import S3Uri, list_objects

LOG = logging.getLogger(__name__)
# Below <destination>/<endpoint>/: <variant>/yyyy/mm/dd/hh/<file>.jsonl (what `CaptureWriter.key` writes).
_CAPTURE_FILE = re.compile(r"^[^/]+/\d{4}/\d{2}/\d{2}/\d{2}/[^/]+\.jsonl$")
_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class CaptureSettings:
    """An endpoint config's DataCaptureConfig, as the endpoint applies it."""

    destination: str  # s3://bucket/prefix (no trailing slash)
    sampling_percent: int
    kms_key_id: str | None
    modes: frozenset[str]
    json_types: frozenset[str]
    csv_types: frozenset[str]

    @classmethod
    def of(cls, config: dict[str, Any]) -> CaptureSettings:
        header = config.get("CaptureContentTypeHeader", {})
        return cls(
            destination=str(config["DestinationS3Uri"]).rstrip("/"),
            sampling_percent=int(config["InitialSamplingPercentage"]),
            kms_key_id=config.get("KmsKeyId"),
            modes=frozenset(option["CaptureMode"] for option in config["CaptureOptions"]),
            json_types=frozenset(header.get("JsonContentTypes", [])),
            csv_types=frozenset(header.get("CsvContentTypes", [])),
        )

    def encoding(self, content_type: str | None) -> str:
        base = (content_type or "").split(";")[0].strip()
        if base in self.json_types:
            return "JSON"
        if base in self.csv_types:
            return "CSV"
        return "BASE64"


class CaptureWriter:
    """Writes sampled invocations of one endpoint variant; ``captured`` counts what it wrote."""

    def __init__(
        self,
        settings: CaptureSettings,
        s3: Any,
        endpoint_name: str,
        variant_name: str,
        *,
        sample: Callable[[], float] = random.random,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.settings = settings
        self._s3 = s3
        self._endpoint = endpoint_name
        self._variant = variant_name
        self._sample = sample
        self._clock = clock
        self._lock = threading.Lock()
        self.captured = 0

    def __call__(
        self, request: bytes, request_type: str | None, response: bytes, response_type: str | None
    ) -> None:
        if self._sample() * 100 >= self.settings.sampling_percent:
            return
        now = self._clock()
        record = {
            "captureData": self._capture_data(request, request_type, response, response_type),
            "eventMetadata": {
                "eventId": str(uuid.uuid4()),
                "inferenceTime": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
            },
            "eventVersion": "0",
        }
        uri = S3Uri.parse(f"{self.settings.destination}/{self.key(now)}")
        encryption = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.settings.kms_key_id}
        self._s3.put_object(
            Bucket=uri.bucket,
            Key=uri.key,
            Body=(json.dumps(record, separators=(",", ":")) + "\n").encode(),
            **(encryption if self.settings.kms_key_id else {}),
        )
        with self._lock:
            self.captured += 1

    def key(self, now: dt.datetime) -> str:
        """``<endpoint>/<variant>/yyyy/mm/dd/hh/<mm-ss-mmm>-<uuid>.jsonl`` below the destination."""
        name = f"{now:%M-%S}-{now.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
        return f"{self._endpoint}/{self._variant}/{now:%Y/%m/%d/%H}/{name}"

    def _capture_data(
        self, request: bytes, request_type: str | None, response: bytes, response_type: str | None
    ) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if "Input" in self.settings.modes:
            data["endpointInput"] = self._payload(request, request_type, "INPUT")
        if "Output" in self.settings.modes:
            data["endpointOutput"] = self._payload(response, response_type, "OUTPUT")
        return data

    def _payload(self, body: bytes, content_type: str | None, mode: str) -> dict[str, Any]:
        encoding = self.settings.encoding(content_type)
        text = body.decode("utf-8", "replace") if encoding != "BASE64" else base64.b64encode(body).decode()
        return {"observedContentType": content_type or "", "mode": mode, "data": text, "encoding": encoding}


def read_capture_records(s3: Any, destination: str, endpoint_name: str) -> list[dict[str, Any]]:
    """Every record captured for ``endpoint_name`` under ``destination`` (the config's
    DestinationS3Uri), in key order (variant by variant, oldest first), each file's lines in order.

    Raises ValueError for a file outside SageMaker's layout or a line that is not a JSON record.
    """
    folder = S3Uri.parse(destination).join(endpoint_name)
    prefix = f"{folder.key}/"
    records: list[dict[str, Any]] = []
    for item in list_objects(s3, S3Uri(folder.bucket, prefix)):
        if not _CAPTURE_FILE.match(item.key[len(prefix) :]):
            raise ValueError(
                f"s3://{folder.bucket}/{item.key} is not a capture file: expected "
                f"s3://{folder.bucket}/{prefix}<variant>/yyyy/mm/dd/hh/<name>.jsonl"
            )
        body = s3.get_object(Bucket=folder.bucket, Key=item.key)["Body"].read().decode()
        records += _json_lines(f"s3://{folder.bucket}/{item.key}", body)
    return records


def wait_for_capture_records(
    s3: Any, destination: str, endpoint_name: str, *, count: int, timeout: float
) -> list[dict[str, Any]]:
    """`read_capture_records` once it finds at least ``count`` records, or what it finds after
    ``timeout`` seconds: an endpoint writes its capture after it answers (as SageMaker does)."""
    deadline = time.monotonic() + timeout
    while len(records := read_capture_records(s3, destination, endpoint_name)) < count:
        if time.monotonic() >= deadline:
            break
        time.sleep(_POLL_SECONDS)
    return records


def _json_lines(uri: str, body: str) -> list[dict[str, Any]]:
    records = []
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            raise ValueError(f"{uri} line {number}: not a JSON record ({error})") from error
        if not isinstance(record, dict):
            raise ValueError(f"{uri} line {number}: expected a JSON object, got {type(record).__name__}")
        records.append(record)
    return records
