"""SageMaker Step Functions tasks beyond what aws-cdk-lib's constructs can set.

Subclasses render the native task (and keep the IAM it generates) and merge the
extra `Parameters` next to the statement they need. Processing and tuning jobs
have no construct at all: they are `CustomState`s whose policy statements are
listed here, for the workflow to attach to its role.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Aws, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from contract import (
    TRANSFORM_CHANNEL,
    TRANSFORM_CONTENT_TYPE,
    TRANSFORM_INPUT_FILTER,
    TRANSFORM_OUTPUT_FILTER,
)

from .workflow_steps import SAGEMAKER_TRANSIENT, retry_transient


def _merge(state: Mapping[str, Any], extra_parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The rendered state with extra Parameters; an extra `X.$` replaces a rendered `X` (and vice versa)."""
    rendered = dict(state)
    replaced = {name.removesuffix(".$") for name in extra_parameters}
    kept = {k: v for k, v in rendered.get("Parameters", {}).items() if k.removesuffix(".$") not in replaced}
    rendered["Parameters"] = {**kept, **extra_parameters}
    return rendered


class SpotTrainingJob(tasks.SageMakerCreateTrainingJob):
    """CreateTrainingJob `.sync` with managed spot, checkpoints and per-attempt hyperparameters.

    `attempt_path` points at the attempt plan (see docs/architecture.md), which
    carries the SageMaker-ready hyperparameters, stopping condition (MaxWait only
    when spot is on) and checkpoint URI; `training_path` at the run's training block
    (instances, volume, spot), which the execution input may override.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, attempt_path: str, training_path: str, **props: Any
    ) -> None:
        super().__init__(scope, construct_id, **props)
        self._extra = {
            # CDK's ResourceConfig takes only a fixed volume size; all three come from the run.
            "ResourceConfig": {
                "InstanceCount.$": f"{training_path}.instance_count",
                "InstanceType.$": f"{training_path}.instance_type",
                "VolumeSizeInGB.$": f"{training_path}.volume_size_gb",
            },
            "HyperParameters.$": f"{attempt_path}.hyperparameters",
            "StoppingCondition.$": f"{attempt_path}.stopping_condition",
            "EnableManagedSpotTraining.$": f"{training_path}.use_spot",
            "CheckpointConfig": {"S3Uri.$": f"{attempt_path}.checkpoint_uri"},
        }

    def to_state_json(self, *args: Any) -> dict[str, Any]:
        return _merge(super().to_state_json(*args), self._extra)


class JoinedTransformJob(tasks.SageMakerCreateTransformJob):
    """CreateTransformJob `.sync` that joins each prediction to its input record.

    Only the features reach the model; id and label come back next to the
    prediction, so the evaluation never has to line files up by position.
    """

    def __init__(self, scope: Construct, construct_id: str, **props: Any) -> None:
        super().__init__(scope, construct_id, **props)
        self._extra = {
            "DataProcessing": {
                "InputFilter": TRANSFORM_INPUT_FILTER,
                "JoinSource": "Input",
                "OutputFilter": TRANSFORM_OUTPUT_FILTER,
            }
        }

    def to_state_json(self, *args: Any) -> dict[str, Any]:
        return _merge(super().to_state_json(*args), self._extra)


def blue_green_update_endpoint(
    scope: Construct,
    construct_id: str,
    *,
    endpoint_name: str,
    endpoint_config_name: str,
    rollback_alarm_names: list[str],
    rollback_alarm_arns: list[str],
    bake_seconds: int = 300,
    result_path: str | None = None,
) -> tasks.CallAwsService:
    """UpdateEndpoint with a blue/green deployment that rolls back on the given alarms.

    Through the AWS SDK integration (`aws-sdk:sagemaker:updateEndpoint`), which takes the current
    API's request shape: Step Functions validates an optimized integration's Parameters against
    its own schema when the state machine is created, and nothing shows `DeploymentConfig` is in
    the `sagemaker:updateEndpoint` one. Its IAM is written here: `sagemaker:UpdateEndpoint` on the
    endpoint and the endpoint configs, and `cloudwatch:DescribeAlarms` on exactly the rollback
    alarms. The SageMaker guide ("Auto-Rollback Configuration and Monitoring") asks that "your IAM
    execution role" may DescribeAlarms on them; the identity calling UpdateEndpoint is this state
    machine's role, so the statement goes on that role (the stack grants the same to the SageMaker
    execution role, in case "execution role" means that one).
    """
    stack = Stack.of(scope)
    endpoint_arn = stack.format_arn(
        service="sagemaker", resource="endpoint", resource_name=endpoint_name.lower()
    )
    configs_arn = stack.format_arn(service="sagemaker", resource="endpoint-config", resource_name="*")
    return tasks.CallAwsService(
        scope,
        construct_id,
        comment="Blue/green: the old fleet serves until the new one is InService and the alarms stay quiet",
        service="sagemaker",
        action="updateEndpoint",
        parameters={
            "EndpointName": endpoint_name,
            "EndpointConfigName": endpoint_config_name,
            "DeploymentConfig": _blue_green_deployment(rollback_alarm_names, bake_seconds=bake_seconds),
        },
        iam_action="sagemaker:UpdateEndpoint",
        iam_resources=[endpoint_arn, configs_arn],
        additional_iam_statements=[
            iam.PolicyStatement(actions=["cloudwatch:DescribeAlarms"], resources=list(rollback_alarm_arns))
        ],
        result_path=result_path,
    )


def _blue_green_deployment(rollback_alarm_names: list[str], *, bake_seconds: int) -> dict[str, Any]:
    """UpdateEndpoint's DeploymentConfig: all traffic at once, rolled back when an alarm fires."""
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
            # The old fleet stays up while the alarms watch the new one.
            "TerminationWaitInSeconds": bake_seconds,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in rollback_alarm_names]},
    }


def evaluation_transform(
    scope: Construct,
    construct_id: str,
    *,
    job_name: str,
    model_name: str,
    output_uri: str,
    role: iam.IRole,
) -> JoinedTransformJob:
    """Batch transform of `$.run.data_uri`'s transform channel, one request per JSON Lines record.

    SingleRecord because the TF Serving container answers a multi-record payload with one
    prediction list, which cannot be joined back to its records (docs/serving-format.md).
    """
    task = JoinedTransformJob(
        scope,
        construct_id,
        transform_job_name=job_name,
        model_name=model_name,
        integration_pattern=sfn.IntegrationPattern.RUN_JOB,
        transform_input=_transform_channel_input(),
        transform_output=tasks.TransformOutput(
            s3_output_path=output_uri,
            accept=TRANSFORM_CONTENT_TYPE,
            assemble_with=tasks.AssembleWith.LINE,
        ),
        transform_resources=tasks.TransformResources(
            instance_count=sfn.JsonPath.number_at("$.run.transform.instance_count"),
            instance_type=ec2.InstanceType(sfn.JsonPath.string_at("$.run.transform.instance_type")),
        ),
        batch_strategy=tasks.BatchStrategy.SINGLE_RECORD,
        # Transform jobs run as the model's role; passing it stops CDK creating another one.
        role=role,
        result_path=sfn.JsonPath.DISCARD,
    )
    retry_transient(task, SAGEMAKER_TRANSIENT, interval_seconds=30)
    return task


def _transform_channel_input() -> tasks.TransformInput:
    """The run's transform channel, split into one record per line."""
    return tasks.TransformInput(
        transform_data_source=tasks.TransformDataSource(
            s3_data_source=tasks.TransformS3DataSource(
                s3_uri=sfn.JsonPath.format(
                    f"{{}}{TRANSFORM_CHANNEL}/", sfn.JsonPath.string_at("$.run.data_uri")
                ),
                s3_data_type=tasks.S3DataType.S3_PREFIX,
            )
        ),
        content_type=TRANSFORM_CONTENT_TYPE,
        split_type=tasks.SplitType.LINE,
    )


class SyncJobState(sfn.CustomState):
    """A SageMaker job that CDK has no construct for, run with `.sync`.

    `policy_statements` are what Step Functions documents for this integration;
    the workflow attaches them to its role.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api_action: str,
        resource_type: str,
        events_rule: str,
        parameters: Mapping[str, Any],
        passed_role: iam.IRole,
        comment: str,
        result_selector: Mapping[str, str] | None,
        result_path: str,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            state_json={
                "Type": "Task",
                "Comment": comment,
                "Resource": f"arn:{Aws.PARTITION}:states:::sagemaker:{api_action}.sync",
                "Parameters": dict(parameters),
                **({"ResultSelector": dict(result_selector)} if result_selector else {}),
                "ResultPath": result_path,
            },
        )
        self.policy_statements = _sync_job_statements(
            Stack.of(self),
            api_action=api_action,
            resource_type=resource_type,
            events_rule=events_rule,
            passed_role=passed_role,
        )


def _sync_job_statements(
    stack: Stack, *, api_action: str, resource_type: str, events_rule: str, passed_role: iam.IRole
) -> list[iam.PolicyStatement]:
    """What Step Functions documents for a `.sync` SageMaker job: the job, its events rule, PassRole."""
    job_arn = stack.format_arn(service="sagemaker", resource=resource_type, resource_name="*")
    verb = api_action[len("create") :]
    return [
        iam.PolicyStatement(
            actions=[
                f"sagemaker:Create{verb}",
                f"sagemaker:Describe{verb}",
                f"sagemaker:Stop{verb}",
                "sagemaker:AddTags",
            ],
            resources=[job_arn],
        ),
        iam.PolicyStatement(
            actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            resources=[stack.format_arn(service="events", resource="rule", resource_name=events_rule)],
        ),
        iam.PolicyStatement(
            actions=["iam:PassRole"],
            resources=[passed_role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        ),
    ]
