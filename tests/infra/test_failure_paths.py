"""No failure can end a run without being recorded and notified, and no path raises States.Runtime.

`States.Runtime` (a JSONPath that does not resolve, in a ResultSelector, Parameters, InputPath,
OutputPath or a Choice rule) cannot be caught: `States.ALL` does not match it (Step Functions
Developer Guide, "Error handling"). So every path into a service response must name a member the
API's model marks required, or be tested with IsPresent first; and every Task, Parallel and Map
state must catch States.ALL into the failure handlers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

import botocore.session
import pytest

from pipeline_cli.definitions import all_states, definition_by_workflow
from pipeline_constructs import aws_error_names


@dataclass(frozen=True)
class FailureHandling:
    recorder: str  # writes the failure into the registry
    notifier: str  # publishes it
    fail: str  # ends the execution with it
    # States whose failure happens before there is a registry item to write it to.
    unrecorded: frozenset[str]
    # Catches that are outcomes, not failures (a reviewer's rejection, no decision in time): each of
    # the state's catches other than States.ALL must go through this chain (recorded, notified, ended).
    outcomes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # States with a chain of their own (still recorded, notified, ended): after the model went live
    # and was promoted, a failure is recorded on the DEPLOYED model, not as the model's failure.
    own_chains: dict[str, tuple[str, ...]] = field(default_factory=dict)


AFTER_PROMOTION: Final = (
    "RecordAutoscalingFailure",
    "NotifyAutoscalingFailure",
    "DeployedWithoutAutoscaling",
)


HANDLING = {
    "training": FailureHandling(
        recorder="RecordFailure",
        notifier="NotifyFailure",
        fail="WorkflowFailed",
        # No item for this attempt exists until RecordTraining has written it.
        unrecorded=frozenset(
            {
                "ValidateInput",
                "FindChampion",
                "Preprocess",
                "FindPreparedDataInCache",  # the step cache around Preprocess
                "CachePreparedData",
                "PlanAttempt",
                "RecordTraining",
                "RecordFirstModelTraining",
            }
        ),
        outcomes={
            "RequestApproval": ("RecordApprovalRejected", "NotifyApprovalRejected", "RejectedAtApproval"),
        },
        own_chains={
            "RegisterScalableTarget": AFTER_PROMOTION,
            "PutScalingPolicy": AFTER_PROMOTION,
            "RecordAutoscalingFailure": AFTER_PROMOTION[1:],
        },
    ),
    "evaluation": FailureHandling(
        recorder="RecordEvaluationFailure",
        notifier="NotifyFailure",
        fail="EvaluationFailed",
        # The deployed model, whose history the failure joins, is not known yet.
        unrecorded=frozenset({"ValidateInput", "FindDeployedModel"}),
    ),
}
FALLTHROUGH = {"Pass", "Choice", "Wait"}


def _chains(states: dict[str, Any], start: str, seen: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every sequence of non-Pass/Choice states a run goes through from `start` to its end."""
    if start in seen:
        return set()  # a loop back (e.g. the endpoint poll) is not a way out
    state = states[start]
    seen = (*seen, start)
    if state["Type"] == "Choice":
        targets = [rule["Next"] for rule in state.get("Choices", [])] + [state["Default"]]
    elif state["Type"] in {"Fail", "Succeed"} or state.get("End"):
        return {(start,)}
    else:
        targets = [state["Next"]]
    prefix = () if state["Type"] in FALLTHROUGH else (start,)
    return {prefix + rest for target in targets for rest in _chains(states, target, seen)}


def failure_path_problems(definition: dict[str, Any], handling: FailureHandling) -> list[str]:
    states = definition["States"]
    problems = []
    for name, state in states.items():
        if state["Type"] not in {"Task", "Parallel", "Map"}:
            continue
        catches = state.get("Catch", [])
        if not catches or catches[-1]["ErrorEquals"] != ["States.ALL"]:
            problems.append(f"{name}: does not catch States.ALL last")
            continue
        if name == handling.notifier or str(state.get("Resource", "")).endswith(":sns:publish"):
            # A notification that cannot be sent must not hide the outcome: straight to the end.
            expected = {"Fail", "Succeed"}
            for catch in catches:
                for chain in _chains(states, catch["Next"]):
                    if len(chain) != 1 or states[chain[0]]["Type"] not in expected:
                        problems.append(f"{name}: a failed notification goes through {chain}")
            continue
        expected_chain: tuple[str, ...]
        if name in handling.own_chains:
            expected_chain = handling.own_chains[name]
        elif name == handling.recorder or name in handling.unrecorded:
            expected_chain = (handling.notifier, handling.fail)
        else:
            expected_chain = (handling.recorder, handling.notifier, handling.fail)
        for catch in catches:
            is_outcome = name in handling.outcomes and catch["ErrorEquals"] != ["States.ALL"]
            wanted = handling.outcomes[name] if is_outcome else expected_chain
            for chain in _chains(states, catch["Next"]):
                if chain != wanted:
                    problems.append(f"{name}: {catch['ErrorEquals']} goes through {chain}")
    return problems


@pytest.mark.parametrize("workflow", ["training", "evaluation"])
def test_every_failure_is_recorded_then_notified_then_fails(
    template_json: dict[str, Any], workflow: str
) -> None:
    definition = definition_by_workflow(template_json, workflow)
    assert failure_path_problems(definition, HANDLING[workflow]) == []


def test_the_failure_path_check_finds_a_catch_that_skips_the_recorder() -> None:
    definition = {
        "StartAt": "Train",
        "States": {
            "Train": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "HasCause?"}],
                "End": True,
            },
            "Other": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createModel",
                "Catch": [{"ErrorEquals": ["SageMaker.AmazonSageMakerException"], "Next": "RecordFailure"}],
                "End": True,
            },
            "HasCause?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.error.Cause", "IsPresent": True, "Next": "RecordFailure"}],
                "Default": "NotifyFailure",
            },
            "RecordFailure": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:updateItem",
                "Next": "NotifyFailure",
            },
            "NotifyFailure": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish", "Next": "Failed"},
            "Failed": {"Type": "Fail"},
        },
    }
    handling = FailureHandling("RecordFailure", "NotifyFailure", "Failed", frozenset())
    assert failure_path_problems(definition, handling) == [
        "Train: ['States.ALL'] goes through ('NotifyFailure', 'Failed')",
        "Other: does not catch States.ALL last",
        "RecordFailure: does not catch States.ALL last",
        "NotifyFailure: does not catch States.ALL last",
    ]


# -- paths into service responses --------------------------------------------------------------

# Task resource (after `:::`) → (botocore service, the operation whose output the Task returns).
RESPONSE_SHAPES = {
    "sagemaker:createTrainingJob.sync": ("sagemaker", "DescribeTrainingJob"),
    "sagemaker:createProcessingJob.sync": ("sagemaker", "DescribeProcessingJob"),
    "sagemaker:createHyperParameterTuningJob.sync": ("sagemaker", "DescribeHyperParameterTuningJob"),
    "sagemaker:createTransformJob.sync": ("sagemaker", "DescribeTransformJob"),
    "sagemaker:createModel": ("sagemaker", "CreateModel"),
    "sagemaker:createEndpointConfig": ("sagemaker", "CreateEndpointConfig"),
    "sagemaker:createEndpoint": ("sagemaker", "CreateEndpoint"),
    "states:startExecution.sync:2": ("stepfunctions", "DescribeExecution"),
}
_PATH = re.compile(r"\$((?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])+)")


def _response_shape(resource: str) -> Any:
    tail = resource.split(":::", 1)[-1]
    if tail.startswith("aws-sdk:"):
        _, service, action = tail.split(":")[:3]
        service = aws_error_names.botocore_service(service)  # sfn → stepfunctions, ...
        operation = action[0].upper() + action[1:]
    elif tail in RESPONSE_SHAPES:
        service, operation = RESPONSE_SHAPES[tail]
    else:
        return None
    model = botocore.session.get_session().get_service_model(service)
    return model.operation_model(operation).output_shape


def optional_response_paths(definition: dict[str, Any]) -> list[str]:
    """ResultSelector paths that reach a member the API's model does not promise."""
    problems = []
    for name, state in all_states(definition).items():
        selector = state.get("ResultSelector")
        shape = _response_shape(str(state.get("Resource", ""))) if selector else None
        if shape is None:
            continue
        expressions = [v for k, v in _flatten(selector) if k.endswith(".$")]
        for expression in expressions:
            for match in _PATH.finditer(expression):
                steps = re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", match.group(1))
                current = shape
                for member, index in steps:
                    if index:
                        problems.append(f"{name}: {match.group(0)} indexes a list that may be empty")
                        break
                    # Step Functions capitalises the first letter of members (stepfunctions' `status`).
                    members = {m[0].upper() + m[1:]: m for m in current.members}
                    if member not in members or members[member] not in current.required_members:
                        problems.append(f"{name}: {match.group(0)} ({member} is optional)")
                        break
                    current = current.members[members[member]]
                    if current.type_name == "list":
                        break
    return problems


def _flatten(value: Any, key: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in _flatten(v, k)]
    return [(key, value)]


@pytest.mark.parametrize("workflow", ["training", "evaluation"])
def test_result_selectors_read_only_members_the_api_always_returns(
    template_json: dict[str, Any], workflow: str
) -> None:
    assert optional_response_paths(definition_by_workflow(template_json, workflow)) == []


def test_the_response_path_check_finds_an_optional_member() -> None:
    definition = {
        "StartAt": "Train",
        "States": {
            "Train": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                "ResultSelector": {
                    "name.$": "$.TrainingJobName",
                    "model.$": "$.ModelArtifacts.S3ModelArtifacts",
                    "metrics.$": "$.FinalMetricDataList",
                },
                "End": True,
            }
        },
    }
    assert optional_response_paths(definition) == [
        "Train: $.FinalMetricDataList (FinalMetricDataList is optional)"
    ]


@pytest.mark.parametrize("workflow", ["training", "evaluation"])
def test_every_choice_has_a_default(template_json: dict[str, Any], workflow: str) -> None:
    # Without one, an unmatched Choice fails the run with States.NoChoiceMatched, which no state catches.
    choices = {
        name: state
        for name, state in all_states(definition_by_workflow(template_json, workflow)).items()
        if state["Type"] == "Choice"
    }
    assert choices
    assert [name for name, state in choices.items() if "Default" not in state] == []
