"""Data capture: the deployed endpoint records what it serves, read back the way Model Monitor reads it."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import boto3

from lambdas.artifact_layout import CAPTURE_PREFIX
from stacks.settings import CONTEXT_KEY, load_settings
from tests.workflows.support import SAMPLE_FEATURES, Stack

ROOT = Path(__file__).resolve().parents[2]
# <prefix><endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl: SageMaker's layout of capture files.
CAPTURE_KEY = re.compile(
    r"^capture/(?P<endpoint>[^/]+)/(?P<variant>[^/]+)/\d{4}/\d{2}/\d{2}/\d{2}/[^/]+\.jsonl$"
)


def _capture_records(stack: Stack) -> list[dict[str, Any]]:
    """Every record under the capture prefix of this endpoint, as Model Monitor lists and parses them."""
    s3 = stack.cloud.client("s3")
    prefix = f"{CAPTURE_PREFIX}{stack.endpoint_name}/"
    records = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.artifacts_bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            assert CAPTURE_KEY.match(item["Key"]), item["Key"]
            body = s3.get_object(Bucket=stack.artifacts_bucket, Key=item["Key"])["Body"].read().decode()
            records += [json.loads(line) for line in body.splitlines() if line.strip()]
    return records


def test_invocations_through_the_runtime_api_are_captured(stack: Stack) -> None:
    settings = load_settings(json.loads((ROOT / "cdk.json").read_text())["context"][CONTEXT_KEY])
    assert settings.endpoint.data_capture.enabled
    sampling = settings.endpoint.data_capture.sampling_percent
    result = stack.run("training", {}, hint="captured")
    assert result.status == "SUCCEEDED", result.cause
    before = len(_capture_records(stack))
    runtime = boto3.client(
        "sagemaker-runtime",
        endpoint_url=stack.sagemaker.server_url,
        region_name=stack.cloud.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    request = json.dumps({"instances": SAMPLE_FEATURES})
    answers = [
        runtime.invoke_endpoint(
            EndpointName=stack.endpoint_name, ContentType="application/json", Body=request
        )["Body"].read()
        for _ in range(3)
    ]

    # The endpoint writes capture after answering (as SageMaker does, asynchronously): wait, bounded.
    deadline = time.monotonic() + 10
    while len(records := _capture_records(stack)[before:]) < len(answers) and time.monotonic() < deadline:
        time.sleep(0.05)

    if sampling == 100:
        assert len(records) == len(answers)
    for record in records:
        assert record["eventVersion"] == "0"
        assert record["eventMetadata"]["eventId"]
        assert re.match(
            r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$", record["eventMetadata"]["inferenceTime"]
        )
        sent, answered = record["captureData"]["endpointInput"], record["captureData"]["endpointOutput"]
        assert (sent["mode"], sent["encoding"], sent["observedContentType"]) == (
            "INPUT",
            "JSON",
            "application/json",
        )
        assert json.loads(sent["data"]) == json.loads(request)
        assert (answered["mode"], answered["encoding"]) == ("OUTPUT", "JSON")
        assert json.loads(answered["data"]) == json.loads(answers[0])
    endpoint = stack.endpoint()
    assert endpoint is not None
    summary = endpoint["DataCaptureConfig"]
    assert (summary["EnableCapture"], summary["CurrentSamplingPercentage"]) == (True, sampling)
    assert summary["DestinationS3Uri"] == f"s3://{stack.artifacts_bucket}/{CAPTURE_PREFIX}"
