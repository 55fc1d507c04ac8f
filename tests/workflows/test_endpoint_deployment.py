"""An endpoint that does not reach InService: bounded wait, candidate FAILED, champion untouched."""

from __future__ import annotations

from typing import Any

from lambdas.model_registry import ModelStatus
from pipeline_cli.definitions import all_states, definition_by_workflow
from tests.workflows.support import Stack


def max_polls(template: dict[str, Any]) -> int:
    """The wait loop's bound, read from the definition's `PollsLeft?` Choice."""
    choice = all_states(definition_by_workflow(template, "training"))["PollsLeft?"]
    [bound] = [
        rule["NumericGreaterThanEquals"]
        for rule in choice["Choices"]
        if rule.get("Variable") == "$.poll.polls" and "NumericGreaterThanEquals" in rule
    ]
    return int(bound)


def test_failed_update_keeps_the_champion_deployed_and_answering(
    stack: Stack, template: dict[str, Any]
) -> None:
    first = stack.run("training", {}, hint="champion")
    assert first.status == "SUCCEEDED", first.cause
    [champion] = stack.items_of(first.execution_arn)
    stack.sagemaker.fail_endpoint_creation(stack.endpoint_name, "the new model crashed at start")

    # Another model (an identical run would reuse the champion's training: nothing to deploy).
    result = stack.run("training", {"hyperparameters": {"epochs": 3}}, hint="update-fails")

    assert (result.status, result.error) == ("FAILED", "EndpointNotInService")
    arn = result.execution_arn
    [candidate] = stack.items_of(arn)
    assert candidate["status"] == ModelStatus.FAILED
    assert candidate["failure_error"] == "EndpointNotInService"
    # SageMaker rolled the update back: the cause names the config still served and why.
    assert candidate["failure_cause"].startswith(
        f"Endpoint update rolled back to config {champion['model_name']}: "
    )
    assert "crashed at start" in candidate["failure_cause"]
    assert stack.calls(arn, "UpdateEndpoint") and stack.calls(arn, "CreateEndpoint") == []
    polls = stack.calls(arn, "DescribeEndpoint")
    assert 1 <= len(polls) <= max_polls(template) + 1
    [notification] = stack.notifications(arn, "FAILED")
    assert notification["error"] == "EndpointNotInService"
    # The update rolled back: the champion is still DEPLOYED and still serving.
    assert stack.deployed() == [champion["model_name"]]
    assert stack.items()[champion["model_name"]]["status"] == ModelStatus.DEPLOYED
    endpoint = stack.endpoint()
    assert endpoint is not None
    assert (endpoint["EndpointStatus"], endpoint["EndpointConfigName"]) == (
        "InService",
        champion["model_name"],
    )
    assert "crashed at start" in endpoint["FailureReason"]
    assert len(stack.invoke_endpoint()[0]) == 10


def test_failed_creation_fails_the_run_and_deploys_nothing(stack: Stack) -> None:
    stack.sagemaker.fail_endpoint_creation(stack.endpoint_name, "no capacity for the variant")

    result = stack.run("training", {}, hint="create-fails")

    assert (result.status, result.error) == ("FAILED", "EndpointNotInService")
    [candidate] = stack.items_of(result.execution_arn)
    assert candidate["status"] == ModelStatus.FAILED
    assert candidate["failure_cause"].startswith("Endpoint status Failed")
    assert stack.calls(result.execution_arn, "CreateEndpoint")
    assert stack.deployed() == []
    endpoint = stack.endpoint()
    assert endpoint is not None and endpoint["EndpointStatus"] == "Failed"
    assert len(stack.notifications(result.execution_arn, "FAILED")) == 1


def test_endpoint_that_never_comes_up_ends_the_wait(stack: Stack, template: dict[str, Any]) -> None:
    bound = max_polls(template)
    stack.sagemaker.hold_endpoint_deployments()  # "Creating" for longer than the workflow waits

    result = stack.run("training", {}, hint="never-in-service")

    assert (result.status, result.error) == ("FAILED", "EndpointNotInService")
    assert "not InService after" in str(result.cause)
    arn = result.execution_arn
    assert "EndpointWaitExhausted" in result.entered_states()
    assert len(stack.calls(arn, "DescribeEndpoint")) == bound + 1
    waits = [w for w in stack.cloud.hooks.waits if w.execution_arn == arn]
    assert len(waits) == bound + 1 and {w.requested_seconds for w in waits} == {30.0}
    [candidate] = stack.items_of(arn)
    assert candidate["status"] == ModelStatus.FAILED
    assert stack.deployed() == []
    endpoint = stack.endpoint()
    assert endpoint is not None and endpoint["EndpointStatus"] == "Creating"
