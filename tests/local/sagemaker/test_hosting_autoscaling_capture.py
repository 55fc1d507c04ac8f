"""Local endpoints and autoscaling, retained properties and data capture, as SageMaker applies them."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from local_mode.sagemaker.local_sagemaker import LocalSageMaker, SageMakerApiError
from local_mode.sagemaker.serving.data_capture import CaptureSettings, CaptureWriter
from tests.local.sagemaker.test_local_sagemaker_support import (
    BUCKET,
    FEATURES,
    REGION,
    check_shape,
    local_sagemaker,
    register_model,
)

ENDPOINT = "scaled"
RESOURCE_ID = f"endpoint/{ENDPOINT}/variant/AllTraffic"
CAPTURE = {
    "EnableCapture": True,
    "InitialSamplingPercentage": 100,
    "DestinationS3Uri": f"s3://{BUCKET}/capture/",
    "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
    "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
}


@pytest.fixture
def hosting(tmp_path: Path) -> Iterator[tuple[LocalSageMaker, Any, Any]]:
    """A local SageMaker that asks (mocked) Application Auto Scaling, with one model."""
    autoscaling = None

    def build() -> Any:
        nonlocal autoscaling
        autoscaling = boto3.client("application-autoscaling", region_name=REGION)
        return autoscaling

    with local_sagemaker(tmp_path, autoscaling=_Lazy(build)) as (sagemaker, s3):
        register_model(sagemaker, s3, "model-0")
        yield sagemaker, s3, build()


class _Lazy:
    """Creates the client inside mock_aws (local_sagemaker opens it)."""

    def __init__(self, build: Any) -> None:
        self._build = build
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = self._build()
        return getattr(self._client, name)


def _config(sagemaker: LocalSageMaker, name: str, instance_type: str, **extra: Any) -> str:
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": "model-0",
        "InitialInstanceCount": 1,
        "InstanceType": instance_type,
    }
    sagemaker.create_endpoint_config({"EndpointConfigName": name, "ProductionVariants": [variant], **extra})
    return name


def _in_service(sagemaker: LocalSageMaker) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        described = sagemaker.describe_endpoint({"EndpointName": ENDPOINT})
        if described["EndpointStatus"] not in ("Creating", "Updating"):
            return check_shape("DescribeEndpoint", described)
        assert time.monotonic() < deadline, described


def _register(autoscaling: Any) -> None:
    autoscaling.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=RESOURCE_ID,
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        MinCapacity=1,
        MaxCapacity=4,
    )


def _scale_to(sagemaker: LocalSageMaker, count: int) -> None:
    sagemaker.update_endpoint_weights_and_capacities(
        {
            "EndpointName": ENDPOINT,
            "DesiredWeightsAndCapacities": [{"VariantName": "AllTraffic", "DesiredInstanceCount": count}],
        }
    )


def test_an_instance_type_change_of_a_registered_variant_is_refused(
    hosting: tuple[LocalSageMaker, Any, Any],
) -> None:
    sagemaker, _, autoscaling = hosting
    sagemaker.create_endpoint(
        {"EndpointName": ENDPOINT, "EndpointConfigName": _config(sagemaker, "a", "ml.m5.large")}
    )
    _in_service(sagemaker)
    _register(autoscaling)
    bigger = _config(sagemaker, "b", "ml.m5.xlarge")

    with pytest.raises(SageMakerApiError) as refused:
        sagemaker.update_endpoint({"EndpointName": ENDPOINT, "EndpointConfigName": bigger})

    assert refused.value.code == "ValidationException"
    assert "Deregister the scalable target" in refused.value.message
    assert _in_service(sagemaker)["EndpointConfigName"] == "a"  # nothing changed
    # Once deregistered, the same update goes through.
    autoscaling.deregister_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=RESOURCE_ID,
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
    )
    sagemaker.update_endpoint({"EndpointName": ENDPOINT, "EndpointConfigName": bigger})
    assert _in_service(sagemaker)["EndpointConfigName"] == "b"


def test_a_model_change_of_a_registered_variant_is_allowed(hosting: tuple[LocalSageMaker, Any, Any]) -> None:
    sagemaker, _, autoscaling = hosting
    sagemaker.create_endpoint(
        {"EndpointName": ENDPOINT, "EndpointConfigName": _config(sagemaker, "a", "ml.m5.large")}
    )
    _in_service(sagemaker)
    _register(autoscaling)

    sagemaker.update_endpoint(
        {"EndpointName": ENDPOINT, "EndpointConfigName": _config(sagemaker, "b", "ml.m5.large")}
    )

    assert _in_service(sagemaker)["EndpointConfigName"] == "b"


@pytest.mark.parametrize(("retain", "expected"), [(True, 3), (False, 1)])
def test_retain_all_variant_properties_keeps_the_scaled_count(
    hosting: tuple[LocalSageMaker, Any, Any], retain: bool, expected: int
) -> None:
    sagemaker, _, _ = hosting
    sagemaker.create_endpoint(
        {"EndpointName": ENDPOINT, "EndpointConfigName": _config(sagemaker, "a", "ml.m5.large")}
    )
    _in_service(sagemaker)
    _scale_to(sagemaker, 3)

    sagemaker.update_endpoint(
        {
            "EndpointName": ENDPOINT,
            "EndpointConfigName": _config(sagemaker, "b", "ml.m5.large"),
            "RetainAllVariantProperties": retain,
        }
    )

    [variant] = _in_service(sagemaker)["ProductionVariants"]
    assert (variant["DesiredInstanceCount"], variant["CurrentInstanceCount"]) == (expected, expected)


def test_excluding_data_capture_from_retention_applies_the_new_config(
    hosting: tuple[LocalSageMaker, Any, Any],
) -> None:
    sagemaker, _, _ = hosting
    sagemaker.create_endpoint(
        {"EndpointName": ENDPOINT, "EndpointConfigName": _config(sagemaker, "a", "ml.m5.large")}
    )
    assert "DataCaptureConfig" not in _in_service(sagemaker)
    capturing = _config(sagemaker, "b", "ml.m5.large", DataCaptureConfig=CAPTURE)

    sagemaker.update_endpoint(
        {
            "EndpointName": ENDPOINT,
            "EndpointConfigName": capturing,
            "RetainAllVariantProperties": True,
            "ExcludeRetainedVariantProperties": [{"VariantPropertyType": "DataCaptureConfig"}],
        }
    )

    summary = _in_service(sagemaker)["DataCaptureConfig"]
    assert (summary["EnableCapture"], summary["CaptureStatus"]) == (True, "Started")


def test_scaling_an_unknown_variant_is_refused(hosting: tuple[LocalSageMaker, Any, Any]) -> None:
    sagemaker, _, _ = hosting
    sagemaker.create_endpoint(
        {"EndpointName": ENDPOINT, "EndpointConfigName": _config(sagemaker, "a", "ml.m5.large")}
    )
    _in_service(sagemaker)

    with pytest.raises(SageMakerApiError, match="Blue"):
        sagemaker.update_endpoint_weights_and_capacities(
            {
                "EndpointName": ENDPOINT,
                "DesiredWeightsAndCapacities": [{"VariantName": "Blue", "DesiredInstanceCount": 2}],
            }
        )


def test_a_capturing_endpoint_writes_sagemakers_record_format(
    hosting: tuple[LocalSageMaker, Any, Any],
) -> None:
    sagemaker, s3, _ = hosting
    config = _config(sagemaker, "a", "ml.m5.large", DataCaptureConfig=CAPTURE)
    sagemaker.create_endpoint({"EndpointName": ENDPOINT, "EndpointConfigName": config})
    _in_service(sagemaker)
    runtime = boto3.client("sagemaker-runtime", endpoint_url=sagemaker.server_url, region_name=REGION)
    body = json.dumps({"instances": [[0.0] * FEATURES]})

    answer = runtime.invoke_endpoint(EndpointName=ENDPOINT, ContentType="application/json", Body=body)[
        "Body"
    ].read()

    [item] = _captured_objects(s3, f"capture/{ENDPOINT}/AllTraffic/", count=1)
    [line] = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read().decode().splitlines()
    record = json.loads(line)
    assert json.loads(record["captureData"]["endpointInput"]["data"]) == json.loads(body)
    assert json.loads(record["captureData"]["endpointOutput"]["data"]) == json.loads(answer)


def _captured_objects(s3: Any, prefix: str, *, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The objects under `prefix` once there are `count`: capture is written after the response."""
    deadline = time.monotonic() + timeout
    while True:
        objects = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
        if len(objects) >= count or time.monotonic() > deadline:
            return list(objects)
        time.sleep(0.05)


def _writer(percent: int, sample: float, s3: Any, json_types: list[str]) -> CaptureWriter:
    settings = CaptureSettings.of(
        {
            **CAPTURE,
            "InitialSamplingPercentage": percent,
            "CaptureContentTypeHeader": {"JsonContentTypes": json_types},
        }
    )
    clock = lambda: dt.datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=dt.UTC)  # noqa: E731
    return CaptureWriter(settings, s3, "ep", "AllTraffic", sample=lambda: sample, clock=clock)


class _Recorder:
    def __init__(self) -> None:
        self.puts: list[dict[str, Any]] = []

    def put_object(self, **kwargs: Any) -> None:
        self.puts.append(kwargs)


def test_the_writer_samples_by_the_configured_percentage() -> None:
    s3 = _Recorder()
    _writer(30, 0.29, s3, ["application/json"])(b"{}", "application/json", b"{}", "application/json")
    _writer(30, 0.30, s3, ["application/json"])(b"{}", "application/json", b"{}", "application/json")
    assert len(s3.puts) == 1


def test_the_writer_keys_by_hour_and_base64_encodes_other_content_types() -> None:
    s3 = _Recorder()
    writer = _writer(100, 0.0, s3, [])

    writer(b"\x00\x01", "application/x-npy", b"{}", "application/json")

    [put] = s3.puts
    assert put["Bucket"] == BUCKET
    assert put["Key"].startswith("capture/ep/AllTraffic/2026/03/04/05/06-07-890-")
    record = json.loads(put["Body"])
    sent = record["captureData"]["endpointInput"]
    assert (sent["encoding"], base64.b64decode(sent["data"])) == ("BASE64", b"\x00\x01")
    assert record["eventMetadata"]["inferenceTime"] == "2026-03-04T05:06:07.890Z"
    assert writer.captured == 1
