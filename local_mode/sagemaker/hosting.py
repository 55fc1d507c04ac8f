"""The local SageMaker's hosting API: models, endpoint configs and real-time endpoints.

``HostingApi`` is a part of ``LocalSageMaker`` (a mixin: the state it uses is created there).
Endpoints deploy in a background thread and are served by ``serving.endpoint_server``; an update
swaps the served model in one assignment (blue/green without dropped requests).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError

from local_mode.sagemaker.api import Request
from local_mode.sagemaker.api import api_operation as _api
from local_mode.sagemaker.hosting_rules import (
    Retention,
    capture_summary,
    refuse_instance_to_serverless,
    refuse_invalid_serverless_config,
    refuse_scaled_instance_type_change,
    set_capacities,
    variant_summary,
)
from local_mode.sagemaker.job_runner import JobRunner
from local_mode.sagemaker.jobs.job_services import JobServices
from local_mode.sagemaker.jobs.s3_io import S3TransferError, S3Uri
from local_mode.sagemaker.rollout import Observer, Rollout, alarms_in_alarm, fleet_size, shift_traffic
from local_mode.sagemaker.serving.data_capture import CaptureSettings, CaptureWriter
from local_mode.sagemaker.serving.endpoint_server import EndpointServer, ServedModel
from local_mode.sagemaker.serving.tfs_emulation import TfsContainer
from local_mode.sagemaker.shapes import (
    Arns,
    SageMakerApiError,
    drop_none,
    echo_request,
    failure_reason,
    utcnow,
)

# SageMaker's messages when the execution role may not read the model data.
CREATE_MODEL_ACCESS_DENIED = (
    'Could not access model data at {url}. Please ensure that the role "{role}" exists and that its '
    'trust relationship policy allows the action "sts:AssumeRole" for the service principal '
    '"sagemaker.amazonaws.com". Also ensure that the role has "s3:GetObject" permissions and that '
    "the object is located in {region}."
)
MODEL_DOWNLOAD_FAILURE = (
    'Failed to download model data for container "container_1" from URL: "{url}". Please ensure that '
    "there is an object located at the URL and that the role passed to CreateModel has permissions to "
    "download the object."
)
HEALTH_CHECK_FAILURE = (
    "The primary container for production variant {variant} did not pass the ping health check. "
    "Please check CloudWatch logs for this endpoint."
)


@dataclass
class EndpointState:
    name: str
    arn: str
    config_name: str
    status: str
    created: Any
    modified: Any
    failure_reason: str | None = None
    pending_config: str | None = None
    pending_since: Any = None
    pending: Future[None] | None = None
    transitional_describes_left: int = 0
    variants: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False
    data_capture: dict[str, Any] | None = None  # the served config's DataCaptureConfig
    retain: Retention | None = None  # what the pending update keeps from the live variants
    rollout: Rollout | None = None  # the pending update's blue/green traffic shift

    def describe(self) -> dict[str, Any]:
        pending = None
        if self.pending_config is not None:
            pending = {"EndpointConfigName": self.pending_config, "StartTime": self.pending_since}
        return drop_none(
            {
                "EndpointName": self.name,
                "EndpointArn": self.arn,
                "EndpointConfigName": self.config_name,
                "ProductionVariants": self.variants or None,
                "EndpointStatus": self.status,
                "FailureReason": self.failure_reason,
                "CreationTime": self.created,
                "LastModifiedTime": self.modified,
                "PendingDeploymentSummary": pending,
                "DataCaptureConfig": capture_summary(self.data_capture),
            }
        )


class HostingApi:
    """CreateModel ... UpdateEndpoint, DescribeEndpoint, ListEndpoints (see ``LocalSageMaker``)."""

    # Created by LocalSageMaker.__init__.
    _lock: threading.RLock
    arns: Arns
    services: JobServices
    server: EndpointServer
    runner: JobRunner
    requests: list[tuple[str, Request]]
    endpoint_transitional_describes: int
    _deployment_timeout: float
    _deployer: ThreadPoolExecutor
    _model_records: dict[str, dict[str, Any]]
    _endpoint_configs: dict[str, dict[str, Any]]
    _endpoints: dict[str, EndpointState]
    _endpoint_faults: dict[str, str]
    autoscaling: Any  # an application-autoscaling client, or None
    cloudwatch: Any  # a cloudwatch client (the rollback alarms' states), or None
    rollout_observers: list[Observer]

    # -- models and endpoint configs ---------------------------------------------------------------

    @_api("CreateModel")
    def create_model(self, request: Request) -> dict[str, Any]:
        name = request["ModelName"]
        arn = self.arns("model", name)
        url = model_data_url(request)
        if url:  # CreateModel checks that the model data exists, reading it as the model's role
            uri = S3Uri.parse(url)
            role = str(request.get("ExecutionRoleArn", ""))
            try:
                self.services.s3_for(role).head_object(Bucket=uri.bucket, Key=uri.key)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "AccessDenied":
                    raise SageMakerApiError(
                        "ValidationException", f"Could not find model data at {url}."
                    ) from error
                message = CREATE_MODEL_ACCESS_DENIED.format(url=url, role=role, region=self.arns.region)
                detail = error.response["Error"].get("Message", "")
                raise SageMakerApiError("ValidationException", f"{message} ({detail})") from error
            except Exception as error:
                raise SageMakerApiError(
                    "ValidationException", f"Could not find model data at {url}."
                ) from error
        with self._lock:
            if name in self._model_records:
                raise SageMakerApiError(
                    "ValidationException", f'Cannot create already existing model "{arn}".'
                )
            self._model_records[name] = {
                **echo_request("DescribeModel", request),
                "ModelArn": arn,
                "CreationTime": utcnow(),
            }
        return {"ModelArn": arn}

    @_api("DescribeModel")
    def describe_model(self, request: dict[str, Any]) -> dict[str, Any]:
        return dict(self._model(request["ModelName"]))

    @_api("DeleteModel")
    def delete_model(self, request: dict[str, Any]) -> dict[str, Any]:
        self._model(request["ModelName"])
        with self._lock:
            del self._model_records[request["ModelName"]]
        return {}

    def _model(self, name: str) -> dict[str, Any]:
        with self._lock:
            record = self._model_records.get(name)
        if record is None:
            raise SageMakerApiError(
                "ValidationException", f'Could not find model "{self.arns("model", name)}".'
            )
        return record

    @_api("CreateEndpointConfig", refuse_invalid_serverless_config)
    def create_endpoint_config(self, request: Request) -> dict[str, Any]:
        name = request["EndpointConfigName"]
        arn = self.arns("endpoint-config", name)
        for variant in request["ProductionVariants"]:
            self._model(variant["ModelName"])
        with self._lock:
            if name in self._endpoint_configs:
                message = f'Cannot create already existing endpoint configuration "{arn}".'
                raise SageMakerApiError("ValidationException", message)
            self._endpoint_configs[name] = {
                **echo_request("DescribeEndpointConfig", request),
                "EndpointConfigArn": arn,
                "CreationTime": utcnow(),
            }
        return {"EndpointConfigArn": arn}

    @_api("DescribeEndpointConfig")
    def describe_endpoint_config(self, request: dict[str, Any]) -> dict[str, Any]:
        return dict(self._endpoint_config(request["EndpointConfigName"]))

    @_api("DeleteEndpointConfig")
    def delete_endpoint_config(self, request: dict[str, Any]) -> dict[str, Any]:
        self._endpoint_config(request["EndpointConfigName"])
        with self._lock:
            del self._endpoint_configs[request["EndpointConfigName"]]
        return {}

    def _endpoint_config(self, name: str) -> dict[str, Any]:
        with self._lock:
            record = self._endpoint_configs.get(name)
        if record is None:
            arn = self.arns("endpoint-config", name)
            raise SageMakerApiError("ValidationException", f'Could not find endpoint configuration "{arn}".')
        return record

    # -- endpoints ---------------------------------------------------------------------------------

    @_api("CreateEndpoint")
    def create_endpoint(self, request: Request) -> dict[str, Any]:
        name, config_name = request["EndpointName"], request["EndpointConfigName"]
        arn = self.arns("endpoint", name)
        self._endpoint_config(config_name)
        now = utcnow()
        with self._lock:
            if name in self._endpoints:
                raise SageMakerApiError(
                    "ValidationException", f'Cannot create already existing endpoint "{arn}".'
                )
            endpoint = EndpointState(name, arn, config_name, "Creating", now, now)
            endpoint.transitional_describes_left = self.endpoint_transitional_describes
            self._endpoints[name] = endpoint
            endpoint.pending = self._deployer.submit(self._deploy, endpoint, config_name)
        return {"EndpointArn": arn}

    @_api("UpdateEndpoint")
    def update_endpoint(self, request: Request) -> dict[str, Any]:
        name, config_name = request["EndpointName"], request["EndpointConfigName"]
        endpoint = self._endpoint(name)
        config = self._endpoint_config(config_name)
        with self._lock:
            if endpoint.status != "InService":
                state = "failed" if endpoint.status == "Failed" else "in-progress"
                raise SageMakerApiError(
                    "ValidationException", f'Cannot update {state} endpoint "{endpoint.arn}".'
                )
            live = self._endpoint_config(endpoint.config_name)
            refuse_scaled_instance_type_change(endpoint.name, live, config, self.autoscaling_registered)
            refuse_instance_to_serverless(endpoint.name, live, config)
            endpoint.retain = Retention.of(request)
            endpoint.rollout = Rollout.of(
                request,
                old_config=endpoint.config_name,
                instance_count=fleet_size(endpoint.variants, config, retain=endpoint.retain),
            )
            endpoint.status = "Updating"
            endpoint.pending_config, endpoint.pending_since = config_name, utcnow()
            endpoint.modified = endpoint.pending_since
            endpoint.transitional_describes_left = self.endpoint_transitional_describes
            endpoint.pending = self._deployer.submit(self._deploy, endpoint, config_name)
        return {"EndpointArn": endpoint.arn}

    @_api("DescribeEndpoint")
    def describe_endpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        endpoint = self._endpoint(request["EndpointName"])
        with self._lock:
            if endpoint.status in ("Creating", "Updating") and endpoint.transitional_describes_left > 0:
                endpoint.transitional_describes_left -= 1
                return endpoint.describe()
            pending = endpoint.pending
        if pending is not None:
            pending.result(timeout=self._deployment_timeout)
        with self._lock:
            return endpoint.describe()

    @_api("DeleteEndpoint")
    def delete_endpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        endpoint = self._endpoint(request["EndpointName"])
        with self._lock:
            endpoint.deleted = True
            del self._endpoints[endpoint.name]
            self.server.withdraw(endpoint.name)
        return {}

    @_api("ListEndpoints")
    def list_endpoints(self, request: Request) -> dict[str, Any]:
        with self._lock:
            endpoints = [e.describe() for e in self._endpoints.values()]
        if "NameContains" in request:
            endpoints = [e for e in endpoints if request["NameContains"] in e["EndpointName"]]
        if "StatusEquals" in request:
            endpoints = [e for e in endpoints if e["EndpointStatus"] == request["StatusEquals"]]
        sort_key = {"Name": "EndpointName", "Status": "EndpointStatus"}.get(
            request.get("SortBy", ""), "CreationTime"
        )
        endpoints.sort(
            key=lambda e: e[sort_key], reverse=request.get("SortOrder", "Descending") == "Descending"
        )
        summary_keys = ("EndpointName", "EndpointArn", "CreationTime", "LastModifiedTime", "EndpointStatus")
        limit = int(request.get("MaxResults", 100))
        return {"Endpoints": [{k: e[k] for k in summary_keys} for e in endpoints[:limit]]}

    def _endpoint(self, name: str) -> EndpointState:
        with self._lock:
            endpoint = self._endpoints.get(name)
        if endpoint is None:
            raise SageMakerApiError(
                "ValidationException", f'Could not find endpoint "{self.arns("endpoint", name)}".'
            )
        return endpoint

    def _deploy(self, endpoint: EndpointState, config_name: str) -> None:
        """Load the config's model, then switch the endpoint to it (or record why it failed)."""
        creating = endpoint.status == "Creating"
        config = self._endpoint_config(config_name)
        variant = config["ProductionVariants"][0]  # one variant is served; traffic splitting is not emulated
        url = ""
        try:
            with self._lock:
                fault = self._endpoint_faults.get(endpoint.name) or self._endpoint_faults.get(config_name)
            if fault is not None:
                raise RuntimeError(fault)
            model = self._model(variant["ModelName"])
            url = model_data_url(model)
            container = TfsContainer(
                self.runner.load_model(self.services, url, model.get("ExecutionRoleArn"))
            )
        except Exception as error:
            if isinstance(error, S3TransferError | ClientError | S3UploadFailedError):
                reason = failure_reason(f"{MODEL_DOWNLOAD_FAILURE.format(url=url)} ({error})")
            else:
                reason = failure_reason(
                    f"{HEALTH_CHECK_FAILURE.format(variant=variant['VariantName'])} ({error})"
                )
            self._not_deployed(endpoint, reason, creating=creating)
            return
        rollout, endpoint.rollout = endpoint.rollout, None
        if rollout is not None and not creating:
            rolled_back = shift_traffic(
                self.server,
                endpoint.name,
                container,
                rollout,
                alarms_in_alarm=alarms_in_alarm(self.cloudwatch),
                observers=list(self.rollout_observers),
            )
            if rolled_back is not None:
                self._not_deployed(endpoint, rolled_back, creating=False)
                return
        with self._lock:
            if endpoint.deleted:
                return
            retain, endpoint.retain = endpoint.retain, None
            variants = [variant_summary(v) for v in config["ProductionVariants"]]
            capture = config.get("DataCaptureConfig")
            if retain is not None:
                variants = retain.variants(endpoint.variants, variants)
                capture = retain.data_capture(endpoint.data_capture, capture)
            role = str(model.get("ExecutionRoleArn", ""))
            writer = self.capture_writer(endpoint.name, variant["VariantName"], capture, role)
            self.server.serve(endpoint.name, ServedModel(container, variant["VariantName"], writer))
            endpoint.status, endpoint.config_name, endpoint.failure_reason = "InService", config_name, None
            endpoint.pending_config = endpoint.pending_since = None
            endpoint.modified = utcnow()
            endpoint.variants, endpoint.data_capture = variants, capture

    def _not_deployed(self, endpoint: EndpointState, reason: str, *, creating: bool) -> None:
        """A creation ends Failed; an update rolls back to the config it replaced (InService)."""
        with self._lock:
            endpoint.failure_reason = reason
            endpoint.status = "Failed" if creating else "InService"
            endpoint.pending_config = endpoint.pending_since = None
            endpoint.retain = endpoint.rollout = None
            endpoint.modified = utcnow()

    def watch_rollouts(self, observer: Observer) -> None:
        """Call ``observer(endpoint, step, split)`` at each traffic step of a blue/green update,
        before its alarms are read (a test fires an alarm there to see the rollback)."""
        with self._lock:
            self.rollout_observers.append(observer)

    def capture_writer(
        self, endpoint_name: str, variant_name: str, capture: dict[str, Any] | None, role: str
    ) -> CaptureWriter | None:
        """The endpoint's data capture, writing as the model's role (None: capture off)."""
        if not capture or not capture.get("EnableCapture"):
            return None
        return CaptureWriter(
            CaptureSettings.of(capture), self.services.s3_for(role), endpoint_name, variant_name
        )

    @_api("UpdateEndpointWeightsAndCapacities")
    def update_endpoint_weights_and_capacities(self, request: Request) -> dict[str, Any]:
        """What Application Auto Scaling calls to scale a variant; applied at once here."""
        endpoint = self._endpoint(request["EndpointName"])
        with self._lock:
            if endpoint.status != "InService":
                raise SageMakerApiError(
                    "ValidationException", f'Cannot update in-progress endpoint "{endpoint.arn}".'
                )
            endpoint.variants = set_capacities(endpoint.arn, endpoint.variants, request)
            endpoint.modified = utcnow()
        return {"EndpointArn": endpoint.arn}

    def autoscaling_registered(self, endpoint_name: str, variant_name: str) -> bool:
        """Whether Application Auto Scaling has the variant as a scalable target (no client: never)."""
        if self.autoscaling is None:
            return False
        targets = self.autoscaling.describe_scalable_targets(
            ServiceNamespace="sagemaker",
            ResourceIds=[f"endpoint/{endpoint_name}/variant/{variant_name}"],
            ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        )["ScalableTargets"]
        return bool(targets)


def model_data_url(model: dict[str, Any]) -> str:
    container: dict[str, Any] = model.get("PrimaryContainer") or next(iter(model.get("Containers", [])), {})
    return str(container.get("ModelDataUrl", ""))
