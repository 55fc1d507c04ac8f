"""`rollback`: serve an earlier champion again, the way the training workflow deploys.

The SageMaker calls are the training workflow's own deploy states (CreateModel,
CreateEndpointConfig, UpdateEndpoint / CreateEndpoint), read from the deployed state machine's
definition and filled in from a `DeploymentTarget` (deployment's typed entry, which knows where
the workflow holds each input); the registry then changes in one transaction, conditioned on what
it held when the rollback was planned.

Autoscaling is kept as the workflow keeps it: the update retains the live instance count (the
workflow's UpdateEndpoint parameters carry `RetainAllVariantProperties`), a change of instance
type deregisters the variant first, and the workflow's RegisterScalableTarget / PutScalingPolicy
are replayed once the endpoint serves the target.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from lambdas.model_registry import DEPLOYABLE, ModelStatus, literal, status_write, transact_update
from pipeline_cli.backend import Backend
from pipeline_cli.definitions import all_states
from pipeline_cli.errors import CliError, error_code, error_message
from pipeline_cli.registry import get_model, newest_with_status, now_iso
from pipeline_constructs.deployment_entry import EXECUTION_PATH, RUN_ID_PATH, DeploymentTarget

_WHY_NOT: Final[dict[str, str]] = {  # StrEnum keys: looked up with plain status strings
    ModelStatus.REJECTED: "it failed the quality gate or a person rejected it",
    ModelStatus.SAME_AS_CHAMPION: "it is the model of the champion named in same_as: roll back to that",
    ModelStatus.PENDING_APPROVAL: "it waits for a person's approval (mlpipeline approve)",
    ModelStatus.FAILED: "its training run failed",
    ModelStatus.TRAINING: "it has not finished training",
    ModelStatus.TRAINED: "it has not been evaluated",
}
MAX_CONFIG_NAME: Final = 63


@dataclass(frozen=True)
class RollbackPlan:
    target: dict[str, Any]
    current: dict[str, Any] | None
    endpoint_name: str

    @property
    def target_name(self) -> str:
        return str(self.target["model_name"])

    @property
    def current_name(self) -> str | None:
        return str(self.current["model_name"]) if self.current else None


# --- which model -----------------------------------------------------------------------------------


def refuse(model: dict[str, Any]) -> CliError:
    status = str(model.get("status"))
    name = model["model_name"]
    if status == ModelStatus.DEPLOYED:
        return CliError(f"{name} is already deployed.")
    reason = _WHY_NOT.get(status)
    detail = model.get("rejection") or model.get("failure_error")
    because = f": {reason}" + (f" ({detail})" if detail else "") if reason else ""
    allowed = " or ".join(s.value for s in DEPLOYABLE)
    return CliError(f"{name} is {status}{because}; only {allowed} models can be deployed.")


def plan_rollback(backend: Backend, to: str | None) -> RollbackPlan:
    """The model to serve (named, else the one the current champion retired) and the current one."""
    backend.client("sagemaker")  # fails now, before the plan is shown, if SageMaker cannot be reached
    deployed = newest_with_status(backend, ModelStatus.DEPLOYED)
    current = deployed[0] if deployed else None
    if to is not None:
        target = get_model(backend, to)
        if target is None:
            raise CliError(f"No model named {to} in the registry: see `models`.")
    elif current is None:
        raise CliError("Nothing is deployed, so there is no previous champion: name a model with --to.")
    else:
        retired = [
            m
            for m in newest_with_status(backend, ModelStatus.RETIRED)
            if m.get("retired_by") == current["model_name"]
        ]
        if not retired:
            raise CliError(
                f"{current['model_name']} replaced no model (it was the first champion): name one with --to."
            )
        target = retired[0]
    if target.get("status") not in DEPLOYABLE:
        raise refuse(target)
    return RollbackPlan(target=target, current=current, endpoint_name=backend.output("EndpointName"))


# --- the workflow's deploy states ------------------------------------------------------------------


def deploy_parameters(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`createModel`, `createEndpointConfig`, `updateEndpoint`, `createEndpoint` → the Parameters
    of the training workflow's state calling it."""
    found: dict[str, dict[str, Any]] = {}
    for state in all_states(definition).values():
        resource = str(state.get("Resource", ""))
        operation = resource.rsplit(":", 1)[-1]
        if ":sagemaker:" in resource and operation in (
            "createModel",
            "createEndpointConfig",
            "updateEndpoint",
            "createEndpoint",
        ):
            found[operation] = state.get("Parameters", {})
    missing = {"createModel", "createEndpointConfig", "updateEndpoint", "createEndpoint"} - set(found)
    if missing:
        raise CliError(
            f"The training workflow has no {', '.join(sorted(missing))} state: is the stack current?"
        )
    return found


def fill(parameters: Any, values: dict[str, str]) -> Any:
    """Parameters with each `"Key.$": "$.path"` replaced by `"Key": values[path]`
    (`values`: a `DeploymentTarget`'s `state_data()`)."""
    if isinstance(parameters, list):
        return [fill(item, values) for item in parameters]
    if not isinstance(parameters, dict):
        return parameters
    filled: dict[str, Any] = {}
    for key, value in parameters.items():
        if key.endswith(".$"):
            if value not in values:
                raise CliError(
                    f"The workflow's deploy parameter {key} reads {value}, which rollback cannot fill."
                )
            filled[key[:-2]] = values[value]
        else:
            filled[key] = fill(value, values)
    return filled


def rollback_values(target: DeploymentTarget) -> dict[str, str]:
    """The target's state data, and what the cost allocation tags read outside a workflow run:
    what a rollback recreates is tagged run_id `rollback`, execution `mlpipeline rollback`."""
    return {**target.state_data(), RUN_ID_PATH: "rollback", EXECUTION_PATH: "mlpipeline rollback"}


def new_config_name(model_name: str, now: datetime | None = None) -> str:
    suffix = f"-rb{(now or datetime.now(UTC)):%y%m%d%H%M%S}"
    return model_name[: MAX_CONFIG_NAME - len(suffix)] + suffix


def autoscaling_parameters(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`registerScalableTarget`, `putScalingPolicy`, `deregisterScalableTarget` → the Parameters of the
    training workflow's Application Auto Scaling states; empty when cdk.json turns autoscaling off."""
    found: dict[str, dict[str, Any]] = {}
    for state in all_states(definition).values():
        resource = str(state.get("Resource", ""))
        operation = resource.rsplit(":", 1)[-1]
        if ":aws-sdk:applicationautoscaling:" in resource and operation in _AUTOSCALING_OPERATIONS:
            found[operation] = state.get("Parameters", {})
    return found


_AUTOSCALING_OPERATIONS: Final = ("registerScalableTarget", "putScalingPolicy", "deregisterScalableTarget")


# --- deploying -------------------------------------------------------------------------------------


def _exists(call: Callable[[], Any]) -> bool:
    """SageMaker answers a missing model, config or endpoint with a ValidationException."""
    try:
        call()
    except ClientError as error:
        if error_code(error) == "ValidationException" and "Could not find" in error_message(error):
            return False
        raise
    return True


def ensure_endpoint_config(
    sagemaker: BaseClient, plan: RollbackPlan, steps: dict[str, dict[str, Any]]
) -> str:
    """The target's endpoint config; recreated (and its SageMaker model) when they were deleted."""
    name = plan.target_name
    if not _exists(lambda: sagemaker.describe_model(ModelName=name)):
        model_data = plan.target.get("model_data_url")
        if not model_data:
            raise CliError(
                f"{name}'s SageMaker model is gone and the registry has no model_data_url to recreate it."
            )
        target = DeploymentTarget(model_name=name, model_data_url=str(model_data))
        sagemaker.create_model(**fill(steps["createModel"], rollback_values(target)))
    config = plan.target.get("endpoint_config_name")
    if config and _exists(lambda: sagemaker.describe_endpoint_config(EndpointConfigName=config)):
        return str(config)
    config = new_config_name(name)
    target = DeploymentTarget(model_name=name, endpoint_config_name=config)
    sagemaker.create_endpoint_config(**fill(steps["createEndpointConfig"], rollback_values(target)))
    return config


def _instance_types(sagemaker: BaseClient, config: str) -> dict[str, str | None]:
    variants = sagemaker.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"]
    return {v["VariantName"]: v.get("InstanceType") for v in variants}


def step_aside_autoscaling(
    autoscaling: BaseClient,
    sagemaker: BaseClient,
    plan: RollbackPlan,
    scaling: dict[str, dict[str, Any]],
    config: str,
) -> bool:
    """Deregister the variant when `config` changes its instance type (SageMaker refuses that update
    for a registered variant, as the workflow's DeregisterScalableTarget does); True when it did."""
    deregister = scaling.get("deregisterScalableTarget")
    if deregister is None:
        return False
    try:
        live = sagemaker.describe_endpoint(EndpointName=plan.endpoint_name)
    except ClientError as error:
        if error_code(error) == "ValidationException" and "Could not find" in error_message(error):
            return False  # no endpoint: CreateEndpoint follows, nothing is registered
        raise
    if _instance_types(sagemaker, live["EndpointConfigName"]) == _instance_types(sagemaker, config):
        return False
    registered = autoscaling.describe_scalable_targets(
        ServiceNamespace=deregister["ServiceNamespace"],
        ResourceIds=[deregister["ResourceId"]],
        ScalableDimension=deregister["ScalableDimension"],
    )["ScalableTargets"]
    if not registered:
        return False
    autoscaling.deregister_scalable_target(**deregister)
    return True


def restore_autoscaling(autoscaling: BaseClient, scaling: dict[str, dict[str, Any]]) -> None:
    """Register the variant and its policy again, as the workflow does once the endpoint is InService."""
    if "registerScalableTarget" in scaling:
        autoscaling.register_scalable_target(**scaling["registerScalableTarget"])
    if "putScalingPolicy" in scaling:
        autoscaling.put_scaling_policy(**scaling["putScalingPolicy"])


def switch_endpoint(
    sagemaker: BaseClient, plan: RollbackPlan, steps: dict[str, dict[str, Any]], config: str
) -> None:
    """UpdateEndpoint (blue/green, as the workflow does), or CreateEndpoint when there is none."""
    values = rollback_values(DeploymentTarget(model_name=plan.target_name, endpoint_config_name=config))
    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=plan.endpoint_name)
    except ClientError as error:
        if error_code(error) != "ValidationException" or "Could not find" not in error_message(error):
            raise
        sagemaker.create_endpoint(
            **{**fill(steps["createEndpoint"], values), "EndpointName": plan.endpoint_name}
        )
        return
    if endpoint["EndpointStatus"] != "InService":
        raise CliError(
            f"Endpoint {plan.endpoint_name} is {endpoint['EndpointStatus']}: "
            "wait until it is InService, then retry."
        )
    sagemaker.update_endpoint(**{**fill(steps["updateEndpoint"], values), "EndpointName": plan.endpoint_name})


def wait_in_service(
    sagemaker: BaseClient, endpoint: str, config: str, *, timeout: float, poll: float
) -> None:
    """Until the endpoint serves `config`; errors when it fails, rolls back or takes too long."""
    deadline = time.monotonic() + timeout
    while True:
        described = sagemaker.describe_endpoint(EndpointName=endpoint)
        status = described["EndpointStatus"]
        reason = described.get("FailureReason", "")
        serving = described.get("EndpointConfigName")
        if status == "InService" and serving == config:
            return
        if status in ("Failed", "InService"):  # InService on another config: the update rolled back
            raise CliError(
                f"Endpoint {endpoint} did not take {config} ({status}, serving {serving}): "
                f"{reason or 'see its CloudWatch logs'}. The registry was not changed."
            )
        if time.monotonic() > deadline:
            raise CliError(
                f"Endpoint {endpoint} still {status} after {timeout:.0f}s; the registry was not changed: "
                "re-run rollback once it is InService."
            )
        time.sleep(poll)


# --- the registry ---------------------------------------------------------------------------------


def promotion(table: str, plan: RollbackPlan, config: str, now: str) -> list[dict[str, Any]]:
    """Target DEPLOYED, current RETIRED: each conditioned on the status the plan saw."""

    def update(name: str, status: ModelStatus, expected: str, extra: dict[str, str]) -> dict[str, Any]:
        attributes = {key: literal(value) for key, value in extra.items()}
        write = status_write(
            status, now=literal(now), string=literal, attributes=attributes, expected=expected
        )
        return transact_update(table, literal(name), write)

    target = {"endpoint_name": plan.endpoint_name, "endpoint_config_name": config}
    items = [update(plan.target_name, ModelStatus.DEPLOYED, str(plan.target["status"]), target)]
    if plan.current_name is not None:
        items.append(
            update(
                plan.current_name, ModelStatus.RETIRED, ModelStatus.DEPLOYED, {"retired_by": plan.target_name}
            )
        )
    return items


def commit(backend: Backend, plan: RollbackPlan, config: str) -> None:
    table = backend.output("ModelRegistryTableName")
    try:
        backend.client("dynamodb").transact_write_items(
            TransactItems=promotion(table, plan, config, now_iso())
        )
    except ClientError as error:
        if error_code(error) != "TransactionCanceledException":
            raise
        reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
        raise CliError(
            f"The registry changed while rolling back ({json.dumps(reasons)}): endpoint "
            f"{plan.endpoint_name} now serves {plan.target_name}, but the registry was not updated; "
            "check `models` and fix the statuses."
        ) from None


def rollback(backend: Backend, plan: RollbackPlan, *, timeout: float, poll: float) -> str:
    """Deploy the plan's target and record it; returns the endpoint config it serves."""
    definition = json.loads(
        backend.client("stepfunctions").describe_state_machine(
            stateMachineArn=backend.workflow_arn("training")
        )["definition"]
    )
    steps = deploy_parameters(definition)
    scaling = autoscaling_parameters(definition)
    sagemaker = backend.client("sagemaker")
    config = ensure_endpoint_config(sagemaker, plan, steps)
    autoscaling = backend.client("application-autoscaling") if scaling else None
    if autoscaling is not None:
        step_aside_autoscaling(autoscaling, sagemaker, plan, scaling, config)
    switch_endpoint(sagemaker, plan, steps, config)
    wait_in_service(sagemaker, plan.endpoint_name, config, timeout=timeout, poll=poll)
    if autoscaling is not None:  # the capacity was retained by the update; the registration is renewed
        restore_autoscaling(autoscaling, scaling)
    commit(backend, plan, config)
    return config
