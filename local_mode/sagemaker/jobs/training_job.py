"""SageMaker training jobs, run for real: one subprocess per instance, with spot restarts from checkpoints."""

from __future__ import annotations

import json
import math
import re
import shutil
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_mode.sagemaker.jobs.host_process import HostRun, run_host, toolkit_error_message
from local_mode.sagemaker.jobs.job_services import (
    OPT_ML,
    JobError,
    JobServices,
    algorithm_error,
    channel_objects,
    read_message,
    shard,
    to_host_path,
)
from local_mode.sagemaker.jobs.s3_io import (
    S3TransferError,
    S3Uri,
    download_objects,
    download_prefix,
    extract_tar,
    tar_folder,
    upload_file,
    upload_folder,
)
from local_mode.sagemaker.jobs.toolkit_env import (
    TOOLKIT_HYPERPARAMETERS,
    input_data_config,
    json_or_str,
    resource_config,
    to_cmd_args,
    training_script_env,
)
from local_mode.sagemaker.shapes import drop_none, echo_request, failure_reason, utcnow

SPOT_SAVINGS = 0.7  # local stand-in for the spot discount (AWS reports 70-90% savings)


def data_download_failed(error: S3TransferError) -> str:
    """Training's FailureReason for an input it could not read (its role refused, ...).

    Shape as SageMaker reports it: ``ClientError: Data download failed:Unable to download object
    s3://... (AccessDenied: Access Denied)`` (aws/amazon-sagemaker-examples#4384).
    """
    listing = error.operation.startswith("List")
    what = "Unable to list objects under" if listing else "Unable to download object"
    return failure_reason(f"ClientError: Data download failed:{what} {error.uri} {error.detail}")


def artifact_upload_failed(error: S3TransferError) -> str:
    """Training's FailureReason for an upload that failed: ``ClientError: Artifact upload failed:...``."""
    return failure_reason(f"ClientError: Artifact upload failed:Unable to upload {error.uri} {error.detail}")


@dataclass
class SpotInterruption:
    """Fault hook: interrupt a spot job once, when a line of its log matches ``pattern``."""

    pattern: re.Pattern[str]
    remaining: int = 1


@dataclass
class _Attempt:
    runs: list[HostRun]
    interrupted: bool = False
    timed_out: bool = False


class TrainingJob:
    """One CreateTrainingJob request, run to its end (``.sync`` semantics)."""

    def __init__(
        self,
        services: JobServices,
        request: dict[str, Any],
        *,
        tuning_job_arn: str | None = None,
        interruption: SpotInterruption | None = None,
    ) -> None:
        self.services = services
        self.request = request
        self.s3 = services.s3_for(request.get("RoleArn"))  # every transfer acts as the job's role
        self.name: str = request["TrainingJobName"]
        self.arn = services.arns("training-job", self.name)
        self.tuning_job_arn = tuning_job_arn
        self.interruption = interruption
        self.hyperparameters: dict[str, str] = dict(request.get("HyperParameters", {}))
        decoded = {name: json_or_str(value) for name, value in self.hyperparameters.items()}
        self.sagemaker_params = {
            name: value
            for name, value in decoded.items()
            if name.startswith("sagemaker_") or name in TOOLKIT_HYPERPARAMETERS
        }
        self.user_hyperparameters = {n: v for n, v in decoded.items() if n not in self.sagemaker_params}
        resources = request.get("ResourceConfig", {})
        self.instance_type: str = resources.get("InstanceType", "local")
        self.hosts = [f"algo-{index + 1}" for index in range(int(resources.get("InstanceCount", 1)))]
        self.spot = bool(request.get("EnableManagedSpotTraining", False))
        stopping = request.get("StoppingCondition", {})
        self.max_runtime: float | None = stopping.get("MaxRuntimeInSeconds")
        self.max_wait: float | None = stopping.get("MaxWaitTimeInSeconds") if self.spot else None
        algorithm = request.get("AlgorithmSpecification", {})
        self.input_mode: str = algorithm.get("TrainingInputMode", "File")
        self.metric_definitions: list[dict[str, str]] = list(algorithm.get("MetricDefinitions", []))
        self.output_uri = S3Uri.parse(request["OutputDataConfig"]["S3OutputPath"]).join(self.name, "output")
        self.transitions: list[dict[str, Any]] = []
        self.metrics: dict[str, dict[str, Any]] = {}
        self.command: list[str] = []
        self.root = services.job_root("training", self.name)

    # -- lifecycle ------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        created = utcnow()
        self._transition("Starting", "Preparing the instances for training")
        status, secondary, failure = "Completed", "Completed", None
        model_uri = str(self.output_uri.join("model.tar.gz"))
        try:
            attempt = self._run_attempts()
            master = attempt.runs[0]
            if attempt.timed_out:
                status = "Stopped"
                secondary = "MaxWaitTimeExceeded" if self._wait_exceeded() else "MaxRuntimeExceeded"
            elif master.returncode != 0 or any(run.returncode != 0 for run in attempt.runs):
                failed = next(run for run in attempt.runs if run.returncode != 0)
                raise JobError(self._algorithm_error(failed))
            self._transition("Uploading", "Uploading generated training model")
            try:
                self._upload(self.root / master.host)
            except S3TransferError as error:
                raise JobError(artifact_upload_failed(error)) from error
        except JobError as error:
            status, secondary, failure = "Failed", "Failed", str(error)
        end = utcnow()
        final_message = {
            "Completed": "Training job completed",
            "Failed": "Training job failed",
            "Stopped": "Training job stopped",
        }[status]
        self._transition(secondary, final_message, final=True)
        training_seconds = max(1, math.ceil((end - self.transitions[0]["StartTime"]).total_seconds()))
        return drop_none(
            {
                **echo_request("DescribeTrainingJob", self.request),
                "TrainingJobArn": self.arn,
                "TuningJobArn": self.tuning_job_arn,
                "ModelArtifacts": {"S3ModelArtifacts": model_uri},
                "TrainingJobStatus": status,
                "SecondaryStatus": secondary,
                "FailureReason": failure,
                "HyperParameters": self.hyperparameters,
                "CreationTime": created,
                "TrainingStartTime": self.transitions[0]["StartTime"],
                "TrainingEndTime": end,
                "LastModifiedTime": end,
                "SecondaryStatusTransitions": self.transitions,
                "FinalMetricDataList": [
                    self.metrics[d["Name"]] for d in self.metric_definitions if d["Name"] in self.metrics
                ],
                "EnableManagedSpotTraining": self.spot,
                "TrainingTimeInSeconds": training_seconds,
                "BillableTimeInSeconds": self._billable(training_seconds),
            }
        )

    def _billable(self, training_seconds: int) -> int:
        """On-demand: billed for the whole training time; spot: the local stand-in discount."""
        if not self.spot:
            return training_seconds
        return max(1, math.ceil(training_seconds * (1 - SPOT_SAVINGS)))

    def _transition(self, status: str, message: str, *, final: bool = False) -> None:
        now = utcnow()
        if self.transitions:
            self.transitions[-1]["EndTime"] = now
        entry: dict[str, Any] = {"Status": status, "StartTime": now, "StatusMessage": message}
        if final:
            entry["EndTime"] = now
        self.transitions.append(entry)

    def _wait_exceeded(self) -> bool:
        return self.max_wait is not None and self._elapsed() >= self.max_wait

    def _elapsed(self) -> float:
        return (utcnow() - self.transitions[0]["StartTime"]).total_seconds()

    def _run_attempts(self) -> _Attempt:
        """Run the job; a (simulated) spot interruption restarts it on fresh hosts from the checkpoints."""
        while True:
            self._transition("Downloading", "Downloading input data")
            host_roots = self._prepare_hosts()
            self._transition("Training", "Training image download completed. Training in progress.")
            attempt = self._train(host_roots)
            try:
                self._sync_checkpoints_up(host_roots)
            except S3TransferError as error:
                raise JobError(artifact_upload_failed(error)) from error
            if not attempt.interrupted:
                return attempt
            self._transition("Interrupted", "Training job interrupted: spot instances were reclaimed")
            self._transition("Restarting", "Restarting the training job from its last checkpoint")
            for root in host_roots.values():
                shutil.rmtree(root, ignore_errors=True)

    # -- preparation ------------------------------------------------------------------------------

    def _prepare_hosts(self) -> dict[str, Path]:
        roots = {host: self.root / host for host in self.hosts}
        for host, root in roots.items():
            for sub in ("code", "model", "output/data", "output/intermediate", "input/config", "input/data"):
                (root / sub).mkdir(parents=True, exist_ok=True)
            self._write_config(root, host)
        self._download_code(roots)
        try:
            self._download_channels(roots)
            self._sync_checkpoints_down(roots)
        except S3TransferError as error:
            raise JobError(data_download_failed(error)) from error
        return roots

    def _write_config(self, root: Path, host: str) -> None:
        config = root / "input" / "config"
        (config / "hyperparameters.json").write_text(json.dumps(self.hyperparameters))
        (config / "resourceconfig.json").write_text(
            json.dumps(resource_config(host, self.hosts, self.instance_type))
        )
        (config / "inputdataconfig.json").write_text(
            json.dumps(input_data_config(self.request, self.input_mode))
        )

    def _download_code(self, roots: dict[str, Path]) -> None:
        submit = self.sagemaker_params.get("sagemaker_submit_directory")
        if not submit:
            return  # the image's own code (not emulated): the entry point must then exist in code/
        try:
            source = S3Uri.parse(str(submit))
            archive = self.root / "sourcedir.tar.gz"
            self.s3.download_file(source.bucket, source.key, str(archive))
        except Exception as error:  # any S3 failure is the customer's (wrong URI, missing object)
            message = f"ClientError: could not download sagemaker_submit_directory {submit}: {error}"
            raise JobError(message) from error
        for root in roots.values():
            extract_tar(archive, root / "code")

    def _download_channels(self, roots: dict[str, Path]) -> None:
        for channel in self.request.get("InputDataConfig", []):
            name = channel["ChannelName"]
            mode = channel.get("InputMode", self.input_mode)
            if mode == "Pipe":
                raise JobError(f"ClientError: Pipe input mode (channel {name}) is not supported locally")
            source = channel.get("DataSource", {}).get("S3DataSource")
            if source is None:
                raise JobError(f"ClientError: channel {name}: only S3 data sources are supported locally")
            data_type = source.get("S3DataType", "S3Prefix")
            uri, objects = channel_objects(self.s3, source["S3Uri"], data_type, name)
            distribution = source.get("S3DataDistributionType", "FullyReplicated")
            for index, root in enumerate(roots.values()):
                share = shard(objects, index, len(roots), distribution)
                download_objects(self.s3, uri.bucket, uri.key, share, root / "input" / "data" / name)

    def _checkpoint_dirs(self, roots: dict[str, Path]) -> tuple[S3Uri | None, dict[str, Path]]:
        config = self.request.get("CheckpointConfig")
        if not config:
            return None, {}
        local = config.get("LocalPath", f"{OPT_ML}/checkpoints")
        folders = {host: Path(to_host_path(local, root)) for host, root in roots.items()}
        return S3Uri.parse(config["S3Uri"]), folders

    def _sync_checkpoints_down(self, roots: dict[str, Path]) -> None:
        uri, dirs = self._checkpoint_dirs(roots)
        for folder in dirs.values():
            folder.mkdir(parents=True, exist_ok=True)
            if uri is not None:
                download_prefix(self.s3, S3Uri(uri.bucket, uri.key.rstrip("/") + "/"), folder)

    def _sync_checkpoints_up(self, roots: dict[str, Path]) -> None:
        uri, dirs = self._checkpoint_dirs(roots)
        if uri is not None:
            for folder in dirs.values():
                if folder.exists():
                    upload_folder(self.s3, folder, uri)

    # -- the run itself ---------------------------------------------------------------------------

    def _entry_command(self, code_dir: Path) -> list[str]:
        program = str(self.sagemaker_params.get("sagemaker_program", ""))
        if not program:
            raise JobError("ClientError: HyperParameters.sagemaker_program (the entry point) is missing")
        if not (code_dir / program).exists():
            raise JobError(f"ClientError: entry point {program} not found in sagemaker_submit_directory")
        args = to_cmd_args(self.user_hyperparameters)
        if program.endswith(".py"):
            return [self.services.python, program, *args]
        return ["/bin/sh", "-c", " ".join(["./" + program, *args])]

    def _train(self, roots: dict[str, Path]) -> _Attempt:
        stop = threading.Event()
        attempt = _Attempt(runs=[])
        deadline_runtime = self.max_runtime
        started = self._elapsed()

        def time_out() -> None:
            attempt.timed_out = True
            stop.set()

        timers = []
        for limit in (deadline_runtime, None if self.max_wait is None else max(0.0, self.max_wait - started)):
            if limit is not None:
                timer = threading.Timer(limit, time_out)
                timer.daemon = True
                timer.start()
                timers.append(timer)
        commands = {host: self._entry_command(root / "code") for host, root in roots.items()}
        self.command = commands[self.hosts[0]]
        worker_ports = {host: _free_port() for host in self.hosts} if len(self.hosts) > 1 else {}

        def watch(host: str) -> Callable[[str], None]:
            sink = self.services.log_sink(self.name, host, self.hosts)

            def on_line(line: str) -> None:
                sink(line)
                if host == self.hosts[0]:
                    self._scrape(line)
                    if self._should_interrupt(line):
                        attempt.interrupted = True
                        stop.set()

            return on_line

        try:
            with ThreadPoolExecutor(max_workers=len(roots)) as pool:
                futures = [
                    pool.submit(
                        run_host,
                        commands[host],
                        host=host,
                        env=training_script_env(self, host, root, worker_ports),
                        cwd=root / "code",
                        on_line=watch(host),
                        stop=stop,
                    )
                    for host, root in roots.items()
                ]
                attempt.runs = [future.result() for future in futures]
        finally:
            for timer in timers:
                timer.cancel()
        return attempt

    def _should_interrupt(self, line: str) -> bool:
        plan = self.interruption
        if not self.spot or plan is None or plan.remaining <= 0 or not plan.pattern.search(line):
            return False
        plan.remaining -= 1
        return True

    def _scrape(self, line: str) -> None:
        """Metric regexes apply line by line to the log; the last value wins (FinalMetricDataList)."""
        for definition in self.metric_definitions:
            match = re.search(definition["Regex"], line)
            if match:
                try:
                    value = float(match.group(1) if match.groups() else match.group(0))
                except ValueError:
                    continue
                name = definition["Name"]
                self.metrics[name] = {"MetricName": name, "Value": value, "Timestamp": utcnow()}

    def _algorithm_error(self, failed: HostRun) -> str:
        text = read_message(self.root / failed.host / "output" / "failure")
        if text is None:  # what the toolkit writes when the script left no failure file
            lines = [line for _, line in failed.lines]
            text = toolkit_error_message(lines, failed.returncode or 1, self.command)
        return algorithm_error(text, failed.returncode)

    def _upload(self, master_root: Path) -> None:
        archive = tar_folder(master_root / "model", self.root / "model.tar.gz")
        target = self.output_uri.join("model.tar.gz")
        upload_file(self.s3, archive, target)
        data_dir = master_root / "output" / "data"
        if any(data_dir.iterdir()):
            output = tar_folder(data_dir, self.root / "output.tar.gz")
            target = self.output_uri.join("output.tar.gz")
            upload_file(self.s3, output, target)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
