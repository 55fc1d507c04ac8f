"""training.input_mode and endpoint.serverless: the template, the settings' validation, botocore's model.

The input mode is a run setting (the execution input may change it), so the training requests read
it from `$.run.training.input_mode`: every value validation lets through must be one botocore's
TrainingInputMode enumerates. A serverless endpoint config has a ServerlessConfig and no instances,
no autoscaling and no data capture.
"""

from __future__ import annotations

import copy
from typing import Any

import botocore.session
import pytest

import app as cdk_app
from lambdas.artifact_layout import CAPTURE_PREFIX
from lambdas.execution_input import InvalidExecutionInput, ProjectBuckets, validate_training_input
from lambdas.run_settings import INPUT_MODES
from pipeline_cli.definitions import all_states, definition_by_workflow
from stacks.model_lifecycle_stack import _training_defaults
from stacks.settings import CONTEXT_KEY, SettingsError, load_settings
from tests.infra.test_endpoint_options import AUTOSCALING_STATES
from tests.infra.test_sagemaker_requests import request_problems

INPUT_MODE_PATH = "$.run.training.input_mode"
BUCKETS = ProjectBuckets(data="data-bucket", artifacts="artifacts-bucket")


def _mlops() -> dict[str, Any]:
    context: dict[str, Any] = copy.deepcopy(cdk_app.default_context())
    mlops: dict[str, Any] = context[CONTEXT_KEY]
    return mlops


def _serverless_mlops() -> dict[str, Any]:
    mlops = _mlops()
    endpoint = mlops["endpoint"]
    endpoint["serverless"]["enabled"] = True
    endpoint["autoscaling"]["enabled"] = endpoint["data_capture"]["enabled"] = False
    return mlops


def _training_states(template: dict[str, Any]) -> dict[str, Any]:
    return all_states(definition_by_workflow(template, "training"))


@pytest.fixture(scope="module")
def serverless_template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    context = copy.deepcopy(cdk_app.default_context())
    context[CONTEXT_KEY] = _serverless_mlops()
    outdir = str(tmp_path_factory.mktemp("cdk.out"))
    assembly = cdk_app.build_app(outdir=outdir, context=context).synth()
    template: dict[str, Any] = assembly.get_stack_by_name(cdk_app.STACK_NAME).template
    return template


# --- training.input_mode ---------------------------------------------------------------------------


def test_training_and_tuning_jobs_take_the_runs_input_mode(template_json: dict[str, Any]) -> None:
    states = _training_states(template_json)
    train = states["Train"]["Parameters"]["AlgorithmSpecification"]
    trial = states["Tune"]["Parameters"]["TrainingJobDefinition"]["AlgorithmSpecification"]
    for algorithm in (train, trial):
        assert algorithm["TrainingInputMode.$"] == INPUT_MODE_PATH
        assert "TrainingInputMode" not in algorithm


def test_fastfile_is_the_default_and_every_allowed_mode_is_one_sagemaker_accepts() -> None:
    settings = load_settings(_mlops())
    defaults = _training_defaults(settings, BUCKETS.data)
    assert settings.training.input_mode == "FastFile"
    assert validate_training_input({}, defaults, BUCKETS)["training"]["input_mode"] == "FastFile"
    enum = botocore.session.get_session().get_service_model("sagemaker").shape_for("TrainingInputMode").enum
    assert set(INPUT_MODES) <= set(enum)
    for mode in INPUT_MODES:
        run = validate_training_input({"training": {"input_mode": mode}}, defaults, BUCKETS)
        assert run["training"]["input_mode"] == mode


def test_pipe_is_refused_with_the_reason_and_fastfile_named() -> None:
    settings = load_settings(_mlops())
    defaults = _training_defaults(settings, BUCKETS.data)
    with pytest.raises(InvalidExecutionInput) as refused:
        validate_training_input({"training": {"input_mode": "Pipe"}}, defaults, BUCKETS)
    [problem] = refused.value.problems
    assert problem.startswith("training.input_mode:")
    assert "PipeModeDataset" in problem and "FastFile" in problem

    mlops = _mlops()
    mlops["training"]["input_mode"] = "Pipe"
    with pytest.raises(SettingsError, match=r"mlops\.training\.input_mode: expected .*PipeModeDataset"):
        load_settings(mlops)


# --- endpoint.serverless ---------------------------------------------------------------------------


def test_a_serverless_config_has_no_instances_autoscaling_or_capture(
    serverless_template: dict[str, Any],
) -> None:
    states = _training_states(serverless_template)
    config = states["CreateEndpointConfig"]["Parameters"]
    [variant] = config["ProductionVariants"]
    serverless = _serverless_mlops()["endpoint"]["serverless"]
    assert variant["ServerlessConfig"] == {
        "MemorySizeInMB": serverless["memory_size_mb"],
        "MaxConcurrency": serverless["max_concurrency"],
    }
    assert not {"InstanceType", "InitialInstanceCount"} & set(variant)
    assert "DataCaptureConfig" not in config
    assert not set(AUTOSCALING_STATES) & set(states)
    model = botocore.session.get_session().get_service_model("sagemaker")
    shape = model.operation_model("CreateEndpointConfig").input_shape
    assert request_problems(config, shape, "CreateEndpointConfig") == []


def test_the_instance_endpoint_config_is_unchanged_by_the_option(template_json: dict[str, Any]) -> None:
    [variant] = _training_states(template_json)["CreateEndpointConfig"]["Parameters"]["ProductionVariants"]
    assert "ServerlessConfig" not in variant
    assert variant["InstanceType"] == _mlops()["endpoint"]["instance_type"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"memory_size_mb": 1536}, r"serverless\.memory_size_mb: Input should be 1024, 2048"),
        ({"max_concurrency": 201}, r"serverless\.max_concurrency: Input should be less than or equal to 200"),
        ({"max_concurrency": 0}, r"serverless\.max_concurrency: Input should be greater than or equal to 1"),
    ],
)
def test_serverless_bounds_are_the_apis(change: dict[str, int], message: str) -> None:
    mlops = _serverless_mlops()
    mlops["endpoint"]["serverless"].update(change)
    with pytest.raises(SettingsError, match=message):
        load_settings(mlops)


@pytest.mark.parametrize("option", ["autoscaling", "data_capture"])
def test_serverless_refuses_what_does_not_apply_to_it(option: str) -> None:
    mlops = _serverless_mlops()
    mlops["endpoint"][option]["enabled"] = True
    with pytest.raises(SettingsError, match=rf"expected {option}\.enabled to be false when serverless"):
        load_settings(mlops)


def test_a_serverless_stack_grants_no_capture_writes(
    serverless_template: dict[str, Any], template_json: dict[str, Any]
) -> None:
    def policies(template: dict[str, Any]) -> str:
        return str([r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"])

    assert f"/{CAPTURE_PREFIX}*" in policies(template_json)
    assert f"/{CAPTURE_PREFIX}*" not in policies(serverless_template)
