"""endpoint.deployment: the blue/green UpdateEndpoint request of each strategy, its validation, the alarms.

Each strategy's DeploymentConfig goes through botocore's own parameter validation (types, required
members, minimums); the bounds botocore does not know (the API reference's maxima, the canary and
linear shares, the timeout above the waits) are the settings' to refuse.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

import app as cdk_app
from pipeline_cli.definitions import all_states, definition_by_workflow
from stacks.settings import CONTEXT_KEY, SettingsError, load_settings

STRATEGIES: dict[str, dict[str, Any]] = {
    "all_at_once": {"strategy": "all_at_once"},
    "canary": {"strategy": "canary", "step": {"type": "CAPACITY_PERCENT", "value": 25}},
    "linear": {
        "strategy": "linear",
        "step": {"type": "INSTANCE_COUNT", "value": 1},
        "wait_interval_seconds": 60,
    },
}


def _context(**deployment: Any) -> dict[str, Any]:
    context = copy.deepcopy(cdk_app.default_context())
    mlops: Any = context[CONTEXT_KEY]
    mlops["endpoint"]["deployment"].update(deployment)
    return dict(mlops)


def _with_fleet(count: int, **deployment: Any) -> dict[str, Any]:
    mlops = _context(**deployment)
    mlops["endpoint"]["initial_instance_count"] = count
    mlops["endpoint"]["autoscaling"].update(min=count, max=count)
    return mlops


def _update_endpoint(template: dict[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] = all_states(definition_by_workflow(template, "training"))["UpdateEndpoint"]
    return state


def _alarms_by_metric(template: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    return {
        resource["Properties"]["MetricName"]: (logical_id, resource["Properties"])
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm" and "MetricName" in resource["Properties"]
    }


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_each_strategy_is_an_update_request_botocore_accepts(strategy: str) -> None:
    settings = _with_fleet(4, **STRATEGIES[strategy])
    policy = load_settings(settings).endpoint.deployment.blue_green_policy()
    request = {
        "EndpointName": "tf2-digits",
        "EndpointConfigName": "tf2-digits-candidate",
        "DeploymentConfig": {
            "BlueGreenUpdatePolicy": policy,
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "errors"}, {"AlarmName": "latency"}]},
        },
    }
    shape = botocore.session.get_session().get_service_model("sagemaker").operation_model("UpdateEndpoint")
    report = ParamValidator().validate(request, shape.input_shape)
    assert not report.has_errors(), report.generate_report()
    routing = policy["TrafficRoutingConfiguration"]
    assert routing["Type"] == strategy.upper()
    size_member = {"canary": "CanarySize", "linear": "LinearStepSize"}.get(strategy)
    sizes = {key for key in routing if key.endswith("Size")}
    assert sizes == ({size_member} if size_member else set())


def test_the_template_updates_with_cdk_json_policy_and_both_alarms(template_json: dict[str, Any]) -> None:
    settings = load_settings(cdk_app.default_context()[CONTEXT_KEY])
    config = _update_endpoint(template_json)["Parameters"]["DeploymentConfig"]
    assert config["BlueGreenUpdatePolicy"] == settings.endpoint.deployment.blue_green_policy()
    alarms = _alarms_by_metric(template_json)
    assert {"Invocation5XXErrors", "ModelLatency"} <= set(alarms)
    assert config["AutoRollbackConfiguration"]["Alarms"] == [
        {"AlarmName": f"REF_{alarms[metric][0]}"} for metric in ("Invocation5XXErrors", "ModelLatency")
    ]


def test_the_latency_alarm_watches_the_variant_in_microseconds(template_json: dict[str, Any]) -> None:
    settings = load_settings(cdk_app.default_context()[CONTEXT_KEY])
    _, latency = _alarms_by_metric(template_json)["ModelLatency"]
    assert latency["Namespace"] == "AWS/SageMaker"
    assert latency["Threshold"] == settings.endpoint.deployment.max_model_latency_ms * 1000
    assert latency["ComparisonOperator"] == "GreaterThanThreshold"
    assert {d["Name"]: d["Value"] for d in latency["Dimensions"]} == {
        "EndpointName": settings.endpoint.name,
        "VariantName": "AllTraffic",
    }


def test_a_canary_synth_sends_its_canary_size(tmp_path: Path) -> None:
    context = copy.deepcopy(cdk_app.default_context())
    context[CONTEXT_KEY] = _context(**STRATEGIES["canary"])
    assembly = cdk_app.build_app(outdir=str(tmp_path), context=context).synth()
    template = assembly.get_stack_by_name(cdk_app.STACK_NAME).template
    routing = _update_endpoint(template)["Parameters"]["DeploymentConfig"]["BlueGreenUpdatePolicy"][
        "TrafficRoutingConfiguration"
    ]
    assert routing["Type"] == "CANARY"
    assert routing["CanarySize"] == {
        "Type": "CAPACITY_PERCENT",
        "Value": STRATEGIES["canary"]["step"]["value"],
    }


@pytest.mark.parametrize(
    ("mlops", "expected"),
    [
        (_context(strategy="blue"), "mlops.endpoint.deployment.strategy"),
        (
            _context(strategy="canary", step={"type": "CAPACITY_PERCENT", "value": 60}),
            "deployment.step to be 1-50% of the variant's instances for canary",
        ),
        (
            _context(
                strategy="linear", step={"type": "CAPACITY_PERCENT", "value": 5}, wait_interval_seconds=60
            ),
            "deployment.step to be 10-50% of the variant's instances for linear",
        ),
        (
            # One instance of a one-instance fleet is all of it: no canary.
            _with_fleet(1, strategy="canary", step={"type": "INSTANCE_COUNT", "value": 1}),
            "(initial_instance_count = 1; INSTANCE_COUNT 1 is 100%)",
        ),
        (
            _context(wait_interval_seconds=3601),
            "mlops.endpoint.deployment.wait_interval_seconds",
        ),
        (
            _context(maximum_execution_timeout_seconds=599),
            "mlops.endpoint.deployment.maximum_execution_timeout_seconds",
        ),
        (
            # 10 linear steps of 10%, 360 s each, plus the 300 s termination wait: more than 3600 s.
            _context(
                strategy="linear", step={"type": "CAPACITY_PERCENT", "value": 10}, wait_interval_seconds=360
            ),
            "deployment.maximum_execution_timeout_seconds above the deployment's waits together (3900 s",
        ),
    ],
)
def test_bad_deployment_settings_name_the_field(mlops: dict[str, Any], expected: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(mlops)
    assert expected in str(error.value)


def test_linear_steps_cover_the_fleet() -> None:
    deployment = load_settings(_with_fleet(4, **STRATEGIES["linear"])).endpoint.deployment
    assert [deployment.steps(instance_count=count) for count in (2, 3, 4)] == [2, 3, 4]
