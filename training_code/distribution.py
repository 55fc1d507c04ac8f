"""Which devices train, and in which precision: decided from the environment, not from flags.

``plan_distribution`` is a pure function of a SageMaker-style environment so it can be
unit tested without a cluster; ``create_strategy`` turns the plan into a
``tf.distribute`` strategy. On a CPU-only host everything here is a no-op: the
default strategy, float32, no XLA.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sagemaker_env import InputError

# The port the SageMaker TensorFlow container writes into TF_CONFIG for
# MultiWorkerMirroredStrategy; we use the same one when we build TF_CONFIG ourselves.
MULTI_WORKER_PORT = 8890

StrategyKind = Literal["default", "mirrored", "multi_worker"]


@dataclass(frozen=True)
class DistributionPlan:
    """How this process takes part in training."""

    strategy: StrategyKind
    num_workers: int = 1
    worker_index: int = 0
    is_chief: bool = True
    # TF_CONFIG to export before creating the strategy; None when the container
    # already set it or a single host needs none.
    tf_config: Mapping[str, Any] | None = field(default=None, compare=True)


def plan_distribution(env: Mapping[str, str], num_gpus: int) -> DistributionPlan:
    """The distribution plan for this host, from ``TF_CONFIG`` or ``SM_HOSTS``/``SM_CURRENT_HOST``.

    - ``TF_CONFIG`` (set by the TF container when the hyperparameter
      ``sagemaker_multi_worker_mirrored_strategy_enabled`` is true) wins when it names
      more than one worker; ``chief``/``master`` tasks, or else worker 0, are the chief.
    - Otherwise more than one host in ``SM_HOSTS`` means multi-worker all the same:
      TF_CONFIG is derived from the host list, which SageMaker gives in the same
      order on every host, so every host agrees on the chief (the first one).
    - One host: ``MirroredStrategy`` over its GPUs when it has several, else the default.
    """
    raw_tf_config = env.get("TF_CONFIG", "").strip()
    if raw_tf_config:
        plan = _plan_from_tf_config(raw_tf_config)
        if plan is not None:
            return plan
    try:
        hosts = json.loads(env.get("SM_HOSTS", "[]"))
    except json.JSONDecodeError as error:
        raise InputError(f"SM_HOSTS is not a JSON list: {error}") from error
    if len(hosts) > 1:
        current = env.get("SM_CURRENT_HOST", "")
        if current not in hosts:
            raise InputError(f"SM_CURRENT_HOST {current!r} is not one of SM_HOSTS {hosts}")
        index = hosts.index(current)
        tf_config = {
            "cluster": {"worker": [f"{host}:{MULTI_WORKER_PORT}" for host in hosts]},
            "task": {"type": "worker", "index": index},
        }
        return DistributionPlan("multi_worker", len(hosts), index, index == 0, tf_config)
    if num_gpus > 1:
        return DistributionPlan("mirrored")
    return DistributionPlan("default")


def _plan_from_tf_config(raw: str) -> DistributionPlan | None:
    try:
        config = json.loads(raw)
        cluster: dict[str, list[str]] = config.get("cluster", {})
        task_type: str = config["task"]["type"]
        task_index = int(config["task"]["index"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as error:
        raise InputError(f"TF_CONFIG is not a valid cluster description: {error}") from error
    if cluster.get("ps"):
        # The container's parameter-server mode: this script only does synchronous all-reduce.
        raise InputError(
            "TF_CONFIG describes parameter servers, which train.py does not support; "
            "enable sagemaker_multi_worker_mirrored_strategy_enabled instead"
        )
    members = [(role, i) for role in ("chief", "master", "worker") for i in range(len(cluster.get(role, [])))]
    if len(members) <= 1:
        return None
    if (task_type, task_index) not in members:
        raise InputError(f"TF_CONFIG task {task_type}:{task_index} is not in its cluster {cluster}")
    has_chief = bool(cluster.get("chief") or cluster.get("master"))
    is_chief = task_type in ("chief", "master") or (not has_chief and task_index == 0)
    return DistributionPlan("multi_worker", len(members), members.index((task_type, task_index)), is_chief)


def _patch_for_keras_fit(strategy: Any) -> None:
    """Make MultiWorkerMirroredStrategy's reductions work with Keras 3's ``model.fit``.

    Keras 3 (3.15 with TF 2.21, keras-team/keras#20585 still open) calls two
    reductions the collective strategy rejects:
    - ``reduce("MEAN", (x, y))`` on the first batch to build the model: the strategy
      only takes single values ("Attempt to convert a value (PerReplica...) to a
      Tensor"), so the reduction is mapped over the structure, as MirroredStrategy does;
    - ``reduce("MEAN", metric, axis=0)`` on scalar metrics after each step: there is
      no axis 0 to reduce, so scalars are reduced across replicas only.
    """
    import tensorflow as tf

    extended = strategy.extended
    reduce_one = extended._reduce_to

    def reduce_to(reduce_op: Any, value: Any, destinations: Any, options: Any) -> Any:
        return tf.nest.map_structure(lambda v: reduce_one(reduce_op, v, destinations, options), value)

    extended._reduce_to = reduce_to
    reduce_with_axis = strategy.reduce

    def reduce(reduce_op: Any, value: Any, axis: int | None = None) -> Any:
        local = strategy.experimental_local_results(value)
        if axis is not None and all(getattr(t, "shape", None) is not None and t.shape.rank == 0
                                    for t in local):
            axis = None
        return reduce_with_axis(reduce_op, value, axis=axis)

    strategy.reduce = reduce


def choose_precision(requested: str, gpu_capabilities: Sequence[tuple[int, int]]) -> str:
    """The Keras dtype policy for ``--mixed-precision`` (auto/true/false or a policy name).

    auto and true mean mixed precision on GPUs only: bfloat16 where every GPU has
    bf16 tensor cores (compute capability 8.0+, Ampere and later), float16 on
    Volta/Turing (7.x, where Keras adds loss scaling), float32 on older GPUs and on
    CPU. A policy name is used as given (e.g. to try mixed_bfloat16 on a CPU).
    """
    value = requested.strip().lower()
    if value in ("float32", "mixed_float16", "mixed_bfloat16"):
        return value
    if value in ("0", "false", "no", "off"):
        return "float32"
    if value not in ("auto", "1", "true", "yes", "on"):
        raise InputError(f"--mixed-precision must be auto, true, false or a policy name, got {requested!r}")
    if not gpu_capabilities:
        return "float32"
    weakest = min(gpu_capabilities)
    if weakest >= (8, 0):
        return "mixed_bfloat16"
    if weakest >= (7, 0):
        return "mixed_float16"
    return "float32"


def local_gpu_capabilities() -> list[tuple[int, int]]:
    """Compute capability of each local GPU; empty on a CPU-only host."""
    import tensorflow as tf

    capabilities = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        major, minor = details.get("compute_capability", (0, 0))
        capabilities.append((int(major), int(minor)))
    return capabilities


def create_strategy(plan: DistributionPlan) -> Any:
    """The ``tf.distribute`` strategy for a plan. Call it before any other TensorFlow work:
    MultiWorkerMirroredStrategy must be created before the runtime starts."""
    import tensorflow as tf

    if plan.strategy == "multi_worker":
        if plan.tf_config is not None:
            os.environ["TF_CONFIG"] = json.dumps(plan.tf_config)
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        _patch_for_keras_fit(strategy)
        return strategy
    if plan.strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


@dataclass(frozen=True)
class Devices:
    """What this process trains on: its place in the cluster, the strategy, precision and XLA."""

    plan: DistributionPlan
    strategy: Any
    precision: str
    xla: bool

    def describe(self) -> str:
        return (
            f"{self.plan.strategy} strategy, worker {self.plan.worker_index + 1}/{self.plan.num_workers}, "
            f"{self.strategy.num_replicas_in_sync} replica(s), {self.precision}, xla={self.xla}"
        )


def setup_devices(env: Mapping[str, str], *, mixed_precision: str, xla: bool) -> Devices:
    """Strategy and Keras dtype policy for this host; XLA only where there is a GPU to compile for."""
    import keras

    gpus = local_gpu_capabilities()
    plan = plan_distribution(env, num_gpus=len(gpus))
    strategy = create_strategy(plan)
    precision = choose_precision(mixed_precision, gpus)
    keras.mixed_precision.set_global_policy(precision)
    return Devices(plan, strategy, precision, xla and bool(gpus))


def distribute_dataset(
    devices: Devices,
    global_batch_size: int,
    make: Callable[[int, int, int], Any],
    *,
    shard: bool = True,
) -> Any:
    """The input for ``model.fit`` under the devices' strategy.

    ``make(batch_size, num_pipelines, pipeline_index)`` builds one worker's
    tf.data pipeline. With one device it is called once with the global batch;
    otherwise once per worker with the per-replica batch, and the worker's index
    so it reads only its share (unless ``shard`` is false because SageMaker
    already gave each host different files).
    """
    if devices.plan.strategy == "default":
        return make(global_batch_size, 1, 0)
    replicas = devices.strategy.num_replicas_in_sync
    if global_batch_size % replicas:
        raise InputError(f"--batch-size {global_batch_size} must be a multiple of the {replicas} replicas")

    def per_worker(context: Any) -> Any:
        pipelines, index = (context.num_input_pipelines, context.input_pipeline_id) if shard else (1, 0)
        return make(context.get_per_replica_batch_size(global_batch_size), pipelines, index)

    return devices.strategy.distribute_datasets_from_function(per_worker)
