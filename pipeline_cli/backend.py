"""Where commands get their AWS clients, the stack's outputs and its template: the deployed stack
(the user's credentials, CloudFormation outputs) or the local session (`local-run/session.json`).

Commands take a `Backend`, so every command runs the same against AWS, local mode and stubs.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlparse

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from pipeline_cli._paths import REPO_ROOT
from pipeline_cli.definitions import WORKFLOW_OUTPUTS, definition_by_workflow
from pipeline_cli.errors import NO_REGION, CliError, error_code, error_message

DEFAULT_STACK: Final = "TfModelLifecycle"  # app.STACK_NAME, without importing the CDK app (seconds)
SESSION_ENV: Final = "MLPIPELINE_SESSION"
SESSION_FILE: Final = Path("local-run") / "session.json"
# Local mode's moto server accepts any credentials; these keep boto3 from looking for real ones.
LOCAL_CREDENTIALS: Final = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}
REQUIRED_SESSION_KEYS: Final = ("endpoint_url", "region", "outputs", "template_path")

ClientFactory = Callable[[str], BaseClient]


@dataclass(frozen=True)
class Target:
    """Which stack a command talks to (global options, overridable per command)."""

    local: bool = False
    stack: str = DEFAULT_STACK
    region: str | None = None
    session_file: Path | None = None

    def merged(self, *, local: bool, stack: str | None, region: str | None) -> Target:
        return Target(
            local=self.local or local,
            stack=stack or self.stack,
            region=region or self.region,
            session_file=self.session_file,
        )


@dataclass
class Backend:
    """AWS clients, stack outputs, the stack's template and console links, for one stack."""

    region: str
    outputs: Mapping[str, str]
    client_factory: ClientFactory
    load_template: Callable[[], dict[str, Any]]
    console_url: Callable[[str], str | None]
    local: bool = False
    poll_seconds: float = 5.0
    # Local mode serves SageMaker in the session's process; without its API URL the CLI cannot ask it.
    sagemaker_available: bool = True
    _clients: dict[str, BaseClient] = field(default_factory=dict, repr=False)
    _template: dict[str, Any] | None = field(default=None, repr=False)

    def client(self, service: str) -> BaseClient:
        if service == "sagemaker" and not self.sagemaker_available:
            raise CliError(
                "This local session does not serve the SageMaker API (no sagemaker_api_url in its "
                "session.json): restart it with a current `python -m local_mode serve`."
            )
        if service not in self._clients:
            self._clients[service] = self.client_factory(service)
        return self._clients[service]

    def output(self, name: str) -> str:
        value = self.outputs.get(name)
        if not value:
            raise CliError(f"The stack has no output {name}: deploy the current version of the stack.")
        return str(value)

    def template(self) -> dict[str, Any]:
        if self._template is None:
            self._template = self.load_template()
        return self._template

    def definition(self, workflow: str) -> dict[str, Any]:
        return definition_by_workflow(self.template(), workflow)

    def workflow_arn(self, workflow: str) -> str:
        return self.output(WORKFLOW_OUTPUTS[workflow])

    def workflow_of(self, state_machine_arn: str) -> str:
        """`training` or `evaluation` for one of the stack's state machines."""
        for workflow, output in WORKFLOW_OUTPUTS.items():
            if self.outputs.get(output) == state_machine_arn:
                return workflow
        raise CliError(f"{state_machine_arn} is not one of this stack's workflows.")


# --- the deployed stack ---------------------------------------------------------------------------


def console_execution_url(region: str, execution_arn: str) -> str:
    return (
        f"https://{region}.console.aws.amazon.com/states/home?region={region}"
        f"#/v2/executions/details/{execution_arn}"
    )


def stack_outputs(cloudformation: BaseClient, stack: str) -> dict[str, str]:
    """OutputKey → OutputValue of a deployed stack."""
    try:
        [description] = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        if error_code(error) == "ValidationError" and "does not exist" in error_message(error):
            region = cloudformation.meta.region_name
            raise CliError(
                f"Stack {stack} not found in {region}: deploy it (npx cdk deploy {stack}), "
                "or pass --stack / --region."
            ) from None
        raise
    return {o["OutputKey"]: o["OutputValue"] for o in description.get("Outputs", [])}


def deployed_template(cloudformation: BaseClient, stack: str) -> dict[str, Any]:
    """The template CloudFormation holds for the stack (what is deployed, not what cdk.out says)."""
    body = cloudformation.get_template(StackName=stack, TemplateStage="Original")["TemplateBody"]
    if isinstance(body, str):  # botocore decodes JSON templates itself; a string is YAML
        try:
            body = json.loads(body)
        except json.JSONDecodeError:
            raise CliError(
                f"The template of {stack} is not JSON; the CLI reads CDK's JSON templates."
            ) from None
    return dict(body)


def aws_backend(target: Target, *, client_factory: ClientFactory | None = None) -> Backend:
    """The deployed stack, with the user's credentials and region."""
    if client_factory is None:
        # AWS_REGION as the AWS CLI v2 and the SDKs read it; botocore itself reads AWS_DEFAULT_REGION.
        session = boto3.session.Session(region_name=target.region or os.environ.get("AWS_REGION"))
        region = session.region_name
        if not region:
            raise CliError(NO_REGION)

        def factory(service: str) -> BaseClient:
            return session.client(service, region_name=region)

        client_factory = factory
    cloudformation = client_factory("cloudformation")
    region = str(cloudformation.meta.region_name)
    outputs = stack_outputs(cloudformation, target.stack)
    return Backend(
        region=region,
        outputs=outputs,
        client_factory=client_factory,
        load_template=lambda: deployed_template(cloudformation, target.stack),
        console_url=lambda arn: console_execution_url(region, arn),
        _clients={"cloudformation": cloudformation},
    )


# --- the local session ----------------------------------------------------------------------------


def session_path(explicit: Path | None = None) -> Path:
    """--session, else $MLPIPELINE_SESSION, else ./local-run/session.json, else the checkout's."""
    if explicit is not None:
        return explicit
    if os.environ.get(SESSION_ENV):
        return Path(os.environ[SESSION_ENV])
    here = Path.cwd() / SESSION_FILE
    return here if here.exists() else REPO_ROOT / SESSION_FILE


def read_session(path: Path) -> dict[str, Any]:
    start_hint = "start one with `python -m local_mode serve` (it writes local-run/session.json)"
    if not path.exists():
        raise CliError(f"No local session: {path} does not exist; {start_hint}.")
    try:
        session = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise CliError(f"{path} is not JSON ({error}); {start_hint}.") from None
    missing = [key for key in REQUIRED_SESSION_KEYS if not isinstance(session, dict) or key not in session]
    if missing:
        raise CliError(f"{path} lacks {', '.join(missing)}; {start_hint}.")
    if not _answers(session["endpoint_url"]):
        raise CliError(
            f"The local session in {path} is not running (nothing answers at {session['endpoint_url']}); "
            f"{start_hint}."
        )
    template = Path(session["template_path"])
    session["template_path"] = str(template if template.is_absolute() else path.parent / template)
    return dict(session)


def _answers(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 80), timeout=2):
            return True
    except OSError:
        return False


def local_backend(target: Target) -> Backend:
    """The stack that `python -m local_mode serve` keeps running on this machine."""
    session = read_session(session_path(target.session_file))
    region = str(session["region"])
    boto = boto3.session.Session(region_name=region, **LOCAL_CREDENTIALS)
    sagemaker_url = session.get("sagemaker_api_url")
    config = Config(retries={"max_attempts": 2, "mode": "standard"})

    def factory(service: str) -> BaseClient:
        url = sagemaker_url if service == "sagemaker" else session["endpoint_url"]
        return boto.client(service, endpoint_url=url, config=config)

    template_path = Path(session["template_path"])

    def load_template() -> dict[str, Any]:
        if not template_path.exists():
            raise CliError(f"The local session's template {template_path} is gone: restart the session.")
        return dict(json.loads(template_path.read_text()))

    return Backend(
        region=region,
        outputs=dict(session["outputs"]),
        client_factory=factory,
        load_template=load_template,
        console_url=lambda _arn: None,
        local=True,
        poll_seconds=0.25,
        sagemaker_available=bool(sagemaker_url),
    )


def make_backend(target: Target) -> Backend:
    return local_backend(target) if target.local else aws_backend(target)
