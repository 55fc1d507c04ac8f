"""What sagemaker-training-toolkit gives a training script: its hyperparameters as arguments, its
config files and its ``SM_*`` environment (mapping.py, environment.py), for a local host root."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from local_mode.sagemaker.jobs.job_services import OPT_ML, to_host_path
from local_mode.sagemaker.shapes import drop_none

if TYPE_CHECKING:
    from local_mode.sagemaker.jobs.training_job import TrainingJob

# Hyperparameters the toolkit keeps for itself (params.SAGEMAKER_HYPERPARAMETERS) besides "sagemaker_*".
TOOLKIT_HYPERPARAMETERS = frozenset({"_tuning_objective_metric", "default_user_module_name"})
TF_FRAMEWORK_MODULE = "sagemaker_tensorflow_container.training:main"
ENV_VAR_KEYS = (
    "hosts", "network_interface_name", "user_entry_point", "resource_config", "input_data_config",
    "output_data_dir", "current_host", "current_instance_type", "current_instance_group",
    "current_instance_group_hosts", "instance_groups", "instance_groups_dict",
    "distribution_instance_groups", "is_hetero", "module_name", "log_level", "framework_module",
    "input_dir", "input_config_dir", "output_dir", "num_cpus", "num_gpus", "num_neurons", "model_dir",
    "module_dir", "output_intermediate_dir",
)  # fmt: skip
KNOWN_SAGEMAKER_PARAMS = frozenset(
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


def env_value(value: Any) -> str:
    """sagemaker-training-toolkit ``mapping.to_env_vars`` value formatting."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def cpu_count() -> int:
    return os.cpu_count() or 1


def resource_config(host: str, hosts: list[str], instance_type: str) -> dict[str, Any]:
    """``/opt/ml/input/config/resourceconfig.json`` for one host of a homogeneous cluster."""
    return {
        "current_host": host,
        "current_instance_type": instance_type,
        "current_group_name": "homogeneousCluster",
        "hosts": hosts,
        "instance_groups": [
            {
                "instance_group_name": "homogeneousCluster",
                "instance_type": instance_type,
                "hosts": hosts,
            }
        ],
        "network_interface_name": "eth0",
    }


def input_data_config(request: dict[str, Any], input_mode: str) -> dict[str, Any]:
    """``/opt/ml/input/config/inputdataconfig.json``: each channel of the request."""
    config = {}
    for channel in request.get("InputDataConfig", []):
        source = channel.get("DataSource", {}).get("S3DataSource", {})
        config[channel["ChannelName"]] = drop_none(
            {
                "ContentType": channel.get("ContentType"),
                "TrainingInputMode": channel.get("InputMode", input_mode),
                "S3DistributionType": source.get("S3DataDistributionType", "FullyReplicated"),
                "RecordWrapperType": channel.get("RecordWrapperType", "None"),
            }
        )
    return config


def training_script_env(
    job: TrainingJob, host: str, root: Path, worker_ports: dict[str, int]
) -> dict[str, str]:
    """The environment of one host's training script, as sagemaker-training-toolkit sets it
    (``Environment.to_env_vars``), plus what local mode adds (host paths, TF_CONFIG)."""
    data_dir = root / "input" / "data"
    channels = {
        c["ChannelName"]: str(data_dir / c["ChannelName"]) for c in job.request.get("InputDataConfig", [])
    }
    program = str(job.sagemaker_params.get("sagemaker_program", ""))
    module_dir = str(job.sagemaker_params.get("sagemaker_submit_directory", root / "code"))
    training_env: dict[str, Any] = {
        "additional_framework_parameters": {
            k: v
            for k, v in job.sagemaker_params.items()
            if k.startswith("sagemaker_") and k not in KNOWN_SAGEMAKER_PARAMS
        },
        "channel_input_dirs": channels,
        "current_host": host,
        "current_instance_group": "homogeneousCluster",
        "current_instance_group_hosts": job.hosts,
        "current_instance_type": job.instance_type,
        "distribution_hosts": [],
        "distribution_instance_groups": [],
        "framework_module": TF_FRAMEWORK_MODULE,
        "hosts": job.hosts,
        "hyperparameters": job.user_hyperparameters,
        "input_config_dir": str(root / "input" / "config"),
        "input_data_config": input_data_config(job.request, job.input_mode),
        "input_dir": str(root / "input"),
        "instance_groups": ["homogeneousCluster"],
        "instance_groups_dict": {
            "homogeneousCluster": {
                "instance_group_name": "homogeneousCluster",
                "instance_type": job.instance_type,
                "hosts": job.hosts,
            }
        },
        "is_hetero": False,
        "is_master": host == job.hosts[0],
        "is_modelparallel_enabled": None,
        "job_name": job.name,
        "log_level": 20,
        "master_hostname": job.hosts[0],
        "model_dir": str(root / "model"),
        "module_dir": module_dir,
        "module_name": program.removesuffix(".py"),
        "network_interface_name": "eth0",
        "num_cpus": cpu_count(),
        "num_gpus": 0,
        "num_neurons": 0,
        "output_data_dir": str(root / "output" / "data"),
        "output_dir": str(root / "output"),
        "output_intermediate_dir": str(root / "output" / "intermediate"),
        "resource_config": resource_config(host, job.hosts, job.instance_type),
        "user_entry_point": program,
    }
    # Environment.to_env_vars(): some training-env keys plus derived ones, each as SM_<KEY>.
    sm_vars: dict[str, Any] = {
        **{key: training_env[key] for key in ENV_VAR_KEYS},
        "hps": job.user_hyperparameters,
        "framework_params": training_env["additional_framework_parameters"],
        "channels": sorted(channels),
        "training_env": training_env,
        "user_args": to_cmd_args(job.user_hyperparameters),
        **{f"channel_{name}": path for name, path in channels.items()},
        **{f"hp_{name}": value for name, value in job.user_hyperparameters.items()},
    }
    env = job.services.base_env(root)
    env.update({f"SM_{key.upper()}": env_value(value) for key, value in sm_vars.items()})
    env.update(
        {
            "TRAINING_JOB_NAME": job.name,
            "TRAINING_JOB_ARN": job.arn,
            "CURRENT_HOST": host,
            "SAGEMAKER_JOB_NAME": str(job.sagemaker_params.get("sagemaker_job_name", "")),
            "SAGEMAKER_REGION": str(job.sagemaker_params.get("sagemaker_region", job.services.arns.region)),
            "PYTHONPATH": str(root / "code"),  # the archive is the import root, as in the container
            # Local mode only: where /opt/ml/output/failure and /opt/ml/checkpoints are for this host.
            "SM_OUTPUT_FAILURE": str(root / "output" / "failure"),
            "SM_CHECKPOINT_DIR": to_host_path(
                job.request.get("CheckpointConfig", {}).get("LocalPath", f"{OPT_ML}/checkpoints"), root
            ),
        }
    )
    if len(job.hosts) > 1:
        # The TF container's MultiWorkerMirrored TF_CONFIG (worker i at algo-<i+1>:8890), with the
        # container network replaced by loopback ports; train.py prefers TF_CONFIG over SM_HOSTS.
        workers = [f"127.0.0.1:{worker_ports[name]}" for name in job.hosts]
        task = {"type": "worker", "index": job.hosts.index(host)}
        env["TF_CONFIG"] = json.dumps({"cluster": {"worker": workers}, "task": task})
    env.update({k: to_host_path(v, root) for k, v in job.request.get("Environment", {}).items()})
    return env
