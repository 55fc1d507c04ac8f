"""endpoint.autoscaling and endpoint.data_capture in the template: on (cdk.json's defaults) and off.

The Application Auto Scaling requests are checked against botocore's model like the SageMaker ones
(tests/infra/test_sagemaker_requests.py); their IAM is exactly what each call needs.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import botocore.session
import pytest

import app as cdk_app
from lambdas.artifact_layout import CAPTURE_PREFIX
from pipeline_cli.definitions import all_states, definition_by_workflow
from stacks.settings import CONTEXT_KEY, PipelineSettings, load_settings
from tests.infra.test_sagemaker_requests import request_problems

AUTOSCALING_TASK = re.compile(r":states:::aws-sdk:applicationautoscaling:([a-zA-Z]+)$")
AUTOSCALING_STATES = (
    "RegisterScalableTarget",
    "PutScalingPolicy",
    "FindScalableTarget",
    "DeregisterScalableTarget",
    "DescribeLiveEndpoint",
    "DescribeLiveEndpointConfig",
)


def _settings() -> PipelineSettings:
    return load_settings(cdk_app.default_context()[CONTEXT_KEY])


def _training_states(template: dict[str, Any]) -> dict[str, Any]:
    return all_states(definition_by_workflow(template, "training"))


def _synth(tmp_path: Path, *switched_off: str) -> dict[str, Any]:
    context = copy.deepcopy(cdk_app.default_context())
    mlops: Any = context[CONTEXT_KEY]
    for option in switched_off:
        mlops["endpoint"][option]["enabled"] = False
    assembly = cdk_app.build_app(outdir=str(tmp_path), context=context).synth()
    template: dict[str, Any] = assembly.get_stack_by_name(cdk_app.STACK_NAME).template
    return template


@pytest.fixture(scope="module")
def template_without_options(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _synth(tmp_path_factory.mktemp("cdk.out"), "autoscaling", "data_capture")


def test_autoscaling_requests_are_what_the_api_accepts(template_json: dict[str, Any]) -> None:
    model = botocore.session.get_session().get_service_model("application-autoscaling")
    calls = []
    for name, state in _training_states(template_json).items():
        match = AUTOSCALING_TASK.search(str(state.get("Resource", "")))
        if match:
            operation = match.group(1)[0].upper() + match.group(1)[1:]
            calls.append(operation)
            problems = request_problems(
                state["Parameters"], model.operation_model(operation).input_shape, name
            )
            assert problems == []
    assert sorted(calls) == sorted(
        ["RegisterScalableTarget", "PutScalingPolicy", "DescribeScalableTargets", "DeregisterScalableTarget"]
    )


def test_every_autoscaling_state_retries_and_catches(template_json: dict[str, Any]) -> None:
    states = _training_states(template_json)
    for name in AUTOSCALING_STATES:
        assert states[name]["Retry"], name
        assert [c["ErrorEquals"] for c in states[name]["Catch"]] == [["States.ALL"]], name


def test_the_update_retains_capacity_but_takes_the_new_data_capture(template_json: dict[str, Any]) -> None:
    update = _training_states(template_json)["UpdateEndpoint"]["Parameters"]
    assert update["RetainAllVariantProperties"] is True
    assert update["ExcludeRetainedVariantProperties"] == [{"VariantPropertyType": "DataCaptureConfig"}]


def test_data_capture_goes_to_the_capture_prefix_with_the_project_key(template_json: dict[str, Any]) -> None:
    settings = _settings()
    assert settings.endpoint.data_capture.enabled
    capture = _training_states(template_json)["CreateEndpointConfig"]["Parameters"]["DataCaptureConfig"]
    assert capture["InitialSamplingPercentage"] == settings.endpoint.data_capture.sampling_percent
    # Tokens read as placeholders (pipeline_cli.definitions): REF_<bucket>, ATT_<key>_Arn.
    bucket = _logical_id(template_json, "AWS::S3::Bucket", "Artifacts")
    assert capture["DestinationS3Uri"] == f"s3://REF_{bucket}/{CAPTURE_PREFIX}"
    assert capture["KmsKeyId"] == f"ATT_{_logical_id(template_json, 'AWS::KMS::Key', 'Storage')}_Arn"
    rules = _artifacts_bucket(template_json)["Properties"]["LifecycleConfiguration"]["Rules"]
    [expiry] = [r for r in rules if r.get("Prefix") == CAPTURE_PREFIX]
    assert expiry["ExpirationInDays"] == settings.endpoint.data_capture.expire_after_days


def test_the_sagemaker_role_may_write_captures(template_json: dict[str, Any]) -> None:
    writes = _statements_on(template_json, "SageMakerRole", f"/{CAPTURE_PREFIX}*")
    assert any("s3:PutObject" in _actions(s) for s in writes)


def test_registering_needs_the_service_linked_role_only_for_application_auto_scaling(
    template_json: dict[str, Any],
) -> None:
    statements = _policy_statements(template_json, "TrainingWorkflowStateMachineRole")
    [create_role] = [s for s in statements if "iam:CreateServiceLinkedRole" in _actions(s)]
    assert create_role["Condition"] == {
        "StringLike": {"iam:AWSServiceName": "sagemaker.application-autoscaling.amazonaws.com"}
    }


def test_without_the_options_nothing_is_registered_or_captured(
    template_without_options: dict[str, Any],
) -> None:
    states = _training_states(template_without_options)
    assert not set(AUTOSCALING_STATES) & set(states)
    assert "DataCaptureConfig" not in states["CreateEndpointConfig"]["Parameters"]
    assert states["EndpointExists?"]["Choices"][0]["Next"] == "UpdateEndpoint"
    rules = _artifacts_bucket(template_without_options)["Properties"]["LifecycleConfiguration"]["Rules"]
    assert all(r.get("Prefix") != CAPTURE_PREFIX for r in rules)
    assert _statements_on(template_without_options, "SageMakerRole", f"/{CAPTURE_PREFIX}*") == []
    actions = {
        a
        for s in _policy_statements(template_without_options, "TrainingWorkflowStateMachineRole")
        for a in _actions(s)
    }
    assert not {a for a in actions if a.startswith("application-autoscaling:")}


# --- reading the template ------------------------------------------------------------------------


def _logical_id(template: dict[str, Any], resource_type: str, contains: str) -> str:
    [found] = [k for k, r in template["Resources"].items() if r["Type"] == resource_type and contains in k]
    return found


def _artifacts_bucket(template: dict[str, Any]) -> dict[str, Any]:
    resource: dict[str, Any] = template["Resources"][_logical_id(template, "AWS::S3::Bucket", "Artifacts")]
    return resource


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def _policy_statements(template: dict[str, Any], role_prefix: str) -> list[dict[str, Any]]:
    statements = []
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        roles = [r.get("Ref", "") for r in resource["Properties"].get("Roles", [])]
        if any(r.startswith(role_prefix) for r in roles):
            statements += resource["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _statements_on(template: dict[str, Any], role_prefix: str, resource_suffix: str) -> list[dict[str, Any]]:
    def resources(statement: dict[str, Any]) -> list[Any]:
        value = statement.get("Resource", [])
        return value if isinstance(value, list) else [value]

    return [
        s
        for s in _policy_statements(template, role_prefix)
        if any(resource_suffix in str(r) for r in resources(s))
    ]
