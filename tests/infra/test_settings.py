"""cdk.json context: defaults deploy as is; bad values fail synth naming the key."""

from __future__ import annotations

import copy
from typing import Any

import pytest

import app as cdk_app
from stacks.settings import CONTEXT_KEY, PipelineSettings, SettingsError, load_settings


def _context() -> dict[str, Any]:
    return copy.deepcopy(cdk_app.default_context()[CONTEXT_KEY])  # type: ignore[arg-type]


def test_cdk_json_defaults_are_valid() -> None:
    settings = load_settings(_context())
    assert isinstance(settings, PipelineSettings)
    assert settings.training.use_spot is True
    assert settings.evaluation.schedule_enabled is False


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("training", "instance_count"), 0, "mlops.training.instance_count"),
        (("training", "instance_type"), "g5.xlarge", "mlops.training.instance_type"),
        (
            ("training", "instance_type"),
            "ml.fake.huge",
            "mlops.training.instance_type: expected a SageMaker training instance type",
        ),
        (("processing", "instance_type"), "ml.fake.huge", "mlops.processing.instance_type: expected a"),
        (("transform", "instance_type"), "ml.c5n.xlarge", "mlops.transform.instance_type: expected a"),
        (("endpoint", "instance_type"), "ml.m5.huge", "mlops.endpoint.instance_type: expected a"),
        (("training", "use_spot"), "yes", "mlops.training.use_spot"),
        (
            ("training", "max_wait_seconds"),
            60,
            "mlops.training.max_wait_seconds: expected at least training.max_runtime_seconds",
        ),
        (("quality_gate", "threshold"), 1.5, "mlops.quality_gate.threshold"),
        (("quality_gate", "metric"), "auc", "mlops.quality_gate.metric"),
        (("quality_gate", "max_attempts"), 0, "mlops.quality_gate.max_attempts"),
        (("tuning", "max_parallel_jobs"), 99, "mlops.tuning.max_parallel_jobs: expected at most tuning"),
        (("endpoint", "name"), "bad_name!", "mlops.endpoint.name"),
        (("data", "dataset_uri_prefix"), "no-trailing-slash", "mlops.data.dataset_uri_prefix"),
        (("project_name",), "Has Spaces", "mlops.project_name"),
        (("log_retention_days",), 42, "mlops.log_retention_days"),
        (("hyperparameters", "epochs"), 0, "mlops.hyperparameters.epochs: Input should be greater than"),
        (("hyperparameters", "batch_size"), 64, "mlops.hyperparameters.batch_size: expected the spelling"),
        (("quality_gate", "retrain_epoch_increment"), 1001, "mlops.quality_gate.retrain_epoch_increment"),
        (("unknown_key",), 1, "mlops.unknown_key"),
    ],
)
def test_bad_context_names_the_key(path: tuple[str, ...], value: object, expected: str) -> None:
    context = _context()
    target = context
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    with pytest.raises(SettingsError, match=expected.replace(".", r"\.").replace("(", r"\(")) as error:
        load_settings(context)
    assert "Invalid cdk.json context" in str(error.value)


def test_the_run_settings_rules_apply_at_synth_too() -> None:
    """The execution input's sections validate cdk.json (see test_settings_agree.py for the proof)."""
    context = _context()
    del context["hyperparameters"]["learning-rate"]
    with pytest.raises(SettingsError) as error:
        load_settings(context)
    assert str(error.value).splitlines()[1:] == [
        "  mlops.hyperparameters.learning-rate: Field required (got {'epochs': 15, 'batch-size': 128})"
    ]
    context = _context()
    context["quality_gate"]["retrain_epoch_increment"] = 500
    with pytest.raises(SettingsError) as error:
        load_settings(context)
    assert str(error.value).splitlines()[1:] == [
        "  mlops.hyperparameters.epochs: expected epochs + (quality_gate.max_attempts - 1) * "
        "quality_gate.retrain_epoch_increment <= 1000 (the epochs of the last attempt), got 1015"
    ]


def test_any_metric_the_evaluation_computes_can_gate_and_spot_alone_needs_a_wait() -> None:
    context = _context()
    context["quality_gate"]["metric"] = "macro_recall"
    context["training"]["use_spot"] = False
    del context["training"]["max_wait_seconds"]
    settings = load_settings(context)
    assert (settings.quality_gate.metric, settings.training.max_wait_seconds) == ("macro_recall", None)
    assert settings.hyperparameters == {"epochs": 15, "batch-size": 128, "learning-rate": 0.002}
    context["training"]["use_spot"] = True  # SageMaker needs MaxWaitTimeInSeconds with spot
    with pytest.raises(SettingsError, match=r"mlops\.training\.max_wait_seconds: expected at least"):
        load_settings(context)


def test_instance_types_are_checked_against_sagemakers_api_model() -> None:
    context = _context()
    context["training"]["instance_type"] = "ml.fake.huge"
    context["endpoint"]["instance_type"] = "ml.m5.xlarg"
    with pytest.raises(SettingsError) as error:
        load_settings(context)
    training, endpoint = str(error.value).splitlines()[1:]
    assert training == (
        "  mlops.training.instance_type: expected a SageMaker training instance type (e.g. ml.m5.xlarge, "
        "ml.g5.xlarge; see CreateTrainingJob ResourceConfig.InstanceType), got 'ml.fake.huge'"
    )
    # A close spelling is suggested first.
    assert endpoint.startswith(
        "  mlops.endpoint.instance_type: expected a SageMaker endpoint instance type (e.g. ml.m5.xlarge, "
    )
    assert endpoint.endswith(
        "; see CreateEndpointConfig ProductionVariants[].InstanceType), got 'ml.m5.xlarg'"
    )


def test_a_fake_instance_type_fails_synth_naming_the_key() -> None:
    context = cdk_app.default_context()
    training = {**_context()["training"], "instance_type": "ml.fake.huge"}
    context[CONTEXT_KEY] = {**_context(), "training": training}
    with pytest.raises(SettingsError, match=r"mlops\.training\.instance_type: expected a SageMaker training"):
        cdk_app.build_app(context=context)


def test_missing_context_is_a_clear_error() -> None:
    with pytest.raises(SettingsError, match="context key 'mlops' must be an object"):
        load_settings(None)


def test_bad_context_fails_the_app_before_anything_is_built() -> None:
    context = cdk_app.default_context()
    context[CONTEXT_KEY] = {**_context(), "training": {**_context()["training"], "instance_count": -1}}
    with pytest.raises(SettingsError, match=r"mlops\.training\.instance_count"):
        cdk_app.build_app(context=context)
