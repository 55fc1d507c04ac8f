"""The endpoint's autoscaling, kept by the training workflow across deployments.

Application Auto Scaling through aws-sdk tasks, each with the IAM it needs written next to it:

- once the endpoint is InService and the model promoted: RegisterScalableTarget and a
  target-tracking PutScalingPolicy on `SageMakerVariantInvocationsPerInstance` (both update in
  place when they exist);
- before a blue/green update: UpdateEndpoint keeps the live instance count
  (`RetainAllVariantProperties`, see `sagemaker_tasks.blue_green_update_endpoint`), but SageMaker
  refuses an update that changes the instance type of a registered variant. The SageMaker guide
  ("Update endpoints that use auto scaling") says to deregister the variant first and register it
  again after the update: `before_update` does that when the live config's instance type differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from lambdas.model_registry import AUTOSCALING_CAUSE, AUTOSCALING_ERROR, ModelStatus

from . import aws_error_names
from .workflow_steps import (
    ERROR_PATH,
    HANDLER_ERROR_PATH,
    SAGEMAKER_SDK_TRANSIENT,
    RegistrySteps,
    catch_all,
    dynamo_string,
    guard_error_cause,
    notify_and_fail,
    retry_transient,
)

SERVICE: Final = "applicationautoscaling"  # the aws-sdk integration's name; IAM says application-autoscaling
IAM_PREFIX: Final = "application-autoscaling"
SCALABLE_DIMENSION: Final = "sagemaker:variant:DesiredInstanceCount"
INVOCATIONS_METRIC: Final = "SageMakerVariantInvocationsPerInstance"
# AWS's default cool-downs for SageMaker target tracking: scale out fast, scale in slowly.
SCALE_OUT_COOLDOWN_SECONDS: Final = 60
SCALE_IN_COOLDOWN_SECONDS: Final = 300
# Throttling is not in the model (the SDK's base class); the other two are the service's own faults.
AUTOSCALING_TRANSIENT: Final = (
    aws_error_names.sdk_generic_error(SERVICE),
    aws_error_names.sdk_error_name(SERVICE, "ConcurrentUpdateException"),
    aws_error_names.sdk_error_name(SERVICE, "InternalServiceException"),
)
SERVICE_LINKED_ROLE: Final = "sagemaker.application-autoscaling.amazonaws.com"
LIVE_CONFIG_PATH: Final = "$.live_endpoint_config"
SCALABLE_TARGET_PATH: Final = "$.scalable_target"


@dataclass(frozen=True)
class AutoscalingOptions:
    """cdk.json's endpoint.autoscaling."""

    min_capacity: int
    max_capacity: int
    target_invocations_per_instance: float


def scalable_resource_id(endpoint_name: str, variant_name: str) -> str:
    """Application Auto Scaling's ResourceId of an endpoint variant."""
    return f"endpoint/{endpoint_name}/variant/{variant_name}"


def policy_name(endpoint_name: str) -> str:
    return f"{endpoint_name}-invocations-per-instance"


class EndpointAutoscaling:
    """The workflow states that register, keep and (for an instance-type change) deregister autoscaling."""

    def __init__(
        self,
        scope: Construct,
        *,
        endpoint_name: str,
        variant_name: str,
        instance_type: str,
        options: AutoscalingOptions,
        on_failure: sfn.IChainable,
    ) -> None:
        self._scope = scope
        self._endpoint_name = endpoint_name
        self._instance_type = instance_type
        self._options = options
        self._on_failure = on_failure
        self._target = {
            "ServiceNamespace": "sagemaker",
            "ResourceId": scalable_resource_id(endpoint_name, variant_name),
            "ScalableDimension": SCALABLE_DIMENSION,
        }
        stack = Stack.of(scope)
        self._targets_arn = stack.format_arn(
            service=IAM_PREFIX, resource="scalable-target", resource_name="*"
        )
        self._endpoint_arn = stack.format_arn(
            service="sagemaker", resource="endpoint", resource_name=endpoint_name.lower()
        )
        # Target tracking names its alarms TargetTracking-<ResourceId>-Alarm{High,Low}-<uuid>.
        self._alarms_arn = stack.format_arn(
            service="cloudwatch",
            resource="alarm",
            resource_name=f"TargetTracking-{self._target['ResourceId']}-*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    # -- after InService ---------------------------------------------------------------------------

    def after_promotion(
        self, then: sfn.IChainable, *, registry: RegistrySteps, topic: sns.ITopic, model_name_path: str
    ) -> sfn.IChainable:
        """RegisterScalableTarget → PutScalingPolicy → `then`, for the model just promoted (at
        `model_name_path`). It is DEPLOYED and serving: a failure is recorded on it and notified,
        then the run fails with the error (a failure handler's own failure never hides it)."""
        record = registry.annotate(
            "RecordAutoscalingFailure",
            status=ModelStatus.DEPLOYED,
            model_name_path=model_name_path,
            attributes={
                AUTOSCALING_ERROR: dynamo_string(f"{ERROR_PATH}.Error"),
                AUTOSCALING_CAUSE: dynamo_string(f"{ERROR_PATH}.Cause"),
            },
            comment="Deployed and serving, without autoscaling: the registry says so",
        )
        announce = notify_and_fail(
            self._scope,
            topic=topic,
            workflow="training",
            fail_id="DeployedWithoutAutoscaling",
            notify_id="NotifyAutoscalingFailure",
            subject="ML pipeline: model deployed without autoscaling",
            details={
                "model_name": sfn.JsonPath.string_at(model_name_path),
                "endpoint": self._endpoint_name,
                "deployed": True,
            },
        )
        catch_all(record, announce, result_path=HANDLER_ERROR_PATH)
        record.next(announce)
        register, put_policy = self._apply(
            on_failure=guard_error_cause(self._scope, "AutoscalingErrorHasCause", record)
        )
        put_policy.next(then)
        return register

    def _apply(self, *, on_failure: sfn.IChainable) -> tuple[sfn.TaskStateBase, sfn.TaskStateBase]:
        """(first, last) of RegisterScalableTarget → PutScalingPolicy; a failure goes to `on_failure`."""
        register = self._call(
            "RegisterScalableTarget",
            "registerScalableTarget",
            {
                **self._target,
                "MinCapacity": self._options.min_capacity,
                "MaxCapacity": self._options.max_capacity,
            },
            comment="Autoscaling of the variant; registering again updates the bounds",
            on_failure=on_failure,
            extra=[
                # What registering a SageMaker variant needs besides the action itself (SageMaker
                # guide, "Auto scaling prerequisites"): reading the endpoint, setting its capacity,
                # and creating Application Auto Scaling's service-linked role the first time.
                iam.PolicyStatement(
                    actions=[
                        "sagemaker:DescribeEndpoint",
                        "sagemaker:DescribeEndpointConfig",
                        "sagemaker:UpdateEndpointWeightsAndCapacities",
                    ],
                    resources=[self._endpoint_arn, self._configs_arn()],
                ),
                iam.PolicyStatement(
                    actions=["iam:CreateServiceLinkedRole"],
                    resources=[
                        Stack.of(self._scope).format_arn(
                            service="iam",
                            region="",
                            resource="role",
                            resource_name=(
                                f"aws-service-role/{SERVICE_LINKED_ROLE}/"
                                "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
                            ),
                        )
                    ],
                    conditions={"StringLike": {"iam:AWSServiceName": SERVICE_LINKED_ROLE}},
                ),
            ],
        )
        policy = self._call(
            "PutScalingPolicy",
            "putScalingPolicy",
            {
                **self._target,
                "PolicyName": policy_name(self._endpoint_name),
                "PolicyType": "TargetTrackingScaling",
                "TargetTrackingScalingPolicyConfiguration": {
                    "TargetValue": self._options.target_invocations_per_instance,
                    "PredefinedMetricSpecification": {"PredefinedMetricType": INVOCATIONS_METRIC},
                    "ScaleOutCooldown": SCALE_OUT_COOLDOWN_SECONDS,
                    "ScaleInCooldown": SCALE_IN_COOLDOWN_SECONDS,
                },
            },
            comment="Target tracking on invocations per instance",
            on_failure=on_failure,
            extra=[self._alarm_statement("cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms")],
        )
        register.next(policy)
        return register, policy

    # -- before UpdateEndpoint ---------------------------------------------------------------------

    def before_update(self, update: sfn.IChainable) -> sfn.IChainable:
        """Deregister the variant when the update changes its instance type, then `update`."""
        live = self._sagemaker_describe(
            "DescribeLiveEndpoint",
            "describeEndpoint",
            {"EndpointName": self._endpoint_name},
            self._endpoint_arn,
        )
        live_config = self._sagemaker_describe(
            "DescribeLiveEndpointConfig",
            "describeEndpointConfig",
            {"EndpointConfigName.$": f"{LIVE_CONFIG_PATH}.EndpointConfigName"},
            self._configs_arn(),
            result_selector={"variants.$": "States.JsonToString($.ProductionVariants)"},
        )
        find = self._call(
            "FindScalableTarget",
            "describeScalableTargets",
            {
                "ServiceNamespace": "sagemaker",
                "ResourceIds": [self._target["ResourceId"]],
                "ScalableDimension": SCALABLE_DIMENSION,
            },
            comment="Whether the variant is registered (deregistering a missing one is an error)",
            resources=["*"],  # DescribeScalableTargets has no resource types
            # The whole output: ScalableTargets is optional in the API's model, and a ResultSelector
            # path that does not resolve raises States.Runtime.
            result_path=SCALABLE_TARGET_PATH,
        )
        deregister = self._call(
            "DeregisterScalableTarget",
            "deregisterScalableTarget",
            dict(self._target),
            comment="The instance type changes: SageMaker refuses that update for a registered variant",
            extra=[self._alarm_statement("cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms")],
        )
        registered = (
            sfn.Choice(self._scope, "ScalableTargetRegistered?")
            .when(
                sfn.Condition.is_present(f"{SCALABLE_TARGET_PATH}.ScalableTargets[0]"),
                deregister.next(update),
            )
            .otherwise(update)
        )
        changes = (
            sfn.Choice(self._scope, "InstanceTypeChanges?", comment="Only then must autoscaling step aside")
            .when(
                sfn.Condition.string_matches(
                    f"{LIVE_CONFIG_PATH}.variants", f'*"InstanceType":"ml.{self._instance_type}"*'
                ),
                update,
            )
            .otherwise(find.next(registered))
        )
        return live.next(live_config).next(changes)

    # -- helpers -----------------------------------------------------------------------------------

    def _configs_arn(self) -> str:
        return Stack.of(self._scope).format_arn(
            service="sagemaker", resource="endpoint-config", resource_name="*"
        )

    def _alarm_statement(self, *actions: str) -> iam.PolicyStatement:
        return iam.PolicyStatement(actions=list(actions), resources=[self._alarms_arn])

    def _call(
        self,
        construct_id: str,
        action: str,
        parameters: dict[str, Any],
        *,
        comment: str,
        extra: list[iam.PolicyStatement] | None = None,
        resources: list[str] | None = None,
        result_selector: dict[str, Any] | None = None,
        result_path: str = sfn.JsonPath.DISCARD,
        on_failure: sfn.IChainable | None = None,
    ) -> tasks.CallAwsService:
        task = tasks.CallAwsService(
            self._scope,
            construct_id,
            comment=comment,
            service=SERVICE,
            action=action,
            parameters=parameters,
            iam_action=f"{IAM_PREFIX}:{action[:1].upper()}{action[1:]}",
            iam_resources=resources or [self._targets_arn],
            additional_iam_statements=extra,
            result_selector=result_selector,
            result_path=result_path,
        )
        retry_transient(task, AUTOSCALING_TRANSIENT)
        catch_all(task, on_failure or self._on_failure)
        return task

    def _sagemaker_describe(
        self,
        construct_id: str,
        action: str,
        parameters: dict[str, Any],
        resource: str,
        *,
        result_selector: dict[str, Any] | None = None,
    ) -> tasks.CallAwsService:
        task = tasks.CallAwsService(
            self._scope,
            construct_id,
            service="sagemaker",
            action=action,
            parameters=parameters,
            iam_resources=[resource],
            result_selector=result_selector,
            result_path=LIVE_CONFIG_PATH,
        )
        retry_transient(task, SAGEMAKER_SDK_TRANSIENT)
        catch_all(task, self._on_failure)
        return task
