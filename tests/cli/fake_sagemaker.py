"""An instant SageMaker for CLI tests: every job ends at once with a plausible Describe* response.

Transform jobs really read their input from S3 and write joined predictions (the label's class
wins), so the workflows' EvaluatePredictions Lambda scores them; endpoints pass through
Creating/Updating once, as the real ones do, so the workflows' wait loops run.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

from local_mode.sagemaker_shapes import SageMakerApiError, echo_request

ACCOUNT = "123456789012"
TRAINING_SECONDS = 600
BILLABLE_SECONDS = 240  # managed spot: billed less than the training time
JOB_SECONDS = 90  # processing and transform jobs


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


class FakeSageMaker:
    def __init__(self, s3: Any, region: str = "us-east-1") -> None:
        self.s3 = s3
        self.region = region
        self.lock = threading.Lock()
        self.training_jobs: dict[str, dict[str, Any]] = {}
        self.transform_jobs: dict[str, dict[str, Any]] = {}
        self.processing_jobs: dict[str, dict[str, Any]] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.endpoint_configs: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def arn(self, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{ACCOUNT}:{kind}/{name.lower()}"

    def _record(self, operation: str, request: dict[str, Any]) -> None:
        with self.lock:
            self.calls.append((operation, request))

    # -- jobs --

    def create_training_job(self, request: dict[str, Any]) -> dict[str, Any]:
        self._record("CreateTrainingJob", request)
        name = request["TrainingJobName"]
        end = _now()
        start = end - dt.timedelta(seconds=TRAINING_SECONDS)
        output = request["OutputDataConfig"]["S3OutputPath"].rstrip("/")
        spot = bool(request.get("EnableManagedSpotTraining"))
        described = {
            **echo_request("DescribeTrainingJob", request),
            "TrainingJobArn": self.arn("training-job", name),
            "ModelArtifacts": {"S3ModelArtifacts": f"{output}/{name}/output/model.tar.gz"},
            "TrainingJobStatus": "Completed",
            "SecondaryStatus": "Completed",
            "CreationTime": start,
            "TrainingStartTime": start,
            "TrainingEndTime": end,
            "LastModifiedTime": end,
            "TrainingTimeInSeconds": TRAINING_SECONDS,
            "BillableTimeInSeconds": BILLABLE_SECONDS if spot else TRAINING_SECONDS,
            "FinalMetricDataList": [
                {"MetricName": "val_accuracy", "Value": 0.981, "Timestamp": end},
                {"MetricName": "val_loss", "Value": 0.061, "Timestamp": end},
            ],
        }
        with self.lock:
            self.training_jobs[name] = described
        return described

    def describe_training_job(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._find(self.training_jobs, request["TrainingJobName"], "training job")

    def create_processing_job(self, request: dict[str, Any]) -> dict[str, Any]:
        self._record("CreateProcessingJob", request)
        name = request["ProcessingJobName"]
        end = _now()
        described = {
            **echo_request("DescribeProcessingJob", request),
            "ProcessingJobArn": self.arn("processing-job", name),
            "ProcessingJobStatus": "Completed",
            "CreationTime": end - dt.timedelta(seconds=JOB_SECONDS),
            "ProcessingStartTime": end - dt.timedelta(seconds=JOB_SECONDS),
            "ProcessingEndTime": end,
        }
        with self.lock:
            self.processing_jobs[name] = described
        return described

    def describe_processing_job(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._find(self.processing_jobs, request["ProcessingJobName"], "processing job")

    def create_transform_job(self, request: dict[str, Any]) -> dict[str, Any]:
        self._record("CreateTransformJob", request)
        self._find(self.models, request["ModelName"], "model")
        self._predict(request)
        name = request["TransformJobName"]
        end = _now()
        described = {
            **echo_request("DescribeTransformJob", request),
            "TransformJobArn": self.arn("transform-job", name),
            "TransformJobStatus": "Completed",
            "CreationTime": end - dt.timedelta(seconds=JOB_SECONDS),
            "TransformStartTime": end - dt.timedelta(seconds=JOB_SECONDS),
            "TransformEndTime": end,
        }
        with self.lock:
            self.transform_jobs[name] = described
        return described

    def describe_transform_job(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._find(self.transform_jobs, request["TransformJobName"], "transform job")

    def _predict(self, request: dict[str, Any]) -> None:
        """Joined output lines for every input record: always the right class."""
        bucket, prefix = _split_s3(request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"])
        out_bucket, out_prefix = _split_s3(request["TransformOutput"]["S3OutputPath"])
        for entry in self.s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
            body = self.s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read().decode()
            lines = []
            for line in body.splitlines():
                record = json.loads(line)
                probabilities = [1.0 if k == record["label"] else 0.0 for k in range(10)]
                lines.append(
                    json.dumps(
                        {
                            "id": record["id"],
                            "label": record["label"],
                            "SageMakerOutput": {"predictions": [probabilities]},
                        }
                    )
                )
            file_name = entry["Key"].rsplit("/", 1)[-1]
            key = f"{out_prefix.rstrip('/')}/{file_name}.out".lstrip("/")
            self.s3.put_object(Bucket=out_bucket, Key=key, Body="\n".join(lines).encode())

    # -- models, configs, endpoints --

    def create_model(self, request: dict[str, Any]) -> dict[str, Any]:
        self._record("CreateModel", request)
        name = request["ModelName"]
        with self.lock:
            if name in self.models:
                raise SageMakerApiError(
                    "ValidationException", f'Cannot create already existing model "{name}".'
                )
            self.models[name] = {
                **echo_request("DescribeModel", request),
                "ModelArn": self.arn("model", name),
                "CreationTime": _now(),
            }
        return {"ModelArn": self.arn("model", name)}

    def describe_model(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._find(self.models, request["ModelName"], "model")

    def create_endpoint_config(self, request: dict[str, Any]) -> dict[str, Any]:
        self._record("CreateEndpointConfig", request)
        name = request["EndpointConfigName"]
        for variant in request["ProductionVariants"]:
            self._find(self.models, variant["ModelName"], "model")
        with self.lock:
            self.endpoint_configs[name] = {
                **echo_request("DescribeEndpointConfig", request),
                "EndpointConfigArn": self.arn("endpoint-config", name),
                "CreationTime": _now(),
            }
        return {"EndpointConfigArn": self.arn("endpoint-config", name)}

    def describe_endpoint_config(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._find(self.endpoint_configs, request["EndpointConfigName"], "endpoint configuration")

    def delete_endpoint_config(self, request: dict[str, Any]) -> dict[str, Any]:
        self._find(self.endpoint_configs, request["EndpointConfigName"], "endpoint configuration")
        with self.lock:
            del self.endpoint_configs[request["EndpointConfigName"]]
        return {}

    def create_endpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        self._record("CreateEndpoint", request)
        name = request["EndpointName"]
        self._find(self.endpoint_configs, request["EndpointConfigName"], "endpoint configuration")
        now = _now()
        with self.lock:
            self.endpoints[name] = {
                "EndpointName": name,
                "EndpointArn": self.arn("endpoint", name),
                "EndpointConfigName": request["EndpointConfigName"],
                "EndpointStatus": "Creating",
                "CreationTime": now,
                "LastModifiedTime": now,
            }
        return {"EndpointArn": self.arn("endpoint", name)}

    def update_endpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        self._record("UpdateEndpoint", request)
        endpoint = self._find(self.endpoints, request["EndpointName"], "endpoint")
        self._find(self.endpoint_configs, request["EndpointConfigName"], "endpoint configuration")
        with self.lock:
            endpoint.update(
                EndpointConfigName=request["EndpointConfigName"],
                EndpointStatus="Updating",
                LastModifiedTime=_now(),
            )
        return {"EndpointArn": endpoint["EndpointArn"]}

    def describe_endpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        endpoint = self._find(self.endpoints, request["EndpointName"], "endpoint")
        described = dict(endpoint)
        config = self.endpoint_configs.get(endpoint["EndpointConfigName"], {})
        described["ProductionVariants"] = [
            {"VariantName": v["VariantName"], "CurrentInstanceCount": v.get("InitialInstanceCount", 1)}
            for v in config.get("ProductionVariants", [])
        ]
        with self.lock:  # one transitional answer, then the deployment is done
            if endpoint["EndpointStatus"] in ("Creating", "Updating"):
                endpoint["EndpointStatus"] = "InService"
        return described

    def _find(self, store: dict[str, dict[str, Any]], name: str, kind: str) -> dict[str, Any]:
        with self.lock:
            found = store.get(name)
        if found is None:
            raise SageMakerApiError("ValidationException", f'Could not find {kind} "{self.arn(kind, name)}".')
        return found
