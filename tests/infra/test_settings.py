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
        (("training", "max_wait_seconds"), 60, "max_wait_seconds must be >= max_runtime_seconds"),
        (("quality_gate", "threshold"), 1.5, "mlops.quality_gate.threshold"),
        (("quality_gate", "metric"), "auc", "mlops.quality_gate.metric"),
        (("quality_gate", "max_attempts"), 0, "mlops.quality_gate.max_attempts"),
        (("tuning", "max_parallel_jobs"), 99, "max_parallel_jobs must be <= max_jobs"),
        (("endpoint", "name"), "bad_name!", "mlops.endpoint.name"),
        (("data", "dataset_uri_prefix"), "no-trailing-slash", "mlops.data.dataset_uri_prefix"),
        (("project_name",), "Has Spaces", "mlops.project_name"),
        (("log_retention_days",), 42, "mlops.log_retention_days"),
        (("hyperparameters", "epochs"), 0, "hyperparameters.epochs must be a positive integer"),
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
