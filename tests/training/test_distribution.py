"""The distribution plan and precision, derived from SageMaker-style environments (no cluster)."""

from __future__ import annotations

import json

import pytest
from distribution import DistributionPlan, choose_precision, plan_distribution
from sagemaker_env import InputError


def _tf_config(workers: int, index: int, *, task_type: str = "worker", **cluster: list[str]) -> str:
    """TF_CONFIG as the SageMaker TF container writes it for MultiWorkerMirroredStrategy."""
    hosts = [f"algo-{i + 1}:8890" for i in range(workers)]
    return json.dumps({"cluster": {"worker": hosts, **cluster}, "environment": "cloud",
                       "task": {"type": task_type, "index": index}})


def test_a_cpu_host_uses_the_default_strategy() -> None:
    env = {"SM_HOSTS": '["algo-1"]', "SM_CURRENT_HOST": "algo-1"}
    assert plan_distribution(env, num_gpus=0) == DistributionPlan("default")


def test_one_gpu_uses_the_default_strategy_and_several_use_mirrored() -> None:
    assert plan_distribution({}, num_gpus=1).strategy == "default"
    assert plan_distribution({}, num_gpus=4) == DistributionPlan("mirrored", 1, 0, True, None)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_tf_config_from_the_container_makes_a_multi_worker_plan(index: int) -> None:
    plan = plan_distribution({"TF_CONFIG": _tf_config(3, index), "SM_HOSTS": "[]"}, num_gpus=8)
    assert plan.strategy == "multi_worker"
    assert (plan.num_workers, plan.worker_index, plan.is_chief) == (3, index, index == 0)
    assert plan.tf_config is None  # the container's TF_CONFIG is used as it is


def test_a_chief_task_is_the_chief_and_workers_count_after_it() -> None:
    worker_0 = {"TF_CONFIG": _tf_config(2, 0, chief=["algo-0:8890"])}
    assert plan_distribution(worker_0, num_gpus=0) == DistributionPlan("multi_worker", 3, 1, False)
    chief = {"TF_CONFIG": _tf_config(2, 0, task_type="chief", chief=["algo-0:8890"])}
    assert plan_distribution(chief, num_gpus=0) == DistributionPlan("multi_worker", 3, 0, True)


def test_several_hosts_without_tf_config_derive_one_every_host_agrees_on() -> None:
    hosts = ["algo-1", "algo-2", "algo-3"]
    envs = [{"SM_HOSTS": json.dumps(hosts), "SM_CURRENT_HOST": host} for host in hosts]
    plans = [plan_distribution(env, num_gpus=1) for env in envs]
    assert [(p.strategy, p.num_workers, p.worker_index, p.is_chief) for p in plans] == [
        ("multi_worker", 3, 0, True), ("multi_worker", 3, 1, False), ("multi_worker", 3, 2, False),
    ]
    assert plans[1].tf_config == {
        "cluster": {"worker": ["algo-1:8890", "algo-2:8890", "algo-3:8890"]},
        "task": {"type": "worker", "index": 1},
    }
    cluster = plans[1].tf_config["cluster"]
    assert all(p.tf_config is not None and p.tf_config["cluster"] == cluster for p in plans)


def test_a_one_worker_tf_config_is_a_single_host() -> None:
    assert plan_distribution({"TF_CONFIG": _tf_config(1, 0)}, num_gpus=2).strategy == "mirrored"


@pytest.mark.parametrize("env, problem", [
    ({"TF_CONFIG": "{not json"}, "TF_CONFIG is not a valid"),
    ({"TF_CONFIG": json.dumps({"cluster": {"worker": ["a:1", "b:1"]}})}, "TF_CONFIG is not a valid"),
    ({"TF_CONFIG": _tf_config(2, 5)}, "is not in its cluster"),
    ({"TF_CONFIG": _tf_config(2, 0, ps=["algo-1:2223"])}, "parameter servers"),
    ({"SM_HOSTS": '["algo-1", "algo-2"]', "SM_CURRENT_HOST": "algo-9"}, "is not one of SM_HOSTS"),
    ({"SM_HOSTS": "algo-1,algo-2"}, "SM_HOSTS is not a JSON list"),
])
def test_an_inconsistent_environment_is_an_input_error(env: dict[str, str], problem: str) -> None:
    with pytest.raises(InputError, match=problem):
        plan_distribution(env, num_gpus=0)


@pytest.mark.parametrize("requested, capabilities, policy", [
    ("auto", [], "float32"),  # CPU: none of it
    ("true", [], "float32"),
    ("auto", [(9, 0)], "mixed_bfloat16"),  # H100
    ("auto", [(8, 0), (8, 6)], "mixed_bfloat16"),  # A100, A10G
    ("auto", [(7, 0)], "mixed_float16"),  # V100: no bf16 tensor cores
    ("auto", [(7, 5), (8, 0)], "mixed_float16"),  # the weakest GPU decides
    ("auto", [(6, 1)], "float32"),
    ("false", [(9, 0)], "float32"),
    ("False", [(9, 0)], "float32"),
    ("mixed_bfloat16", [], "mixed_bfloat16"),  # an explicit policy is used as given
])
def test_precision_follows_the_gpus(requested: str, capabilities: list[tuple[int, int]], policy: str) -> None:
    assert choose_precision(requested, capabilities) == policy


def test_an_unknown_precision_setting_is_an_input_error() -> None:
    with pytest.raises(InputError, match="--mixed-precision"):
        choose_precision("half", [(9, 0)])
