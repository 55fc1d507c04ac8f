"""The evaluation workflow: score the deployed model on fresh labelled data; retrain when it decayed."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from lambdas.model_registry import ITEM_EXISTS_CONDITION

from .sagemaker_tasks import JoinedTransformJob, evaluation_transform
from .state_machine import build_state_machine
from .workflow_steps import (
    DYNAMODB_TRANSIENT,
    ERROR_PATH,
    HANDLER_ERROR_PATH,
    NOW,
    STEP_FUNCTIONS_TRANSIENT,
    RegistrySteps,
    begin,
    catch_all,
    dynamo_number,
    dynamo_string,
    guard_error_cause,
    invoke_lambda,
    notify_and_fail,
    retry_transient,
)


class EvaluationWorkflow(Construct):
    """State machine 2, plus its (disabled by default) schedule."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        validate_input: lambda_.IFunction,
        evaluate_predictions: lambda_.IFunction,
        registry_table: dynamodb.ITable,
        topic: sns.ITopic,
        training_workflow: sfn.IStateMachine,
        sagemaker_role: iam.IRole,
        transform_output_prefix: str,
        report_prefix: str,
        job_prefix: str,
        schedule_enabled: bool,
        schedule_rate: Duration,
        timeout: Duration,
        logs_key: kms.IKey,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self._registry = RegistrySteps(self, table=registry_table, model_name_path="$.champion.model_name")
        notify_failure = notify_and_fail(self, topic=topic, workflow="evaluation", fail_id="EvaluationFailed")

        validate = invoke_lambda(
            self,
            "ValidateInput",
            validate_input,
            payload={"workflow": "evaluation", "input": sfn.JsonPath.string_at("$$.Execution.Input")},
            result_path="$.run",
        )
        find = self._registry.find_deployed("FindDeployedModel", result_path="$.champion_query")
        champion = self._deployed_model(job_prefix=job_prefix)
        transform = self._transform_fresh_data(
            transform_output_prefix=transform_output_prefix, sagemaker_role=sagemaker_role
        )
        score = self._score(
            evaluate_predictions, transform_output_prefix=transform_output_prefix, report_prefix=report_prefix
        )
        record = self._record_evaluation()
        early_failure, evaluation_failure = self._failure_handlers(notify_failure)
        retrain = self._retrain(training_workflow)
        retry_transient(
            record, ("DynamoDB.ProvisionedThroughputExceededException", "DynamoDB.ThrottlingException")
        )
        for early in (validate, find):
            catch_all(early, early_failure)
        for state in (transform, score, record, retrain):
            catch_all(state, evaluation_failure)

        decayed = self._decayed(retrain)
        definition = (
            begin(self)
            .next(validate)
            .next(find)
            .next(
                sfn.Choice(self, "AnythingDeployed?")
                .when(
                    sfn.Condition.is_present("$.champion_query.Items[0]"),
                    champion.next(transform).next(score).next(record).next(decayed),
                )
                .otherwise(
                    sfn.Succeed(self, "NothingDeployed", comment="No model is deployed: nothing to evaluate")
                )
            )
        )
        self.state_machine = build_state_machine(
            self,
            "StateMachine",
            definition=definition,
            timeout=timeout,
            logs_key=logs_key,
            log_retention=log_retention,
            comment="Evaluate the deployed model on fresh data and retrain when it decayed",
        )
        self.schedule = events.Rule(
            self,
            "Schedule",
            description="Runs the evaluation workflow (off unless mlops.evaluation.schedule_enabled)",
            schedule=events.Schedule.rate(schedule_rate),
            enabled=schedule_enabled,
            targets=[
                targets.SfnStateMachine(self.state_machine, input=events.RuleTargetInput.from_object({}))
            ],
        )

    # -- steps, in the order the constructor creates them -----------------------------------------

    def _deployed_model(self, *, job_prefix: str) -> sfn.Pass:
        """`$.champion`: the deployed model and the name of this run's transform job."""
        return sfn.Pass(
            self,
            "DeployedModel",
            parameters={
                "model_name.$": "$.champion_query.Items[0].model_name.S",
                "transform_job_name.$": f"States.Format('{job_prefix}-{{}}-monitor', $.run.run_id)",
            },
            result_path="$.champion",
        )

    def _transform_fresh_data(
        self, *, transform_output_prefix: str, sagemaker_role: iam.IRole
    ) -> JoinedTransformJob:
        return evaluation_transform(
            self,
            "TransformFreshData",
            job_name=sfn.JsonPath.string_at("$.champion.transform_job_name"),
            model_name=sfn.JsonPath.string_at("$.champion.model_name"),
            output_uri=_predictions_uri(transform_output_prefix),
            role=sagemaker_role,
        )

    def _score(
        self, evaluate_predictions: lambda_.IFunction, *, transform_output_prefix: str, report_prefix: str
    ) -> sfn.TaskStateBase:
        # No champion to compare with: the deployed model is judged against the threshold alone.
        return invoke_lambda(
            self,
            "EvaluatePredictions",
            evaluate_predictions,
            payload={
                "predictions_uri": _predictions_uri(transform_output_prefix),
                "report_uri": sfn.JsonPath.format(
                    f"{report_prefix}{{}}/monitor-{{}}/",
                    sfn.JsonPath.string_at("$.champion.model_name"),
                    sfn.JsonPath.string_at("$.run.run_id"),
                ),
                "model_name": sfn.JsonPath.string_at("$.champion.model_name"),
                "metric": sfn.JsonPath.string_at("$.run.metric"),
                "tolerance": 0,
                "champion": None,
            },
            result_path="$.evaluation",
        )

    def _record_evaluation(self) -> tasks.DynamoUpdateItem:
        return self._append_evaluation(
            "RecordEvaluation",
            comment="Append this evaluation to the deployed model's history",
            entry={
                "data_uri": dynamo_string("$.run.data_uri"),
                "metrics": tasks.DynamoAttributeValue.map_from_json_path(
                    "$.evaluation.candidate.registry_metrics"
                ),
                "report_uri": dynamo_string("$.evaluation.candidate.report_uri"),
            },
            also_set={"last_evaluation_metric": dynamo_number("$.evaluation.candidate.metric")},
        )

    def _failure_handlers(self, notify_failure: sfn.IChainable) -> tuple[sfn.IChainable, sfn.IChainable]:
        """(before the deployed model is known, after): where the catches of each phase go."""
        # The champion stays DEPLOYED when its evaluation fails; the failure joins its history.
        record_failure = self._append_evaluation(
            "RecordEvaluationFailure",
            comment="Append the failed evaluation, with its error, to the deployed model's history",
            entry={
                "data_uri": dynamo_string("$.run.data_uri"),
                "error": dynamo_string(f"{ERROR_PATH}.Error"),
                "cause": dynamo_string(f"{ERROR_PATH}.Cause"),
            },
            also_set={},
        )
        catch_all(record_failure, notify_failure, result_path=HANDLER_ERROR_PATH)
        record_failure.next(notify_failure)
        # Before the deployed model is known there is no history to append the failure to.
        early_failure = guard_error_cause(self, "EarlyErrorHasCause", notify_failure)
        evaluation_failure = guard_error_cause(self, "ErrorHasCause", record_failure)
        return early_failure, evaluation_failure

    def _retrain(self, training_workflow: sfn.IStateMachine) -> tasks.StepFunctionsStartExecution:
        retrain = tasks.StepFunctionsStartExecution(
            self,
            "Retrain",
            comment="Train on old + new data; the training workflow's gate decides what gets deployed",
            state_machine=training_workflow,
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            input=sfn.TaskInput.from_object(
                {
                    "raw_data_uri": sfn.JsonPath.string_at("$.run.retrain_raw_data_uri"),
                    "reason": sfn.JsonPath.format(
                        "evaluation {}: {} {} below {} on {}",
                        sfn.JsonPath.execution_name,
                        sfn.JsonPath.string_at("$.run.metric"),
                        sfn.JsonPath.string_at("$.evaluation.candidate.metric"),
                        sfn.JsonPath.string_at("$.run.threshold"),
                        sfn.JsonPath.string_at("$.run.data_uri"),
                    ),
                }
            ),
            associate_with_parent=True,
            result_selector={"execution_arn.$": "$.ExecutionArn", "status.$": "$.Status"},
            result_path="$.retraining",
        )
        retry_transient(retrain, STEP_FUNCTIONS_TRANSIENT)
        return retrain

    def _decayed(self, retrain: sfn.TaskStateBase) -> sfn.Choice:
        return (
            sfn.Choice(self, "Decayed?", comment="Below the threshold on fresh data")
            .when(
                sfn.Condition.and_(
                    sfn.Condition.number_less_than_json_path(
                        "$.evaluation.candidate.metric", "$.run.threshold"
                    ),
                    sfn.Condition.boolean_equals("$.run.retrain", True),
                ),
                retrain.next(sfn.Succeed(self, "Retrained")),
            )
            .otherwise(sfn.Succeed(self, "ModelHealthy"))
        )

    def _append_evaluation(
        self,
        construct_id: str,
        *,
        comment: str,
        entry: dict[str, tasks.DynamoAttributeValue],
        also_set: dict[str, tasks.DynamoAttributeValue],
    ) -> tasks.DynamoUpdateItem:
        """Append one entry to the deployed model's `evaluations` list (never creating an item)."""
        assignments = [
            "evaluations = list_append(if_not_exists(evaluations, :empty), :entry)",
            "last_evaluated_at = :now",
        ]
        task = tasks.DynamoUpdateItem(
            self,
            construct_id,
            comment=comment,
            table=self._registry.table,
            key=self._registry.key(),
            update_expression="SET " + ", ".join([*assignments, *(f"{name} = :{name}" for name in also_set)]),
            condition_expression=ITEM_EXISTS_CONDITION,
            expression_attribute_values={
                ":empty": tasks.DynamoAttributeValue.from_list([]),
                ":now": dynamo_string(NOW),
                ":entry": tasks.DynamoAttributeValue.from_list(
                    [
                        tasks.DynamoAttributeValue.from_map(
                            {
                                "evaluated_at": dynamo_string(NOW),
                                "execution_arn": tasks.DynamoAttributeValue.from_string(
                                    sfn.JsonPath.execution_id
                                ),
                                **entry,
                            }
                        )
                    ]
                ),
                **{f":{name}": value for name, value in also_set.items()},
            },
            result_path=sfn.JsonPath.DISCARD,
        )
        retry_transient(task, DYNAMODB_TRANSIENT)
        return task


def _predictions_uri(transform_output_prefix: str) -> str:
    """Where TransformFreshData writes, and so where EvaluatePredictions reads."""
    return sfn.JsonPath.format(
        f"{transform_output_prefix}{{}}/", sfn.JsonPath.string_at("$.champion.transform_job_name")
    )
