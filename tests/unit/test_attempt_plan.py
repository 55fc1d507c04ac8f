"""attempt_plan: SageMaker names and hyperparameters of one training attempt."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from lambdas import attempt_plan
from lambdas.attempt_plan import (
    TUNED_HYPERPARAMETERS,
    InvalidAttemptEvent,
    InvalidResourceName,
    PlanSettings,
    RunView,
    hyperparameter_string,
    plan_attempt,
    tuning_job_name,
)
from lambdas.attempt_state import TUNING_PARAMETER_RANGES, AttemptPlan
from lambdas.execution_input import ProjectBuckets, validate_training_input
from lambdas.lambda_env import FunctionMisconfigured
from tests.support import instant_sagemaker
from tests.unit.lambda_fixtures import ARTIFACTS_BUCKET, DATA_BUCKET, LambdaContextStub, training_defaults

PREFIX = "tf2-digits"
CODE_URI = "s3://cdk-assets-123456789012-us-east-1/abc123.tar.gz"
SETTINGS = PlanSettings(
    project_prefix=PREFIX,
    artifacts_bucket=ARTIFACTS_BUCKET,
    code_uri=CODE_URI,
    entry_point="train.py",
    region="us-east-1",
)
SCRIPT_MODE = {
    "sagemaker_program": "train.py",
    "sagemaker_submit_directory": CODE_URI,
    "sagemaker_region": "us-east-1",
}
SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
NAME_KEYS = (
    "model_name",
    "training_job_name",
    "tuning_job_name",
    "endpoint_config_name",
    "transform_job_name",
    "champion_transform_job_name",
)


def make_run(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``$.run`` exactly as ValidateInput produces it."""
    buckets = ProjectBuckets(data=DATA_BUCKET, artifacts=ARTIFACTS_BUCKET)
    return validate_training_input(overrides or {}, training_defaults(), buckets)


def plan(run: dict[str, Any], number: int, prefix: str = PREFIX) -> dict[str, Any]:
    settings = PlanSettings(**{**SETTINGS.__dict__, "project_prefix": prefix})
    return plan_attempt(RunView.model_validate(run), number, settings)


def test_attempt_has_the_documented_shape() -> None:
    run = make_run()
    attempt = plan(run, 1)
    assert list(attempt)[:8] == ["number", *NAME_KEYS, "hyperparameters"]
    assert attempt["number"] == 1
    base = f"{PREFIX}-{run['run_id']}-a1"
    assert attempt["model_name"] == attempt["training_job_name"] == attempt["endpoint_config_name"] == base
    assert attempt["transform_job_name"] == base + "-eval"
    assert attempt["champion_transform_job_name"] == base + "-champ"


def test_attempt_is_an_attempt_plan() -> None:
    """The handler's output is the typed plan, whose fields the workflow's JSONPaths come from."""
    attempt = plan(make_run(), 1)
    assert AttemptPlan.model_validate(attempt).model_dump() == attempt
    assert list(attempt) == list(AttemptPlan.model_fields)


def test_tuned_names_come_from_the_tuning_ranges() -> None:
    names = {r["Name"] for kind in TUNING_PARAMETER_RANGES.values() for r in kind}
    assert set(TUNED_HYPERPARAMETERS) == names == {"learning-rate", "batch-size", "epochs"}


def test_attempt_carries_the_uris_of_its_outputs() -> None:
    run = make_run()
    attempt = plan(run, 2)
    artifacts = f"s3://{ARTIFACTS_BUCKET}/"
    assert attempt["training_output_uri"] == artifacts + "models/"
    assert attempt["checkpoint_uri"] == f"{artifacts}checkpoints/{attempt['training_job_name']}/"
    assert attempt["transform_output_uri"] == f"{artifacts}transform/{attempt['transform_job_name']}/"
    assert attempt["champion_transform_output_uri"] == (
        f"{artifacts}transform/{attempt['champion_transform_job_name']}/"
    )
    assert attempt["report_uri"] == f"{artifacts}evaluations/{attempt['model_name']}/"


def test_stopping_condition_has_a_wait_time_only_with_spot() -> None:
    assert plan(make_run(), 1)["stopping_condition"] == {"MaxRuntimeInSeconds": 3600}
    spot = make_run({"training": {"use_spot": True, "max_wait_seconds": 7200}})
    assert plan(spot, 1)["stopping_condition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}


def test_resource_config_keeps_a_warm_pool_only_when_the_run_asks() -> None:
    cold = plan(make_run(), 1)["resource_config"]
    assert cold == {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}
    warm = plan(make_run({"training": {"keep_alive_seconds": 900}}), 2)["resource_config"]
    assert warm == {**cold, "KeepAlivePeriodInSeconds": 900}


def test_static_hyperparameters_leave_out_the_tuned_ones() -> None:
    attempt = plan(make_run({"hyperparameters": {"dropout": 0.5}}), 1)
    assert attempt["static_hyperparameters"] == {"dropout": "0.5", **SCRIPT_MODE}
    assert set(attempt["hyperparameters"]) - set(attempt["static_hyperparameters"]) == set(
        TUNED_HYPERPARAMETERS
    )


def test_names_are_valid_for_sagemaker_and_unique_per_attempt() -> None:
    run = make_run()
    attempts = [plan(run, n) for n in (1, 2, 3)]
    for attempt in attempts:
        for key in NAME_KEYS:
            assert SAGEMAKER_NAME.match(attempt[key]), (key, attempt[key])
        assert len(attempt["tuning_job_name"]) <= 32
        assert run["run_id"] in attempt["tuning_job_name"]
    for key in NAME_KEYS:
        assert len({a[key] for a in attempts}) == 3, key
    # The two transform jobs of one attempt run in parallel: their names must differ.
    assert attempts[0]["transform_job_name"] != attempts[0]["champion_transform_job_name"]


def test_names_differ_between_runs_and_repeat_for_the_same_attempt() -> None:
    run = make_run()
    assert plan(run, 2) == plan(run, 2)  # a retried Lambda plans the same jobs
    assert plan(make_run(), 1)["model_name"] != plan(run, 1)["model_name"]


def test_epochs_grow_by_the_increment_on_each_retry() -> None:
    run = make_run(
        {"hyperparameters": {"epochs": 10}, "gate": {"retrain_epoch_increment": 5, "max_attempts": 4}}
    )
    assert [plan(run, n)["hyperparameters"]["epochs"] for n in (1, 2, 3, 4)] == ["10", "15", "20", "25"]
    assert run["hyperparameters"]["epochs"] == 10  # the run itself is not modified


def test_hyperparameters_become_sagemaker_strings() -> None:
    run = make_run(
        {
            "hyperparameters": {
                "learning-rate": 1e-05,
                "augment": True,
                "shuffle": False,
                "optimizer": "adam",
                "big": 1e20,
            }
        }
    )
    assert plan(run, 1)["hyperparameters"] == {
        "epochs": "12",
        "batch-size": "128",
        "learning-rate": "0.00001",
        "augment": "true",
        "shuffle": "false",
        "optimizer": "adam",
        "big": "100000000000000000000.0",
        **SCRIPT_MODE,
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (12, "12"),
        (0.001, "0.001"),
        (2.5e-7, "0.00000025"),
        ("x", "x"),
    ],
)
def test_hyperparameter_string(value: Any, expected: str) -> None:
    assert hyperparameter_string(value) == expected
    if isinstance(value, float):
        assert float(expected) == value  # no precision lost


def test_nested_hyperparameter_is_refused() -> None:
    with pytest.raises(TypeError, match="got list"):
        hyperparameter_string([1, 2])


def test_multi_worker_strategy_only_on_several_instances() -> None:
    flag = "sagemaker_multi_worker_mirrored_strategy_enabled"
    assert flag not in plan(make_run(), 1)["hyperparameters"]
    distributed = plan(make_run({"training": {"instance_count": 2}}), 1)
    assert distributed["hyperparameters"][flag] == "true"


def test_tuning_job_name_shortens_the_prefix_not_the_unique_part() -> None:
    run_id = "261122175012-a1b2c3"
    name = tuning_job_name("a-very-long-project-prefix", run_id, 10)
    assert len(name) == 32 and name.endswith(f"-{run_id}-a10")
    assert SAGEMAKER_NAME.match(name)
    # A cut landing on a hyphen must not leave "prefix--run".
    assert tuning_job_name("abcdefghi-klmnop", run_id, 1) == f"abcdefghi-{run_id}-a1"
    assert tuning_job_name(PREFIX, "x" * 24, 10) == f"tf2-{'x' * 24}-a10"


def test_too_long_prefix_is_a_clear_error() -> None:
    with pytest.raises(
        InvalidResourceName, match=r"is 6\d characters, SageMaker allows 63: shorten PROJECT_PREFIX"
    ):
        plan(make_run(), 1, prefix="p" * 40)


@pytest.mark.parametrize("prefix", ["tf2_digits", "-tf2", "tf2-", "tf2 digits", ""])
def test_prefix_with_characters_sagemaker_refuses(prefix: str) -> None:
    with pytest.raises(InvalidResourceName, match="PROJECT_PREFIX"):
        plan(make_run(), 1, prefix=prefix)


def test_attempt_beyond_max_attempts_is_refused() -> None:
    with pytest.raises(InvalidAttemptEvent, match=r"attempt: expected 1..gate.max_attempts \(3\), got 4"):
        plan(make_run(), 4)


# --- handler -------------------------------------------------------------------------------------


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "PROJECT_PREFIX": PREFIX,
        "ARTIFACTS_BUCKET": ARTIFACTS_BUCKET,
        "TRAINING_CODE_URI": CODE_URI,
        "TRAINING_ENTRY_POINT": "train.py",
        "REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.mark.usefixtures("lambda_env")
def test_handler_plans_from_the_event() -> None:
    run = make_run()
    attempt = attempt_plan.handler({"run": run, "attempt": 2}, LambdaContextStub())
    assert attempt == plan(run, 2)


@pytest.mark.parametrize(
    ("make_event", "expected"),
    [
        (lambda run: {"run": "RUN", "attempt": 1}, "run: expected a JSON object"),
        (lambda run: {"attempt": 1}, "run: required"),
        (lambda run: {"run": run, "attempt": 0}, "attempt: expected >= 1"),
        (lambda run: {"run": run, "attempt": "2"}, "attempt: expected a valid integer"),
        (
            lambda run: {"run": {**run, "hyperparameters": {"batch-size": 1}}, "attempt": 1},
            "run.hyperparameters.epochs: expected an integer >= 1",
        ),
        (lambda run: {"run": {**run, "run_id": "Run_1"}, "attempt": 1}, "run.run_id: expected"),
    ],
)
@pytest.mark.usefixtures("lambda_env")
def test_handler_rejects_bad_events(
    make_event: Callable[[dict[str, Any]], dict[str, Any]], expected: str
) -> None:
    with pytest.raises(InvalidAttemptEvent, match=re.escape(expected)):
        attempt_plan.handler(make_event(make_run()), LambdaContextStub())


@pytest.mark.usefixtures("lambda_env")
def test_handler_needs_the_code_location(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRAINING_CODE_URI")
    with pytest.raises(FunctionMisconfigured, match="TRAINING_CODE_URI is not set"):
        attempt_plan.handler({"run": make_run(), "attempt": 1}, LambdaContextStub())


def test_attempt_matcher_tells_attempts_apart_whatever_the_run_id() -> None:
    """The workflow tests pick an attempt's models with `instant_sagemaker.attempt(n)`. A run id's random
    part may start with ``a1`` (1 run in 256): the matcher must still tell attempt 2 from attempt 1."""
    run = make_run()
    run["run_id"] = "261129085012-a1f00d"
    first, second = plan(run, 1), plan(run, 2)

    assert all(instant_sagemaker.attempt(1)(first[key]) for key in ("model_name", "training_job_name"))
    assert not any(instant_sagemaker.attempt(1)(second[key]) for key in ("model_name", "training_job_name"))
    assert instant_sagemaker.attempt(2)(second["model_name"])
