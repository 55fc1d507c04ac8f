"""The training workflow: prepare, train, evaluate, gate, deploy — with a bounded retrain loop.

State data is documented in docs/architecture.md: `$.run` (validated input),
`$.attempt` (an `AttemptPlan`, read through `ATTEMPT`), `$.champion` (`{"present": false}` when
there is none), `$.training`, `$.compared` (what EvaluatePredictions is told about the champion),
`$.evaluation`, `$.endpoint`, `$.announcement` (the DEPLOYED message), `$.error`.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, Size
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from lambdas.attempt_state import ATTEMPT, ATTEMPT_PATH, TUNING_PARAMETER_RANGES
from lambdas.model_registry import ModelStatus
from training_code.contract import (
    ALL_CHANNELS,
    METRIC_DEFINITIONS,
    PREPROCESSING_ENTRY_POINT,
    TRAINING_CHANNELS,
    TUNING_OBJECTIVE,
)

from .deployment_entry import IN_TRAINING_WORKFLOW as DEPLOY
from .endpoint_deployment import EndpointDeployment, EndpointOptions, sagemaker_arn
from .sagemaker_tasks import (
    JoinedTransformJob,
    SpotTrainingJob,
    SyncJobState,
    evaluation_transform,
)
from .state_machine import build_state_machine
from .workflow_steps import (
    ERROR_PATH,
    HANDLER_ERROR_PATH,
    SAGEMAKER_SDK_TRANSIENT,
    SAGEMAKER_TRANSIENT,
    RegistrySteps,
    begin,
    catch_all,
    dynamo_number,
    dynamo_string,
    guard_error_cause,
    invoke_lambda,
    notify,
    notify_and_fail,
    retry_transient,
)

PROCESSING_ROOT = "/opt/ml/processing"
CODE_DIR = f"{PROCESSING_ROOT}/input/code"
RAW_DIR = f"{PROCESSING_ROOT}/input/raw"


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
        self._before_attempt_failure = guard_error_cause(self, "EarlyErrorHasCause", notify_failure)
        self._attempt_failure = guard_error_cause(self, "ErrorHasCause", record_failure)

        validate = invoke_lambda(
            self,
            "ValidateInput",
            validate_input,
            payload={"workflow": "training", "input": sfn.JsonPath.string_at("$$.Execution.Input")},
            result_path="$.run",
            failure=self._before_attempt_failure,
        )
        find_champion = self._find_champion()
        preprocess = self._preprocess()
        plan = invoke_lambda(
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
        record_training = self._record_training(code_version=code_version)
        train_or_tune = self._train_or_tune()
        create_model = self._create_model()
        record_trained = self._registry.set_status(
            "RecordTrained",
            ModelStatus.TRAINED,
            attributes={
                "model_data_url": dynamo_string("$.training.model_data_url"),
                "training_job_name": dynamo_string("$.training.training_job_name"),
                "training_metrics": tasks.DynamoAttributeValue.from_string(
                    sfn.JsonPath.json_to_string(sfn.JsonPath.object_at("$.training.final_metrics"))
                ),
            },
        )
        evaluate = self._evaluate(evaluate_predictions)
        record_evaluated = self._registry.set_status(
            "RecordEvaluated",
            ModelStatus.EVALUATED,
            attributes={
                "metrics": tasks.DynamoAttributeValue.map_from_json_path(
                    "$.evaluation.candidate.registry_metrics"
                ),
                "gate_metric": dynamo_number("$.evaluation.candidate.metric"),
                "evaluation_report_uri": dynamo_string("$.evaluation.candidate.report_uri"),
            },
        )
        deploy = EndpointDeployment(
            self, endpoint=endpoint, registry=self._registry, topic=topic, on_failure=self._attempt_failure
        ).entry
        rejected = self._rejection(plan)

        for state in (record_trained, record_evaluated):
            catch_all(state, self._attempt_failure)

        gate = self._quality_gate(passed=deploy, rejected=rejected)

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
            .next(gate)
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
        for custom in self._custom_states:
            for statement in custom.policy_statements:
                self.state_machine.add_to_role_policy(statement)

    # -- building blocks -------------------------------------------------------------------------

    def _record_training(self, *, code_version: str) -> sfn.Chain:
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

    def _find_champion(self) -> sfn.IChainable:
        query = self._registry.find_deployed("FindChampion", result_path="$.champion_query")
        catch_all(query, self._before_attempt_failure)
        present = sfn.Pass(
            self,
            "ChampionFound",
            parameters={
                "present": True,
                "model_name.$": "$.champion_query.Items[0].model_name.S",
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

    def _preprocess(self) -> SyncJobState:
        outputs = [
            {
                "OutputName": channel,
                "S3Output": {
                    "S3Uri.$": f"States.Format('{{}}{channel}/', $.run.data_uri)",
                    "LocalPath": f"{PROCESSING_ROOT}/{channel}",
                    "S3UploadMode": "EndOfJob",
                },
            }
            for channel in ALL_CHANNELS
        ]
        state = SyncJobState(
            self,
            "Preprocess",
            comment="Raw data → TFRecord channels + transform input, sharded across instances",
            result_selector={"job.$": "$.ProcessingJobName"},
            result_path="$.preprocessing",
            api_action="createProcessingJob",
            resource_type="processing-job",
            events_rule="StepFunctionsGetEventsForSageMakerProcessingJobsRule",
            passed_role=self._role,
            parameters={
                "ProcessingJobName.$": "States.Format('prep-{}', $.run.run_id)",
                "RoleArn": self._role.role_arn,
                "AppSpecification": {
                    "ImageUri": self._images.processing,
                    # Script mode's archive is reused: unpack it, then run the entry point.
                    "ContainerEntrypoint": [
                        "/bin/sh",
                        "-c",
                        f'cd {CODE_DIR} && tar -xzf *.gz && exec python3 {PREPROCESSING_ENTRY_POINT} "$@"',
                        "preprocess",
                    ],
                    "ContainerArguments": ["--input", RAW_DIR, "--output-dir", PROCESSING_ROOT],
                },
                "ProcessingInputs": [
                    _processing_input("code", CODE_DIR, sharded=False, S3Uri=self._code_uri),
                    # Each instance gets its share of the raw files.
                    _processing_input("raw", RAW_DIR, sharded=True, **{"S3Uri.$": "$.run.raw_data_uri"}),
                ],
                "ProcessingOutputConfig": {"Outputs": outputs},
                "ProcessingResources": {
                    "ClusterConfig": {
                        "InstanceCount.$": "$.run.processing.instance_count",
                        "InstanceType.$": "$.run.processing.instance_type",
                        "VolumeSizeInGB": 30,
                    }
                },
                "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
            },
        )
        return self._handled(state, failure=self._before_attempt_failure)

    def _handled(self, state: SyncJobState, *, failure: sfn.IChainable) -> SyncJobState:
        """Retry, catch, and remember the job's IAM statements for the state machine's role."""
        retry_transient(state, SAGEMAKER_TRANSIENT, interval_seconds=30)
        catch_all(state, failure)
        self._custom_states.append(state)
        return state

    def _train_or_tune(self) -> sfn.IChainable:
        train = SpotTrainingJob(
            self,
            "Train",
            attempt_path=ATTEMPT_PATH,
            training_path="$.run.training",
            training_job_name=sfn.JsonPath.string_at(ATTEMPT.training_job_name),
            role=self._role,
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            algorithm_specification=tasks.AlgorithmSpecification(
                training_image=tasks.DockerImage.from_registry(self._images.training),
                training_input_mode=tasks.InputMode.FILE,
                metric_definitions=[
                    tasks.MetricDefinition(name=d["Name"], regex=d["Regex"]) for d in METRIC_DEFINITIONS
                ],
            ),
            input_data_config=[_channel(name) for name in TRAINING_CHANNELS],
            output_data_config=tasks.OutputDataConfig(
                s3_output_location=tasks.S3Location.from_json_expression(ATTEMPT.training_output_uri)
            ),
            resource_config=tasks.ResourceConfig(
                instance_count=sfn.JsonPath.number_at("$.run.training.instance_count"),
                instance_type=ec2.InstanceType(sfn.JsonPath.string_at("$.run.training.instance_type")),
                volume_size=Size.gibibytes(30),
            ),
            # The whole DescribeTrainingJob output; SummarizeTraining keeps what later states read.
            result_path="$.training",
        )
        retry_transient(train, SAGEMAKER_TRANSIENT, interval_seconds=30)
        catch_all(train, self._attempt_failure)

        tune = SyncJobState(
            self,
            "Tune",
            comment="Bayesian search over learning rate, batch size and epochs",
            # The whole DescribeHyperParameterTuningJob output: BestTrainingJob is optional in it.
            result_selector=None,
            result_path="$.tuning",
            api_action="createHyperParameterTuningJob",
            resource_type="hyper-parameter-tuning-job",
            events_rule="StepFunctionsGetEventsForSageMakerTuningJobsRule",
            passed_role=self._role,
            parameters=self._tuning_parameters(),
        )
        self._handled(tune, failure=self._attempt_failure)
        describe_best = tasks.CallAwsService(
            self,
            "DescribeBestTrainingJob",
            service="sagemaker",
            action="describeTrainingJob",
            parameters={"TrainingJobName.$": "$.tuning.BestTrainingJob.TrainingJobName"},
            iam_resources=[sagemaker_arn(self, "training-job", "*")],
            result_path="$.training",
        )
        retry_transient(describe_best, SAGEMAKER_SDK_TRANSIENT)
        catch_all(describe_best, self._attempt_failure)
        no_best = sfn.Pass(
            self,
            "NoBestTrainingJob",
            parameters={
                "Error": "NoBestTrainingJob",
                "Cause.$": (
                    f"States.Format('Tuning job {{}} has no best training job', {ATTEMPT.tuning_job_name})"
                ),
            },
            result_path=ERROR_PATH,
        ).next(self._attempt_failure)
        best_found = (
            sfn.Choice(self, "BestTrainingJobFound?")
            .when(sfn.Condition.is_present("$.tuning.BestTrainingJob.TrainingJobName"), describe_best)
            .otherwise(no_best)
        )
        tune_chain = sfn.Chain.start(tune).next(best_found)
        return (
            sfn.Choice(self, "TuningRequested?")
            .when(sfn.Condition.boolean_equals("$.run.tuning.enabled", True), tune_chain)
            .otherwise(train)
            .afterwards()
            .next(self._training_summary())
        )

    def _training_summary(self) -> sfn.IChainable:
        """`$.training` becomes the summary later states read, whether or not metrics were reported.

        FinalMetricDataList is optional in DescribeTrainingJob (a job whose regexes matched
        nothing has none); reading it unguarded would raise States.Runtime, which no Catch handles.
        """
        summary = {
            "training_job_name.$": "$.TrainingJobName",
            "model_data_url.$": "$.ModelArtifacts.S3ModelArtifacts",
        }
        with_metrics = sfn.Pass(
            self,
            "SummarizeTraining",
            input_path="$.training",
            parameters={**summary, "final_metrics.$": "$.FinalMetricDataList"},
            result_path="$.training",
        )
        without_metrics = sfn.Pass(
            self,
            "SummarizeTrainingWithoutMetrics",
            input_path="$.training",
            parameters={**summary, "final_metrics": []},
            result_path="$.training",
        )
        return (
            sfn.Choice(self, "MetricsReported?")
            .when(sfn.Condition.is_present("$.training.FinalMetricDataList"), with_metrics)
            .otherwise(without_metrics)
            .afterwards()
        )

    def _tuning_parameters(self) -> dict:
        # Training-job definition for each tuning trial: same container, channels and metrics.
        return {
            "HyperParameterTuningJobName.$": ATTEMPT.tuning_job_name,
            "HyperParameterTuningJobConfig": {
                "Strategy": "Bayesian",
                "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": TUNING_OBJECTIVE},
                "ResourceLimits": {
                    "MaxNumberOfTrainingJobs.$": "$.run.tuning.max_jobs",
                    "MaxParallelTrainingJobs.$": "$.run.tuning.max_parallel_jobs",
                },
                "ParameterRanges": TUNING_PARAMETER_RANGES,
            },
            "TrainingJobDefinition": {
                "StaticHyperParameters.$": ATTEMPT.static_hyperparameters,
                "AlgorithmSpecification": {
                    "TrainingImage": self._images.training,
                    "TrainingInputMode": "File",
                    "MetricDefinitions": [dict(d) for d in METRIC_DEFINITIONS],
                },
                "RoleArn": self._role.role_arn,
                "InputDataConfig": [
                    {
                        "ChannelName": name,
                        "DataSource": {
                            "S3DataSource": {
                                "S3DataType": "S3Prefix",
                                "S3Uri.$": f"States.Format('{{}}{name}/', $.run.data_uri)",
                                "S3DataDistributionType": "FullyReplicated",
                            }
                        },
                    }
                    for name in TRAINING_CHANNELS
                ],
                "OutputDataConfig": {"S3OutputPath.$": ATTEMPT.training_output_uri},
                "ResourceConfig": {
                    "InstanceCount.$": "$.run.training.instance_count",
                    "InstanceType.$": "$.run.training.instance_type",
                    "VolumeSizeInGB.$": "$.run.training.volume_size_gb",
                },
                "StoppingCondition.$": ATTEMPT.stopping_condition,
                "EnableManagedSpotTraining.$": "$.run.training.use_spot",
            },
        }

    def _create_model(self) -> tasks.SageMakerCreateModel:
        task = tasks.SageMakerCreateModel(
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

    def _transform(
        self, construct_id: str, *, job_name_path: str, model_name_path: str, output_path: str
    ) -> JoinedTransformJob:
        return evaluation_transform(
            self,
            construct_id,
            job_name=sfn.JsonPath.string_at(job_name_path),
            model_name=sfn.JsonPath.string_at(model_name_path),
            output_uri=sfn.JsonPath.string_at(output_path),
            role=self._role,
        )

    def _evaluate(self, evaluate_predictions: lambda_.IFunction) -> sfn.IChainable:
        candidate = self._transform(
            "TransformCandidate",
            job_name_path=ATTEMPT.transform_job_name,
            model_name_path=ATTEMPT.model_name,
            output_path=ATTEMPT.transform_output_uri,
        )
        champion = self._transform(
            "TransformChampion",
            job_name_path=ATTEMPT.champion_transform_job_name,
            model_name_path="$.champion.model_name",
            output_path=ATTEMPT.champion_transform_output_uri,
        )
        # The branch's output is what EvaluatePredictions is told about the champion.
        champion_predictions = sfn.Pass(
            self,
            "ChampionPredictions",
            parameters={
                "present": True,
                "model_name.$": "$.champion.model_name",
                "predictions_uri.$": ATTEMPT.champion_transform_output_uri,
            },
        )
        champion_branch = (
            sfn.Choice(self, "CompareWithChampion?")
            .when(
                sfn.Condition.boolean_equals("$.champion.present", True), champion.next(champion_predictions)
            )
            .otherwise(sfn.Pass(self, "NoChampionToCompare", parameters={"present": False}))
        )
        both = sfn.Parallel(
            self,
            "Evaluate",
            comment="Score candidate and champion on the same held-out data",
            result_selector={"champion.$": "$[1]"},
            result_path="$.compared",
        )
        both.branch(candidate)
        both.branch(champion_branch)
        catch_all(both, self._attempt_failure)
        score = invoke_lambda(
            self,
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
            failure=self._attempt_failure,
        )
        return both.next(score)

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

    def _rejection(self, plan: sfn.IChainable) -> sfn.IChainable:
        record = self._registry.set_status(
            "RecordRejected",
            ModelStatus.REJECTED,
            attributes={
                "rejection": tasks.DynamoAttributeValue.from_string(
                    sfn.JsonPath.format(
                        "{} {} below the gate",
                        sfn.JsonPath.string_at("$.run.gate.metric"),
                        sfn.JsonPath.string_at("$.evaluation.candidate.metric"),
                    )
                )
            },
        )
        catch_all(record, self._attempt_failure)
        retry = sfn.Pass(
            self,
            "NextAttempt",
            parameters={"value.$": f"States.MathAdd({ATTEMPT.number}, 1)"},
            result_path="$.next",
        )
        reshape = sfn.Pass(
            self, "CarryAttemptNumber", input_path="$.next.value", result_path="$.next_attempt"
        )
        give_up = notify(
            self,
            "NotifyRejected",
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
        )
        fail = sfn.Fail(
            self,
            "ModelRejected",
            error="ModelRejected",
            cause="No attempt passed the quality gate within max_attempts",
        )
        catch_all(give_up, fail, result_path=HANDLER_ERROR_PATH)
        return record.next(
            sfn.Choice(self, "AttemptsLeft?", comment="Bounded retrain loop")
            .when(
                sfn.Condition.number_less_than_json_path(ATTEMPT.number, "$.run.gate.max_attempts"),
                retry.next(reshape).next(plan),
            )
            .otherwise(give_up.next(fail))
        )


def _channel(name: str) -> tasks.Channel:
    return tasks.Channel(
        channel_name=name,
        data_source=tasks.DataSource(
            s3_data_source=tasks.S3DataSource(
                s3_location=tasks.S3Location.from_json_expression(
                    f"States.Format('{{}}{name}/', $.run.data_uri)"
                ),
                s3_data_distribution_type=tasks.S3DataDistributionType.FULLY_REPLICATED,
            )
        ),
    )


def _processing_input(name: str, local_path: str, *, sharded: bool, **uri: str) -> dict:
    """A ProcessingInput; `uri` is `S3Uri=...` or, from the state data, `**{"S3Uri.$": path}`."""
    return {
        "InputName": name,
        "S3Input": {
            **uri,
            "LocalPath": local_path,
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": "ShardedByS3Key" if sharded else "FullyReplicated",
        },
    }
