"""The SageMaker jobs of the training workflow: preprocessing, and training or tuning.

Each builder creates its states in the caller's scope, so construct ids and state names are the
workflow's own. Job states built from raw API parameters (`SyncJobState`) are returned to the
caller, which grants their IAM statements to the state machine's role once it exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Size
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from contract import (
    ALL_CHANNELS,
    METRIC_DEFINITIONS,
    PREPROCESSING_ENTRY_POINT,
    TRAINING_CHANNELS,
    TUNING_OBJECTIVE,
)
from lambdas.attempt_state import ATTEMPT, TUNING_PARAMETER_RANGES

from .endpoint_deployment import sagemaker_arn
from .sagemaker_tasks import SpotTrainingJob, SyncJobState
from .step_cache import CachedStep, StepCache
from .workflow_steps import (
    ERROR_PATH,
    SAGEMAKER_SDK_TRANSIENT,
    SAGEMAKER_TRANSIENT,
    catch_all,
    retry_transient,
)

PROCESSING_ROOT = "/opt/ml/processing"
CODE_DIR = f"{PROCESSING_ROOT}/input/code"
RAW_DIR = f"{PROCESSING_ROOT}/input/raw"


@dataclass(frozen=True)
class TrainOrTune:
    """The train-or-tune branch, ending with `$.training` summarized."""

    chain: sfn.IChainable
    tune: SyncJobState


def preprocess(
    scope: Construct, *, role: iam.IRole, processing_image: str, code_uri: str, on_failure: sfn.IChainable
) -> SyncJobState:
    """Raw data → the training channels, as one SageMaker processing job."""
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
        scope,
        "Preprocess",
        comment="Raw data → TFRecord channels + transform input, sharded across instances",
        result_selector={"job.$": "$.ProcessingJobName"},
        result_path="$.preprocessing",
        api_action="createProcessingJob",
        resource_type="processing-job",
        events_rule="StepFunctionsGetEventsForSageMakerProcessingJobsRule",
        passed_role=role,
        parameters={
            "ProcessingJobName.$": "States.Format('prep-{}', $.run.run_id)",
            "RoleArn": role.role_arn,
            "AppSpecification": {
                "ImageUri": processing_image,
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
                _processing_input("code", CODE_DIR, sharded=False, S3Uri=code_uri),
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
    return _handled(state, failure=on_failure)


def train_or_tune(
    scope: Construct,
    *,
    cache: StepCache,
    role: iam.IRole,
    training_image: str,
    code_version: str,
    on_failure: sfn.IChainable,
) -> TrainOrTune:
    """One training job, or a tuning job and its best trial, as `run.tuning.enabled` says; skipped
    when the same training (or tuning) on the same data was done before."""
    train = _train(scope, role=role, training_image=training_image, on_failure=on_failure)
    tune, tune_chain = _tune(scope, role=role, training_image=training_image, on_failure=on_failure)
    job = (
        sfn.Choice(scope, "TuningRequested?")
        .when(sfn.Condition.boolean_equals("$.run.tuning.enabled", True), tune_chain)
        .otherwise(train)
        .afterwards()
        .next(_training_summary(scope))
    )
    summary = "$.training"
    chain = cache.around(
        CachedStep(
            name="Training",
            step="training",
            request={
                "image": training_image,
                "code_version": code_version,
                "hyperparameters": sfn.JsonPath.object_at(ATTEMPT.hyperparameters),
                "instance_type": sfn.JsonPath.string_at("$.run.training.instance_type"),
                "instance_count": sfn.JsonPath.number_at("$.run.training.instance_count"),
                # Ignored by the key unless tuning.enabled (lambdas/step_cache_key.py).
                "tuning": sfn.JsonPath.object_at("$.run.tuning"),
                "search_space": TUNING_PARAMETER_RANGES,
                "metric_definitions": [dict(d) for d in METRIC_DEFINITIONS],
            },
            inputs={
                name: sfn.JsonPath.format(f"{{}}{name}/", sfn.JsonPath.string_at("$.run.data_uri"))
                for name in TRAINING_CHANNELS
            },
            result_path=summary,
            fresh_result={
                "training_job_name.$": f"{summary}.training_job_name",
                "model_data_url.$": f"{summary}.model_data_url",
                "final_metrics.$": f"{summary}.final_metrics",
                "source_job.$": f"{summary}.training_job_name",
            },
            artifact="model_data_url",
        ),
        job,
    )
    return TrainOrTune(chain=chain, tune=tune)


def _train(
    scope: Construct, *, role: iam.IRole, training_image: str, on_failure: sfn.IChainable
) -> SpotTrainingJob:
    train = SpotTrainingJob(
        scope,
        "Train",
        attempt=ATTEMPT,
        training_path="$.run.training",
        training_job_name=sfn.JsonPath.string_at(ATTEMPT.training_job_name),
        role=role,
        integration_pattern=sfn.IntegrationPattern.RUN_JOB,
        algorithm_specification=tasks.AlgorithmSpecification(
            training_image=tasks.DockerImage.from_registry(training_image),
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
    catch_all(train, on_failure)
    return train


def _tune(
    scope: Construct, *, role: iam.IRole, training_image: str, on_failure: sfn.IChainable
) -> tuple[SyncJobState, sfn.Chain]:
    """(the tuning job, the chain from it to its best trial's DescribeTrainingJob in `$.training`)."""
    tune = SyncJobState(
        scope,
        "Tune",
        comment="Bayesian search over learning rate, batch size and epochs",
        # The whole DescribeHyperParameterTuningJob output: BestTrainingJob is optional in it.
        result_selector=None,
        result_path="$.tuning",
        api_action="createHyperParameterTuningJob",
        resource_type="hyper-parameter-tuning-job",
        events_rule="StepFunctionsGetEventsForSageMakerTuningJobsRule",
        passed_role=role,
        parameters=_tuning_parameters(role=role, training_image=training_image),
        model_name_path=ATTEMPT.model_name,  # its trials train the attempt's model
    )
    _handled(tune, failure=on_failure)
    describe_best = tasks.CallAwsService(
        scope,
        "DescribeBestTrainingJob",
        service="sagemaker",
        action="describeTrainingJob",
        parameters={"TrainingJobName.$": "$.tuning.BestTrainingJob.TrainingJobName"},
        iam_resources=[sagemaker_arn(scope, "training-job", "*")],
        result_path="$.training",
    )
    retry_transient(describe_best, SAGEMAKER_SDK_TRANSIENT)
    catch_all(describe_best, on_failure)
    no_best = sfn.Pass(
        scope,
        "NoBestTrainingJob",
        parameters={
            "Error": "NoBestTrainingJob",
            "Cause.$": (
                f"States.Format('Tuning job {{}} has no best training job', {ATTEMPT.tuning_job_name})"
            ),
        },
        result_path=ERROR_PATH,
    ).next(on_failure)
    best_found = (
        sfn.Choice(scope, "BestTrainingJobFound?")
        .when(sfn.Condition.is_present("$.tuning.BestTrainingJob.TrainingJobName"), describe_best)
        .otherwise(no_best)
    )
    return tune, sfn.Chain.start(tune).next(best_found)


def _training_summary(scope: Construct) -> sfn.IChainable:
    """`$.training` becomes the summary later states read, whether or not metrics were reported.

    FinalMetricDataList is optional in DescribeTrainingJob (a job whose regexes matched
    nothing has none); reading it unguarded would raise States.Runtime, which no Catch handles.
    """
    summary = {
        "training_job_name.$": "$.TrainingJobName",
        "model_data_url.$": "$.ModelArtifacts.S3ModelArtifacts",
    }
    with_metrics = sfn.Pass(
        scope,
        "SummarizeTraining",
        input_path="$.training",
        parameters={**summary, "final_metrics.$": "$.FinalMetricDataList"},
        result_path="$.training",
    )
    without_metrics = sfn.Pass(
        scope,
        "SummarizeTrainingWithoutMetrics",
        input_path="$.training",
        parameters={**summary, "final_metrics": []},
        result_path="$.training",
    )
    return (
        sfn.Choice(scope, "MetricsReported?")
        .when(sfn.Condition.is_present("$.training.FinalMetricDataList"), with_metrics)
        .otherwise(without_metrics)
        .afterwards()
    )


def _tuning_parameters(*, role: iam.IRole, training_image: str) -> dict:
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
                "TrainingImage": training_image,
                "TrainingInputMode.$": "$.run.training.input_mode",
                "MetricDefinitions": [dict(d) for d in METRIC_DEFINITIONS],
            },
            "RoleArn": role.role_arn,
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


def _handled(state: SyncJobState, *, failure: sfn.IChainable) -> SyncJobState:
    """Retry a long-running job's transient failures, and catch the rest."""
    retry_transient(state, SAGEMAKER_TRANSIENT, interval_seconds=30)
    catch_all(state, failure)
    return state


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
