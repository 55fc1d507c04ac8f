"""The SageMaker requests the workflows make, checked against botocore's SageMaker model.

Every constant a Task state passes to SageMaker (S3DataDistributionType, CompressionType,
TrainingInputMode, the tuning objective's Type, ...) must be one the API enumerates, and every
parameter name must be one the request has: SageMaker would refuse the request at run time.
Values from the execution input (instance types) are checked by lambdas/sagemaker_api.py.
"""

from __future__ import annotations

import re
from typing import Any

import botocore.session
import pytest
from botocore.model import ListShape, MapShape, Shape, StructureShape

from pipeline_cli.definitions import all_states, workflow_definitions

SAGEMAKER_TASK = re.compile(r":states:::(?:aws-sdk:)?sagemaker:([a-zA-Z]+)(?:\.sync|\.waitForTaskToken)?$")
# What render_with_placeholders puts where a CloudFormation token was.
PLACEHOLDER = re.compile(r"REF_|ATT_|TOKEN")


def request_problems(value: Any, shape: Shape, path: str) -> list[str]:
    """Constants in ``value`` that the request shape refuses; dynamic values are not judged."""
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            return []
        problems = []
        for key, item in value.items():
            if key.endswith(".$"):  # a JSONPath: its value is known at run time only
                name = key[:-2]
                if name not in shape.members:
                    problems.append(f"{path}.{name}: not a parameter of {shape.name}")
                continue
            # aws-sdk integrations take the API's names; optimized ones too.
            if key not in shape.members:
                problems.append(f"{path}.{key}: not a parameter of {shape.name}")
                continue
            problems += request_problems(item, shape.members[key], f"{path}.{key}")
        return problems
    if isinstance(shape, ListShape):
        items = value if isinstance(value, list) else []
        return [
            problem
            for i, item in enumerate(items)
            for problem in request_problems(item, shape.member, f"{path}[{i}]")
        ]
    if isinstance(shape, MapShape):
        mapping = value if isinstance(value, dict) else {}
        return [p for k, item in mapping.items() for p in request_problems(item, shape.value, f"{path}.{k}")]
    enum = shape.enum if shape.type_name == "string" else []
    if enum and isinstance(value, str) and not PLACEHOLDER.search(value) and value not in enum:
        return [f"{path}: {value!r} is not one of {shape.name}: {', '.join(enum)}"]
    return []


def sagemaker_tasks(template: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(state name, operation, parameters) of every Task state that calls SageMaker."""
    found = []
    for definition in workflow_definitions(template).values():
        for name, state in all_states(definition).items():
            match = SAGEMAKER_TASK.search(str(state.get("Resource", "")))
            if state.get("Type") == "Task" and match:
                action = match.group(1)
                parameters = state.get("Parameters", state.get("Arguments", {}))
                found.append((name, action[0].upper() + action[1:], parameters))
    return found


def test_sagemaker_request_constants_are_what_the_api_accepts(template_json: dict[str, Any]) -> None:
    model = botocore.session.get_session().get_service_model("sagemaker")
    tasks = sagemaker_tasks(template_json)
    assert {operation for _, operation, _ in tasks} >= {
        "CreateTrainingJob",
        "CreateTransformJob",
        "CreateEndpointConfig",
    }
    problems = []
    for state, operation, parameters in tasks:
        input_shape = model.operation_model(operation).input_shape
        if not isinstance(parameters, dict):  # a JSONata expression as a whole: nothing constant to check
            continue
        problems += request_problems(parameters, input_shape, state)
    assert not problems, "SageMaker would refuse these requests:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({"AlgorithmSpecification": {"TrainingInputMode": "Streaming"}}, "is not one of TrainingInputMode"),
        ({"HyperParameterTuningJobConfig": {}}, "not a parameter of CreateTrainingJobRequest"),
        ({"ResourceConfig": {"InstanceType.$": "$.run.training.instance_type"}}, None),
        ({"ResourceConfig": {"InstanceType": "ml.fake.huge"}}, "is not one of TrainingInstanceType"),
        ({"ResourceConfig": {"InstanceType": "ml.TOKEN"}}, None),
    ],
)
def test_request_problems_finds_what_sagemaker_refuses(
    parameters: dict[str, Any], expected: str | None
) -> None:
    shape = botocore.session.get_session().get_service_model("sagemaker").operation_model(
        "CreateTrainingJob"
    ).input_shape
    problems = request_problems(parameters, shape, "Train")
    if expected is None:
        assert problems == []
    else:
        (problem,) = problems
        assert expected in problem
