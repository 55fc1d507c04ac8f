"""Both workflows end to end on the synthesized definitions: deploy, replace, evaluate, retrain."""

from __future__ import annotations

import json
import math

from lambdas.model_registry import EVALUATION_METRICS, ModelStatus
from local_mode.cloud.executions import ExecutionResult
from tests.workflows.support import LABELLED_PREFIX, RAW_PREFIX, Stack


def train(stack: Stack, hint: str, execution_input: dict | None = None) -> tuple[ExecutionResult, dict]:
    result = stack.run("training", execution_input or {}, hint=hint)
    assert result.status == "SUCCEEDED", f"{result.error}: {result.cause}"
    [item] = stack.items_of(result.execution_arn)
    return result, item


def test_first_training_run_deploys_a_model_that_answers(stack: Stack) -> None:
    result, item = train(stack, "first-model")
    model = item["model_name"]

    assert item["status"] == ModelStatus.DEPLOYED
    assert stack.deployed() == [model]
    assert set(item["metrics"]) >= {*EVALUATION_METRICS, "records"}
    assert item["metrics"]["accuracy"] == 1.0 and item["metrics"]["records"] == 20
    assert item["gate_metric"] == 1.0
    assert {m["MetricName"] for m in json.loads(item["training_metrics"])} >= {"loss", "val_loss"}
    assert item["endpoint_config_name"] == model
    assert "champion_at_training" not in item  # the first model has no lineage, not a "none" one
    assert item["model_data_url"].endswith(f"/{model}/output/model.tar.gz")
    endpoint = stack.endpoint()
    assert endpoint is not None
    assert (endpoint["EndpointStatus"], endpoint["EndpointConfigName"]) == ("InService", model)
    [probabilities] = stack.invoke_endpoint()
    assert len(probabilities) == 10 and math.isclose(sum(probabilities), 1.0, abs_tol=1e-4)
    [announcement] = stack.notifications(result.execution_arn, "DEPLOYED")
    assert announcement["model_name"] == model and "replaced" not in announcement
    called = {c.state_name for c in stack.sagemaker_calls(result.execution_arn)}
    assert {"Train", "CreateModel", "TransformCandidate", "CreateEndpoint", "DescribeEndpoint"} <= called
    assert not called & {"TransformChampion", "UpdateEndpoint", "Preprocess", "Tune"}


def test_second_training_run_replaces_the_champion_in_one_transaction(stack: Stack) -> None:
    _, first = train(stack, "champion")
    # Another model: an identical run would reuse the champion's training (nothing to deploy).
    result, second = train(stack, "challenger", {"hyperparameters": {"epochs": 3}})
    old, new = first["model_name"], second["model_name"]

    items = stack.items()
    assert items[new]["status"] == ModelStatus.DEPLOYED
    assert items[old]["status"] == ModelStatus.RETIRED
    assert items[old]["retired_by"] == new
    assert items[new]["champion_at_training"] == old
    assert stack.deployed() == [new]
    # One TransactWriteItems call did both, each conditioned on the status it expected.
    [promote] = stack.calls(result.execution_arn, "PromoteAndRetire")
    assert promote.succeeded
    updates = [entry["Update"] for entry in promote.parameters["TransactItems"]]
    assert [
        (u["Key"]["model_name"]["S"], u["ExpressionAttributeValues"][":status"]["S"]) for u in updates
    ] == [
        (new, ModelStatus.DEPLOYED),
        (old, ModelStatus.RETIRED),
    ]
    assert all("ConditionExpression" in u for u in updates)
    assert items[new]["updated_at"] == items[old]["updated_at"]
    assert stack.calls(result.execution_arn, "PromoteFirstModel") == []
    # The champion was scored on the same data, with the predictions the first run's candidate
    # transform made (the step cache: never transformed twice), then the endpoint moved to the new model.
    assert stack.calls(result.execution_arn, "TransformChampion") == []
    [lookup] = stack.calls(result.execution_arn, "FindChampionTransformInCache")
    assert lookup.result["hit"] and lookup.result["result"]["source_job"] == first["evaluation_transform_job"]
    assert result.output["evaluation"]["champion"]["model_name"] == old
    assert stack.calls(result.execution_arn, "UpdateEndpoint")
    assert stack.calls(result.execution_arn, "CreateEndpoint") == []
    endpoint = stack.endpoint()
    assert endpoint is not None and endpoint["EndpointConfigName"] == new
    assert stack.invoke_endpoint()
    [announcement] = stack.notifications(result.execution_arn, "DEPLOYED")
    assert (announcement["model_name"], announcement["replaced"]) == (new, old)


def test_evaluation_with_nothing_deployed_does_nothing(stack: Stack) -> None:
    result = stack.run("evaluation", {}, hint="nothing-deployed")

    assert result.status == "SUCCEEDED", result.cause
    assert result.entered_states()[-1] == "NothingDeployed"
    assert stack.sagemaker_calls(result.execution_arn) == []
    assert stack.registry_writes(result.execution_arn) == []
    assert stack.sagemaker.requests == []
    assert stack.children(result.execution_arn) == []


def test_evaluation_of_a_healthy_model_records_it_and_does_not_retrain(stack: Stack) -> None:
    _, champion = train(stack, "healthy-champion")
    result = stack.run("evaluation", {}, hint="healthy")

    assert result.status == "SUCCEEDED", result.cause
    assert result.entered_states()[-1] == "ModelHealthy"
    assert stack.children(result.execution_arn) == []
    item = stack.items()[champion["model_name"]]
    assert item["status"] == ModelStatus.DEPLOYED
    [evaluation] = item["evaluations"]
    assert evaluation["execution_arn"] == result.execution_arn
    assert evaluation["metrics"]["accuracy"] == item["last_evaluation_metric"] == 1.0
    assert evaluation["data_uri"] == stack.data_uri(LABELLED_PREFIX)
    [transform] = stack.calls(result.execution_arn, "TransformFreshData")
    assert transform.parameters["ModelName"] == champion["model_name"]


def test_evaluation_of_a_decayed_model_retrains_and_replaces_it(stack: Stack) -> None:
    _, champion = train(stack, "decaying-champion")
    old = champion["model_name"]
    stack.sagemaker.set_model_accuracy(old, 0.5)  # below evaluation.threshold on the fresh data

    result = stack.run("evaluation", {}, hint="decayed", timeout=120)

    assert result.status == "SUCCEEDED", f"{result.error}: {result.cause}"
    assert result.entered_states()[-1] == "Retrained"
    [child] = stack.children(result.execution_arn)
    assert child["status"] == "SUCCEEDED"
    assert result.output["retraining"] == {"execution_arn": child["executionArn"], "status": "SUCCEEDED"}
    child_input = json.loads(child["input"])
    assert child_input["raw_data_uri"] == stack.data_uri(RAW_PREFIX)
    assert "below" in child_input["reason"]
    items = stack.items()
    assert items[old]["last_evaluation_metric"] == 0.5
    assert items[old]["status"] == ModelStatus.RETIRED
    [new] = stack.items_of(child["executionArn"])
    assert new["status"] == ModelStatus.DEPLOYED and new["champion_at_training"] == old
    assert stack.deployed() == [new["model_name"]]
    assert stack.calls(child["executionArn"], "Preprocess")  # retrained on raw old + new data
