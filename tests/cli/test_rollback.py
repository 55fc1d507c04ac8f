"""Rollback's pieces: the transaction's shape and conditions, the deploy states, the waits."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest

from pipeline_cli.definitions import definition_by_workflow
from pipeline_cli.errors import CliError
from pipeline_cli.rollback import (
    RollbackPlan,
    autoscaling_parameters,
    commit,
    deploy_parameters,
    fill,
    new_config_name,
    plan_rollback,
    promotion,
    refuse,
    wait_in_service,
)
from tests.cli.conftest import OUTPUTS, Invoke, LocalStack, Stubs

NOW = "2026-11-22T12:00:00.000Z"
PLAN = RollbackPlan(
    target={"model_name": "old", "status": "RETIRED"},
    current={"model_name": "new", "status": "DEPLOYED"},
    endpoint_name="tf2-digits",
)


def test_one_transaction_promotes_the_target_and_retires_the_current_model() -> None:
    assert promotion("registry", PLAN, "old-config", NOW) == [
        {
            "Update": {
                "TableName": "registry",
                "Key": {"model_name": {"S": "old"}},
                "UpdateExpression": "SET #status = :status, updated_at = :now, "
                "#endpoint_name = :endpoint_name, #endpoint_config_name = :endpoint_config_name",
                "ConditionExpression": "#status = :expected",
                "ExpressionAttributeNames": {
                    "#status": "status",
                    "#endpoint_name": "endpoint_name",
                    "#endpoint_config_name": "endpoint_config_name",
                },
                "ExpressionAttributeValues": {
                    ":status": {"S": "DEPLOYED"},
                    ":now": {"S": NOW},
                    ":expected": {"S": "RETIRED"},
                    ":endpoint_name": {"S": "tf2-digits"},
                    ":endpoint_config_name": {"S": "old-config"},
                },
            }
        },
        {
            "Update": {
                "TableName": "registry",
                "Key": {"model_name": {"S": "new"}},
                "UpdateExpression": "SET #status = :status, updated_at = :now, #retired_by = :retired_by",
                "ConditionExpression": "#status = :expected",
                "ExpressionAttributeNames": {"#status": "status", "#retired_by": "retired_by"},
                "ExpressionAttributeValues": {
                    ":status": {"S": "RETIRED"},
                    ":now": {"S": NOW},
                    ":expected": {"S": "DEPLOYED"},
                    ":retired_by": {"S": "old"},
                },
            }
        },
    ]


def test_with_nothing_deployed_only_the_target_changes() -> None:
    plan = RollbackPlan(target={"model_name": "m", "status": "EVALUATED"}, current=None, endpoint_name="e")

    [item] = promotion("registry", plan, "cfg", NOW)

    assert item["Update"]["ExpressionAttributeValues"][":expected"] == {"S": "EVALUATED"}


def test_a_cancelled_transaction_says_what_state_things_are_in(stubs: Stubs) -> None:
    stubs["dynamodb"].add_client_error(
        "transact_write_items",
        "TransactionCanceledException",
        "Transaction cancelled",
        response_meta={},
        modeled_fields={"CancellationReasons": [{"Code": "None"}, {"Code": "ConditionalCheckFailed"}]},
    )

    with pytest.raises(CliError) as error:
        commit(stubs.backend, PLAN, "old-config")

    assert '["None", "ConditionalCheckFailed"]' in str(error.value)
    assert "endpoint tf2-digits now serves old, but the registry was not updated" in str(error.value)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            {"model_name": "r", "status": "REJECTED", "rejection": "accuracy 0.9 below the gate"},
            "r is REJECTED: it failed the quality gate or a person rejected it "
            "(accuracy 0.9 below the gate); "
            "only RETIRED or EVALUATED models can be deployed.",
        ),
        (
            {"model_name": "t", "status": "TRAINED"},
            "t is TRAINED: it has not been evaluated; only RETIRED or",
        ),
        ({"model_name": "d", "status": "DEPLOYED"}, "d is already deployed."),
    ],
)
def test_refusals_say_why(model: dict[str, Any], message: str) -> None:
    assert str(refuse(model)).startswith(message)


def test_nothing_deployed_and_no_target(stubs: Stubs) -> None:
    stubs["dynamodb"].add_response(
        "query",
        {"Items": []},
        {
            "TableName": OUTPUTS["ModelRegistryTableName"],
            "IndexName": "by-status",
            "KeyConditionExpression": "#status = :deployed",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":deployed": {"S": "DEPLOYED"}},
            "ScanIndexForward": False,
        },
    )

    with pytest.raises(
        CliError, match="Nothing is deployed, so there is no previous champion: name a model with --to"
    ):
        plan_rollback(stubs.backend, None)


def _definition() -> dict[str, Any]:
    def task(resource: str, parameters: dict[str, Any]) -> dict[str, Any]:
        return {
            "Type": "Task",
            "Resource": f"arn:aws:states:::sagemaker:{resource}",
            "Parameters": parameters,
        }

    return {
        "StartAt": "CreateModel",
        "States": {
            "CreateModel": task("createModel", {"ModelName.$": "$.attempt.model_name", "Image": "img"}),
            "Deploy": {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "Config",
                        "States": {
                            "Config": task(
                                "createEndpointConfig",
                                {
                                    "EndpointConfigName.$": "$.attempt.endpoint_config_name",
                                    "ProductionVariants": [
                                        {"ModelName.$": "$.attempt.model_name", "InstanceType": "x"}
                                    ],
                                },
                            ),
                            "Update": task(
                                "updateEndpoint", {"EndpointName": "e", "DeploymentConfig": {"A": 1}}
                            ),
                            "Create": task("createEndpoint", {"EndpointName": "e"}),
                        },
                    }
                ],
            },
        },
    }


def test_the_workflows_deploy_states_are_found_and_filled() -> None:
    steps = deploy_parameters(_definition())

    filled = fill(
        steps["createEndpointConfig"], {"$.attempt.endpoint_config_name": "cfg", "$.attempt.model_name": "m"}
    )
    assert filled == {
        "EndpointConfigName": "cfg",
        "ProductionVariants": [{"ModelName": "m", "InstanceType": "x"}],
    }
    assert steps["updateEndpoint"] == {"EndpointName": "e", "DeploymentConfig": {"A": 1}}
    with pytest.raises(
        CliError, match=r"ModelName.\$ reads \$.attempt.model_name, which rollback cannot fill"
    ):
        fill(steps["createModel"], {})


def test_a_definition_without_deploy_states_is_refused() -> None:
    definition = _definition()
    del definition["States"]["CreateModel"]
    with pytest.raises(CliError, match="no createModel state"):
        deploy_parameters(definition)


def test_recreated_config_names_fit_sagemakers_limit() -> None:
    name = new_config_name("m" * 70)
    assert len(name) == 63 and re.match(r"^m+-rb\d{12}$", name)


def _endpoint(status: str, config: str, reason: str | None = None) -> dict[str, Any]:
    described = {
        "EndpointName": "e",
        "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/e",
        "EndpointConfigName": config,
        "EndpointStatus": status,
        "CreationTime": "2026-11-22T00:00:00Z",
        "LastModifiedTime": "2026-11-22T00:00:00Z",
    }
    return {**described, "FailureReason": reason} if reason else described


def test_waiting_ends_when_the_endpoint_serves_the_config(stubs: Stubs) -> None:
    for status, config in (("Updating", "old"), ("Updating", "old"), ("InService", "new")):
        stubs["sagemaker"].add_response("describe_endpoint", _endpoint(status, config), {"EndpointName": "e"})

    wait_in_service(stubs.clients["sagemaker"], "e", "new", timeout=60, poll=0)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            _endpoint("Failed", "new", "health check failed"),
            "did not take new (Failed, serving new): health check",
        ),
        (
            _endpoint("InService", "old", "alarm fired"),
            "did not take new (InService, serving old): alarm fired",
        ),
        (_endpoint("Updating", "old"), "still Updating after 0s; the registry was not changed"),
    ],
)
def test_waiting_fails_on_failure_rollback_and_timeout(
    stubs: Stubs, answer: dict[str, Any], message: str
) -> None:
    stubs["sagemaker"].add_response("describe_endpoint", answer)

    with pytest.raises(CliError, match=re.escape(message)):
        wait_in_service(stubs.clients["sagemaker"], "e", "new", timeout=0, poll=0)


# --- autoscaling, on the local stack -----------------------------------------------------------


def test_rollback_keeps_the_scaled_capacity_and_the_autoscaling_registration(
    local_invoke: Invoke, local_stack: LocalStack
) -> None:
    suffix = uuid.uuid4().hex[:8]
    first = local_stack.train(name=f"scaled-first-{suffix}")
    # Another model (the same one again would already be the champion).
    second = local_stack.train({"hyperparameters": {"epochs": 3}}, name=f"scaled-second-{suffix}")
    assert (first.status, second.status) == ("SUCCEEDED", "SUCCEEDED"), (first.cause, second.cause)
    sagemaker = local_stack.sagemaker
    sagemaker.update_endpoint_weights_and_capacities(  # what autoscaling does under load
        {
            "EndpointName": "tf2-digits",
            "DesiredWeightsAndCapacities": [{"VariantName": "AllTraffic", "DesiredInstanceCount": 3}],
        }
    )
    autoscaling = local_stack.cloud.client("application-autoscaling")
    resource = "endpoint/tf2-digits/variant/AllTraffic"
    autoscaling.deregister_scalable_target(  # lost, say, by a manual change: rollback registers it again
        ServiceNamespace="sagemaker",
        ResourceId=resource,
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
    )

    result = local_invoke("rollback", "--yes")

    assert result.exit_code == 0, result.output
    update = next(
        request for operation, request in reversed(sagemaker.requests) if operation == "UpdateEndpoint"
    )
    assert update["RetainAllVariantProperties"] is True
    [variant] = sagemaker.describe_endpoint({"EndpointName": "tf2-digits"})["ProductionVariants"]
    assert variant["DesiredInstanceCount"] == 3
    [target] = autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource])[
        "ScalableTargets"
    ]
    template = local_stack.session_file.parent / "cdk.out" / "TfModelLifecycle.template.json"
    definition = definition_by_workflow(json.loads(template.read_text()), "training")
    registered = autoscaling_parameters(definition)["registerScalableTarget"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (
        registered["MinCapacity"],
        registered["MaxCapacity"],
    )
    assert autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource)[
        "ScalingPolicies"
    ]
