"""The synthesized app, deployed with `cdk deploy` into LocalCloud with the local SageMaker and its instant
job runner (every job acting as its role), and what the workflow tests ask of it.

One synth per test session (shared by pytest-xdist workers through a lock file), one LocalCloud
per process (moto is process-global), reset between tests: registry emptied, SageMaker
forgotten, injections cleared. Executions are always named; what a test checks is filtered by
its own execution ARNs, so nothing depends on test order.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from lambdas.model_registry import PARTITION_KEY, ModelStatus, deployed_names, literal, read_models
from lambdas.step_cache import PARTITION_KEY as CACHE_KEY
from local_mode.checks.role_access import RoleAccess
from local_mode.cloud.executions import ExecutionResult
from local_mode.cloud.local_cloud import LocalCloud
from local_mode.cloud.moto_hooks import TaskInvocation
from local_mode.sagemaker.tasks import SageMakerTasks
from pipeline_cli.backend import Backend
from pipeline_cli.definitions import WORKFLOW_OUTPUTS, all_states, definition_by_workflow
from tests.support.instant_sagemaker import (
    InstantSageMaker,
    jsonl,
    prepared_records,
    set_model_archive,
    tiny_model_archive,
)

STACK_NAME: Final = "TfModelLifecycle"
WORKFLOWS: Final = ("training", "evaluation")
PERMANENT_ERROR: Final = "Injected.PermanentFailure"
EXECUTION_TIMEOUT: Final = 60.0
PARENT_EXECUTION_KEY: Final = "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"
SAMPLE_FEATURES: Final = [[float((i * 7) % 256) for i in range(784)]]


def _data_settings() -> dict[str, str]:
    context: dict[str, Any] = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())
    return dict(context["context"]["mlops"]["data"])


# Data the defaults point at (cdk.json mlops.data): prepared channels, fresh labelled data, raw data.
PREPARED_PREFIX: Final = _data_settings()["dataset_uri_prefix"]
LABELLED_PREFIX: Final = _data_settings()["evaluation_uri_prefix"]
RAW_PREFIX: Final = _data_settings()["raw_uri_prefix"]


# --- one synth per session ------------------------------------------------------------------


def session_dir() -> Path:
    """A folder shared by every process of this pytest run (xdist workers included)."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"pid{os.getpid()}"
    path = Path(tempfile.gettempdir()) / f"tests-workflows-{run}"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def synthesized_app() -> Path:
    """`app.build_app(outdir=...).synth()` once per session; returns the cloud assembly folder."""
    root = session_dir()
    out = root / "cdk.out"
    with _locked(root / "synth.lock"):
        if not (out / "done").exists():
            import app as cdk_app

            shutil.rmtree(out, ignore_errors=True)
            cdk_app.build_app(outdir=str(out)).synth()
            (out / "done").write_text("")
    return out


def model_archive() -> bytes:
    """The instant runner's tiny SavedModel archive, built once per session and shared."""
    root = session_dir()
    path = root / "tiny-model.tar.gz"
    with _locked(root / "model.lock"):
        if not path.exists():
            path.write_bytes(tiny_model_archive())
    data = path.read_bytes()
    set_model_archive(data)
    return data


def template_json(cdk_out: Path) -> dict[str, Any]:
    return dict(json.loads((cdk_out / f"{STACK_NAME}.template.json").read_text()))


def task_states(template: Mapping[str, Any], workflow: str) -> dict[str, dict[str, Any]]:
    """Every Task state of a workflow (Parallel branches included), from its definition."""
    definition = definition_by_workflow(dict(template), workflow)
    return {name: state for name, state in all_states(definition).items() if state["Type"] == "Task"}


def first_retry_error(state: Mapping[str, Any]) -> str:
    return str(state["Retry"][0]["ErrorEquals"][0])


def catch_target(state: Mapping[str, Any], states: Mapping[str, Any]) -> str | None:
    """The first Task a failure of `state` reaches: its first Catch, followed through the Choice and
    Pass states (guards) in between, within the same `states`."""
    catches = state.get("Catch") or []
    pending = [str(catches[0]["Next"])] if catches else []
    seen: set[str] = set()
    while pending:
        name = pending.pop(0)
        if name in seen or name not in states:
            continue
        seen.add(name)
        target = states[name]
        if target["Type"] == "Task":
            return name
        if target["Type"] == "Choice":
            pending += [str(c["Next"]) for c in target.get("Choices", [])]
            pending += [str(target["Default"])] if "Default" in target else []
        elif target["Type"] == "Pass" and "Next" in target:
            pending.append(str(target["Next"]))
    return None


# --- the running stack ----------------------------------------------------------------------


def execution_name(hint: str) -> str:
    clean = "".join(c if c.isalnum() or c in "-_" else "-" for c in hint)[:60]
    return f"{clean}-{uuid.uuid4().hex[:10]}"


@dataclass
class Stack:
    """The app's stack in LocalCloud, with the helpers the workflow tests share."""

    cloud: LocalCloud
    sagemaker: InstantSageMaker
    template: dict[str, Any]
    machine_arns: dict[str, str] = field(default_factory=dict)

    @property
    def outputs(self) -> dict[str, Any]:
        return self.cloud.outputs

    @property
    def data_bucket(self) -> str:
        return str(self.outputs["DataBucketName"])

    @property
    def artifacts_bucket(self) -> str:
        return str(self.outputs["ArtifactsBucketName"])

    @property
    def table(self) -> str:
        return str(self.outputs["ModelRegistryTableName"])

    @property
    def cache_table(self) -> str:
        return str(self.outputs["StepCacheTableName"])

    @property
    def endpoint_name(self) -> str:
        return str(self.outputs["EndpointName"])

    def machine(self, workflow: str) -> str:
        return str(self.outputs[WORKFLOW_OUTPUTS[workflow]])

    def machine_name(self, workflow: str) -> str:
        return self.machine(workflow).rsplit(":", 1)[-1]

    def data_uri(self, prefix: str) -> str:
        return f"s3://{self.data_bucket}/{prefix}"

    # -- executions --

    def start(self, workflow: str, execution_input: Any, hint: str) -> str:
        """Start a named execution; a non-str input is sent as JSON (so `[]` stays a list)."""
        payload = execution_input if isinstance(execution_input, str) else json.dumps(execution_input)
        return self.cloud.start_execution(self.machine(workflow), payload, name=execution_name(hint))

    def wait(self, execution_arn: str, timeout: float = EXECUTION_TIMEOUT) -> ExecutionResult:
        return self.cloud.wait_for_execution(execution_arn, timeout=timeout, poll=0.02)

    def run(
        self, workflow: str, execution_input: Any = None, *, hint: str, timeout: float = EXECUTION_TIMEOUT
    ) -> ExecutionResult:
        arn = self.start(workflow, {} if execution_input is None else execution_input, hint)
        return self.wait(arn, timeout)

    def executions(self, workflow: str) -> list[dict[str, Any]]:
        sfn = self.cloud.client("stepfunctions")
        listed: list[dict[str, Any]] = sfn.list_executions(stateMachineArn=self.machine(workflow))[
            "executions"
        ]
        return listed

    def children(self, execution_arn: str) -> list[dict[str, Any]]:
        """Training executions that `execution_arn` started (their input names their parent)."""
        sfn = self.cloud.client("stepfunctions")
        started = sfn.describe_execution(executionArn=execution_arn)["startDate"]
        found = []
        for execution in self.executions("training"):
            if execution["startDate"] < started:
                continue
            description = sfn.describe_execution(executionArn=execution["executionArn"])
            if json.loads(description["input"]).get(PARENT_EXECUTION_KEY) == execution_arn:
                found.append(description)
        return found

    def inject(self, workflow: str, state: str, error: str, *, times: int = 1, cause: str = "") -> None:
        self.cloud.hooks.inject(
            state, error=error, cause=cause, times=times, state_machine=self.machine_name(workflow)
        )

    # -- the record --

    def calls(self, execution_arn: str, state: str | None = None) -> list[TaskInvocation]:
        return self.cloud.hooks.invocations_of(state, execution_arn=execution_arn)

    def sagemaker_calls(self, execution_arn: str) -> list[TaskInvocation]:
        return [c for c in self.calls(execution_arn) if "sagemaker" in c.resource]

    def registry_writes(self, execution_arn: str) -> list[TaskInvocation]:
        writes = ("dynamodb:putItem", "dynamodb:updateItem", "transactWriteItems", "dynamodb:deleteItem")
        return [c for c in self.calls(execution_arn) if any(w in c.resource for w in writes)]

    def notifications(self, execution_arn: str, event: str | None = None) -> list[dict[str, Any]]:
        """Messages the workflows published about this execution (optionally one event kind)."""
        found = []
        for notification in self.cloud.notifications(str(self.outputs["NotificationTopicArn"])):
            message = notification.json
            if not isinstance(message, dict) or message.get("execution") != execution_arn:
                continue
            if event is None or message.get("event") == event:
                found.append(message)
        return found

    # -- the registry --

    def items(self) -> dict[str, dict[str, Any]]:
        models = read_models(self.cloud.client("dynamodb"), self.table)
        return {str(item[PARTITION_KEY]): item for item in models}

    def items_of(self, execution_arn: str) -> list[dict[str, Any]]:
        """Registry items written by an execution, oldest attempt first."""
        mine = [i for i in self.items().values() if i.get("execution_arn") == execution_arn]
        return sorted(mine, key=lambda i: int(i.get("attempt", 0)))

    def deployed(self) -> list[str]:
        return deployed_names(self.cloud.client("dynamodb"), self.table)

    # -- the endpoint --

    def endpoint(self) -> dict[str, Any] | None:
        try:
            return self.sagemaker.describe_endpoint({"EndpointName": self.endpoint_name})
        except Exception:
            return None

    def invoke_endpoint(self) -> list[list[float]]:
        import boto3

        runtime = boto3.client(
            "sagemaker-runtime",
            endpoint_url=self.sagemaker.server_url,
            region_name=self.cloud.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        response = runtime.invoke_endpoint(
            EndpointName=self.endpoint_name,
            ContentType="application/json",
            Body=json.dumps({"instances": SAMPLE_FEATURES}),
        )
        predictions: list[list[float]] = json.loads(response["Body"].read())["predictions"]
        return predictions

    # -- setting the scene --

    def upload_data(self) -> None:
        s3 = self.cloud.client("s3")
        for channel in ("train", "validation", "test"):
            s3.put_object(
                Bucket=self.data_bucket,
                Key=f"{PREPARED_PREFIX}{channel}/metadata.json",
                Body=b'{"counts": {}}',
            )
        s3.put_object(
            Bucket=self.data_bucket,
            Key=f"{PREPARED_PREFIX}transform/part-00000.jsonl",
            Body=jsonl(prepared_records(20, seed=0)),
        )
        s3.put_object(
            Bucket=self.data_bucket,
            Key=f"{LABELLED_PREFIX}transform/part-00000.jsonl",
            Body=jsonl(prepared_records(20, seed=3)),
        )
        s3.put_object(Bucket=self.data_bucket, Key=f"{RAW_PREFIX}batch-1/digits.npz", Body=b"raw digits")

    def reset(self) -> None:
        """A clean world: no registry items, no cached steps, no SageMaker resources, no injections,
        no record."""
        hooks = self.cloud.hooks
        hooks.clear_injections()
        self._wait_for_running_executions()
        dynamodb = self.cloud.client("dynamodb")
        for name in self.items():
            dynamodb.delete_item(TableName=self.table, Key={PARTITION_KEY: literal(name)})
        self.clear_step_cache()
        self.sagemaker.reset()
        self._deregister_scalable_targets()
        self._quiet_alarms()
        hooks.reset_record()

    def _quiet_alarms(self) -> None:
        """Every alarm back to OK (a fired rollback alarm would roll back the next test's updates)."""
        cloudwatch = self.cloud.client("cloudwatch")
        for alarm in cloudwatch.describe_alarms()["MetricAlarms"]:
            if alarm["StateValue"] != "OK":
                cloudwatch.set_alarm_state(AlarmName=alarm["AlarmName"], StateValue="OK", StateReason="reset")

    def _deregister_scalable_targets(self) -> None:
        autoscaling = self.cloud.client("application-autoscaling")
        for target in autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]:
            autoscaling.deregister_scalable_target(
                ServiceNamespace="sagemaker",
                ResourceId=target["ResourceId"],
                ScalableDimension=target["ScalableDimension"],
            )

    def scalable_targets(self) -> list[dict[str, Any]]:
        """Application Auto Scaling's registrations of the endpoint's variants."""
        autoscaling = self.cloud.client("application-autoscaling")
        targets: list[dict[str, Any]] = autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")[
            "ScalableTargets"
        ]
        return [t for t in targets if t["ResourceId"].startswith(f"endpoint/{self.endpoint_name}/")]

    def redeploy_on(self, instance_type: str, *, autoscaled: bool) -> str:
        """Serve the endpoint's current model on `instance_type` (a previous deployment's size),
        registered with Application Auto Scaling or not; returns the new endpoint config's name."""
        endpoint = self.endpoint()
        assert endpoint is not None, "nothing is deployed"
        live = self.sagemaker.describe_endpoint_config({"EndpointConfigName": endpoint["EndpointConfigName"]})
        [variant] = live["ProductionVariants"]
        config = f"{variant['ModelName'][:40]}-{instance_type.replace('.', '-')}"
        self.sagemaker.create_endpoint_config(
            {"EndpointConfigName": config, "ProductionVariants": [{**variant, "InstanceType": instance_type}]}
        )
        self._deregister_scalable_targets()
        self.sagemaker.update_endpoint({"EndpointName": self.endpoint_name, "EndpointConfigName": config})
        deadline = time.monotonic() + 30
        while (self.endpoint() or {}).get("EndpointConfigName") != config:
            assert time.monotonic() < deadline, f"endpoint did not take {config}: {self.endpoint()}"
        if autoscaled:
            self.cloud.client("application-autoscaling").register_scalable_target(
                ServiceNamespace="sagemaker",
                ResourceId=f"endpoint/{self.endpoint_name}/variant/{variant['VariantName']}",
                ScalableDimension="sagemaker:variant:DesiredInstanceCount",
                MinCapacity=1,
                MaxCapacity=2,
            )
        return config

    def clear_step_cache(self) -> None:
        dynamodb = self.cloud.client("dynamodb")
        for item in dynamodb.scan(TableName=self.cache_table, ProjectionExpression=CACHE_KEY)["Items"]:
            dynamodb.delete_item(TableName=self.cache_table, Key={CACHE_KEY: item[CACHE_KEY]})

    def _wait_for_running_executions(self) -> None:
        sfn = self.cloud.client("stepfunctions")
        for workflow in WORKFLOWS:
            for execution in self.executions(workflow):
                if execution["status"] == "RUNNING":
                    with contextlib.suppress(TimeoutError):
                        self.wait(execution["executionArn"], timeout=10)
                    if sfn.describe_execution(executionArn=execution["executionArn"])["status"] == "RUNNING":
                        sfn.stop_execution(executionArn=execution["executionArn"], cause="test reset")

    def seed_champion(self, name: str | None = None) -> str:
        """A DEPLOYED model as the training workflow leaves one: SageMaker model, config, endpoint, item."""
        model = name or f"tf2-digits-seeded-{uuid.uuid4().hex[:8]}-a1"
        key = f"models/{model}/output/model.tar.gz"
        self.cloud.client("s3").put_object(Bucket=self.artifacts_bucket, Key=key, Body=model_archive())
        model_data_url = f"s3://{self.artifacts_bucket}/{key}"
        sagemaker = self.sagemaker
        sagemaker.create_model(
            {
                "ModelName": model,
                "ExecutionRoleArn": str(self.outputs["SageMakerRoleArn"]),
                "PrimaryContainer": {
                    "Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.20-cpu",
                    "ModelDataUrl": model_data_url,
                    "Mode": "SingleModel",
                },
            }
        )
        sagemaker.create_endpoint_config(
            {
                "EndpointConfigName": model,
                "ProductionVariants": [
                    {
                        "VariantName": "AllTraffic",
                        "ModelName": model,
                        "InstanceType": "ml.m5.large",
                        "InitialInstanceCount": 1,
                    }
                ],
            }
        )
        if self.endpoint() is None:
            sagemaker.create_endpoint({"EndpointName": self.endpoint_name, "EndpointConfigName": model})
        else:
            sagemaker.update_endpoint({"EndpointName": self.endpoint_name, "EndpointConfigName": model})
        deadline = time.monotonic() + 30
        while (self.endpoint() or {}).get("EndpointStatus") != "InService":
            assert time.monotonic() < deadline, f"seeded endpoint not InService: {self.endpoint()}"
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        self.cloud.client("dynamodb").put_item(
            TableName=self.table,
            Item={
                "model_name": {"S": model},
                "status": {"S": ModelStatus.DEPLOYED.value},
                "created_at": {"S": now},
                "updated_at": {"S": now},
                "run_id": {"S": "seeded"},
                "attempt": {"N": "1"},
                "execution_arn": {"S": "seeded"},
                "training_job_name": {"S": model},
                "model_data_url": {"S": model_data_url},
                "endpoint_name": {"S": self.endpoint_name},
                "endpoint_config_name": {"S": model},
                "gate_metric": {"N": "1.0"},
            },
        )
        return model


def cli_backend(stack: Stack) -> Backend:
    """The operator CLI's view of the local stack (what `--local` builds from session.json)."""
    return Backend(
        region=stack.cloud.region,
        outputs=stack.outputs,
        client_factory=stack.cloud.client,
        load_template=lambda: stack.template,
        console_url=lambda _arn: None,
        local=True,
    )


def open_stack(
    cdk_out: Path, workdir: Path, **cloud_options: Any
) -> contextlib.AbstractContextManager[Stack]:
    """LocalCloud on a cloud assembly with the local SageMaker's instant runner, data uploaded."""

    @contextlib.contextmanager
    def opened() -> Iterator[Stack]:
        built: dict[str, InstantSageMaker] = {}

        def factory(cloud: LocalCloud) -> InstantSageMaker:
            built["sagemaker"] = InstantSageMaker(
                s3_client=cloud.client("s3"),
                workdir=workdir,
                region=cloud.region,
                account_id=cloud.account_id,
                access=RoleAccess(cloud.client, region=cloud.region, account_id=cloud.account_id),
                autoscaling=cloud.client("application-autoscaling"),
                cloudwatch=cloud.client("cloudwatch"),
            )
            return built["sagemaker"]

        options = {"wait_cap_seconds": 0.0, "retry_interval_cap_seconds": 0.0, **cloud_options}
        with LocalCloud(cdk_out, STACK_NAME, sagemaker=SageMakerTasks(factory), **options) as cloud:
            stack = Stack(cloud, built["sagemaker"], template_json(cdk_out))
            stack.upload_data()
            yield stack

    return opened()


@dataclass
class StackManager:
    """Keeps at most one LocalCloud open in this process; swaps it when another template is needed."""

    cdk_out: Path
    workdir: Path
    _current: contextlib.ExitStack | None = None
    _stack: Stack | None = None
    _key: Path | None = None

    def get(self, cdk_out: Path | None = None, **cloud_options: Any) -> Stack:
        wanted = cdk_out or self.cdk_out
        if self._stack is not None and self._key == wanted and not cloud_options:
            return self._stack
        self.close()
        exit_stack = contextlib.ExitStack()
        self._stack = exit_stack.enter_context(open_stack(wanted, self.workdir, **cloud_options))
        self._current, self._key = exit_stack, wanted
        return self._stack

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
        self._current = self._stack = self._key = None


def retried(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
