"""A local SageMaker: the API calls a state machine makes, run on this machine.

``LocalSageMaker`` is the API layer: it takes SageMaker API requests (PascalCase members, as in
botocore's service model), validates each one once (``@_api``: botocore's model, then the
operation's own rules), and returns the API's responses. Jobs block until they end and return
their final Describe* response, which is what a Step Functions ``.sync`` task yields. What a job
does is its ``JobRunner``'s (``job_runner``); the default, ``SubprocessRunner``, runs for real:

* training and processing jobs run their scripts as subprocesses (``training_job``, ``processing_job``),
* transform jobs and endpoints serve the model through an in-process emulation of the
  SageMaker TensorFlow Serving container (``tfs_emulation``, ``batch_transform``).

Whatever the runner, tuning jobs run their training jobs one by one with random search
(``local_tuning``) and endpoints answer on 127.0.0.1 with the SageMaker Runtime paths
(``endpoint_server``).

Everything is kept in memory; S3 goes through the boto3 client handed in (moto in local mode).
See docs/local-mode.md for what is emulated how, and what is not.
"""

from __future__ import annotations

import functools
import json
import re
import sys
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError

from local_mode.sagemaker.job_runner import JobRunner, SubprocessRunner
from local_mode.sagemaker.jobs.batch_transform import TransformJob
from local_mode.sagemaker.jobs.job_services import JobServices, LogCallback
from local_mode.sagemaker.jobs.local_tuning import run_tuning_job, validate_tuning_request
from local_mode.sagemaker.jobs.s3_io import S3TransferError, S3Uri
from local_mode.sagemaker.jobs.training_job import SpotInterruption
from local_mode.sagemaker.serving.endpoint_server import EndpointServer, ServedModel
from local_mode.sagemaker.serving.tfs_emulation import TfsContainer
from local_mode.sagemaker.shapes import (
    Arns,
    SageMakerApiError,
    drop_none,
    echo_request,
    failure_reason,
    utcnow,
    validate_request,
)

__all__ = ["JobRunner", "LocalSageMaker", "SageMakerApiError", "SubprocessRunner"]

Request = dict[str, Any]
_Method = Callable[[Any, Request], dict[str, Any]]
_Operation = Callable[..., dict[str, Any]]  # called with the request, or none (List*)

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


def _api(operation: str, *rules: Callable[[Request], None]) -> Callable[[_Method], _Operation]:
    """An API operation: the one place its request is validated (botocore's model, then ``rules``).

    Requests that change something (not Describe*/List*) and succeed are kept in ``requests``.
    """

    def decorate(method: _Method) -> _Operation:
        @functools.wraps(method)
        def call(self: LocalSageMaker, request: Request | None = None) -> dict[str, Any]:
            request = {} if request is None else request
            validate_request(operation, request)
            for rule in rules:
                rule(request)
            response = method(self, request)
            if not operation.startswith(("Describe", "List")):
                with self._lock:
                    self.requests.append((operation, json.loads(json.dumps(request, default=str))))
            return response

        call.api_operation = operation  # type: ignore[attr-defined]
        return call

    return decorate


@dataclass
class _Endpoint:
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
            }
        )


class LocalSageMaker:
    """SageMaker on this machine. Use as a context manager (or call ``close()``) to stop the endpoint server.

    ``on_log(job_name, line)`` receives every log line of every job as it is printed.
    ``endpoint_transitional_describes`` is how many DescribeEndpoint calls report
    ``Creating``/``Updating`` before the outcome (so a workflow's wait loop runs at least
    once, deterministically); later calls wait for the deployment to finish.

    ``access`` (a ``role_access.RoleAccess``, or anything with ``s3_for(role_arn)``): every job
    then reads and writes S3 as its execution role (training, processing, tuning trials: the
    request's ``RoleArn``; transform jobs, endpoints and CreateModel's check of the model data:
    the model's ``ExecutionRoleArn``), and a refused request fails it with SageMaker's error.
    Without it (the default) every transfer uses ``s3_client`` unchecked.

    ``runner`` runs the jobs (``job_runner.JobRunner``; default ``SubprocessRunner``, the real
    scripts). ``requests`` lists every request that changed something, as ``(operation, request)``.
    """

    def __init__(
        self,
        *,
        s3_client: Any,
        workdir: Path,
        region: str,
        account_id: str,
        python: str = sys.executable,
        on_log: LogCallback | None = None,
        endpoint_transitional_describes: int = 1,
        deployment_timeout_s: float = 600.0,
        access: Any = None,
        runner: JobRunner | None = None,
    ) -> None:
        self.s3 = s3_client
        self.access = access
        self.runner: JobRunner = runner if runner is not None else SubprocessRunner()
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.arns = Arns(region, account_id)
        self.services = JobServices(s3_client, self.workdir, self.arns, python, on_log, access)
        self.server = EndpointServer(account_id=account_id)
        self.endpoint_transitional_describes = endpoint_transitional_describes
        self.requests: list[tuple[str, Request]] = []
        self._deployment_timeout = deployment_timeout_s
        self._deployer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="endpoint-deploy")
        self._lock = threading.RLock()
        self._training_jobs: dict[str, dict[str, Any]] = {}
        self._processing_jobs: dict[str, dict[str, Any]] = {}
        self._tuning_jobs: dict[str, dict[str, Any]] = {}
        self._tuning_summaries: dict[str, list[dict[str, Any]]] = {}
        self._transform_jobs: dict[str, dict[str, Any]] = {}
        self._model_records: dict[str, dict[str, Any]] = {}
        self._endpoint_configs: dict[str, dict[str, Any]] = {}
        self._endpoints: dict[str, _Endpoint] = {}
        self._endpoint_faults: dict[str, str] = {}
        self._spot_interruptions: dict[str, SpotInterruption] = {}

    def reset(self) -> None:
        """Forget every job, model, config, endpoint, fault and recorded request (between tests)."""
        self.clear_faults()
        with self._lock:
            self.requests.clear()
            for endpoint in self._endpoints.values():
                endpoint.deleted = True
                self.server.withdraw(endpoint.name)
            for records in (
                self._endpoints,
                self._training_jobs,
                self._processing_jobs,
                self._tuning_jobs,
                self._tuning_summaries,
                self._transform_jobs,
                self._model_records,
                self._endpoint_configs,
            ):
                records.clear()

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        self._deployer.shutdown(wait=True, cancel_futures=True)
        self.server.close()

    def __enter__(self) -> LocalSageMaker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def server_url(self) -> str:
        """Base URL for ``boto3.client("sagemaker-runtime", endpoint_url=...)``."""
        return self.server.url

    def endpoint_url(self, endpoint_name: str) -> str:
        """``<server>/endpoints/<name>``: append ``/invocations`` or ``/ping``."""
        return self.server.endpoint_url(endpoint_name)

    def dispatch(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        """Call an operation by its API name (``CreateTrainingJob``, ``createTrainingJob`` or snake case)."""
        method_name = re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()
        if method_name not in _OPERATIONS:
            raise SageMakerApiError(
                "UnknownOperationException", f"{operation} is not supported by local SageMaker"
            )
        method: Callable[[dict[str, Any]], dict[str, Any]] = getattr(self, method_name)
        return method(request)

    # -- fault hooks (tests, demos) ----------------------------------------------------------------

    def fail_endpoint_creation(self, name: str, reason: str = "the model failed its health check") -> None:
        """Make deployments of endpoint (or endpoint config) ``name`` fail, until ``clear_faults``.

        CreateEndpoint then ends ``Failed``; UpdateEndpoint rolls back to the running
        config (``InService``, the old ``EndpointConfigName``) with the ``FailureReason``.
        """
        with self._lock:
            self._endpoint_faults[name] = reason

    def simulate_spot_interruption(
        self, training_job_name: str, after_log_line: str = r"\bepoch=1\b"
    ) -> None:
        """Interrupt that spot training job once, when its log prints a line matching the regex.

        The job then restarts on fresh hosts from the checkpoints it synced to S3, as a
        managed spot job does after a reclaim.
        """
        with self._lock:
            self._spot_interruptions[training_job_name] = SpotInterruption(re.compile(after_log_line))

    def clear_faults(self) -> None:
        with self._lock:
            self._endpoint_faults.clear()
            self._spot_interruptions.clear()

    # -- training ----------------------------------------------------------------------------------

    @_api("CreateTrainingJob", lambda request: _validate_spot(request))
    def create_training_job(self, request: Request) -> dict[str, Any]:
        """Run the job to its end; returns DescribeTrainingJob's response (``.sync``)."""
        return self._run_training(request, tuning_job_arn=None)

    def _run_training(self, request: dict[str, Any], tuning_job_arn: str | None) -> dict[str, Any]:
        name = request["TrainingJobName"]
        arn = self.arns("training-job", name)
        message = (
            "Training job names must be unique within an AWS account and region, and a training job "
            f"with this name already exists ({arn})"
        )
        output_path = request["OutputDataConfig"]["S3OutputPath"].rstrip("/")
        artifacts = {"S3ModelArtifacts": f"{output_path}/{name}/output/model.tar.gz"}
        placeholder = _in_progress(
            request, "TrainingJob", arn, SecondaryStatus="Starting", ModelArtifacts=artifacts
        )
        self._claim(self._training_jobs, name, placeholder, message)
        with self._lock:
            interruption = self._spot_interruptions.get(name)
        return self._finish(
            self._training_jobs,
            name,
            lambda: self.runner.train(
                self.services, request, tuning_job_arn=tuning_job_arn, interruption=interruption
            ),
        )

    @_api("DescribeTrainingJob")
    def describe_training_job(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._describe(self._training_jobs, request["TrainingJobName"])

    # -- processing --------------------------------------------------------------------------------

    @_api("CreateProcessingJob")
    def create_processing_job(self, request: Request) -> dict[str, Any]:
        name = request["ProcessingJobName"]
        arn = self.arns("processing-job", name)
        self._claim(self._processing_jobs, name, _in_progress(request, "ProcessingJob", arn))
        return self._finish(self._processing_jobs, name, lambda: self.runner.process(self.services, request))

    @_api("DescribeProcessingJob")
    def describe_processing_job(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._describe(self._processing_jobs, request["ProcessingJobName"])

    # -- tuning ------------------------------------------------------------------------------------

    @_api("CreateHyperParameterTuningJob", validate_tuning_request)
    def create_hyper_parameter_tuning_job(self, request: Request) -> dict[str, Any]:
        name = request["HyperParameterTuningJobName"]
        arn = self.arns("hyper-parameter-tuning-job", name)
        placeholder = _in_progress(
            request,
            "HyperParameterTuningJob",
            arn,
            TrainingJobStatusCounters={},
            ObjectiveStatusCounters={},
        )
        self._claim(self._tuning_jobs, name, placeholder)

        def run() -> dict[str, Any]:
            described, summaries = run_tuning_job(request, arn, lambda job: self._run_training(job, arn))
            self._tuning_summaries[name] = summaries
            return described

        return self._finish(self._tuning_jobs, name, run)

    @_api("DescribeHyperParameterTuningJob")
    def describe_hyper_parameter_tuning_job(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._describe(self._tuning_jobs, request["HyperParameterTuningJobName"])

    @_api("ListTrainingJobsForHyperParameterTuningJob")
    def list_training_jobs_for_hyper_parameter_tuning_job(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request["HyperParameterTuningJobName"]
        self._describe(self._tuning_jobs, name)
        return {"TrainingJobSummaries": list(self._tuning_summaries.get(name, []))}

    # -- batch transform ---------------------------------------------------------------------------

    @_api("CreateTransformJob", TransformJob.validate)
    def create_transform_job(self, request: Request) -> dict[str, Any]:
        model = self._model(request["ModelName"])
        name = request["TransformJobName"]
        arn = self.arns("transform-job", name)
        self._claim(self._transform_jobs, name, _in_progress(request, "TransformJob", arn))
        url = _model_data_url(model)
        role = model.get("ExecutionRoleArn")
        return self._finish(
            self._transform_jobs,
            name,
            lambda: self.runner.transform(self.services, request, url, role),
        )

    @_api("DescribeTransformJob")
    def describe_transform_job(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._describe(self._transform_jobs, request["TransformJobName"])

    # -- models and endpoint configs ---------------------------------------------------------------

    @_api("CreateModel")
    def create_model(self, request: Request) -> dict[str, Any]:
        name = request["ModelName"]
        arn = self.arns("model", name)
        url = _model_data_url(request)
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

    @_api("CreateEndpointConfig")
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
            endpoint = _Endpoint(name, arn, config_name, "Creating", now, now)
            endpoint.transitional_describes_left = self.endpoint_transitional_describes
            self._endpoints[name] = endpoint
            endpoint.pending = self._deployer.submit(self._deploy, endpoint, config_name)
        return {"EndpointArn": arn}

    @_api("UpdateEndpoint")
    def update_endpoint(self, request: Request) -> dict[str, Any]:
        name, config_name = request["EndpointName"], request["EndpointConfigName"]
        endpoint = self._endpoint(name)
        self._endpoint_config(config_name)
        with self._lock:
            if endpoint.status != "InService":
                state = "failed" if endpoint.status == "Failed" else "in-progress"
                raise SageMakerApiError(
                    "ValidationException", f'Cannot update {state} endpoint "{endpoint.arn}".'
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

    def _endpoint(self, name: str) -> _Endpoint:
        with self._lock:
            endpoint = self._endpoints.get(name)
        if endpoint is None:
            raise SageMakerApiError(
                "ValidationException", f'Could not find endpoint "{self.arns("endpoint", name)}".'
            )
        return endpoint

    def _deploy(self, endpoint: _Endpoint, config_name: str) -> None:
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
            url = _model_data_url(model)
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
            with self._lock:
                endpoint.failure_reason = reason
                endpoint.status = "Failed" if creating else "InService"  # a failed update rolls back
                endpoint.pending_config = endpoint.pending_since = None
                endpoint.modified = utcnow()
            return
        with self._lock:
            if endpoint.deleted:
                return
            self.server.serve(endpoint.name, ServedModel(container, variant["VariantName"]))
            endpoint.status, endpoint.config_name, endpoint.failure_reason = "InService", config_name, None
            endpoint.pending_config = endpoint.pending_since = None
            endpoint.modified = utcnow()
            endpoint.variants = [_variant_summary(v) for v in config["ProductionVariants"]]

    # -- bookkeeping -------------------------------------------------------------------------------

    def _claim(
        self,
        jobs: dict[str, dict[str, Any]],
        name: str,
        placeholder: dict[str, Any],
        message: str | None = None,
    ) -> None:
        """Reserve a job name (the API refuses a name in use) and publish its InProgress description."""
        with self._lock:
            if name in jobs:
                arn = placeholder[next(key for key in placeholder if key.endswith("JobArn"))]
                message = message or (
                    "Job name must be unique within an AWS account and region, and a job with this name "
                    f"already exists ({arn})"
                )
                raise SageMakerApiError("ResourceInUse", message)
            jobs[name] = placeholder

    def _finish(
        self, jobs: dict[str, dict[str, Any]], name: str, run: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        """Run a job; an unexpected error fails it, as an internal error does on AWS (traceback logged)."""
        try:
            described = run()
        except SageMakerApiError:
            with self._lock:
                del jobs[name]
            raise
        except Exception as error:
            self.services.log_sink(name, "algo-1", ["algo-1"])(traceback.format_exc())
            described = dict(jobs[name])
            status_key = next(key for key in described if key.endswith("JobStatus"))
            described[status_key] = "Failed"
            described["FailureReason"] = failure_reason(
                f"InternalServerError: {type(error).__name__}: {error}"
            )
            if "SecondaryStatus" in described:
                described["SecondaryStatus"] = "Failed"
        with self._lock:
            jobs[name] = described
        return dict(described)

    def _describe(self, jobs: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
        with self._lock:
            described = jobs.get(name)
        if described is None:
            raise SageMakerApiError("ValidationException", "Requested resource not found.")
        return dict(described)


_OPERATIONS = frozenset(
    name for name, method in vars(LocalSageMaker).items() if hasattr(method, "api_operation")
)


def _in_progress(request: dict[str, Any], kind: str, arn: str, **extra: Any) -> dict[str, Any]:
    """The Describe* response of a job that has started and not ended."""
    return {
        **echo_request(f"Describe{kind}", request),
        f"{kind}Arn": arn,
        f"{kind}Status": "InProgress",
        "CreationTime": utcnow(),
        **extra,
    }


def _validate_spot(request: dict[str, Any]) -> None:
    """CreateTrainingJob's spot rules: MaxWaitTimeInSeconds only with spot, and >= MaxRuntimeInSeconds."""
    stopping = request.get("StoppingCondition", {})
    wait, runtime = stopping.get("MaxWaitTimeInSeconds"), stopping.get("MaxRuntimeInSeconds", 86400)
    if not request.get("EnableManagedSpotTraining"):
        if wait is not None:
            raise SageMakerApiError(
                "ValidationException",
                "Invalid MaxWaitTimeInSeconds. It is only supported when EnableManagedSpotTraining is true",
            )
        return
    if wait is None or wait < runtime:
        raise SageMakerApiError(
            "ValidationException",
            "Invalid MaxWaitTimeInSeconds. It must be present and be greater than or equal to "
            "MaxRuntimeInSeconds",
        )


def _model_data_url(model: dict[str, Any]) -> str:
    container: dict[str, Any] = model.get("PrimaryContainer") or next(iter(model.get("Containers", [])), {})
    return str(container.get("ModelDataUrl", ""))


def _variant_summary(variant: dict[str, Any]) -> dict[str, Any]:
    return {
        "VariantName": variant["VariantName"],
        "DeployedImages": [],
        "CurrentWeight": float(variant.get("InitialVariantWeight", 1.0)),
        "DesiredWeight": float(variant.get("InitialVariantWeight", 1.0)),
        "CurrentInstanceCount": int(variant.get("InitialInstanceCount", 1)),
        "DesiredInstanceCount": int(variant.get("InitialInstanceCount", 1)),
    }
