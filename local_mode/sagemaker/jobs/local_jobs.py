"""SageMaker training and processing jobs, run for real as local subprocesses.

Each instance of a job gets its own folder shaped like the container's ``/opt/ml`` (the
"host root"); paths a request names under ``/opt/ml`` (processing ``LocalPath``s, the
entrypoint and arguments, ``CheckpointConfig.LocalPath``, ``Environment`` values) are
rewritten to that folder, since a process here cannot see a private ``/opt/ml``. The
script is also told its root through ``SAGEMAKER_BASE_DIR``, the variable with which
sagemaker-training-toolkit itself relocates ``/opt/ml`` (environment.py).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_mode.sagemaker.jobs.host_process import HostRun, run_host, toolkit_error_message
from local_mode.sagemaker.jobs.s3_io import (
    S3Object,
    S3TransferError,
    S3Uri,
    download_objects,
    download_prefix,
    extract_tar,
    list_objects,
    tar_folder,
    upload_file,
    upload_folder,
)
from local_mode.sagemaker.serving.tfs_emulation import ModelStore
from local_mode.sagemaker.shapes import (
    FAILURE_REASON_MAX,
    Arns,
    drop_none,
    echo_request,
    failure_reason,
    utcnow,
)

LogCallback = Callable[[str, str], None]

OPT_ML = "/opt/ml"
_OPT_ML_PATH = re.compile(r"/opt/ml\b")
SPOT_SAVINGS = 0.7  # local stand-in for the spot discount (AWS reports 70-90% savings)
# Hyperparameters the toolkit keeps for itself (params.SAGEMAKER_HYPERPARAMETERS) besides "sagemaker_*".
_TOOLKIT_HYPERPARAMETERS = frozenset({"_tuning_objective_metric", "default_user_module_name"})
TF_FRAMEWORK_MODULE = "sagemaker_tensorflow_container.training:main"


class JobError(Exception):
    """A job failure with the FailureReason SageMaker would report."""


@dataclass
class JobServices:
    """What every local job needs from the LocalSageMaker that runs it."""

    s3: Any
    workdir: Path
    arns: Arns
    python: str
    on_log: LogCallback | None = None
    access: Any = None  # a role_access.RoleAccess: jobs then act as their roles; None: no checks
    _lock: threading.Lock = field(default_factory=threading.Lock)
    models: ModelStore = field(init=False)  # model archives, loaded once per (ModelDataUrl, ETag)

    def __post_init__(self) -> None:
        self.models = ModelStore(self.s3, self.workdir / "models")

    def s3_for(self, role_arn: str | None) -> Any:
        """The S3 client a job uses: bound to its execution role when access checks are on."""
        if self.access is None or not role_arn:
            return self.s3
        return self.access.s3_for(role_arn)

    def model_client(self, role_arn: str | None) -> Any:
        """The client a container reads its model archive with: the model's role when access checks
        are on, else None (the store's own client)."""
        return self.s3_for(role_arn) if self.access is not None and role_arn else None

    def job_root(self, kind: str, name: str) -> Path:
        """A fresh folder for one job: ``<workdir>/<kind>/<name>-XXXX`` (retries never share state)."""
        parent = self.workdir / kind
        parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=parent))

    def log_sink(self, job_name: str, host: str, hosts: Sequence[str]) -> Callable[[str], None]:
        """Write a host's lines to ``<workdir>/logs/<job>.log`` and the live callback."""
        prefix = f"[{host}] " if len(hosts) > 1 else ""
        log_path = self.workdir / "logs" / f"{job_name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)

        def sink(line: str) -> None:
            with self._lock:
                with log_path.open("a", encoding="utf-8") as log:
                    log.write(f"{prefix}{line}\n")
                if self.on_log is not None:
                    self.on_log(job_name, f"{prefix}{line}")

        return sink

    def python_bin_dir(self) -> Path:
        """A folder with ``python``/``python3`` wrappers for ``self.python``, to put first on PATH.

        Container entrypoints say ``python3``; wrappers (not symlinks) keep the venv a venv.
        """
        bin_dir = self.workdir / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        for name in ("python", "python3"):
            wrapper = bin_dir / name
            if not wrapper.exists():
                wrapper.write_text(f'#!/bin/sh\nexec "{self.python}" "$@"\n')
                wrapper.chmod(0o755)
        return bin_dir

    def base_env(self, host_root: Path) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)  # a container sees only its own code, never this repository
        env["PATH"] = f"{self.python_bin_dir()}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONUNBUFFERED"] = "1"  # log lines must arrive as printed, for metrics and on_log
        env["SAGEMAKER_BASE_DIR"] = str(host_root)
        env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = self.arns.region
        return env


def to_host_path(value: str, host_root: Path) -> str:
    """Rewrite the ``/opt/ml`` prefix of every path in ``value`` to the instance's folder."""
    return _OPT_ML_PATH.sub(lambda _: str(host_root), value)


def shard(objects: Sequence[S3Object], index: int, count: int, distribution: str) -> list[S3Object]:
    """The objects instance ``index`` of ``count`` receives.

    ``ShardedByS3Key`` gives each instance about 1/count of the objects (AWS does not document
    which ones; here: round robin over the keys in S3 listing order), ``FullyReplicated`` all.
    """
    if distribution == "ShardedByS3Key":
        return list(objects[index::count])
    return list(objects)


def json_or_str(value: str) -> Any:
    """Hyperparameter values as the toolkit reads them: JSON when they parse, else the string."""
    try:
        return json.loads(value)
    except (ValueError, TypeError):
        return value


def to_cmd_args(hyperparameters: dict[str, Any]) -> list[str]:
    """sagemaker-training-toolkit ``mapping.to_cmd_args``: sorted ``--name value`` pairs."""
    args: list[str] = []
    for name in sorted(hyperparameters):
        value = hyperparameters[name]
        if isinstance(value, dict):
            value = ",".join(f"{key}={item}" for key, item in sorted(value.items()))
        args += [f"--{name}" if len(name) > 1 else f"-{name}", "" if value is None else str(value)]
    return args


def _env_value(value: Any) -> str:
    """sagemaker-training-toolkit ``mapping.to_env_vars`` value formatting."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _channel_objects(s3: Any, uri: str, data_type: str, channel: str) -> tuple[S3Uri, list[S3Object]]:
    if data_type != "S3Prefix":
        raise JobError(f"ClientError: S3DataType {data_type} of channel {channel} is not supported locally")
    parsed = S3Uri.parse(uri)
    objects = list_objects(s3, parsed)
    if not objects:
        raise JobError(
            f'ClientError: No S3 objects found under S3 URL "{uri}" given in input data source. '
            "Please ensure that the bucket exists in the selected region, that objects exist under "
            'that S3 prefix, and that the role has "s3:ListBucket" permissions on the bucket.'
        )
    return parsed, objects


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


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


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
            if name.startswith("sagemaker_") or name in _TOOLKIT_HYPERPARAMETERS
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
        (config / "resourceconfig.json").write_text(json.dumps(self._resource_config(host)))
        (config / "inputdataconfig.json").write_text(json.dumps(self._input_data_config()))

    def _resource_config(self, host: str) -> dict[str, Any]:
        return {
            "current_host": host,
            "current_instance_type": self.instance_type,
            "current_group_name": "homogeneousCluster",
            "hosts": self.hosts,
            "instance_groups": [
                {
                    "instance_group_name": "homogeneousCluster",
                    "instance_type": self.instance_type,
                    "hosts": self.hosts,
                }
            ],
            "network_interface_name": "eth0",
        }

    def _input_data_config(self) -> dict[str, Any]:
        config = {}
        for channel in self.request.get("InputDataConfig", []):
            source = channel.get("DataSource", {}).get("S3DataSource", {})
            config[channel["ChannelName"]] = drop_none(
                {
                    "ContentType": channel.get("ContentType"),
                    "TrainingInputMode": channel.get("InputMode", self.input_mode),
                    "S3DistributionType": source.get("S3DataDistributionType", "FullyReplicated"),
                    "RecordWrapperType": channel.get("RecordWrapperType", "None"),
                }
            )
        return config

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
            uri, objects = _channel_objects(self.s3, source["S3Uri"], data_type, name)
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

    def _env(self, host: str, root: Path, worker_ports: dict[str, int]) -> dict[str, str]:
        data_dir = root / "input" / "data"
        channels = {
            c["ChannelName"]: str(data_dir / c["ChannelName"])
            for c in self.request.get("InputDataConfig", [])
        }
        program = str(self.sagemaker_params.get("sagemaker_program", ""))
        module_dir = str(self.sagemaker_params.get("sagemaker_submit_directory", root / "code"))
        training_env: dict[str, Any] = {
            "additional_framework_parameters": {
                k: v
                for k, v in self.sagemaker_params.items()
                if k.startswith("sagemaker_") and k not in _KNOWN_SAGEMAKER_PARAMS
            },
            "channel_input_dirs": channels,
            "current_host": host,
            "current_instance_group": "homogeneousCluster",
            "current_instance_group_hosts": self.hosts,
            "current_instance_type": self.instance_type,
            "distribution_hosts": [],
            "distribution_instance_groups": [],
            "framework_module": TF_FRAMEWORK_MODULE,
            "hosts": self.hosts,
            "hyperparameters": self.user_hyperparameters,
            "input_config_dir": str(root / "input" / "config"),
            "input_data_config": self._input_data_config(),
            "input_dir": str(root / "input"),
            "instance_groups": ["homogeneousCluster"],
            "instance_groups_dict": {
                "homogeneousCluster": {
                    "instance_group_name": "homogeneousCluster",
                    "instance_type": self.instance_type,
                    "hosts": self.hosts,
                }
            },
            "is_hetero": False,
            "is_master": host == self.hosts[0],
            "is_modelparallel_enabled": None,
            "job_name": self.name,
            "log_level": 20,
            "master_hostname": self.hosts[0],
            "model_dir": str(root / "model"),
            "module_dir": module_dir,
            "module_name": program.removesuffix(".py"),
            "network_interface_name": "eth0",
            "num_cpus": _cpu_count(),
            "num_gpus": 0,
            "num_neurons": 0,
            "output_data_dir": str(root / "output" / "data"),
            "output_dir": str(root / "output"),
            "output_intermediate_dir": str(root / "output" / "intermediate"),
            "resource_config": self._resource_config(host),
            "user_entry_point": program,
        }
        # Environment.to_env_vars(): some training-env keys plus derived ones, each as SM_<KEY>.
        sm_vars: dict[str, Any] = {
            **{key: training_env[key] for key in _ENV_VAR_KEYS},
            "hps": self.user_hyperparameters,
            "framework_params": training_env["additional_framework_parameters"],
            "channels": sorted(channels),
            "training_env": training_env,
            "user_args": to_cmd_args(self.user_hyperparameters),
            **{f"channel_{name}": path for name, path in channels.items()},
            **{f"hp_{name}": value for name, value in self.user_hyperparameters.items()},
        }
        env = self.services.base_env(root)
        env.update({f"SM_{key.upper()}": _env_value(value) for key, value in sm_vars.items()})
        env.update(
            {
                "TRAINING_JOB_NAME": self.name,
                "TRAINING_JOB_ARN": self.arn,
                "CURRENT_HOST": host,
                "SAGEMAKER_JOB_NAME": str(self.sagemaker_params.get("sagemaker_job_name", "")),
                "SAGEMAKER_REGION": str(
                    self.sagemaker_params.get("sagemaker_region", self.services.arns.region)
                ),
                "PYTHONPATH": str(root / "code"),  # the archive is the import root, as in the container
                # Local mode only: where /opt/ml/output/failure and /opt/ml/checkpoints are for this host.
                "SM_OUTPUT_FAILURE": str(root / "output" / "failure"),
                "SM_CHECKPOINT_DIR": to_host_path(
                    self.request.get("CheckpointConfig", {}).get("LocalPath", f"{OPT_ML}/checkpoints"), root
                ),
            }
        )
        if len(self.hosts) > 1:
            # The TF container's MultiWorkerMirrored TF_CONFIG (worker i at algo-<i+1>:8890), with the
            # container network replaced by loopback ports; train.py prefers TF_CONFIG over SM_HOSTS.
            workers = [f"127.0.0.1:{worker_ports[name]}" for name in self.hosts]
            task = {"type": "worker", "index": self.hosts.index(host)}
            env["TF_CONFIG"] = json.dumps({"cluster": {"worker": workers}, "task": task})
        env.update({k: to_host_path(v, root) for k, v in self.request.get("Environment", {}).items()})
        return env

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
                        env=self._env(host, root, worker_ports),
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
        text = _read_message(self.root / failed.host / "output" / "failure")
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


_ENV_VAR_KEYS = (
    "hosts", "network_interface_name", "user_entry_point", "resource_config", "input_data_config",
    "output_data_dir", "current_host", "current_instance_type", "current_instance_group",
    "current_instance_group_hosts", "instance_groups", "instance_groups_dict",
    "distribution_instance_groups", "is_hetero", "module_name", "log_level", "framework_module",
    "input_dir", "input_config_dir", "output_dir", "num_cpus", "num_gpus", "num_neurons", "model_dir",
    "module_dir", "output_intermediate_dir",
)  # fmt: skip
_KNOWN_SAGEMAKER_PARAMS = frozenset(
    {
        "sagemaker_program",
        "sagemaker_submit_directory",
        "sagemaker_enable_cloudwatch_metrics",
        "sagemaker_region",
        "sagemaker_container_log_level",
        "sagemaker_job_name",
        "sagemaker_s3_output",
    }
)


def _read_message(path: Path) -> str | None:
    """A failure/message file's text as SageMaker reports it (first 1024 characters), if any."""
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8", errors="replace").strip()
    return text[:FAILURE_REASON_MAX] or None


def algorithm_error(text: str, returncode: int | None) -> str:
    """FailureReason of a job whose container failed: ``AlgorithmError: <text>, exit code: <n>``."""
    suffix = f", exit code: {returncode}"
    prefix = "AlgorithmError: "
    return failure_reason(prefix + text[: FAILURE_REASON_MAX - len(prefix) - len(suffix)] + suffix)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _cpu_count() -> int:
    return os.cpu_count() or 1


# --------------------------------------------------------------------------------------------
# Processing
# --------------------------------------------------------------------------------------------


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
                exit_message = _read_message(roots[failed.host] / "output" / "message")
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
        uri, objects = _channel_objects(self.s3, source["S3Uri"], data_type, name)
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
