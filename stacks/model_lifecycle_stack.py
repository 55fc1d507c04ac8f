"""The whole life cycle of one TensorFlow model, as one stack.

This file only composes: it builds the components, passes each the narrow values
it needs, and does the grants between them, so it reads like the architecture.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from contract import TRAINING_ENTRY_POINT
from lambdas.approval_request import REGISTRY_TABLE_ENV, TOPIC_ARN_ENV
from lambdas.artifact_layout import (
    CAPTURE_PREFIX,
    CHECKPOINTS_PREFIX,
    EVALUATIONS_PREFIX,
    LABELLED_PREFIX,
    MODELS_PREFIX,
    PREPARED_PREFIX,
    RAW_PREFIX,
    TRANSFORM_PREFIX,
)
from lambdas.step_cache import CACHE_TABLE_ENV
from pipeline_constructs import grants
from pipeline_constructs.code_assets import TrainingCodeAsset
from pipeline_constructs.container_images import ContainerImages, ImageSpec
from pipeline_constructs.cost_tags import CostAllocationTags
from pipeline_constructs.endpoint_autoscaling import AutoscalingOptions
from pipeline_constructs.endpoint_deployment import EndpointOptions
from pipeline_constructs.evaluation_workflow import EvaluationWorkflow
from pipeline_constructs.functions import PipelineFunctions
from pipeline_constructs.notifications import PipelineNotifications
from pipeline_constructs.registry import ModelRegistry
from pipeline_constructs.rollback_alarms import rollback_alarms
from pipeline_constructs.sagemaker_role import SageMakerExecutionRole
from pipeline_constructs.sagemaker_tasks import data_capture_config
from pipeline_constructs.step_cache import StepCacheTable
from pipeline_constructs.storage import PipelineStorage
from pipeline_constructs.training_workflow import ImageUris, TrainingWorkflow
from stacks.settings import PipelineSettings

VARIANT_NAME = "AllTraffic"


class ModelLifecycleStack(Stack):
    """Storage, registry, roles, notifications and the training and evaluation workflows."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: PipelineSettings, **kwargs: object
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        retention = _RETENTION[settings.log_retention_days]

        capture = settings.endpoint.data_capture
        # project, run_id, model_name and execution on every SageMaker Create request (cost_tags.py).
        CostAllocationTags(self, project=settings.project_name)
        storage = PipelineStorage(
            self, "Storage", capture_expiry_days=capture.expire_after_days if capture.enabled else None
        )
        registry = ModelRegistry(self, "Registry", key=storage.key)
        notifications = PipelineNotifications(
            self, "Notifications", key=storage.key, email=settings.notification_email
        )
        code = TrainingCodeAsset(self, "TrainingCode")
        images = ContainerImages(
            self,
            "Images",
            training=ImageSpec(
                "training",
                settings.training.framework_version,
                settings.training.py_version,
                settings.training.instance_type,
            ),
            processing=ImageSpec(
                "training",
                settings.training.framework_version,
                settings.training.py_version,
                settings.processing.instance_type,
            ),
            inference=ImageSpec(
                "inference",
                settings.endpoint.inference_framework_version,
                None,
                settings.endpoint.instance_type,
            ),
        )
        sagemaker = SageMakerExecutionRole(
            self,
            "SageMaker",
            image_repository_arns=[
                images.repository_arn(name) for name in ("training", "processing", "inference")
            ],
        )

        data, artifacts = storage.data_bucket, storage.artifacts_bucket
        functions = PipelineFunctions(
            self,
            "Functions",
            key=storage.key,
            powertools_layer_version=settings.powertools_layer_version,
            log_retention=retention,
            environment={
                "DATA_BUCKET": data.bucket_name,
                "ARTIFACTS_BUCKET": artifacts.bucket_name,
                "PROJECT_PREFIX": settings.project_name,
                "TRAINING_CODE_URI": code.s3_uri,
                "TRAINING_ENTRY_POINT": TRAINING_ENTRY_POINT,
                "TRAINING_DEFAULTS": self.to_json_string(_training_defaults(settings, data.bucket_name)),
                "EVALUATION_DEFAULTS": self.to_json_string(_evaluation_defaults(settings, data.bucket_name)),
            },
            approval_environment={
                REGISTRY_TABLE_ENV: registry.table.table_name,
                TOPIC_ARN_ENV: notifications.topic.topic_arn,
            },
        )

        # SageMaker reads data and code, writes models, checkpoints, transform output, prepared data.
        grants.grant_prefix_read(sagemaker.role, data, [RAW_PREFIX, PREPARED_PREFIX, LABELLED_PREFIX])
        grants.grant_prefix_write(sagemaker.role, data, [PREPARED_PREFIX])
        grants.grant_prefix_read(sagemaker.role, artifacts, [MODELS_PREFIX, CHECKPOINTS_PREFIX])
        grants.grant_prefix_write(
            sagemaker.role, artifacts, [MODELS_PREFIX, CHECKPOINTS_PREFIX, TRANSFORM_PREFIX]
        )
        if capture.enabled:  # the endpoint writes captured requests and responses as the model's role
            grants.grant_prefix_write(sagemaker.role, artifacts, [CAPTURE_PREFIX])
        grants.grant_object_read(sagemaker.role, code.asset.bucket, code.asset.s3_object_key)
        # Preprocess reads the same archive as an S3Prefix ProcessingInput, which Processing lists first.
        grants.grant_object_listing(sagemaker.role, code.asset.bucket, code.asset.s3_object_key)
        grants.grant_key_use(sagemaker.role, storage.key, encrypt=True)
        # The evaluation function reads transform output and writes reports.
        evaluator = functions.evaluate_predictions
        grants.grant_prefix_read(evaluator, artifacts, [TRANSFORM_PREFIX])
        grants.grant_prefix_write(evaluator, artifacts, [EVALUATIONS_PREFIX])
        grants.grant_key_use(evaluator, storage.key, encrypt=True)
        # The approval request marks its model PENDING_APPROVAL and notifies (both encrypted).
        # Statements, not table.grant/topic.grant_publish: those add the table's indexes and kms wildcards.
        approver = functions.request_approval
        for action, resource in (
            ("dynamodb:UpdateItem", registry.table.table_arn),
            ("sns:Publish", notifications.topic.topic_arn),
        ):
            approver.add_to_role_policy(iam.PolicyStatement(actions=[action], resources=[resource]))
        grants.grant_key_use(approver, storage.key, encrypt=True)
        # The step cache lists the inputs and outputs it keys and checks, and keeps its own table.
        step_cache = StepCacheTable(self, "StepCache", key=storage.key)
        cache_function = functions.step_cache
        cache_function.add_environment(CACHE_TABLE_ENV, step_cache.table.table_name)
        step_cache.table.grant(cache_function, "dynamodb:GetItem", "dynamodb:PutItem")
        grants.grant_prefix_listing(cache_function, data, [RAW_PREFIX, PREPARED_PREFIX, LABELLED_PREFIX])
        grants.grant_prefix_listing(cache_function, artifacts, [MODELS_PREFIX, TRANSFORM_PREFIX])
        grants.grant_key_use(cache_function, storage.key, encrypt=True)

        deployment = settings.endpoint.deployment
        alarms = rollback_alarms(
            self,
            endpoint_name=settings.endpoint.name,
            variant_name=VARIANT_NAME,
            max_model_latency_ms=deployment.max_model_latency_ms,
        )
        # Blue/green UpdateEndpoint names these alarms for auto-rollback. The state machine's role
        # (the caller) gets DescribeAlarms next to the task; the SageMaker guide says "execution
        # role", so the role SageMaker acts as gets it too, on these alarms only.
        sagemaker.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:DescribeAlarms"], resources=[alarm.alarm_arn for alarm in alarms]
            )
        )
        timeout = Duration.hours(settings.workflow_timeout_hours)
        training = TrainingWorkflow(
            self,
            "TrainingWorkflow",
            validate_input=functions.validate_input,
            plan_attempt=functions.plan_attempt,
            evaluate_predictions=functions.evaluate_predictions,
            request_approval=functions.request_approval,
            step_cache=functions.step_cache,
            registry_table=registry.table,
            topic=notifications.topic,
            sagemaker_role=sagemaker.passable_role,
            images=ImageUris(
                training=images.training_image_uri,
                processing=images.processing_image_uri,
                inference=images.inference_image_uri,
            ),
            code_uri=code.s3_uri,
            code_version=code.code_version,
            endpoint=EndpointOptions(
                name=settings.endpoint.name,
                max_wait_minutes=settings.endpoint.max_wait_minutes,
                instance_type=settings.endpoint.instance_type.removeprefix("ml."),
                initial_instance_count=settings.endpoint.initial_instance_count,
                rollback_alarm_names=[alarm.alarm_name for alarm in alarms],
                rollback_alarm_arns=[alarm.alarm_arn for alarm in alarms],
                blue_green_policy=deployment.blue_green_policy(),
                variant_name=VARIANT_NAME,
                autoscaling=_autoscaling(settings),
                serverless=_serverless(settings),
                data_capture=(
                    data_capture_config(
                        destination_uri=f"s3://{artifacts.bucket_name}/{CAPTURE_PREFIX}",
                        kms_key_arn=storage.key.key_arn,
                        sampling_percent=capture.sampling_percent,
                    )
                    if capture.enabled
                    else None
                ),
            ),
            timeout=timeout,
            logs_key=storage.key,
            log_retention=retention,
        )
        evaluation = EvaluationWorkflow(
            self,
            "EvaluationWorkflow",
            validate_input=functions.validate_input,
            evaluate_predictions=functions.evaluate_predictions,
            registry_table=registry.table,
            topic=notifications.topic,
            training_workflow=training.state_machine,
            sagemaker_role=sagemaker.passable_role,
            transform_output_prefix=f"s3://{artifacts.bucket_name}/{TRANSFORM_PREFIX}",
            report_prefix=f"s3://{artifacts.bucket_name}/{EVALUATIONS_PREFIX}",
            job_prefix=settings.project_name,
            schedule_enabled=settings.evaluation.schedule_enabled,
            schedule_rate=Duration.hours(settings.evaluation.schedule_rate_hours),
            timeout=timeout,
            logs_key=storage.key,
            log_retention=retention,
        )
        for workflow in (training.state_machine, evaluation.state_machine):
            grants.grant_key_use(workflow, storage.key, encrypt=True)  # registry and topic are encrypted
            alarm = cloudwatch.Alarm(
                self,
                f"{workflow.node.scope.node.id}FailedAlarm",  # type: ignore[union-attr]
                alarm_description="An execution of this workflow failed",
                metric=workflow.metric_failed(period=Duration.minutes(5), statistic="Sum"),
                threshold=1,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(notifications.topic))

        for name, value in {
            "TrainingWorkflowArn": training.state_machine.state_machine_arn,
            "EvaluationWorkflowArn": evaluation.state_machine.state_machine_arn,
            "DataBucketName": data.bucket_name,
            "ArtifactsBucketName": artifacts.bucket_name,
            "ModelRegistryTableName": registry.table.table_name,
            "StepCacheTableName": step_cache.table.table_name,
            "NotificationTopicArn": notifications.topic.topic_arn,
            "EndpointName": settings.endpoint.name,
            "SageMakerRoleArn": sagemaker.role.role_arn,
        }.items():
            CfnOutput(self, name, value=value)


def _autoscaling(settings: PipelineSettings) -> AutoscalingOptions | None:
    scaling = settings.endpoint.autoscaling
    if not scaling.enabled:
        return None
    return AutoscalingOptions(
        min_capacity=scaling.min,
        max_capacity=scaling.max,
        target_invocations_per_instance=scaling.target_invocations_per_instance,
    )


def _serverless(settings: PipelineSettings) -> dict[str, int] | None:
    """The variant's ServerlessConfig; None: instances (validation keeps autoscaling and capture off)."""
    serverless = settings.endpoint.serverless
    if not serverless.enabled:
        return None
    return {"MemorySizeInMB": serverless.memory_size_mb, "MaxConcurrency": serverless.max_concurrency}


def _training_defaults(settings: PipelineSettings, data_bucket: str) -> dict[str, object]:
    """What `{}` means for the training workflow (see lambdas/execution_input.py)."""
    return {
        "data_uri": f"s3://{data_bucket}/{settings.data.dataset_uri_prefix}",
        "hyperparameters": dict(settings.hyperparameters),
        "training": settings.training.model_dump(exclude={"framework_version", "py_version"}),
        "processing": settings.processing.model_dump(),
        "tuning": settings.tuning.model_dump(),
        "transform": settings.transform.model_dump(),
        "gate": settings.quality_gate.model_dump(),
        "cache": settings.cache.model_dump(),
        "reason": "manual start",
    }


def _evaluation_defaults(settings: PipelineSettings, data_bucket: str) -> dict[str, object]:
    return {
        "data_uri": f"s3://{data_bucket}/{settings.data.evaluation_uri_prefix}",
        "retrain_raw_data_uri": f"s3://{data_bucket}/{settings.data.raw_uri_prefix}",
        "threshold": settings.evaluation.threshold,
        "metric": settings.quality_gate.metric,
        "transform": settings.transform.model_dump(),
        "retrain": True,
    }


_RETENTION = {
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    731: logs.RetentionDays.TWO_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}
