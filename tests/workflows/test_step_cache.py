"""The step cache in the training workflow: hits, misses, expired output, cache off, runs in flight."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from lambdas.model_registry import ModelStatus
from local_mode.cloud.executions import ExecutionResult
from pipeline_cli.definitions import all_states
from tests.support.instant_sagemaker import attempt
from tests.workflows.support import PREPARED_PREFIX, RAW_PREFIX, Stack

JOB_STATES = frozenset({"Preprocess", "Train", "Tune", "TransformCandidate", "TransformChampion"})


def jobs_started(stack: Stack, result: ExecutionResult) -> list[str]:
    """The SageMaker jobs an execution started (state names), in order."""
    return [c.state_name for c in stack.sagemaker_calls(result.execution_arn) if c.state_name in JOB_STATES]


def run(stack: Stack, hint: str, execution_input: dict[str, Any] | None = None) -> ExecutionResult:
    result = stack.run("training", execution_input or {}, hint=hint)
    assert result.status == "SUCCEEDED", f"{result.error}: {result.cause}"
    return result


def item_of(stack: Stack, result: ExecutionResult, attempt: int = 1) -> dict[str, Any]:
    return stack.items_of(result.execution_arn)[attempt - 1]


def test_identical_second_run_starts_no_job_and_deploys_nothing(stack: Stack) -> None:
    first = run(stack, "cache-first")
    champion = item_of(stack, first)
    second = run(stack, "cache-second")
    item = item_of(stack, second)

    assert jobs_started(stack, first) == ["Train", "TransformCandidate"]
    assert jobs_started(stack, second) == []
    # The registry says what was reused and from which job.
    assert (champion["training_reused"], champion["evaluation_reused"]) == (False, False)
    assert (item["training_reused"], item["evaluation_reused"]) == (True, True)
    assert item["training_job_name"] == champion["training_job_name"]
    assert item["model_data_url"] == champion["model_data_url"]
    assert item["evaluation_transform_job"] == champion["evaluation_transform_job"]
    # Nothing to deploy: the run succeeds, saying so, with no endpoint config and no update.
    assert second.entered_states()[-1] == "ChampionAlreadyDeployed"
    assert second.output["outcome"]["deployed"] is False
    assert item["status"] == ModelStatus.SAME_AS_CHAMPION and "nothing to deploy" in item["note"]
    assert item["same_as"] == champion["model_name"]
    called = {c.state_name for c in stack.sagemaker_calls(second.execution_arn)}
    assert not called & {"CreateEndpointConfig", "UpdateEndpoint", "CreateEndpoint"}
    assert stack.deployed() == [champion["model_name"]]


def test_preprocessing_of_the_same_raw_data_is_reused(stack: Stack) -> None:
    raw = {"raw_data_uri": stack.data_uri(RAW_PREFIX)}
    first = run(stack, "prep-first", raw)
    second = run(stack, "prep-second", raw)

    assert jobs_started(stack, first)[0] == "Preprocess"
    assert "Preprocess" not in jobs_started(stack, second)
    prepared = first.output["run"]["data_uri"]
    assert second.output["run"]["data_uri"] == prepared  # the run goes on with the reused data
    assert second.output["preprocessing"]["source_job"] == first.output["preprocessing"]["source_job"]
    assert item_of(stack, second)["data_uri"] == prepared


def test_a_retry_never_transforms_the_champion_again(stack: Stack) -> None:
    champion = stack.seed_champion()
    stack.sagemaker.set_model_accuracy(attempt(1), 0.5)  # attempt 1 misses the gate, attempt 2 passes
    retried = run(stack, "champion-once", {"gate": {"max_attempts": 2}})

    jobs = jobs_started(stack, retried)
    assert jobs.count("TransformChampion") == 1
    assert jobs.count("Train") == 2  # each attempt trains longer: a different request
    [first_attempt, second_attempt] = stack.items_of(retried.execution_arn)
    assert first_attempt["status"] == ModelStatus.REJECTED
    assert second_attempt["status"] == ModelStatus.DEPLOYED
    assert stack.items()[champion]["status"] == ModelStatus.RETIRED


def test_a_later_run_reuses_the_champions_predictions(stack: Stack) -> None:
    champion = stack.seed_champion()
    stack.sagemaker.set_model_accuracy(attempt(1), 0.5)  # every candidate misses the gate: the champion stays
    first = stack.run("training", {"gate": {"max_attempts": 1}}, hint="later-first")
    second = stack.run(
        "training", {"gate": {"max_attempts": 1}, "hyperparameters": {"epochs": 4}}, hint="later-second"
    )

    assert (first.error, second.error) == ("ModelRejected", "ModelRejected")
    assert jobs_started(stack, first).count("TransformChampion") == 1
    assert jobs_started(stack, second) == ["Train", "TransformCandidate"]
    assert stack.deployed() == [champion]


def test_changed_hyperparameters_or_data_train_again(stack: Stack) -> None:
    run(stack, "miss-base")
    changed_hyperparameters = run(stack, "miss-hp", {"hyperparameters": {"learning-rate": 0.003}})
    # The champion's predictions are the base run's candidate predictions: reused.
    assert jobs_started(stack, changed_hyperparameters) == ["Train", "TransformCandidate"]
    assert item_of(stack, changed_hyperparameters)["training_reused"] is False

    stack.cloud.client("s3").put_object(
        Bucket=stack.data_bucket, Key=f"{PREPARED_PREFIX}train/metadata.json", Body=b'{"counts": {"x": 1}}'
    )
    changed_data = run(stack, "miss-data", {"hyperparameters": {"learning-rate": 0.003}})
    assert "Train" in jobs_started(stack, changed_data)
    assert item_of(stack, changed_data)["training_reused"] is False


def test_expired_output_is_a_miss_and_the_job_runs_again(stack: Stack) -> None:
    first = run(stack, "expired-first")
    predictions = first.output["compared"]["candidate"]["predictions_uri"]
    # A lifecycle rule expires transform output: the entry stays, its output is gone.
    s3 = stack.cloud.client("s3")
    prefix = predictions.split("/", 3)[3]
    for entry in s3.list_objects_v2(Bucket=stack.artifacts_bucket, Prefix=prefix)["Contents"]:
        s3.delete_object(Bucket=stack.artifacts_bucket, Key=entry["Key"])

    second = run(stack, "expired-second", {"hyperparameters": {"learning-rate": 0.003}})
    assert jobs_started(stack, second).count("TransformChampion") == 1
    [lookup] = stack.calls(second.execution_arn, "FindChampionTransformInCache")
    assert lookup.result["hit"] is False and "gone" in lookup.result["miss_reason"]
    # The fresh job's output replaced the stale entry.
    entries = stack.cloud.client("dynamodb").scan(TableName=stack.cache_table)["Items"]
    sources = {e["source_job"]["S"] for e in entries}
    champion_job = second.output["attempt"]["champion_transform_job_name"]
    assert champion_job in sources and first.output["attempt"]["transform_job_name"] not in sources


def test_cache_off_runs_every_job_and_records_nothing(stack: Stack) -> None:
    run(stack, "off-first")
    off = run(stack, "off-second", {"cache": {"enabled": False}})

    started = jobs_started(stack, off)  # the two transforms run in parallel: either may start first
    assert started[0] == "Train" and sorted(started[1:]) == ["TransformCandidate", "TransformChampion"]
    item = item_of(stack, off)
    assert (item["training_reused"], item["evaluation_reused"]) == (False, False)
    assert item["status"] == ModelStatus.DEPLOYED
    for state in ("CacheTraining", "CacheCandidateTransform"):
        [record] = stack.calls(off.execution_arn, state)
        assert record.succeeded


def test_two_identical_runs_in_flight_both_succeed_and_keep_one_entry(stack: Stack) -> None:
    stack.sagemaker.hold_training()
    first = stack.start("training", {}, "flight-a")
    second = stack.start("training", {}, "flight-b")
    assert stack_wait_for_held(stack, 2)
    stack.sagemaker.release_training()
    results = [stack.wait(first), stack.wait(second)]
    assert [r.status for r in results] == ["SUCCEEDED", "SUCCEEDED"], [r.cause for r in results]

    dynamodb = stack.cloud.client("dynamodb")
    entries = dynamodb.scan(TableName=stack.cache_table)["Items"]
    training = [e for e in entries if e["step"]["S"] == "training"]
    assert len(training) == 1  # one key, one entry: the run that recorded second kept the first's
    both_jobs = {item_of(stack, r)["training_job_name"] for r in results}
    assert training[0]["source_job"]["S"] in both_jobs
    later = run(stack, "flight-later")
    assert jobs_started(stack, later) == []
    assert item_of(stack, later)["training_job_name"] == training[0]["source_job"]["S"]
    assert json.loads(training[0]["result"]["S"])["model_data_url"].endswith("model.tar.gz")


def stack_wait_for_held(stack: Stack, count: int) -> bool:
    from tests.workflows.support import retried

    return retried(lambda: len(stack.sagemaker.held_trainings()) >= count, timeout=30)


def _find_training_request(definition: dict[str, Any]) -> dict[str, Any]:
    """The `request` the training step's cache lookup keys on, in a (parsed) state machine definition."""
    found = [
        parameters["request"]
        for state in all_states(definition).values()
        if (parameters := state.get("Parameters", {})).get("step") == "training" and "request" in parameters
    ]
    assert len(found) == 1, "one training cache lookup in the training workflow"
    return dict(found[0])


@contextmanager
def _redeployed(stack: Stack, field: str) -> Iterator[str]:
    """The training workflow as a deploy of other training code or another image would leave it:
    every occurrence of that deploy-time value changed (the lookup's key, the registry's record)."""
    client = stack.cloud.client("stepfunctions")
    arn = stack.machine("training")
    original = client.describe_state_machine(stateMachineArn=arn)["definition"]
    old = _find_training_request(json.loads(original))[field]
    new = f"{old}-next" if field == "code_version" else old.replace(":2.", ":3.")
    assert new != old
    client.update_state_machine(stateMachineArn=arn, definition=original.replace(old, new))
    try:
        yield new
    finally:
        client.update_state_machine(stateMachineArn=arn, definition=original)


@pytest.mark.parametrize("field", ["code_version", "image"])
def test_a_deploy_of_other_code_or_another_image_trains_again(stack: Stack, field: str) -> None:
    run(stack, f"before-{field}")
    with _redeployed(stack, field):
        after = run(stack, f"after-{field}")
    assert "Train" in jobs_started(stack, after)
    assert item_of(stack, after)["training_reused"] is False


def test_a_tuning_job_is_reused_like_a_training_job(stack: Stack) -> None:
    tuning = {"tuning": {"enabled": True, "max_jobs": 2, "max_parallel_jobs": 1}}
    first = run(stack, "tune-first", tuning)
    assert "Tune" in jobs_started(stack, first)

    again = run(stack, "tune-again", tuning)

    assert not {"Tune", "Train"} & set(jobs_started(stack, again))
    assert item_of(stack, again)["training_reused"] is True
    assert item_of(stack, again)["model_data_url"] == item_of(stack, first)["model_data_url"]
