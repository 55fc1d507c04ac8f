"""The training workflow's evaluation: candidate and champion scored on the same held-out data.

Builds its states in the caller's scope, so state names and construct ids are the workflow's own.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from lambdas.attempt_state import ATTEMPT

from .sagemaker_tasks import JoinedTransformJob, evaluation_transform
from .workflow_steps import catch_all, invoke_lambda


def evaluate_against_champion(
    scope: Construct, *, role: iam.IRole, evaluate_predictions: lambda_.IFunction, on_failure: sfn.IChainable
) -> sfn.IChainable:
    """Transform with the candidate (and the champion, when there is one), then score: `$.evaluation`."""
    candidate = _transform(
        scope,
        "TransformCandidate",
        role=role,
        job_name_path=ATTEMPT.transform_job_name,
        model_name_path=ATTEMPT.model_name,
        output_path=ATTEMPT.transform_output_uri,
    )
    champion = _transform(
        scope,
        "TransformChampion",
        role=role,
        job_name_path=ATTEMPT.champion_transform_job_name,
        model_name_path="$.champion.model_name",
        output_path=ATTEMPT.champion_transform_output_uri,
    )
    # The branch's output is what EvaluatePredictions is told about the champion.
    champion_predictions = sfn.Pass(
        scope,
        "ChampionPredictions",
        parameters={
            "present": True,
            "model_name.$": "$.champion.model_name",
            "predictions_uri.$": ATTEMPT.champion_transform_output_uri,
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
        result_selector={"champion.$": "$[1]"},
        result_path="$.compared",
    )
    both.branch(candidate)
    both.branch(champion_branch)
    catch_all(both, on_failure)
    score = invoke_lambda(
        scope,
        "EvaluatePredictions",
        evaluate_predictions,
        payload={
            "predictions_uri": sfn.JsonPath.string_at(ATTEMPT.transform_output_uri),
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


def _transform(
    scope: Construct,
    construct_id: str,
    *,
    role: iam.IRole,
    job_name_path: str,
    model_name_path: str,
    output_path: str,
) -> JoinedTransformJob:
    return evaluation_transform(
        scope,
        construct_id,
        job_name=sfn.JsonPath.string_at(job_name_path),
        model_name=sfn.JsonPath.string_at(model_name_path),
        output_uri=sfn.JsonPath.string_at(output_path),
        role=role,
    )
