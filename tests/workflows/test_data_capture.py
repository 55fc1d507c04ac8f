"""Data capture: the deployed endpoint records what it serves, read back the way Model Monitor reads it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import boto3

from lambdas.artifact_layout import CAPTURE_PREFIX
from local_mode.sagemaker.serving.data_capture import read_capture_records, wait_for_capture_records
from stacks.settings import CONTEXT_KEY, load_settings
from tests.workflows.support import SAMPLE_FEATURES, Stack

ROOT = Path(__file__).resolve().parents[2]
# The endpoint writes capture after answering (as SageMaker does, asynchronously): waits are bounded.
CAPTURE_TIMEOUT_SECONDS = 10.0


def test_invocations_through_the_runtime_api_are_captured(stack: Stack) -> None:
    settings = load_settings(json.loads((ROOT / "cdk.json").read_text())["context"][CONTEXT_KEY])
    assert settings.endpoint.data_capture.enabled
    sampling = settings.endpoint.data_capture.sampling_percent
    result = stack.run("training", {}, hint="captured")
    assert result.status == "SUCCEEDED", result.cause
    s3, destination = stack.cloud.client("s3"), f"s3://{stack.artifacts_bucket}/{CAPTURE_PREFIX}"
    before = len(read_capture_records(s3, destination, stack.endpoint_name))
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

    records = wait_for_capture_records(
        s3, destination, stack.endpoint_name, count=before + len(answers), timeout=CAPTURE_TIMEOUT_SECONDS
    )[before:]

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
    assert summary["DestinationS3Uri"] == destination
