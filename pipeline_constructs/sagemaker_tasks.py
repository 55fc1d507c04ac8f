"""SageMaker Step Functions tasks beyond what aws-cdk-lib's constructs can set.

Subclasses render the native task (and keep the IAM it generates) and merge the
extra `Parameters` next to the statement they need. Processing and tuning jobs
have no construct at all: they are `CustomState`s whose policy statements are
listed here, for the workflow to attach to its role.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

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
from lambdas.attempt_state import StatePaths

from .cost_tags import add_tags_statement, request_tags
from .workflow_steps import SAGEMAKER_TRANSIENT, retry_transient


def _merge(state: Mapping[str, Any], extra_parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The rendered state with extra Parameters; an extra `X.$` replaces a rendered `X` (and vice versa)."""
    rendered = dict(state)
    replaced = {name.removesuffix(".$") for name in extra_parameters}
    kept = {k: v for k, v in rendered.get("Parameters", {}).items() if k.removesuffix(".$") not in replaced}
    rendered["Parameters"] = {**kept, **extra_parameters}
    return rendered


# The mixin's bases, for the type checker only: at run time it must not be a jsii class itself,
# so that jsii sees its `_when_bound_to_graph` as the task's override.
if TYPE_CHECKING:
    _TaskBase = sfn.TaskStateBase
else:
    _TaskBase = object


class _GrantsAddTags(_TaskBase):
    """A native Create task whose request carries tags: it needs sagemaker:AddTags on what it creates.

    Listed before the construct in the bases; `__init__` calls `_grant_add_tags` after the construct's.
    """

    _tagging: list[iam.PolicyStatement]

    def _grant_add_tags(self, resource_type: str, name: str = "*") -> None:
        # None without tags (a construct built outside the app): no AddTags either.
        tagged = request_tags(self, model_name_path=None) is not None
        self._tagging = [add_tags_statement(self, resource_type, name)] if tagged else []

    def _when_bound_to_graph(self, graph: sfn.StateGraph) -> None:
        super()._when_bound_to_graph(graph)
        for statement in self._tagging:  # next to the construct's own Create* grant
            graph.register_policy_statement(statement)


class SpotTrainingJob(tasks.SageMakerCreateTrainingJob):
    """CreateTrainingJob `.sync` with managed spot, checkpoints and per-attempt hyperparameters.

    `attempt` gives the attempt plan's paths (`ATTEMPT`, see docs/architecture.md), which
    carries the SageMaker-ready hyperparameters, stopping condition (MaxWait only
    when spot is on), resource config (a warm pool only when the run keeps one) and
    checkpoint URI; `training_path` at the run's training block (spot, input mode),
    which the execution input may override.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, attempt: StatePaths, training_path: str, **props: Any
    ) -> None:
        super().__init__(scope, construct_id, **props)
        self._extra = {
            # CDK's ResourceConfig takes only a fixed volume size, and no warm pool: the plan's.
            "ResourceConfig.$": attempt.resource_config,
            "HyperParameters.$": attempt.hyperparameters,
            "StoppingCondition.$": attempt.stopping_condition,
            "EnableManagedSpotTraining.$": f"{training_path}.use_spot",
            "CheckpointConfig": {"S3Uri.$": attempt.checkpoint_uri},
            **_tags_parameter(self, attempt.model_name),
        }
        self._input_mode_path = f"{training_path}.input_mode"

    def to_state_json(self, *args: Any) -> dict[str, Any]:
        rendered = _merge(super().to_state_json(*args), self._extra)
        # CDK's InputMode is a fixed enum; the run's input mode (File or FastFile) is a path.
        algorithm = dict(rendered["Parameters"]["AlgorithmSpecification"])
        algorithm.pop("TrainingInputMode", None)
        algorithm["TrainingInputMode.$"] = self._input_mode_path
        rendered["Parameters"]["AlgorithmSpecification"] = algorithm
        return rendered


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
        rendered = super().to_state_json(*args)
        model_name = rendered["Parameters"].get("ModelName.$")
        return _merge(rendered, {**self._extra, **_tags_parameter(self, model_name)})


class CapturingEndpointConfig(_GrantsAddTags, tasks.SageMakerCreateEndpointConfig):
    """CreateEndpointConfig with a `DataCaptureConfig`, which the construct cannot set.

    The config only names the capture destination and key; the endpoint writes the files as the
    model's execution role (which the stack grants the capture prefix and the key).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        data_capture: Mapping[str, Any] | None,
        serverless: Mapping[str, int] | None = None,
        **props: Any,
    ) -> None:
        super().__init__(scope, construct_id, **props)
        self._extra = {"DataCaptureConfig": dict(data_capture)} if data_capture else {}
        self._serverless = dict(serverless) if serverless else None
        self._grant_add_tags("endpoint-config")

    def to_state_json(self, *args: Any) -> dict[str, Any]:
        rendered = super().to_state_json(*args)
        model_name = rendered["Parameters"]["ProductionVariants"][0].get("ModelName.$")
        rendered = _merge(rendered, {**self._extra, **_tags_parameter(self, model_name)})
        if self._serverless:  # the construct requires an instance type: a serverless variant has none
            rendered["Parameters"]["ProductionVariants"] = [
                {
                    **{k: v for k, v in variant.items() if k not in ("InstanceType", "InitialInstanceCount")},
                    "ServerlessConfig": self._serverless,
                }
                for variant in rendered["Parameters"]["ProductionVariants"]
            ]
        return rendered


class TaggedModel(_GrantsAddTags, tasks.SageMakerCreateModel):
    """CreateModel with the cost allocation tags (cost_tags.py) and the AddTags they need."""

    def __init__(self, scope: Construct, construct_id: str, **props: Any) -> None:
        super().__init__(scope, construct_id, **props)
        self._grant_add_tags("model")

    def to_state_json(self, *args: Any) -> dict[str, Any]:
        rendered = super().to_state_json(*args)
        return _merge(rendered, _tags_parameter(self, rendered["Parameters"].get("ModelName.$")))


class TaggedEndpoint(_GrantsAddTags, tasks.SageMakerCreateEndpoint):
    """CreateEndpoint with the cost allocation tags of the model it is created for.

    Tags are given at creation only: a later blue/green update keeps the endpoint's tags, so its
    `model_name` and `run_id` are those of the first model; the endpoint config of each update
    carries its own model's (`mlpipeline costs --by` bills an endpoint's time to its config's tags).
    """

    def __init__(self, scope: Construct, construct_id: str, *, model_name_path: str, **props: Any) -> None:
        super().__init__(scope, construct_id, **props)
        self._model_name_path = model_name_path
        self._grant_add_tags("endpoint", str(props["endpoint_name"]).lower())

    def to_state_json(self, *args: Any) -> dict[str, Any]:
        return _merge(super().to_state_json(*args), _tags_parameter(self, self._model_name_path))


def _tags_parameter(scope: Construct, model_name_path: str | None) -> dict[str, Any]:
    """`{"Tags": ...}` for a Create request made in scope's stack (empty outside the app)."""
    tags = request_tags(scope, model_name_path=model_name_path)
    return {} if tags is None else {"Tags": tags}


def data_capture_config(*, destination_uri: str, kms_key_arn: str, sampling_percent: int) -> dict[str, Any]:
    """Requests and responses, JSON bodies kept as JSON (others are base64-encoded by SageMaker)."""
    return {
        "EnableCapture": True,
        "InitialSamplingPercentage": sampling_percent,
        "DestinationS3Uri": destination_uri,
        "KmsKeyId": kms_key_arn,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
    }


def blue_green_update_endpoint(
    scope: Construct,
    construct_id: str,
    *,
    endpoint_name: str,
    endpoint_config_name: str,
    rollback_alarm_names: list[str],
    rollback_alarm_arns: list[str],
    blue_green_policy: Mapping[str, Any],
    result_path: str | None = None,
) -> tasks.CallAwsService:
    """UpdateEndpoint with a blue/green deployment that rolls back on the given alarms.

    `blue_green_policy` is the BlueGreenUpdatePolicy (all at once, canary or linear traffic
    shifting; built from cdk.json's `endpoint.deployment`).

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
            "DeploymentConfig": {
                "BlueGreenUpdatePolicy": dict(blue_green_policy),
                # Any alarm in ALARM during the deployment's waits shifts traffic back to the old fleet.
                "AutoRollbackConfiguration": {
                    "Alarms": [{"AlarmName": name} for name in rollback_alarm_names]
                },
            },
            # The live instance count (set by autoscaling) survives the update; the new config's
            # data capture applies (retaining it would keep the old endpoint's).
            "RetainAllVariantProperties": True,
            "ExcludeRetainedVariantProperties": [{"VariantPropertyType": "DataCaptureConfig"}],
        },
        iam_action="sagemaker:UpdateEndpoint",
        iam_resources=[endpoint_arn, configs_arn],
        additional_iam_statements=[
            iam.PolicyStatement(actions=["cloudwatch:DescribeAlarms"], resources=list(rollback_alarm_arns))
        ],
        result_path=result_path,
    )


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
        model_name_path: str | None = None,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            state_json={
                "Type": "Task",
                "Comment": comment,
                "Resource": f"arn:{Aws.PARTITION}:states:::sagemaker:{api_action}.sync",
                # Tags: cost allocation (cost_tags.py); `_sync_job_statements` grants AddTags.
                "Parameters": {**parameters, **_tags_parameter(scope, model_name_path)},
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
