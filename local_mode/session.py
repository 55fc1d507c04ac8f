"""A local session: the app synthesized, deployed with `cdk deploy` into LocalCloud, SageMaker served locally.

`open_session` is what the demo, `python -m local_mode serve` and the CLI's tests share:
one way to go from the CDK app to running workflows on this machine.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_mode.checks.role_access import RoleAccess
from local_mode.cloud.local_cloud import LocalCloud
from local_mode.sagemaker.api_server import SageMakerApiServer
from local_mode.sagemaker.local_sagemaker import LocalSageMaker
from local_mode.sagemaker.tasks import SageMakerTasks

SESSION_FILE = "session.json"
LogCallback = Callable[[str, str], None]


@dataclass
class LocalSession:
    """The running local stack and where its pieces are."""

    cloud: LocalCloud
    sagemaker: LocalSageMaker
    sagemaker_api: SageMakerApiServer
    workdir: Path
    template_path: Path
    synth_seconds: float
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def deploy_seconds(self) -> float:
        """`cdk bootstrap` and `cdk deploy` into the local account."""
        return self.cloud.stack.seconds if self.cloud.stack else 0.0

    def describe(self) -> dict[str, Any]:
        """What a client needs to reach this session (written to `session.json`)."""
        return {
            "endpoint_url": self.cloud.endpoint_url,
            # The SageMaker API (Describe*, UpdateEndpoint, ...) for clients such as the operator CLI.
            "sagemaker_api_url": self.sagemaker_api.url,
            "region": self.cloud.region,
            "outputs": self.outputs,
            "template_path": str(self.template_path),
            # SageMaker runtime (InvokeEndpoint) for the local endpoints.
            "runtime_url": self.sagemaker.server_url,
        }


def synthesize(outdir: Path) -> Path:
    """Synthesize the CDK app into `outdir`; returns the stack's template path."""
    import app as cdk_app  # the CDK app is only needed here (and takes a few seconds to import)

    cdk_app.build_app(outdir=str(outdir)).synth()
    return outdir / f"{cdk_app.STACK_NAME}.template.json"


@contextlib.contextmanager
def open_session(workdir: Path, *, on_log: LogCallback | None = None) -> Iterator[LocalSession]:
    """Synthesize the app, `cdk deploy` it into a local account and serve SageMaker from this machine."""
    import app as cdk_app

    # Jobs run in subprocesses that change directory: every path handed to them must be absolute.
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    template_path = synthesize(workdir / "cdk.out")
    synth_seconds = time.perf_counter() - started
    built: dict[str, LocalSageMaker] = {}

    def sagemaker_factory(cloud: LocalCloud) -> LocalSageMaker:
        built["sagemaker"] = LocalSageMaker(
            s3_client=cloud.client("s3"),
            workdir=workdir / "sagemaker",
            region=cloud.region,
            account_id=cloud.account_id,
            on_log=on_log,
            # Every job reads and writes S3 as its execution role, checked against the deployed policies.
            access=RoleAccess(cloud.client, region=cloud.region, account_id=cloud.account_id),
            autoscaling=cloud.client("application-autoscaling"),
            cloudwatch=cloud.client("cloudwatch"),
        )
        return built["sagemaker"]

    with LocalCloud(
        workdir / "cdk.out",
        cdk_app.STACK_NAME,
        sagemaker=SageMakerTasks(sagemaker_factory),
        deploy_log=workdir / "cdk-deploy.log",
    ) as cloud:
        sagemaker = built["sagemaker"]
        try:
            with SageMakerApiServer(sagemaker) as sagemaker_api:
                yield LocalSession(
                    cloud=cloud,
                    sagemaker=sagemaker,
                    sagemaker_api=sagemaker_api,
                    workdir=workdir,
                    template_path=template_path,
                    synth_seconds=synth_seconds,
                    outputs=dict(cloud.outputs),
                )
        finally:
            sagemaker.close()


def write_session_file(session: LocalSession) -> Path:
    path = session.workdir / SESSION_FILE
    path.write_text(json.dumps(session.describe(), indent=2))
    return path
