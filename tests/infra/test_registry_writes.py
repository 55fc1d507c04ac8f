"""Registry writes follow lambdas/model_registry's transitions; rollback can replay deployment."""

from __future__ import annotations

import re
from typing import Any

import pytest

from lambdas.model_registry import ALLOWED_FROM, DEPLOYABLE, ModelStatus
from pipeline_cli.definitions import all_states, definition_by_workflow
from pipeline_cli.rollback import deploy_parameters, fill, rollback_values
from pipeline_constructs.deployment_entry import IN_TRAINING_WORKFLOW, DeploymentTarget


def _updates(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The status-changing UpdateItems of a state: its own Parameters, or each Update of a transaction."""
    parameters = state.get("Parameters", {})
    resource = str(state.get("Resource", ""))
    if resource.endswith("dynamodb:updateItem"):
        return [parameters]
    if resource.endswith("dynamodb:transactWriteItems"):
        return [item["Update"] for item in parameters["TransactItems"]]
    return []


def _writes(template_json: dict[str, Any], workflow: str) -> dict[str, list[dict[str, Any]]]:
    states = all_states(definition_by_workflow(template_json, workflow))
    return {name: updates for name, state in states.items() if (updates := _updates(state))}


@pytest.mark.parametrize("workflow", ["training", "evaluation"])
def test_every_status_write_is_an_allowed_transition(template_json: dict[str, Any], workflow: str) -> None:
    for name, updates in _writes(template_json, workflow).items():
        for update in updates:
            values = update["ExpressionAttributeValues"]
            if ":status" not in values:  # a model's history, or an annotation: no status change
                assert "#status" not in update["UpdateExpression"], name
                if ":current" in values:  # only while the model is in that status
                    assert update["ConditionExpression"] == "#status = :current", name
                continue
            status = ModelStatus(values[":status"]["S"])
            assert update["UpdateExpression"].startswith("SET #status = :status, updated_at = :now"), name
            expected = [value["S"] for key, value in values.items() if re.fullmatch(r":expected\d*", key)]
            if ":expected" in values:
                assert update["ConditionExpression"] == "#status = :expected", name
            elif expected:  # one of several (the promotion: EVALUATED, or APPROVED by a person)
                names = ", ".join(f":expected{i}" for i in range(len(expected)))
                assert update["ConditionExpression"] == f"#status IN ({names})", name
            if expected:
                assert set(expected) <= set(ALLOWED_FROM[status]), name
            else:  # moves from whatever step the attempt reached: the item must exist
                assert update["ConditionExpression"] == "attribute_exists(model_name)", name


def test_the_training_workflow_writes_each_status_it_owns(template_json: dict[str, Any]) -> None:
    written = {
        values[":status"]["S"]
        for updates in _writes(template_json, "training").values()
        for update in updates
        if ":status" in (values := update["ExpressionAttributeValues"])
    }
    # TRAINING: the new item's (a put); PENDING_APPROVAL: lambdas/approval_request.py's.
    assert written == {s.value for s in ModelStatus} - {ModelStatus.TRAINING, ModelStatus.PENDING_APPROVAL}
    assert set(DEPLOYABLE) == {ModelStatus.EVALUATED, ModelStatus.RETIRED}


def test_rollback_fills_every_deploy_state_of_the_real_workflow(template_json: dict[str, Any]) -> None:
    """The deploy states read nothing but DeploymentTarget's fields, so rollback can replay them."""
    steps = deploy_parameters(definition_by_workflow(template_json, "training"))
    target = DeploymentTarget(model_name="m", endpoint_config_name="c", model_data_url="s3://b/m.tar.gz")

    filled = {operation: fill(parameters, rollback_values(target)) for operation, parameters in steps.items()}

    assert not re.search(r'\.\$"|"\$\.', str(filled).replace("'", '"'))
    assert filled["createModel"]["ModelName"] == "m"
    assert filled["createModel"]["PrimaryContainer"]["ModelDataUrl"] == "s3://b/m.tar.gz"
    assert filled["createEndpointConfig"]["ProductionVariants"][0]["ModelName"] == "m"
    assert filled["createEndpoint"]["EndpointConfigName"] == "c"
    assert filled["updateEndpoint"]["EndpointConfigName"] == "c"
    # What rollback recreates is tagged as its own (cost allocation), with the target's model name.
    for operation in ("createModel", "createEndpointConfig", "createEndpoint"):
        tags = {tag["Key"]: tag["Value"] for tag in filled[operation]["Tags"]}
        assert (tags["model_name"], tags["run_id"], tags["execution"]) == (
            "m",
            "rollback",
            "mlpipeline rollback",
        )
    assert set(target.state_data()) == {
        IN_TRAINING_WORKFLOW.model_name,
        IN_TRAINING_WORKFLOW.endpoint_config_name,
        IN_TRAINING_WORKFLOW.model_data_url,
    }
