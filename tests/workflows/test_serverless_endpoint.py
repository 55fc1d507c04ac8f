"""endpoint.serverless, deployed locally: the workflow creates a serverless endpoint, invokes nothing
of Application Auto Scaling, and a later model replaces it blue/green, still serverless."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import app as cdk_app
from stacks.settings import CONTEXT_KEY, EndpointSettings, load_settings
from tests.workflows.support import Stack, StackManager

ANOTHER_MODEL = {"hyperparameters": {"epochs": 3}}


def _serverless_context() -> dict[str, Any]:
    context: dict[str, Any] = copy.deepcopy(cdk_app.default_context())
    endpoint = context[CONTEXT_KEY]["endpoint"]
    endpoint["serverless"]["enabled"] = True
    endpoint["autoscaling"]["enabled"] = endpoint["data_capture"]["enabled"] = False
    return context


@pytest.fixture(scope="module")
def serverless_settings() -> EndpointSettings:
    return load_settings(_serverless_context()[CONTEXT_KEY]).endpoint


@pytest.fixture(scope="module")
def serverless_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("serverless.out")
    cdk_app.build_app(outdir=str(out), context=_serverless_context()).synth()
    return out


@pytest.fixture
def serverless_stack(stacks: StackManager, serverless_out: Path) -> Iterator[Stack]:
    stack = stacks.get(serverless_out)
    stack.reset()
    yield stack
    stacks.close()  # the next test opens the default stack again


def _serverless_config(stack: Stack) -> dict[str, Any]:
    endpoint = stack.endpoint()
    assert endpoint is not None and endpoint["EndpointStatus"] == "InService", endpoint
    [variant] = endpoint["ProductionVariants"]
    assert "CurrentInstanceCount" not in variant
    config: dict[str, Any] = variant["CurrentServerlessConfig"]
    return config


def test_the_workflow_deploys_a_serverless_endpoint_and_replaces_its_model(
    serverless_stack: Stack, serverless_settings: EndpointSettings
) -> None:
    stack = serverless_stack
    expected = {
        "MemorySizeInMB": serverless_settings.serverless.memory_size_mb,
        "MaxConcurrency": serverless_settings.serverless.max_concurrency,
    }

    first = stack.run("training", {}, hint="serverless")

    assert first.status == "SUCCEEDED", first.cause
    assert "CreateEndpoint" in first.entered_states()
    assert not {"RegisterScalableTarget", "PutScalingPolicy"} & set(first.entered_states())
    assert _serverless_config(stack) == expected
    assert stack.scalable_targets() == []
    [[*probabilities]] = stack.invoke_endpoint()
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-4)

    second = stack.run("training", ANOTHER_MODEL, hint="serverless-update")

    assert second.status == "SUCCEEDED", second.cause
    assert "UpdateEndpoint" in second.entered_states()
    [champion] = stack.deployed()
    [item] = stack.items_of(second.execution_arn)
    assert champion == item["model_name"]
    assert _serverless_config(stack) == expected
    assert stack.invoke_endpoint()


def test_the_training_job_streams_its_channels_in_fastfile_mode(serverless_stack: Stack) -> None:
    result = serverless_stack.run("training", {}, hint="fastfile")

    assert result.status == "SUCCEEDED", result.cause
    [train] = [c for c in serverless_stack.sagemaker_calls(result.execution_arn) if c.state_name == "Train"]
    assert train.parameters["AlgorithmSpecification"]["TrainingInputMode"] == "FastFile"
    job = serverless_stack.sagemaker.describe_training_job(
        {"TrainingJobName": train.parameters["TrainingJobName"]}
    )
    assert job["AlgorithmSpecification"]["TrainingInputMode"] == "FastFile"
    assert job["TrainingJobStatus"] == "Completed"
