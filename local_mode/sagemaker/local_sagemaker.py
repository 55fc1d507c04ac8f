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

import re
import sys
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from local_mode.sagemaker.api import Request, operation_methods
from local_mode.sagemaker.api import api_operation as _api
from local_mode.sagemaker.hosting import EndpointState, HostingApi, model_data_url
from local_mode.sagemaker.job_runner import JobRunner, SubprocessRunner, TrainingRun
from local_mode.sagemaker.jobs.batch_transform import TransformJob
from local_mode.sagemaker.jobs.job_services import JobServices, LogCallback
from local_mode.sagemaker.jobs.local_tuning import run_tuning_job, validate_tuning_request
from local_mode.sagemaker.jobs.training_job import SpotInterruption
from local_mode.sagemaker.serving.endpoint_server import EndpointServer
from local_mode.sagemaker.shapes import (
    Arns,
    SageMakerApiError,
    echo_request,
    failure_reason,
    utcnow,
)
from local_mode.sagemaker.tagging import TaggingApi

__all__ = ["JobRunner", "LocalSageMaker", "SageMakerApiError", "SubprocessRunner"]


class LocalSageMaker(HostingApi, TaggingApi):
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
        autoscaling: Any = None,
        cloudwatch: Any = None,
    ) -> None:
        self.s3 = s3_client
        # An application-autoscaling client (moto's in local mode): UpdateEndpoint asks it which
        # variants are scalable targets. None: no variant is.
        self.autoscaling = autoscaling
        # A cloudwatch client (moto's in local mode): a blue/green update reads its rollback
        # alarms' states from it. None: no alarm ever fires.
        self.cloudwatch = cloudwatch
        self.rollout_observers = []
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
        self._endpoints: dict[str, EndpointState] = {}
        self._endpoint_faults: dict[str, str] = {}
        self._tags: dict[str, dict[str, str]] = {}
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
                self._tags,
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
            self.rollout_observers.clear()
            self._spot_interruptions.clear()

    # -- training ----------------------------------------------------------------------------------

    @_api("CreateTrainingJob", lambda request: _validate_spot(request), lambda r: _validate_input_modes(r))
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
            lambda: self.runner.train(TrainingRun(self.services, request, tuning_job_arn, interruption)),
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
        url = model_data_url(model)
        role = model.get("ExecutionRoleArn")
        return self._finish(
            self._transform_jobs,
            name,
            lambda: self.runner.transform(self.services, request, url, role),
        )

    @_api("DescribeTransformJob")
    def describe_transform_job(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._describe(self._transform_jobs, request["TransformJobName"])

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


_OPERATIONS = operation_methods(LocalSageMaker)


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
    """CreateTrainingJob's spot rules: MaxWaitTimeInSeconds only with spot (>= MaxRuntime), no warm pool."""
    stopping = request.get("StoppingCondition", {})
    wait, runtime = stopping.get("MaxWaitTimeInSeconds"), stopping.get("MaxRuntimeInSeconds", 86400)
    if not request.get("EnableManagedSpotTraining"):
        if wait is not None:
            raise SageMakerApiError(
                "ValidationException",
                "Invalid MaxWaitTimeInSeconds. It is only supported when EnableManagedSpotTraining is true",
            )
        return
    if request.get("ResourceConfig", {}).get("KeepAlivePeriodInSeconds", 0) > 0:
        # SageMaker developer guide, warm pools: "not supported with managed spot training".
        raise SageMakerApiError(
            "ValidationException",
            "Warm pools are not supported with managed spot training: KeepAlivePeriodInSeconds "
            "must be 0 when EnableManagedSpotTraining is true",
        )
    if wait is None or wait < runtime:
        raise SageMakerApiError(
            "ValidationException",
            "Invalid MaxWaitTimeInSeconds. It must be present and be greater than or equal to "
            "MaxRuntimeInSeconds",
        )


def _validate_input_modes(request: dict[str, Any]) -> None:
    """FastFile takes S3 prefixes and manifests, not augmented manifests (API reference, TrainingInputMode).

    Local mode then treats FastFile like File: the job reads files under /opt/ml/input/data/<channel>.
    """
    default = request["AlgorithmSpecification"].get("TrainingInputMode")
    for channel in request.get("InputDataConfig", []):
        data_type = channel["DataSource"].get("S3DataSource", {}).get("S3DataType")
        if channel.get("InputMode", default) == "FastFile" and data_type == "AugmentedManifestFile":
            raise SageMakerApiError(
                "ValidationException",
                f"Channel {channel['ChannelName']}: FastFile input mode does not support "
                "augmented manifest files.",
            )
