"""The training workflow: prepare, train, evaluate, gate, deploy — with a bounded retrain loop.

State data is documented in docs/architecture.md: `$.run` (validated input),
`$.attempt` (an `AttemptPlan`, read through `ATTEMPT`), `$.champion` (`{"present": false}` when
there is none), `$.training`, `$.compared` (what EvaluatePredictions is told about the champion),
`$.evaluation`, `$.approval` (manual approval's decision), `$.endpoint`, `$.announcement` (the
DEPLOYED message), `$.error`.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from lambdas.attempt_state import ATTEMPT, ATTEMPT_PATH
from lambdas.model_registry import REJECTION, ModelStatus

from .approval_gate import ApprovalGate
from .cached_preprocessing import cached_preprocess
from .champion_comparison import evaluate_against_champion, unless_same_as_champion
from .deployment_entry import IN_TRAINING_WORKFLOW as DEPLOY
from .endpoint_deployment import EndpointDeployment, EndpointOptions
from .sagemaker_tasks import SyncJobState, TaggedModel
from .state_machine import build_state_machine
from .step_cache import StepCache
from .training_jobs import train_or_tune
from .workflow_steps import (
    ERROR_PATH,
    HANDLER_ERROR_PATH,
    SAGEMAKER_TRANSIENT,
    RegistrySteps,
    begin,
    catch_all,
    dynamo_format,
    dynamo_number,
    dynamo_string,
    guard_error_cause,
    invoke_lambda,
    notify_and_fail,
    notify_rejected_and_fail,
    retry_transient,
)


@dataclass(frozen=True)
class ImageUris:
    training: str
    processing: str
    inference: str


class TrainingWorkflow(Construct):
    """State machine 1 (see module docstring); exposes `state_machine`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        validate_input: lambda_.IFunction,
        plan_attempt: lambda_.IFunction,
        evaluate_predictions: lambda_.IFunction,
        request_approval: lambda_.IFunction,
        step_cache: lambda_.IFunction,
        registry_table: dynamodb.ITable,
        topic: sns.ITopic,
        sagemaker_role: iam.IRole,
        images: ImageUris,
        code_uri: str,
        code_version: str,
        endpoint: EndpointOptions,
        timeout: Duration,
        logs_key: kms.IKey,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self._role = sagemaker_role
        self._images = images
        self._code_uri = code_uri
        self._code_version = code_version
        self._topic = topic
        self._registry = RegistrySteps(self, table=registry_table, model_name_path=ATTEMPT.model_name)
        self._custom_states: list[SyncJobState] = []

        self._before_attempt_failure, self._attempt_failure = self._failure_handlers(topic)
        # Cached jobs before the attempt's registry item exists (preprocessing), and after.
        self._cache_before_attempt = StepCache(
            self, function=step_cache, on_failure=self._before_attempt_failure
        )
        self._cache = StepCache(self, function=step_cache, on_failure=self._attempt_failure)
        # Inside the Evaluate Parallel a Catch cannot leave its branch: the Parallel's catches.
        self._cache_in_parallel = StepCache(self, function=step_cache, on_failure=None)

        validate = self._validate(validate_input)
        find_champion = self._find_champion()
        preprocess = self._preprocess()
        plan = self._plan(plan_attempt)
        record_training = self._record_training()
        train_or_tune = self._train_or_tune()
        create_model = self._create_model()
        record_trained = self._record_trained()
        evaluate = self._evaluate(evaluate_predictions)
        record_evaluated = self._record_evaluated()
        deploy = self._deploy(endpoint)
        approval = ApprovalGate(
            self,
            "Approval",
            request_approval=request_approval,
            registry=self._registry,
            topic=topic,
            deploy=deploy,
            on_failure=self._attempt_failure,
        )
        rejected = self._rejection(plan)
        gate = self._quality_gate(passed=approval.entry, rejected=rejected)
        # A candidate that is the deployed champion itself (a training cache hit on its job) ends here.
        new_model = unless_same_as_champion(
            self, registry=self._registry, on_failure=self._attempt_failure, otherwise=gate
        )

        definition = (
            begin(self)
            .next(validate)
            .next(find_champion)
            .next(
                sfn.Choice(self, "RawDataGiven?", comment="Preprocess when the input names raw data")
                .when(sfn.Condition.boolean_equals("$.run.preprocess", True), preprocess)
                .afterwards(include_otherwise=True)
            )
            .next(
                sfn.Pass(self, "FirstAttempt", result=sfn.Result.from_number(1), result_path="$.next_attempt")
            )
            .next(plan)
            .next(record_training)
            .next(train_or_tune)
            .next(create_model)
            .next(record_trained)
            .next(evaluate)
            .next(record_evaluated)
            .next(new_model)
        )
        self.state_machine = build_state_machine(
            self,
            "StateMachine",
            definition=definition,
            timeout=timeout,
            logs_key=logs_key,
            log_retention=log_retention,
            comment="Train, evaluate, gate and deploy a TensorFlow model",
        )
        # A CustomState brings no IAM of its own: grant what Step Functions documents for each job.
        for custom in self._custom_states:
            for statement in custom.policy_statements:
                self.state_machine.add_to_role_policy(statement)

    # -- steps, in the order the constructor creates them -----------------------------------------

    def _failure_handlers(self, topic: sns.ITopic) -> tuple[sfn.IChainable, sfn.IChainable]:
        """(before the attempt's registry item exists, after): where the catches of each phase go."""
        notify_failure = notify_and_fail(self, topic=topic, workflow="training", fail_id="WorkflowFailed")
        record_failure = self._registry.set_status(
            "RecordFailure",
            ModelStatus.FAILED,
            attributes={
                "failure_error": tasks.DynamoAttributeValue.from_string(
                    sfn.JsonPath.string_at(f"{ERROR_PATH}.Error")
                ),
                "failure_cause": tasks.DynamoAttributeValue.from_string(
                    sfn.JsonPath.string_at(f"{ERROR_PATH}.Cause")
                ),
            },
        )
        catch_all(record_failure, notify_failure, result_path=HANDLER_ERROR_PATH)
        record_failure.next(notify_failure)
        # Before PlanAttempt + RecordTraining there is no registry item for this attempt to mark FAILED.
        before_attempt = guard_error_cause(self, "EarlyErrorHasCause", notify_failure)
        return before_attempt, guard_error_cause(self, "ErrorHasCause", record_failure)

    def _validate(self, validate_input: lambda_.IFunction) -> tasks.LambdaInvoke:
        return invoke_lambda(
            self,
            "ValidateInput",
            validate_input,
            payload={"workflow": "training", "input": sfn.JsonPath.string_at("$$.Execution.Input")},
            result_path="$.run",
            failure=self._before_attempt_failure,
        )

    def _find_champion(self) -> sfn.IChainable:
        query = self._registry.find_deployed("FindChampion", result_path="$.champion_query")
        catch_all(query, self._before_attempt_failure)
        present = sfn.Pass(
            self,
            "ChampionFound",
            parameters={
                "present": True,
                "model_name.$": "$.champion_query.Items[0].model_name.S",
                # The champion's predictions are cached by its artifact, not by its name.
                "model_data_url.$": "$.champion_query.Items[0].model_data_url.S",
            },
            result_path="$.champion",
        )
        absent = sfn.Pass(
            self, "NoChampion", parameters={"present": False, "model_name": None}, result_path="$.champion"
        )
        choice = (
            sfn.Choice(self, "ChampionDeployed?")
            .when(sfn.Condition.is_present("$.champion_query.Items[0]"), present)
            .otherwise(absent)
            .afterwards()
        )
        return query.next(choice)

    def _preprocess(self) -> sfn.IChainable:
        preprocessing = cached_preprocess(
            self,
            cache=self._cache_before_attempt,
            role=self._role,
            processing_image=self._images.processing,
            code_uri=self._code_uri,
            code_version=self._code_version,
            on_failure=self._before_attempt_failure,
        )
        self._custom_states.append(preprocessing.job)
        return preprocessing.chain

    def _plan(self, plan_attempt: lambda_.IFunction) -> tasks.LambdaInvoke:
        """`$.attempt` for attempt `$.next_attempt`; the retrain loop comes back here."""
        return invoke_lambda(
            self,
            "PlanAttempt",
            plan_attempt,
            payload={
                "run": sfn.JsonPath.object_at("$.run"),
                "attempt": sfn.JsonPath.number_at("$.next_attempt"),
            },
            result_path=ATTEMPT_PATH,
            failure=self._before_attempt_failure,
        )

    def _record_training(self) -> sfn.Chain:
        """The attempt's registry item, TRAINING; its lineage names the champion when there is one."""
        item = {
            "run_id": dynamo_string("$.run.run_id"),
            "attempt": dynamo_number(ATTEMPT.number),
            "execution_arn": dynamo_string("$$.Execution.Id"),
            "training_job_name": dynamo_string(ATTEMPT.training_job_name),
            "hyperparameters": tasks.DynamoAttributeValue.from_string(
                sfn.JsonPath.json_to_string(sfn.JsonPath.object_at(ATTEMPT.hyperparameters))
            ),
            "data_uri": dynamo_string("$.run.data_uri"),
            "code_version": tasks.DynamoAttributeValue.from_string(self._code_version),
            "image_uri": tasks.DynamoAttributeValue.from_string(self._images.inference),
        }
        reason = {"reason": dynamo_string("$.run.reason")}
        with_lineage = self._registry.put_new_model(
            "RecordTraining",
            item={**item, "champion_at_training": dynamo_string("$.champion.model_name"), **reason},
        )
        # The first model has no champion: its item has no champion_at_training at all.
        without_lineage = self._registry.put_new_model("RecordFirstModelTraining", item={**item, **reason})
        for put in (with_lineage, without_lineage):
            catch_all(put, self._before_attempt_failure)
        return (
            sfn.Choice(self, "ChampionAtTraining?")
            .when(sfn.Condition.boolean_equals("$.champion.present", True), with_lineage)
            .otherwise(without_lineage)
            .afterwards()
        )

    def _train_or_tune(self) -> sfn.IChainable:
        branch = train_or_tune(
            self,
            cache=self._cache,
            role=self._role,
            training_image=self._images.training,
            code_version=self._code_version,
            on_failure=self._attempt_failure,
        )
        self._custom_states.append(branch.tune)
        return branch.chain

    def _create_model(self) -> tasks.SageMakerCreateModel:
        task = TaggedModel(
            self,
            "CreateModel",
            model_name=sfn.JsonPath.string_at(DEPLOY.model_name),
            role=self._role,
            primary_container=tasks.ContainerDefinition(
                image=tasks.DockerImage.from_registry(self._images.inference),
                model_s3_location=tasks.S3Location.from_json_expression(DEPLOY.model_data_url),
                mode=tasks.Mode.SINGLE_MODEL,
            ),
            result_path=sfn.JsonPath.DISCARD,
        )
        retry_transient(task, SAGEMAKER_TRANSIENT)
        catch_all(task, self._attempt_failure)
        return task

    def _record_trained(self) -> tasks.DynamoUpdateItem:
        return self._caught(
            self._registry.set_status(
                "RecordTrained",
                ModelStatus.TRAINED,
                attributes={
                    "model_data_url": dynamo_string("$.training.model_data_url"),
                    "training_job_name": dynamo_string("$.training.training_job_name"),
                    "training_metrics": tasks.DynamoAttributeValue.from_string(
                        sfn.JsonPath.json_to_string(sfn.JsonPath.object_at("$.training.final_metrics"))
                    ),
                    # A step-cache hit: training_job_name is the job whose model this reuses.
                    "training_reused": tasks.DynamoAttributeValue.boolean_from_json_path(
                        sfn.JsonPath.string_at("$.training.reused")
                    ),
                },
            )
        )

    def _evaluate(self, evaluate_predictions: lambda_.IFunction) -> sfn.IChainable:
        return evaluate_against_champion(
            self,
            role=self._role,
            evaluate_predictions=evaluate_predictions,
            cache=self._cache_in_parallel,
            inference_image=self._images.inference,
            on_failure=self._attempt_failure,
        )

    def _record_evaluated(self) -> tasks.DynamoUpdateItem:
        return self._caught(
            self._registry.set_status(
                "RecordEvaluated",
                ModelStatus.EVALUATED,
                attributes={
                    "metrics": tasks.DynamoAttributeValue.map_from_json_path(
                        "$.evaluation.candidate.registry_metrics"
                    ),
                    "gate_metric": dynamo_number("$.evaluation.candidate.metric"),
                    "evaluation_report_uri": dynamo_string("$.evaluation.candidate.report_uri"),
                    # Whose transform output was scored: a step-cache hit names an earlier job.
                    "evaluation_reused": tasks.DynamoAttributeValue.boolean_from_json_path(
                        sfn.JsonPath.string_at("$.compared.candidate.reused")
                    ),
                    "evaluation_transform_job": dynamo_string("$.compared.candidate.source_job"),
                },
            )
        )

    def _deploy(self, endpoint: EndpointOptions) -> sfn.IChainable:
        return EndpointDeployment(
            self,
            endpoint=endpoint,
            registry=self._registry,
            topic=self._topic,
            on_failure=self._attempt_failure,
        ).entry

    def _rejection(self, plan: sfn.IChainable) -> sfn.IChainable:
        record = self._registry.set_status(
            "RecordRejected",
            ModelStatus.REJECTED,
            attributes={
                REJECTION: dynamo_format(
                    "{} {} below the gate", "$.run.gate.metric", "$.evaluation.candidate.metric"
                )
            },
            failure=self._attempt_failure,
        )
        retry = sfn.Pass(
            self,
            "NextAttempt",
            parameters={"value.$": f"States.MathAdd({ATTEMPT.number}, 1)"},
            result_path="$.next",
        )
        reshape = sfn.Pass(
            self, "CarryAttemptNumber", input_path="$.next.value", result_path="$.next_attempt"
        )
        give_up = notify_rejected_and_fail(
            self,
            notify_id="NotifyRejected",
            topic=self._topic,
            subject="ML pipeline: model rejected",
            message={
                "event": "REJECTED",
                "execution": sfn.JsonPath.execution_id,
                "model_name": sfn.JsonPath.string_at(ATTEMPT.model_name),
                "metric": sfn.JsonPath.string_at("$.run.gate.metric"),
                "value": sfn.JsonPath.number_at("$.evaluation.candidate.metric"),
                "threshold": sfn.JsonPath.number_at("$.run.gate.threshold"),
                "attempts": sfn.JsonPath.number_at(ATTEMPT.number),
            },
            fail_id="ModelRejected",
            cause="No attempt passed the quality gate within max_attempts",
        )
        return record.next(
            sfn.Choice(self, "AttemptsLeft?", comment="Bounded retrain loop")
            .when(
                sfn.Condition.number_less_than_json_path(ATTEMPT.number, "$.run.gate.max_attempts"),
                retry.next(reshape).next(plan),
            )
            .otherwise(give_up)
        )

    def _quality_gate(self, *, passed: sfn.IChainable, rejected: sfn.IChainable) -> sfn.IChainable:
        beats_champion = (
            sfn.Choice(self, "AtLeastAsGoodAsChampion?")
            .when(sfn.Condition.is_not_present("$.evaluation.champion.floor"), passed)
            .when(
                sfn.Condition.number_greater_than_equals_json_path(
                    "$.evaluation.candidate.metric", "$.evaluation.champion.floor"
                ),
                passed,
            )
            .otherwise(rejected)
        )
        return (
            sfn.Choice(
                self, "QualityGate", comment="Metric reaches the threshold and does not lose to the champion"
            )
            .when(
                sfn.Condition.number_greater_than_equals_json_path(
                    "$.evaluation.candidate.metric", "$.run.gate.threshold"
                ),
                beats_champion,
            )
            .otherwise(rejected)
        )

    def _caught(self, state: tasks.DynamoUpdateItem) -> tasks.DynamoUpdateItem:
        catch_all(state, self._attempt_failure)
        return state
