"""Cost allocation tags in the template: on every SageMaker Create request, valid for botocore, granted.

(tests/workflows/test_cost_tags.py checks the tags a local run's resources end up with.)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import botocore.session
from aws_cdk import Tags
from botocore.validate import ParamValidator

import app as cdk_app
from pipeline_cli.definitions import all_states, definition_by_workflow
from pipeline_constructs.cost_tags import TAG_KEYS

CREATE = re.compile(r":states:::sagemaker:(create[A-Za-z]+)(?:\.sync)?$")
# The ASCII part of botocore's TagValue pattern ([\p{L}\p{Z}\p{N}_.:/=+\-@]*): what an ARN can use.
TAG_VALUE_ASCII = re.compile(r"^[A-Za-z0-9 _.:/=+\-@]{0,256}$")
LONGEST_EXECUTION_ARN = (
    "arn:aws:states:us-east-1:123456789012:execution:" + "S" * 80 + ":" + "e" * 40 + "-_" * 20
)


def _create_requests(template: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for workflow in ("training", "evaluation"):
        for name, state in all_states(definition_by_workflow(template, workflow)).items():
            match = CREATE.search(str(state.get("Resource", "")))
            if state.get("Type") == "Task" and match:
                operation = match.group(1)[0].upper() + match.group(1)[1:]
                found.append((name, operation, state["Parameters"]))
    return found


def test_every_create_request_carries_the_four_tags(template_json: dict[str, Any]) -> None:
    requests = _create_requests(template_json)
    assert {operation for _, operation, _ in requests} == {
        "CreateProcessingJob",
        "CreateTrainingJob",
        "CreateHyperParameterTuningJob",
        "CreateTransformJob",
        "CreateModel",
        "CreateEndpointConfig",
        "CreateEndpoint",
    }
    for name, _, parameters in requests:
        tags = {tag["Key"]: tag for tag in parameters["Tags"]}
        assert tuple(tags) == TAG_KEYS, name
        assert tags["run_id"]["Value.$"] == "$.run.run_id", name
        assert tags["execution"]["Value.$"] == "$$.Execution.Id", name
        # Preprocessing runs before any model exists; everything else names its model.
        assert ("Value.$" in tags["model_name"]) == (name != "Preprocess"), name


def test_tagged_requests_pass_botocore_validation(template_json: dict[str, Any]) -> None:
    model = botocore.session.get_session().get_service_model("sagemaker")
    tag_shape = model.shape_for("TagList")
    for name, _, parameters in _create_requests(template_json):
        # Each JSONPath stands in as its longest value: an execution ARN.
        tags = [{"Key": t["Key"], "Value": t.get("Value", LONGEST_EXECUTION_ARN)} for t in parameters["Tags"]]
        report = ParamValidator().validate(tags, tag_shape)
        assert not report.has_errors(), (name, report.generate_report())
        for tag in tags:
            assert TAG_VALUE_ASCII.match(tag["Value"]) and len(tag["Key"]) <= 128, (name, tag)


def test_each_create_with_tags_may_add_tags_to_what_it_creates(template_json: dict[str, Any]) -> None:
    granted: dict[str, list[str]] = {}
    for resource in template_json["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if "sagemaker:AddTags" in actions:
                resources = (
                    statement["Resource"]
                    if isinstance(statement["Resource"], list)
                    else [statement["Resource"]]
                )
                for arn in resources:
                    kind = str(arn).rsplit(":", 1)[-1].split("/")[0] if isinstance(arn, str) else _kind(arn)
                    granted.setdefault(kind, []).append(str(arn))
    assert set(granted) == {
        "processing-job",
        "training-job",
        "hyper-parameter-tuning-job",
        "transform-job",
        "model",
        "endpoint-config",
        "endpoint",
    }


def _kind(arn: dict[str, Any]) -> str:
    """The resource type of a `Fn::Join` ARN (`...:model/*`)."""
    last = str(arn["Fn::Join"][1][-1])
    return last.lstrip(":").split("/")[0]


def test_the_stack_tags_join_the_requests(tmp_path: Path) -> None:
    app = cdk_app.build_app(outdir=str(tmp_path))
    Tags.of(app).add("cost-center", "ml-42")
    template = app.synth().get_stack_by_name(cdk_app.STACK_NAME).template
    for name, _, parameters in _create_requests(template):
        tags = {tag["Key"]: tag.get("Value") for tag in parameters["Tags"]}
        assert tags["cost-center"] == "ml-42", name
