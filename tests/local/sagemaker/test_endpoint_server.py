"""Local SageMaker endpoints: lifecycle, TF Serving's REST format over HTTP, updates that drop no request."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError

from local_mode.sagemaker.local_sagemaker import LocalSageMaker, SageMakerApiError
from tests.local.sagemaker.test_local_sagemaker_support import (
    FEATURES,
    REGION,
    check_shape,
    direct_predictions,
    local_sagemaker,
    register_model,
)

ROWS = np.arange(2 * FEATURES, dtype=np.float32).reshape(2, FEATURES) * 10


@pytest.fixture
def sagemaker(tmp_path: Path) -> Any:
    with local_sagemaker(tmp_path) as (sagemaker, s3):
        for seed in (0, 1):
            register_model(sagemaker, s3, f"model-{seed}", seed=seed)
            _endpoint_config(sagemaker, f"config-{seed}", f"model-{seed}")
        yield sagemaker


def _endpoint_config(sagemaker: LocalSageMaker, name: str, model: str) -> None:
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": model,
        "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large",
    }
    sagemaker.create_endpoint_config({"EndpointConfigName": name, "ProductionVariants": [variant]})


def _post(
    url: str, body: bytes, content_type: str, accept: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": content_type, **({"Accept": accept} if accept else {})}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _deploy(sagemaker: LocalSageMaker, endpoint: str, config: str) -> list[str]:
    """CreateEndpoint, then poll DescribeEndpoint like the workflow's wait loop; returns the statuses seen."""
    sagemaker.create_endpoint({"EndpointName": endpoint, "EndpointConfigName": config})
    return _poll(sagemaker, endpoint)


def _poll(sagemaker: LocalSageMaker, endpoint: str) -> list[str]:
    statuses = []
    for _ in range(5):
        described = check_shape("DescribeEndpoint", sagemaker.describe_endpoint({"EndpointName": endpoint}))
        statuses.append(described["EndpointStatus"])
        if statuses[-1] not in ("Creating", "Updating"):
            break
    return statuses


def _predictions(sagemaker: LocalSageMaker, endpoint: str) -> np.ndarray:
    body = json.dumps({"instances": ROWS.tolist()}).encode()
    status, _, answer = _post(f"{sagemaker.endpoint_url(endpoint)}/invocations", body, "application/json")
    assert status == 200, answer
    return np.array(json.loads(answer)["predictions"])


def test_endpoint_goes_in_service_and_answers_like_tf_serving(sagemaker: LocalSageMaker) -> None:
    assert _deploy(sagemaker, "digits", "config-0") == ["Creating", "InService"]
    described = sagemaker.describe_endpoint({"EndpointName": "digits"})
    assert described["EndpointConfigName"] == "config-0"
    assert described["ProductionVariants"][0]["VariantName"] == "AllTraffic"
    url = sagemaker.endpoint_url("digits")
    assert url.startswith("http://127.0.0.1:")

    with urllib.request.urlopen(f"{url}/ping", timeout=10) as ping:
        assert ping.status == 200
    np.testing.assert_allclose(
        _predictions(sagemaker, "digits"), direct_predictions(0, ROWS), rtol=1e-6, atol=1e-7
    )
    # JSON Lines: one instance per line, one {"predictions": [...]} answer, on one line for a JSON Accept.
    lines = "".join(json.dumps(row) + "\n" for row in ROWS.tolist()).encode()
    status, headers, answer = _post(
        f"{url}/invocations", lines, "application/jsonlines", "application/jsonlines"
    )
    assert status == 200 and headers["Content-Type"] == "application/jsonlines"
    assert b"\n" not in answer.strip()
    np.testing.assert_allclose(
        json.loads(answer)["predictions"], direct_predictions(0, ROWS), rtol=1e-6, atol=1e-7
    )
    status, _, answer = _post(f"{url}/invocations", b"1,2", "text/plain")
    assert status == 424 and json.loads(answer)["OriginalStatusCode"] == 415

    config = check_shape(
        "DescribeEndpointConfig", sagemaker.describe_endpoint_config({"EndpointConfigName": "config-0"})
    )
    assert config["ProductionVariants"][0]["ModelName"] == "model-0"
    summaries = sagemaker.list_endpoints({"NameContains": "dig"})["Endpoints"]
    assert [(e["EndpointName"], e["EndpointStatus"]) for e in summaries] == [("digits", "InService")]
    check_shape("ListEndpoints", {"Endpoints": summaries})


def test_boto3_sagemaker_runtime_invokes_the_local_endpoint(sagemaker: LocalSageMaker) -> None:
    _deploy(sagemaker, "digits", "config-0")
    runtime = boto3.client("sagemaker-runtime", region_name=REGION, endpoint_url=sagemaker.server_url)

    response = runtime.invoke_endpoint(
        EndpointName="digits",
        ContentType="application/json",
        Accept="application/json",
        Body=json.dumps({"instances": ROWS.tolist()}),
    )
    assert response["ContentType"] == "application/json"
    assert response["InvokedProductionVariant"] == "AllTraffic"
    predictions = json.loads(response["Body"].read())["predictions"]
    np.testing.assert_allclose(predictions, direct_predictions(0, ROWS), rtol=1e-6, atol=1e-7)

    with pytest.raises(ClientError) as model_error:  # a wrong input width: TF Serving's 400 as ModelError
        runtime.invoke_endpoint(EndpointName="digits", ContentType="application/json", Body="[[1, 2]]")
    assert model_error.value.response["Error"]["Code"] == "ModelError"
    assert model_error.value.response["OriginalStatusCode"] == 400
    with pytest.raises(ClientError) as missing:
        runtime.invoke_endpoint(EndpointName="nope", ContentType="application/json", Body="[[1]]")
    assert missing.value.response["Error"]["Code"] == "ValidationError"
    assert "Endpoint nope of account" in missing.value.response["Error"]["Message"]


def test_update_swaps_the_model_without_dropping_a_request(sagemaker: LocalSageMaker) -> None:
    _deploy(sagemaker, "digits", "config-0")
    old, new = direct_predictions(0, ROWS), direct_predictions(1, ROWS)
    seen: list[str] = []
    errors: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        deadline = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < deadline and len(seen) < 5000:
            try:
                answer = _predictions(sagemaker, "digits")
            except Exception as error:  # any failure is a dropped request
                errors.append(repr(error))
                continue
            seen.append(
                "old" if np.allclose(answer, old, rtol=1e-6) else "new" if np.allclose(answer, new) else "?"
            )

    worker = threading.Thread(target=hammer)
    worker.start()
    try:
        while not seen:
            time.sleep(0.01)
        sagemaker.update_endpoint({"EndpointName": "digits", "EndpointConfigName": "config-1"})
        statuses = _poll(sagemaker, "digits")
        count_at_swap = len(seen)
        while len(seen) < count_at_swap + 20:
            time.sleep(0.01)
    finally:
        stop.set()
        worker.join()

    assert statuses == ["Updating", "InService"]
    assert errors == []
    assert "?" not in seen and seen[0] == "old" and seen[-1] == "new"
    assert seen == sorted(seen, key=["old", "new"].index)  # once switched, never back
    assert sagemaker.describe_endpoint({"EndpointName": "digits"})["EndpointConfigName"] == "config-1"


def test_endpoint_failing_to_reach_in_service(sagemaker: LocalSageMaker) -> None:
    sagemaker.fail_endpoint_creation("broken", "model server crashed on start")
    statuses = _deploy(sagemaker, "broken", "config-0")
    # Creating while the model server starts (how many polls see it depends on this machine's load).
    assert statuses[-1] == "Failed" and set(statuses[:-1]) <= {"Creating"}, statuses
    described = check_shape("DescribeEndpoint", sagemaker.describe_endpoint({"EndpointName": "broken"}))
    assert "did not pass the ping health check" in described["FailureReason"]
    assert "model server crashed on start" in described["FailureReason"]
    status, _, answer = _post(
        f"{sagemaker.endpoint_url('broken')}/invocations", b"[[1,2,3,4]]", "application/json"
    )
    assert status == 400 and b"not found" in answer
    with pytest.raises(SageMakerApiError, match="Cannot update failed endpoint"):
        sagemaker.update_endpoint({"EndpointName": "broken", "EndpointConfigName": "config-1"})


def test_a_failed_update_rolls_back_to_the_running_model(sagemaker: LocalSageMaker) -> None:
    _deploy(sagemaker, "digits", "config-0")
    sagemaker.fail_endpoint_creation("config-1", "bad model archive")
    sagemaker.update_endpoint({"EndpointName": "digits", "EndpointConfigName": "config-1"})

    assert _poll(sagemaker, "digits") == ["Updating", "InService"]
    described = sagemaker.describe_endpoint({"EndpointName": "digits"})
    assert described["EndpointConfigName"] == "config-0" and "bad model archive" in described["FailureReason"]
    np.testing.assert_allclose(
        _predictions(sagemaker, "digits"), direct_predictions(0, ROWS), rtol=1e-6, atol=1e-7
    )


def test_an_archive_without_a_saved_model_fails_the_endpoint(sagemaker: LocalSageMaker) -> None:
    s3 = sagemaker.s3
    s3.put_object(Bucket="local-sagemaker-tests", Key="models/empty.tar.gz", Body=b"not a tarball")
    url = "s3://local-sagemaker-tests/models/empty.tar.gz"
    sagemaker.create_model({"ModelName": "empty", "PrimaryContainer": {"Image": "x", "ModelDataUrl": url}})
    _endpoint_config(sagemaker, "config-empty", "empty")
    assert _deploy(sagemaker, "empty", "config-empty") == ["Creating", "Failed"]


def test_unknown_and_duplicate_names_fail_like_the_api(sagemaker: LocalSageMaker) -> None:
    for call in (sagemaker.describe_endpoint, sagemaker.delete_endpoint):
        with pytest.raises(SageMakerApiError, match='Could not find endpoint "arn:aws:sagemaker:') as error:
            call({"EndpointName": "nope"})
        assert error.value.code == "ValidationException"
    with pytest.raises(SageMakerApiError, match="Could not find endpoint"):
        sagemaker.update_endpoint({"EndpointName": "nope", "EndpointConfigName": "config-0"})
    with pytest.raises(SageMakerApiError, match="Could not find endpoint configuration"):
        sagemaker.create_endpoint({"EndpointName": "x", "EndpointConfigName": "nope"})
    with pytest.raises(
        SageMakerApiError, match='Could not find model "arn:aws:sagemaker:us-east-1:123456789012:model/nope"'
    ):
        _endpoint_config(sagemaker, "config-x", "nope")
    with pytest.raises(SageMakerApiError, match="Cannot create already existing endpoint configuration"):
        _endpoint_config(sagemaker, "config-0", "model-0")
    with pytest.raises(SageMakerApiError, match="Cannot create already existing model"):
        sagemaker.create_model({"ModelName": "model-0", "PrimaryContainer": {"Image": "x"}})
    with pytest.raises(SageMakerApiError, match="Could not find model data at s3://"):
        sagemaker.create_model(
            {
                "ModelName": "m",
                "PrimaryContainer": {"Image": "x", "ModelDataUrl": "s3://local-sagemaker-tests/none"},
            }
        )

    sagemaker.create_endpoint({"EndpointName": "digits", "EndpointConfigName": "config-0"})
    with pytest.raises(SageMakerApiError, match="Cannot create already existing endpoint"):
        sagemaker.create_endpoint({"EndpointName": "digits", "EndpointConfigName": "config-0"})
    with pytest.raises(SageMakerApiError, match="Cannot update in-progress endpoint"):
        sagemaker.update_endpoint({"EndpointName": "digits", "EndpointConfigName": "config-1"})
    assert sagemaker.dispatch("describeEndpoint", {"EndpointName": "digits"})["EndpointArn"].endswith(
        ":endpoint/digits"
    )


def test_deleted_endpoint_stops_serving_and_close_stops_the_server(tmp_path: Path) -> None:
    with local_sagemaker(tmp_path) as (sagemaker, s3):
        register_model(sagemaker, s3, "model-0")
        _endpoint_config(sagemaker, "config-0", "model-0")
        _deploy(sagemaker, "digits", "config-0")
        url = sagemaker.endpoint_url("digits")
        sagemaker.delete_endpoint({"EndpointName": "digits"})
        status, _, _ = _post(f"{url}/invocations", b"[[1,2,3,4]]", "application/json")
        assert status == 400
        assert sagemaker.list_endpoints()["Endpoints"] == []
        sagemaker.delete_endpoint_config({"EndpointConfigName": "config-0"})
        with pytest.raises(SageMakerApiError, match="Could not find endpoint configuration"):
            sagemaker.describe_endpoint_config({"EndpointConfigName": "config-0"})
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/ping", timeout=5)
