"""CLI fixtures: stubbed AWS backends, and one local stack (real synth, instant SageMaker) per package."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.stub import Stubber
from typer.testing import CliRunner, Result

from local_mode.checks.role_access import RoleAccess
from local_mode.cloud.executions import ExecutionResult
from local_mode.cloud.local_cloud import LocalCloud
from local_mode.sagemaker.api_server import SageMakerApiServer
from local_mode.sagemaker.tasks import SageMakerTasks
from pipeline_cli.backend import Backend, console_execution_url
from pipeline_cli.cli import app
from tests.support.instant_sagemaker import InstantRunner, InstantSageMaker, jsonl, prepared_records

REGION = "us-east-1"
OUTPUTS = {
    "TrainingWorkflowArn": "arn:aws:states:us-east-1:123456789012:stateMachine:Training",
    "EvaluationWorkflowArn": "arn:aws:states:us-east-1:123456789012:stateMachine:Evaluation",
    "DataBucketName": "data-bucket",
    "ArtifactsBucketName": "artifacts-bucket",
    "ModelRegistryTableName": "registry",
    "NotificationTopicArn": "arn:aws:sns:us-east-1:123456789012:topic",
    "EndpointName": "tf2-digits",
    "SageMakerRoleArn": "arn:aws:iam::123456789012:role/sagemaker",
}
TRANSFORM_RECORDS = 20


def instant_runner() -> InstantRunner:
    """What the instant jobs report: 600 s of training billed 240 s on spot, 90 s per processing or
    transform job, and these final metrics."""
    return InstantRunner(
        training_seconds=600,
        spot_billable_seconds=240,
        job_seconds=90,
        metrics={"val_accuracy": 0.981, "val_loss": 0.061},
    )


Invoke = Callable[..., Result]


@dataclass
class Stubs:
    """Real botocore clients with Stubbers, behind a Backend the commands accept."""

    backend: Backend
    clients: dict[str, BaseClient]
    stubbers: dict[str, Stubber]

    def __getitem__(self, service: str) -> Stubber:
        return self.stubbers[service]


@pytest.fixture
def stubs() -> Iterator[Stubs]:
    services = ("cloudformation", "stepfunctions", "sagemaker", "dynamodb")
    clients = {s: boto3.session.Session().client(s, region_name=REGION) for s in services}
    stubbers = {s: Stubber(c) for s, c in clients.items()}
    for stubber in stubbers.values():
        stubber.activate()
    backend = Backend(
        region=REGION,
        outputs=dict(OUTPUTS),
        client_factory=clients.__getitem__,
        load_template=lambda: {"Resources": {}, "Outputs": {}},
        console_url=lambda arn: console_execution_url(REGION, arn),
        poll_seconds=0.0,
    )
    yield Stubs(backend, clients, stubbers)
    for stubber in stubbers.values():
        stubber.assert_no_pending_responses()
        stubber.deactivate()


@pytest.fixture
def invoke() -> Invoke:
    """Run the CLI in process; stderr apart from stdout, so one-line errors can be checked."""

    def run(*args: str, input: str | None = None, env: Mapping[str, str] | None = None) -> Result:
        return CliRunner().invoke(app, list(args), input=input, env=dict(env or {}), catch_exceptions=False)

    return run


# --- the local stack ------------------------------------------------------------------------------


@dataclass
class LocalStack:
    cloud: LocalCloud
    sagemaker: InstantSageMaker
    session_file: Path

    @property
    def outputs(self) -> dict[str, Any]:
        return self.cloud.outputs

    def train(self, execution_input: Mapping[str, Any] | None = None, *, name: str) -> ExecutionResult:
        """A run that trains a new model: the step cache is off (these tests are about the CLI, and an
        identical earlier run's training would be reused)."""
        settings = {"cache": {"enabled": False}, **(execution_input or {})}
        return self.cloud.run(self.outputs["TrainingWorkflowArn"], settings, name=name, timeout=60)

    def registry(self) -> dict[str, dict[str, Any]]:
        from pipeline_cli.registry import from_item

        items = self.cloud.client("dynamodb").scan(TableName=self.outputs["ModelRegistryTableName"])["Items"]
        return {item["model_name"]["S"]: from_item(item) for item in items}


@pytest.fixture(scope="package")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The real app synthesized and running in LocalCloud; SageMaker is LocalSageMaker with the instant
    runner (jobs acting as their roles), served to the CLI over its API as `local_mode serve` does;
    session.json written as serve writes it."""
    import app as cdk_app

    logging.getLogger("moto").setLevel(logging.CRITICAL)  # every forwarded SageMaker call logs otherwise
    # The Lambdas run in this process: their INFO lines would land in the CLI's captured stdout.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    workdir = tmp_path_factory.mktemp("local-session")
    cdk_app.build_app(outdir=str(workdir / "cdk.out")).synth()
    built: dict[str, InstantSageMaker] = {}

    def sagemaker(cloud: LocalCloud) -> InstantSageMaker:
        built["sagemaker"] = InstantSageMaker(
            runner=instant_runner(),
            s3_client=cloud.client("s3"),
            workdir=workdir / "sagemaker",
            region=cloud.region,
            account_id=cloud.account_id,
            access=RoleAccess(cloud.client, region=cloud.region, account_id=cloud.account_id),
            autoscaling=cloud.client("application-autoscaling"),
        )
        return built["sagemaker"]

    with (
        LocalCloud.from_cdk_out(
            workdir / "cdk.out", cdk_app.STACK_NAME, sagemaker=SageMakerTasks(sagemaker)
        ) as cloud,
        SageMakerApiServer(built["sagemaker"]) as api,
    ):
        data = cloud.outputs["DataBucketName"]
        s3 = cloud.client("s3")
        for prefix in ("prepared/digits/", "labelled/latest/"):
            for channel in ("train", "validation"):
                s3.put_object(Bucket=data, Key=f"{prefix}{channel}/metadata.json", Body=b'{"counts": {}}')
            records = jsonl(prepared_records(TRANSFORM_RECORDS))
            s3.put_object(Bucket=data, Key=f"{prefix}transform/part-0.jsonl", Body=records)
        session = {
            "endpoint_url": cloud.endpoint_url,
            "region": cloud.region,
            "outputs": cloud.outputs,
            "template_path": f"cdk.out/{cdk_app.STACK_NAME}.template.json",  # relative: to the session file
            "sagemaker_api_url": api.url,
        }
        session_file = workdir / "session.json"
        session_file.write_text(json.dumps(session))
        yield LocalStack(cloud=cloud, sagemaker=built["sagemaker"], session_file=session_file)


@pytest.fixture
def local_invoke(local_stack: LocalStack, invoke: Invoke) -> Invoke:
    """The CLI with --local pointed at the package's local stack."""

    def run(*args: str, input: str | None = None) -> Result:
        return invoke(
            "--local", *args, input=input, env={"MLPIPELINE_SESSION": str(local_stack.session_file)}
        )

    return run
