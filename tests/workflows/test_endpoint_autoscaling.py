"""Autoscaling registered once the endpoint is InService and its model promoted; kept across updates and
instance-type changes; a failure to register leaves the model DEPLOYED, recorded and notified."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lambdas.model_registry import AUTOSCALING_CAUSE, AUTOSCALING_ERROR, ModelStatus
from pipeline_cli.definitions import all_states, definition_by_workflow
from pipeline_constructs import aws_error_names
from pipeline_constructs.endpoint_autoscaling import INVOCATIONS_METRIC, SCALABLE_DIMENSION
from stacks.settings import CONTEXT_KEY, EndpointSettings, load_settings
from tests.workflows.support import Stack

ROOT = Path(__file__).resolve().parents[2]
# The second run of a test trains another model (the same one would be the champion again).
ANOTHER_MODEL = {"hyperparameters": {"epochs": 3}}


@pytest.fixture(scope="module")
def endpoint_settings() -> EndpointSettings:
    context = json.loads((ROOT / "cdk.json").read_text())["context"][CONTEXT_KEY]
    return load_settings(context).endpoint


def _policies(stack: Stack) -> list[dict[str, Any]]:
    autoscaling = stack.cloud.client("application-autoscaling")
    policies: list[dict[str, Any]] = autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")[
        "ScalingPolicies"
    ]
    return [p for p in policies if p["ResourceId"].startswith(f"endpoint/{stack.endpoint_name}/")]


def _assert_registered(stack: Stack, settings: EndpointSettings) -> None:
    assert settings.autoscaling.enabled
    [target] = stack.scalable_targets()
    assert target["ScalableDimension"] == SCALABLE_DIMENSION
    assert (target["MinCapacity"], target["MaxCapacity"]) == (
        settings.autoscaling.min,
        settings.autoscaling.max,
    )
    [policy] = _policies(stack)
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == settings.autoscaling.target_invocations_per_instance
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == INVOCATIONS_METRIC


def _desired_count(stack: Stack) -> int:
    endpoint = stack.endpoint()
    assert endpoint is not None
    [variant] = endpoint["ProductionVariants"]
    return int(variant["DesiredInstanceCount"])


def test_a_new_endpoint_is_registered_once_in_service(
    stack: Stack, endpoint_settings: EndpointSettings
) -> None:
    result = stack.run("training", {}, hint="autoscaled")

    assert result.status == "SUCCEEDED", result.cause
    _assert_registered(stack, endpoint_settings)
    entered = result.entered_states()
    # Promoted as soon as it serves (the registry says which model serves), then autoscaled.
    assert entered.index("EndpointInService?") < entered.index("PromoteFirstModel")
    assert entered.index("PromoteFirstModel") < entered.index("RegisterScalableTarget")
    assert entered.index("PutScalingPolicy") < entered.index("NotifyDeployed")


def test_a_model_that_serves_without_autoscaling_stays_deployed_and_says_so(stack: Stack) -> None:
    champion = stack.seed_champion()
    error = aws_error_names.sdk_error_name("applicationautoscaling", "ValidationException")
    cause = "Unable to assume IAM role: AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
    stack.inject("training", "RegisterScalableTarget", error, cause=cause)

    result = stack.run("training", {}, hint="no-autoscaling")

    assert (result.status, result.error, result.cause) == ("FAILED", error, cause)
    assert result.entered_states()[-1] == "DeployedWithoutAutoscaling"
    [candidate] = stack.items_of(result.execution_arn)
    assert candidate["status"] == ModelStatus.DEPLOYED  # it serves: the registry says so
    assert (candidate[AUTOSCALING_ERROR], candidate[AUTOSCALING_CAUSE]) == (error, cause)
    assert stack.deployed() == [candidate["model_name"]]
    assert stack.items()[champion]["status"] == ModelStatus.RETIRED
    endpoint = stack.endpoint()
    assert endpoint is not None and endpoint["EndpointConfigName"] == candidate["endpoint_config_name"]
    assert stack.scalable_targets() == []
    [failure] = stack.notifications(result.execution_arn, "FAILED")
    assert (failure["error"], failure["model_name"], failure["deployed"]) == (
        error,
        candidate["model_name"],
        True,
    )
    assert stack.notifications(result.execution_arn, "DEPLOYED") == []


def test_an_update_keeps_the_scaled_capacity_and_the_registration(
    stack: Stack, endpoint_settings: EndpointSettings
) -> None:
    assert endpoint_settings.autoscaling.enabled
    first = stack.run("training", {}, hint="scaled-first")
    assert first.status == "SUCCEEDED", first.cause
    scaled = endpoint_settings.autoscaling.max  # autoscaling scaled the variant out to its maximum
    stack.sagemaker.update_endpoint_weights_and_capacities(
        {
            "EndpointName": stack.endpoint_name,
            "DesiredWeightsAndCapacities": [{"VariantName": "AllTraffic", "DesiredInstanceCount": scaled}],
        }
    )

    second = stack.run("training", ANOTHER_MODEL, hint="scaled-update")

    assert second.status == "SUCCEEDED", second.cause
    [update] = stack.calls(second.execution_arn, "UpdateEndpoint")
    assert update.parameters["RetainAllVariantProperties"] is True
    assert _desired_count(stack) == scaled
    _assert_registered(stack, endpoint_settings)
    # Same instance type: autoscaling stayed registered through the update.
    assert stack.calls(second.execution_arn, "FindScalableTarget") == []
    assert stack.calls(second.execution_arn, "DeregisterScalableTarget") == []


def test_an_instance_type_change_deregisters_then_registers_again(
    stack: Stack, endpoint_settings: EndpointSettings
) -> None:
    first = stack.run("training", {}, hint="resize-first")
    assert first.status == "SUCCEEDED", first.cause
    other_type = "ml.c5.large" if endpoint_settings.instance_type != "ml.c5.large" else "ml.m5.large"
    stack.redeploy_on(other_type, autoscaled=True)  # a deployment from before cdk.json's instance type

    second = stack.run("training", ANOTHER_MODEL, hint="resize-update")

    assert second.status == "SUCCEEDED", second.cause
    arn = second.execution_arn
    entered = second.entered_states()
    assert entered.index("DeregisterScalableTarget") < entered.index("UpdateEndpoint")
    assert entered.index("UpdateEndpoint") < entered.index("RegisterScalableTarget")
    [deregistered] = stack.calls(arn, "DeregisterScalableTarget")
    assert deregistered.succeeded
    endpoint = stack.endpoint()
    assert endpoint is not None
    config = stack.sagemaker.describe_endpoint_config({"EndpointConfigName": endpoint["EndpointConfigName"]})
    assert config["ProductionVariants"][0]["InstanceType"] == endpoint_settings.instance_type
    _assert_registered(stack, endpoint_settings)


def test_an_unregistered_endpoint_of_another_instance_type_is_updated_directly(
    stack: Stack, endpoint_settings: EndpointSettings
) -> None:
    first = stack.run("training", {}, hint="unscaled-first")
    assert first.status == "SUCCEEDED", first.cause
    other_type = "ml.c5.large" if endpoint_settings.instance_type != "ml.c5.large" else "ml.m5.large"
    stack.redeploy_on(other_type, autoscaled=False)

    second = stack.run("training", ANOTHER_MODEL, hint="unscaled-update")

    assert second.status == "SUCCEEDED", second.cause
    assert stack.calls(second.execution_arn, "FindScalableTarget")
    assert stack.calls(second.execution_arn, "DeregisterScalableTarget") == []
    _assert_registered(stack, endpoint_settings)


def test_the_definition_registers_what_cdk_json_says(
    template: dict[str, Any], endpoint_settings: EndpointSettings
) -> None:
    assert endpoint_settings.autoscaling.enabled
    states = all_states(definition_by_workflow(template, "training"))
    register = states["RegisterScalableTarget"]["Parameters"]
    assert register["ResourceId"] == f"endpoint/{endpoint_settings.name}/variant/AllTraffic"
    assert (register["MinCapacity"], register["MaxCapacity"]) == (
        endpoint_settings.autoscaling.min,
        endpoint_settings.autoscaling.max,
    )
