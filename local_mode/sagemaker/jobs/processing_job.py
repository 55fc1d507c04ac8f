"""SageMaker processing jobs, run for real: one subprocess per instance, in parallel."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from local_mode.sagemaker.jobs.host_process import HostRun, run_host
from local_mode.sagemaker.jobs.job_services import (
    JobError,
    JobServices,
    algorithm_error,
    channel_objects,
    read_message,
    shard,
    to_host_path,
)
from local_mode.sagemaker.jobs.s3_io import S3TransferError, S3Uri, download_objects, upload_folder
from local_mode.sagemaker.shapes import drop_none, echo_request, failure_reason, utcnow


def processing_download_failed(error: S3TransferError) -> str:
    """Processing's FailureReason: ``ClientError: Failed to download data. ListObjectsV2 failed for s3://...``.

    (aws-samples/sagemaker-run-notebook#32; the processing data plane reports the SDK's error.)
    """
    if error.operation.startswith("List"):
        text = f"ListObjectsV2 failed for {error.uri} nextToken:[null]: {error.sdk_detail}"
    else:
        text = f"{error.operation} failed for {error.uri}: {error.sdk_detail}"
    return failure_reason(f"ClientError: Failed to download data. {text}")


def processing_upload_failed(error: S3TransferError) -> str:
    return failure_reason(
        f"ClientError: Failed to upload data. {error.operation} failed for {error.uri}: {error.sdk_detail}"
    )


class ProcessingJob:
    """One CreateProcessingJob request: an instance subprocess per ``InstanceCount``, in parallel."""

    def __init__(self, services: JobServices, request: dict[str, Any]) -> None:
        self.services = services
        self.request = request
        self.s3 = services.s3_for(request.get("RoleArn"))  # every transfer acts as the job's role
        self.name: str = request["ProcessingJobName"]
        self.arn = services.arns("processing-job", self.name)
        cluster = request["ProcessingResources"]["ClusterConfig"]
        self.instance_type: str = cluster.get("InstanceType", "local")
        self.hosts = [f"algo-{index + 1}" for index in range(int(cluster.get("InstanceCount", 1)))]
        self.max_runtime: float | None = request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds")
        self.root = services.job_root("processing", self.name)

    def run(self) -> dict[str, Any]:
        created = started = utcnow()
        status, failure, exit_message = "Completed", None, None
        try:
            try:
                roots = self._prepare_hosts()
            except S3TransferError as error:
                raise JobError(processing_download_failed(error)) from error
            runs, timed_out = self._run(roots)
            failed = next((run for run in runs if run.returncode != 0), None)
            if timed_out:
                status, failure = "Stopped", "Processing job exceeded MaxRuntimeInSeconds"
            elif failed is not None:
                # The container's message file is the ExitMessage; the log tail stands in when there is none.
                exit_message = read_message(roots[failed.host] / "output" / "message")
                raise JobError(algorithm_error(exit_message or failed.tail(), failed.returncode))
            else:
                try:
                    self._upload_outputs(roots)
                except S3TransferError as error:
                    raise JobError(processing_upload_failed(error)) from error
        except JobError as error:
            status, failure = "Failed", str(error)
        end = utcnow()
        return drop_none(
            {
                **echo_request("DescribeProcessingJob", self.request),
                "ProcessingJobArn": self.arn,
                "ProcessingJobStatus": status,
                "FailureReason": failure,
                "ExitMessage": exit_message,
                "CreationTime": created,
                "ProcessingStartTime": started,
                "ProcessingEndTime": end,
                "LastModifiedTime": end,
            }
        )

    def _prepare_hosts(self) -> dict[str, Path]:
        roots = {host: self.root / host for host in self.hosts}
        for host, root in roots.items():
            (root / "config").mkdir(parents=True, exist_ok=True)
            (root / "output").mkdir(parents=True, exist_ok=True)
            resource = {"current_host": host, "hosts": self.hosts}
            (root / "config" / "resourceconfig.json").write_text(json.dumps(resource))
            (root / "config" / "processingjobconfig.json").write_text(json.dumps(self.request, default=str))
        for processing_input in self.request.get("ProcessingInputs", []):
            self._download_input(processing_input, roots)
        for output in self.request.get("ProcessingOutputConfig", {}).get("Outputs", []):
            for root in roots.values():
                Path(to_host_path(output["S3Output"]["LocalPath"], root)).mkdir(parents=True, exist_ok=True)
        return roots

    def _download_input(self, processing_input: dict[str, Any], roots: dict[str, Path]) -> None:
        name = processing_input["InputName"]
        source = processing_input.get("S3Input")
        if source is None:
            raise JobError(f"ClientError: input {name}: only S3Input is supported locally")
        if source.get("S3InputMode", "File") != "File":
            raise JobError(f"ClientError: input {name}: only S3InputMode File is supported locally")
        data_type = source.get("S3DataType", "S3Prefix")
        uri, objects = channel_objects(self.s3, source["S3Uri"], data_type, name)
        distribution = source.get("S3DataDistributionType", "FullyReplicated")
        for index, root in enumerate(roots.values()):
            target = Path(to_host_path(source["LocalPath"], root))
            target.mkdir(parents=True, exist_ok=True)
            share = shard(objects, index, len(roots), distribution)
            download_objects(self.s3, uri.bucket, uri.key, share, target)

    def _run(self, roots: dict[str, Path]) -> tuple[list[HostRun], bool]:
        app = self.request["AppSpecification"]
        entrypoint = list(app.get("ContainerEntrypoint", []))
        if not entrypoint:
            raise JobError("ClientError: AppSpecification.ContainerEntrypoint is required locally (no image)")
        arguments = list(app.get("ContainerArguments", []))
        stop = threading.Event()
        timed_out = threading.Event()

        def time_out() -> None:
            timed_out.set()
            stop.set()

        timer = None
        if self.max_runtime is not None:
            timer = threading.Timer(self.max_runtime, time_out)
            timer.daemon = True
            timer.start()

        def launch(host: str, root: Path) -> HostRun:
            command = [to_host_path(part, root) for part in entrypoint + arguments]
            env = self.services.base_env(root)
            # Local mode only: where /opt/ml/output/message (the ExitMessage file) is for this instance.
            env["SM_OUTPUT_FAILURE"] = str(root / "output" / "message")
            env.update({k: to_host_path(v, root) for k, v in self.request.get("Environment", {}).items()})
            sink = self.services.log_sink(self.name, host, self.hosts)
            return run_host(command, host=host, env=env, cwd=root, on_line=sink, stop=stop)

        try:
            with ThreadPoolExecutor(max_workers=len(roots)) as pool:
                runs = list(pool.map(lambda item: launch(*item), roots.items()))
        finally:
            if timer is not None:
                timer.cancel()
        return runs, timed_out.is_set()

    def _upload_outputs(self, roots: dict[str, Path]) -> None:
        """S3UploadMode EndOfJob (Continuous is treated alike): each instance's LocalPath, in host order."""
        for output in self.request.get("ProcessingOutputConfig", {}).get("Outputs", []):
            s3_output = output.get("S3Output")
            if s3_output is None:
                name = output.get("OutputName")
                raise JobError(f"ClientError: output {name}: only S3Output is supported locally")
            target = S3Uri.parse(s3_output["S3Uri"])
            for root in roots.values():
                upload_folder(self.s3, Path(to_host_path(s3_output["LocalPath"], root)), target)
