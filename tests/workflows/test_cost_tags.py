"""Cost allocation tags: every SageMaker resource a local run creates carries project, run_id,
model_name and execution (the local SageMaker validates each tagged request with botocore's model
and records its tags, as SageMaker does)."""

from __future__ import annotations

import json
from pathlib import Path

from stacks.settings import CONTEXT_KEY, load_settings
from tests.workflows.support import Stack

ROOT = Path(__file__).resolve().parents[2]
# Create operation -> (ARN resource type, the request's name member)
CREATED = {
    "CreateTrainingJob": ("training-job", "TrainingJobName"),
    "CreateTransformJob": ("transform-job", "TransformJobName"),
    "CreateModel": ("model", "ModelName"),
    "CreateEndpointConfig": ("endpoint-config", "EndpointConfigName"),
    "CreateEndpoint": ("endpoint", "EndpointName"),
}


def test_everything_a_run_creates_carries_the_cost_tags(stack: Stack) -> None:
    project = load_settings(json.loads((ROOT / "cdk.json").read_text())["context"][CONTEXT_KEY]).project_name
    result = stack.run("training", {}, hint="tagged")
    assert result.status == "SUCCEEDED", result.cause
    [model] = stack.items_of(result.execution_arn)
    run_id = model["run_id"]  # the registry records the run that trained the model

    created = [(op, request) for op, request in stack.sagemaker.requests if op in CREATED]
    assert {op for op, _ in created} == set(CREATED)
    for operation, request in created:
        resource_type, name_member = CREATED[operation]
        arn = stack.sagemaker.arns(resource_type, request[name_member])
        tags = {t["Key"]: t["Value"] for t in stack.sagemaker.list_tags({"ResourceArn": arn})["Tags"]}
        assert tags == {
            "project": project,
            "run_id": run_id,
            "model_name": model["model_name"],
            "execution": result.execution_arn,
        }, operation
