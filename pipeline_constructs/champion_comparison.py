"""The training workflow's evaluation: candidate and champion scored on the same held-out data.

Builds its states in the caller's scope, so state names and construct ids are the workflow's own.
Both transforms sit behind the step cache, keyed by the model artifact and the data: the
champion's predictions on a dataset are computed once and reused by every later attempt and run,
and a candidate whose training was reused gets its predictions reused too.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from contract import (
    TRANSFORM_CHANNEL,
    TRANSFORM_CONTENT_TYPE,
    TRANSFORM_INPUT_FILTER,
    TRANSFORM_OUTPUT_FILTER,
)
from lambdas.attempt_state import ATTEMPT
from lambdas.model_registry import ModelStatus

from .sagemaker_tasks import evaluation_transform
from .step_cache import CachedStep, StepCache
from .workflow_steps import RegistrySteps, catch_all, dynamo_format, dynamo_string, invoke_lambda

CANDIDATE_PATH = "$.candidate_transform"
CHAMPION_PATH = "$.champion_transform"


def evaluate_against_champion(
    scope: Construct,
    *,
    role: iam.IRole,
    evaluate_predictions: lambda_.IFunction,
    cache: StepCache,
    inference_image: str,
    on_failure: sfn.IChainable,
) -> sfn.IChainable:
    """Transform with the candidate (and the champion, when there is one), then score: `$.evaluation`.

    `$.compared.candidate` says where the candidate's predictions are and whether they were reused.
    `cache` builds the branches' states: its failures must go to the Parallel's Catch (None).
    """
    candidate = _cached_transform(
        scope,
        "CandidateTransform",
        "TransformCandidate",
        cache=cache,
        role=role,
        inference_image=inference_image,
        job_name_path=ATTEMPT.transform_job_name,
        model_name_path=ATTEMPT.model_name,
        model_data_path="$.training.model_data_url",
        output_path=ATTEMPT.transform_output_uri,
        result_path=CANDIDATE_PATH,
    )
    candidate_predictions = sfn.Pass(scope, "CandidatePredictions", input_path=CANDIDATE_PATH)
    champion = _cached_transform(
        scope,
        "ChampionTransform",
        "TransformChampion",
        cache=cache,
        role=role,
        inference_image=inference_image,
        job_name_path=ATTEMPT.champion_transform_job_name,
        model_name_path="$.champion.model_name",
        model_data_path="$.champion.model_data_url",
        output_path=ATTEMPT.champion_transform_output_uri,
        result_path=CHAMPION_PATH,
    )
    # The branch's output is what EvaluatePredictions is told about the champion.
    champion_predictions = sfn.Pass(
        scope,
        "ChampionPredictions",
        parameters={
            "present": True,
            "model_name.$": "$.champion.model_name",
            "predictions_uri.$": f"{CHAMPION_PATH}.predictions_uri",
        },
    )
    champion_branch = (
        sfn.Choice(scope, "CompareWithChampion?")
        .when(sfn.Condition.boolean_equals("$.champion.present", True), champion.next(champion_predictions))
        .otherwise(sfn.Pass(scope, "NoChampionToCompare", parameters={"present": False}))
    )
    both = sfn.Parallel(
        scope,
        "Evaluate",
        comment="Score candidate and champion on the same held-out data",
        result_selector={"candidate.$": "$[0]", "champion.$": "$[1]"},
        result_path="$.compared",
    )
    both.branch(candidate.next(candidate_predictions))
    both.branch(champion_branch)
    catch_all(both, on_failure)
    score = invoke_lambda(
        scope,
        "EvaluatePredictions",
        evaluate_predictions,
        payload={
            "predictions_uri": sfn.JsonPath.string_at("$.compared.candidate.predictions_uri"),
            "report_uri": sfn.JsonPath.string_at(ATTEMPT.report_uri),
            "model_name": sfn.JsonPath.string_at(ATTEMPT.model_name),
            "metric": sfn.JsonPath.string_at("$.run.gate.metric"),
            "tolerance": sfn.JsonPath.number_at("$.run.gate.tolerance"),
            "champion": sfn.JsonPath.object_at("$.compared.champion"),
        },
        result_path="$.evaluation",
        failure=on_failure,
    )
    return both.next(score)


def _cached_transform(
    scope: Construct,
    name: str,
    construct_id: str,
    *,
    cache: StepCache,
    role: iam.IRole,
    inference_image: str,
    job_name_path: str,
    model_name_path: str,
    model_data_path: str,
    output_path: str,
    result_path: str,
) -> sfn.Chain:
    """A batch transform of the run's transform channel, keyed by the model's artifact, not its name."""
    job = evaluation_transform(
        scope,
        construct_id,
        job_name=sfn.JsonPath.string_at(job_name_path),
        model_name=sfn.JsonPath.string_at(model_name_path),
        output_uri=sfn.JsonPath.string_at(output_path),
        role=role,
    )
    return cache.around(
        CachedStep(
            name=name,
            step="transform",
            request={
                "image": inference_image,
                "content_type": TRANSFORM_CONTENT_TYPE,
                "input_filter": TRANSFORM_INPUT_FILTER,
                "output_filter": TRANSFORM_OUTPUT_FILTER,
                "instance_type": sfn.JsonPath.string_at("$.run.transform.instance_type"),
                "instance_count": sfn.JsonPath.number_at("$.run.transform.instance_count"),
            },
            inputs={
                "model": sfn.JsonPath.string_at(model_data_path),
                "data": sfn.JsonPath.format(
                    f"{{}}{TRANSFORM_CHANNEL}/", sfn.JsonPath.string_at("$.run.data_uri")
                ),
            },
            result_path=result_path,
            fresh_result={"predictions_uri.$": output_path, "source_job.$": job_name_path},
            artifact="predictions_uri",
        ),
        job,
    )


def unless_same_as_champion(
    scope: Construct, *, registry: RegistrySteps, on_failure: sfn.IChainable, otherwise: sfn.IChainable
) -> sfn.IChainable:
    """Go on to `otherwise`, unless the candidate is the deployed champion itself.

    A candidate whose training reused the champion's own job has the champion's artifact: there is
    nothing to deploy. The run then ends successfully, its model SAME_AS_CHAMPION (`same_as` names
    the champion), and no endpoint config is created nor the endpoint updated.
    """
    record = registry.set_status(
        "RecordSameAsChampion",
        ModelStatus.SAME_AS_CHAMPION,
        attributes={
            "same_as": dynamo_string("$.champion.model_name"),
            "note": dynamo_format(
                "nothing to deploy: the same model as the deployed champion {} (training reused {})",
                "$.champion.model_name",
                "$.training.source_job",
            ),
        },
        failure=on_failure,
    )
    say_so = sfn.Pass(
        scope,
        "NothingToDeploy",
        parameters={
            "deployed": False,
            "reason": "the candidate is the deployed champion itself",
            "champion.$": "$.champion.model_name",
            "model_data_url.$": "$.training.model_data_url",
        },
        result_path="$.outcome",
    )
    done = sfn.Succeed(scope, "ChampionAlreadyDeployed", comment="Nothing to deploy")
    same = (
        sfn.Choice(scope, "SameModelAsChampion?")
        .when(
            sfn.Condition.string_equals_json_path("$.training.model_data_url", "$.champion.model_data_url"),
            record.next(say_so).next(done),
        )
        .otherwise(otherwise)
    )
    return (
        sfn.Choice(scope, "ChampionToCompare?")
        .when(sfn.Condition.boolean_equals("$.champion.present", True), same)
        .otherwise(otherwise)
    )
