"""Deploying a model that passed the gate: endpoint config, create or blue/green update, wait, promote.

Endpoints have no `.sync` integration, so the wait is a bounded DescribeEndpoint poll. The
registry changes (new champion DEPLOYED, old one RETIRED) happen in one transaction, as soon as the
endpoint serves the new config: the registry says which model serves, whatever follows. Autoscaling
is (re)registered after that; when it cannot be, the model stays DEPLOYED and serving (at the
config's instance count), the failure is recorded on it and notified, and the run fails so that it
is seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from lambdas.model_registry import PROMOTED_BY_WORKFLOW, ModelStatus

from .deployment_entry import IN_TRAINING_WORKFLOW as DEPLOY
from .endpoint_autoscaling import AutoscalingOptions, EndpointAutoscaling
from .sagemaker_tasks import CapturingEndpointConfig, TaggedEndpoint, blue_green_update_endpoint
from .workflow_steps import (
    ERROR_PATH,
    SAGEMAKER_SDK_TRANSIENT,
    SAGEMAKER_TRANSIENT,
    RegistrySteps,
    catch_all,
    notify,
    retry_transient,
)

POLL_INTERVAL_SECONDS = 30
CURRENT_CHAMPION_QUERY = "$.current_champion"
CURRENT_CHAMPION_PATH = f"{CURRENT_CHAMPION_QUERY}.Items[0].model_name.S"


@dataclass(frozen=True)
class EndpointOptions:
    """The endpoint is infrastructure: its size is set in cdk.json, not per execution."""

    name: str
    instance_type: str
    initial_instance_count: int
    max_wait_minutes: int
    rollback_alarm_names: list[str]
    rollback_alarm_arns: list[str]
    blue_green_policy: dict[str, Any]  # UpdateEndpoint's BlueGreenUpdatePolicy (cdk.json endpoint.deployment)
    variant_name: str = "AllTraffic"
    autoscaling: AutoscalingOptions | None = None  # None: a fixed instance count
    data_capture: dict[str, Any] | None = None  # the endpoint config's DataCaptureConfig; None: off
    # The variant's ServerlessConfig instead of instance_type and count; None: instances.
    serverless: dict[str, int] | None = None


class EndpointDeployment:
    """The deploy steps of the training workflow, built in its scope; `entry` is the first state."""

    def __init__(
        self,
        scope: Construct,
        *,
        endpoint: EndpointOptions,
        registry: RegistrySteps,
        topic: sns.ITopic,
        on_failure: sfn.IChainable,
    ) -> None:
        self._scope = scope
        self._endpoint = endpoint
        self._registry = registry
        self._topic = topic
        self._on_failure = on_failure
        self._autoscaling = (
            EndpointAutoscaling(
                scope,
                endpoint_name=endpoint.name,
                variant_name=endpoint.variant_name,
                instance_type=endpoint.instance_type,
                options=endpoint.autoscaling,
                on_failure=on_failure,
            )
            if endpoint.autoscaling is not None
            else None
        )
        self.entry = self._build()

    def _build(self) -> sfn.IChainable:
        config = self._create_endpoint_config()
        find = self._find_endpoint()
        create, update = self._create_or_update()
        wait_until_in_service = self._wait_until_in_service()
        create.next(wait_until_in_service)
        update.next(wait_until_in_service)
        # With autoscaling, an update that changes the instance type deregisters the variant first.
        update_path = self._autoscaling.before_update(update) if self._autoscaling else update
        exists = (
            sfn.Choice(self._scope, "EndpointExists?", comment="Update a live endpoint, create a missing one")
            .when(
                sfn.Condition.string_matches(
                    "$.existing_endpoint.listing", f'*"EndpointName":"{self._endpoint.name}"*'
                ),
                update_path,
            )
            .otherwise(create)
        )
        return config.next(find).next(exists)

    def _create_endpoint_config(self) -> tasks.SageMakerCreateEndpointConfig:
        config = CapturingEndpointConfig(
            self._scope,
            "CreateEndpointConfig",
            data_capture=self._endpoint.data_capture,
            serverless=self._endpoint.serverless,
            endpoint_config_name=sfn.JsonPath.string_at(DEPLOY.endpoint_config_name),
            production_variants=[
                tasks.ProductionVariant(
                    model_name=sfn.JsonPath.string_at(DEPLOY.model_name),
                    variant_name=self._endpoint.variant_name,
                    instance_type=ec2.InstanceType(self._endpoint.instance_type),
                    initial_instance_count=self._endpoint.initial_instance_count,
                )
            ],
            result_path=sfn.JsonPath.DISCARD,
        )
        retry_transient(config, SAGEMAKER_TRANSIENT)
        catch_all(config, self._on_failure)
        return config

    def _create_or_update(self) -> tuple[TaggedEndpoint, sfn.TaskStateBase]:
        """(create a missing endpoint, blue/green-update a live one) with this attempt's config."""
        endpoint_name = self._endpoint.name
        create = TaggedEndpoint(
            self._scope,
            "CreateEndpoint",
            model_name_path=DEPLOY.model_name,
            endpoint_name=endpoint_name,
            endpoint_config_name=sfn.JsonPath.string_at(DEPLOY.endpoint_config_name),
            result_path=sfn.JsonPath.DISCARD,
        )
        update = blue_green_update_endpoint(
            self._scope,
            "UpdateEndpoint",
            endpoint_name=endpoint_name,
            endpoint_config_name=sfn.JsonPath.string_at(DEPLOY.endpoint_config_name),
            rollback_alarm_names=self._endpoint.rollback_alarm_names,
            rollback_alarm_arns=self._endpoint.rollback_alarm_arns,
            blue_green_policy=self._endpoint.blue_green_policy,
            result_path=sfn.JsonPath.DISCARD,
        )
        retry_transient(create, SAGEMAKER_TRANSIENT)
        retry_transient(update, SAGEMAKER_SDK_TRANSIENT)
        for task in (create, update):
            catch_all(task, self._on_failure)
        return create, update

    def _find_endpoint(self) -> tasks.CallAwsService:
        """Whether the endpoint exists, without treating "not found" as an error.

        DescribeEndpoint reports a missing endpoint under the same error name as throttling
        (SageMaker.SageMakerException), so retrying one would retry the other. ListEndpoints
        answers both cases normally; the name filter is a substring match, so the Choice
        after it checks the exact name in the listing.
        """
        task = tasks.CallAwsService(
            self._scope,
            "FindEndpoint",
            service="sagemaker",
            action="listEndpoints",
            parameters={"NameContains": self._endpoint.name, "MaxResults": 100},
            iam_resources=["*"],  # ListEndpoints has no resource-level permissions
            result_selector={"listing.$": "States.JsonToString($.Endpoints)"},
            result_path="$.existing_endpoint",
        )
        retry_transient(task, SAGEMAKER_SDK_TRANSIENT)
        catch_all(task, self._on_failure)
        return task

    def _describe_endpoint(self, construct_id: str, *, result_path: str) -> tasks.CallAwsService:
        # The whole DescribeEndpoint output: `EndpointConfigName` is optional in the API's model,
        # and a ResultSelector path that does not resolve raises States.Runtime (uncatchable).
        task = tasks.CallAwsService(
            self._scope,
            construct_id,
            service="sagemaker",
            action="describeEndpoint",
            parameters={"EndpointName": self._endpoint.name},
            iam_resources=[sagemaker_arn(self._scope, "endpoint", self._endpoint.name.lower())],
            result_path=result_path,
        )
        retry_transient(task, SAGEMAKER_SDK_TRANSIENT)
        return task

    def _wait_until_in_service(self) -> sfn.IChainable:
        max_polls = self._endpoint.max_wait_minutes * 60 // POLL_INTERVAL_SECONDS
        start = sfn.Pass(
            self._scope, "StartPolling", result=sfn.Result.from_object({"polls": 0}), result_path="$.poll"
        )
        wait = sfn.Wait(
            self._scope,
            "WaitForEndpoint",
            time=sfn.WaitTime.duration(Duration.seconds(POLL_INTERVAL_SECONDS)),
        )
        describe = self._describe_endpoint("DescribeEndpoint", result_path="$.endpoint")
        catch_all(describe, self._on_failure)
        count = sfn.Pass(
            self._scope,
            "CountPoll",
            parameters={"polls.$": "States.MathAdd($.poll.polls, 1)"},
            result_path="$.poll",
        )
        summary = sfn.Pass(
            self._scope,
            "EndpointState",
            input_path="$.endpoint",
            parameters={"status.$": "$.EndpointStatus", "config.$": "$.EndpointConfigName"},
            result_path="$.endpoint",
        )
        promote = self._promote()
        failed, timed_out = self._not_in_service()
        poll_again = (
            sfn.Choice(self._scope, "PollsLeft?")
            .when(sfn.Condition.number_greater_than_equals("$.poll.polls", max_polls), timed_out)
            .otherwise(count.next(wait))
        )
        check = self._in_service_check(promote=promote, failed=failed, poll_again=poll_again)
        config_known = (
            sfn.Choice(self._scope, "EndpointConfigKnown?")
            .when(
                sfn.Condition.is_present("$.endpoint.EndpointConfigName"),
                self._rolled_back_check(otherwise=summary.next(check)),
            )
            .otherwise(poll_again)
        )
        return start.next(wait).next(describe).next(config_known)

    def _rolled_back_check(self, *, otherwise: sfn.IChainable) -> sfn.Choice:
        """InService on another config with a FailureReason: SageMaker rolled the update back (an
        alarm fired during the blue/green deployment, or the new fleet failed); the reason is kept."""
        rolled_back = sfn.Pass(
            self._scope,
            "EndpointRolledBack",
            parameters={
                "Error": "EndpointNotInService",
                "Cause.$": (
                    "States.Format('Endpoint update rolled back to config {}: {}', "
                    "$.endpoint.EndpointConfigName, $.endpoint.FailureReason)"
                ),
            },
            result_path=ERROR_PATH,
        ).next(self._on_failure)
        return (
            sfn.Choice(self._scope, "UpdateRolledBack?")
            .when(
                sfn.Condition.and_(
                    sfn.Condition.is_present("$.endpoint.FailureReason"),
                    sfn.Condition.string_equals("$.endpoint.EndpointStatus", "InService"),
                    sfn.Condition.not_(
                        sfn.Condition.string_equals_json_path(
                            "$.endpoint.EndpointConfigName", DEPLOY.endpoint_config_name
                        )
                    ),
                ),
                rolled_back,
            )
            .otherwise(otherwise)
        )

    def _not_in_service(self) -> tuple[sfn.IChainable, sfn.IChainable]:
        """(the endpoint settled on another config or failed, the wait ran out): both fail the attempt."""
        failed = sfn.Pass(
            self._scope,
            "EndpointDidNotDeploy",
            parameters={
                "Error": "EndpointNotInService",
                "Cause.$": (
                    "States.Format('Endpoint status {} with config {}', $.endpoint.status, $.endpoint.config)"
                ),
            },
            result_path=ERROR_PATH,
        ).next(self._on_failure)
        timed_out = sfn.Pass(
            self._scope,
            "EndpointWaitExhausted",
            parameters={
                "Error": "EndpointNotInService",
                "Cause": f"Endpoint not InService after {self._endpoint.max_wait_minutes} minutes",
            },
            result_path=ERROR_PATH,
        ).next(self._on_failure)
        return failed, timed_out

    def _in_service_check(
        self, *, promote: sfn.IChainable, failed: sfn.IChainable, poll_again: sfn.IChainable
    ) -> sfn.Choice:
        return (
            sfn.Choice(self._scope, "EndpointInService?")
            .when(
                sfn.Condition.and_(
                    sfn.Condition.string_equals("$.endpoint.status", "InService"),
                    sfn.Condition.string_equals_json_path("$.endpoint.config", DEPLOY.endpoint_config_name),
                ),
                promote,
            )
            # InService on another config: the update was rolled back.
            .when(sfn.Condition.string_equals("$.endpoint.status", "InService"), failed)
            .when(sfn.Condition.string_equals("$.endpoint.status", "Failed"), failed)
            # Creating, Updating, RollingBack, ...: still on its way, and every poll counts.
            .otherwise(poll_again)
        )

    def _promote(self) -> sfn.IChainable:
        deployed_attributes = {
            "endpoint_name": {"S": self._endpoint.name},
            "endpoint_config_name": {"S.$": DEPLOY.endpoint_config_name},
        }
        promote = self._registry.status_update_item(
            model_name_path=DEPLOY.model_name,
            status=ModelStatus.DEPLOYED,
            expected=PROMOTED_BY_WORKFLOW,
            extra=deployed_attributes,
        )
        # The champion is read again here, not reused from the start of the run: another run may
        # have deployed a model meanwhile, and it is that one this promotion must retire.
        current = self._registry.find_deployed("FindCurrentChampion", result_path=CURRENT_CHAMPION_QUERY)
        catch_all(current, self._on_failure)
        swap = self._registry.transact(
            "PromoteAndRetire",
            comment="New champion DEPLOYED and the old one RETIRED, in one transaction",
            items=[
                promote,
                self._registry.status_update_item(
                    model_name_path=CURRENT_CHAMPION_PATH,
                    status=ModelStatus.RETIRED,
                    expected=ModelStatus.DEPLOYED,
                    extra={"retired_by": {"S.$": DEPLOY.model_name}},
                ),
            ],
        )
        first = self._registry.transact(
            "PromoteFirstModel",
            comment="First champion: nothing to retire",
            items=[promote],
        )
        self._announce(after_swap=swap, after_first=first)
        return current.next(
            sfn.Choice(self._scope, "RetireChampion?")
            .when(sfn.Condition.is_present(CURRENT_CHAMPION_PATH), swap)
            .otherwise(first)
        )

    def _announce(self, *, after_swap: sfn.TaskStateBase, after_first: sfn.TaskStateBase) -> None:
        """Both promotions end in the DEPLOYED message; its failure does not undo the deployment."""
        # The message names the retired champion; the first model's has no `replaced` at all.
        message = {
            "event": "DEPLOYED",
            "execution.$": "$$.Execution.Id",
            "model_name.$": DEPLOY.model_name,
            "endpoint": self._endpoint.name,
            "metric.$": "$.run.gate.metric",
            "value.$": "$.evaluation.candidate.metric",
        }
        announce = notify(
            self._scope,
            "NotifyDeployed",
            topic=self._topic,
            subject="ML pipeline: model deployed",
            message=sfn.TaskInput.from_json_path_at("$.announcement"),
        )
        done = sfn.Succeed(self._scope, "Deployed")
        retired = sfn.Pass(
            self._scope,
            "ReplacedChampion",
            parameters={**message, "replaced.$": CURRENT_CHAMPION_PATH},
            result_path="$.announcement",
        )
        nothing_retired = sfn.Pass(
            self._scope, "ReplacedNothing", parameters=message, result_path="$.announcement"
        )
        # Serving and promoted: (re)register autoscaling, then announce.
        after_promotion: sfn.IChainable = announce
        if self._autoscaling is not None:
            after_promotion = self._autoscaling.after_promotion(
                announce, registry=self._registry, topic=self._topic, model_name_path=DEPLOY.model_name
            )
        for task, replaced in ((after_swap, retired), (after_first, nothing_retired)):
            catch_all(task, self._on_failure)
            task.next(replaced)
            replaced.next(after_promotion)
        catch_all(announce, done)
        announce.next(done)


def sagemaker_arn(scope: Construct, resource: str, name: str) -> str:
    """ARN of a SageMaker resource (or a name pattern) in the stack's account and region."""
    return Stack.of(scope).format_arn(service="sagemaker", resource=resource, resource_name=name)
