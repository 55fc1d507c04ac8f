"""`LocalCloud`: the app's stack, deployed with `cdk deploy` into a local account, running without AWS.

moto runs as a server in a thread on 127.0.0.1 with real Step Functions execution. The CDK CLI
bootstraps that account and deploys the synthesized assembly into it (`cdk_deploy`): assets are
published by the CLI, the stack is created by moto's CloudFormation (`moto_deploy` adds what it
leaves out), and everything LocalCloud knows of the stack (outputs, physical ids) comes from
CloudFormation afterwards. Lambda functions run in process from the code they were deployed with,
every AWS call they make authorized as their execution role (`role_calls`); each topic gets an SQS
queue subscribed, so tests can read notifications back.

Before an execution starts, the state machine's definition is checked against its role's policies
(`iam_check`), and each Task's request, with the names the run computed, is authorized as that
role when the Task runs (`task_calls`). Every SageMaker Task is served by the plug-in given to
LocalCloud as `sagemaker` (`local_mode.sagemaker.tasks.SageMakerTasks`), its requests validated by
its backend and its responses against the API model. This package does not import
`local_mode.sagemaker` (tests/local/test_layout.py).

moto's backends are process-global: one LocalCloud at a time per process.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from local_mode.checks import iam_check
from local_mode.checks.role_access import RoleAccess
from local_mode.checks.role_calls import RoleCalls
from local_mode.checks.task_calls import TaskCalls
from local_mode.cloud import cdk_deploy, moto_deploy, service_events
from local_mode.cloud.executions import (
    ExecutionResult,
    Notification,
    await_child_execution,
    epoch_millis,
    notification_from_message,
    wait_for_execution,
)
from local_mode.cloud.lambdas import LocalLambda
from local_mode.cloud.moto_hooks import (
    TaskContext,
    TaskError,
    TaskHooks,
    refused_task_error,
    resource_key,
    sdk_error_name,
)
from local_mode.cloud.moto_server import ACCOUNT_ID, DEFAULT_REGION, FAKE_CREDENTIALS, MotoServer

LOG = logging.getLogger(__name__)


# --- LocalCloud -----------------------------------------------------------------------------


class TaskPlugin(Protocol):
    """Serves a service's Step Functions Tasks from outside the cloud, e.g. SageMaker's
    (`local_mode.sagemaker.tasks.SageMakerTasks`): `attach` registers its handlers on `cloud.hooks`
    once the stack is deployed and returns the backend; `close` runs when the cloud closes."""

    def attach(self, cloud: LocalCloud) -> Any: ...

    def close(self) -> None: ...


class LocalCloud:
    """The stack of a cloud assembly, deployed into a local moto server (context manager).

    `cdk_out`: the synthesized assembly (`cdk synth` or `app.build_app(outdir=...).synth()`).
    `sagemaker`: the plug-in that serves the SageMaker Tasks (`TaskPlugin`:
    `local_mode.sagemaker.tasks.SageMakerTasks(backend or factory)`), attached once the stack is
    deployed and closed with the cloud; `self.sagemaker` is then the backend it attached.
    `wait_cap_seconds` / `retry_interval_cap_seconds`: the longest a Wait state / a Retry interval
    really waits (None: as long as the definition says).
    `check_iam`: check each state machine's definition against its role before its first run, and
    authorize each Task's request as the role when it runs.
    `deploy_log`: where the CDK CLI's output goes (default: a scratch folder removed on close).
    """

    def __init__(
        self,
        cdk_out: Path | str,
        stack_name: str,
        *,
        sagemaker: TaskPlugin | None = None,
        wait_cap_seconds: float | None = 0.1,
        retry_interval_cap_seconds: float | None = 0.1,
        check_iam: bool = True,
        deploy_log: Path | None = None,
        region: str = DEFAULT_REGION,
    ) -> None:
        self.cdk_out = Path(cdk_out).resolve()
        self.stack_name = stack_name
        self.region = region
        self.account_id = ACCOUNT_ID
        self.partition = "aws"
        self.hooks = TaskHooks(
            wait_cap_seconds=wait_cap_seconds, retry_interval_cap_seconds=retry_interval_cap_seconds
        )
        self.check_iam_before_start = check_iam
        self.deploy_log = deploy_log
        self.stack: cdk_deploy.DeployedStack | None = None
        self.outputs: dict[str, Any] = {}
        self.state_machines: dict[str, str] = {}  # logical id → ARN
        self.functions: dict[str, LocalLambda] = {}  # logical id → function
        self.sagemaker: Any = None  # the backend the plug-in attached
        self._sagemaker_arg = sagemaker
        self._sagemaker_plugin: TaskPlugin | None = None  # attached, so closed here
        self._server = MotoServer(self.region)
        self._topic_queues: dict[str, str] = {}  # topic ARN → queue URL
        self._notifications: list[Notification] = []
        self._iam_checked: set[str] = set()
        self._scratch: Path | None = None

    @classmethod
    def from_cdk_out(cls, cdk_out: Path | str, stack: str, **kwargs: Any) -> LocalCloud:
        return cls(cdk_out, stack, **kwargs)

    # -- lifecycle --

    def __enter__(self) -> LocalCloud:
        self.hooks.install()  # first: it refuses while another LocalCloud runs in this process
        try:
            moto_deploy.install()
            self._server.start()
            self._scratch = Path(tempfile.mkdtemp(prefix="local-cloud-"))
            self._register_nested_executions()
            self.stack = cdk_deploy.deploy(
                self.cdk_out,
                self.stack_name,
                endpoint_url=self.endpoint_url,
                region=self.region,
                account_id=self.account_id,
                cloudformation=self.client("cloudformation"),
                log=self.deploy_log or self._scratch / "cdk-deploy.log",
            )
            self._check_log_groups()
            self.outputs = dict(self.stack.outputs)
            self.state_machines = self.stack.physical_ids("AWS::StepFunctions::StateMachine")
            self._register_functions()
            self._observe_topics()
            if self.check_iam_before_start:
                self.hooks.authorizer = self._task_authorizer()
            if self._sagemaker_arg is not None:
                self.attach_sagemaker(self._sagemaker_arg)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._sagemaker_plugin is not None:
            try:  # stops its endpoint server; its owner may have closed it already
                self._sagemaker_plugin.close()
            except Exception:
                LOG.warning("closing the local SageMaker failed", exc_info=True)
        self.hooks.uninstall()
        self._server.stop()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def attach_sagemaker(self, plugin: TaskPlugin) -> Any:
        """Serve the SageMaker Tasks through `plugin`; returns the backend it attached."""
        self._sagemaker_plugin = plugin
        self.sagemaker = plugin.attach(self)
        return self.sagemaker

    # -- access --

    @property
    def endpoint_url(self) -> str:
        return self._server.endpoint_url

    def client(self, service_name: str) -> BaseClient:
        return self._server.client(service_name)

    def physical_name(self, logical_id: str) -> str:
        """The physical id CloudFormation gave a resource of the stack."""
        if self.stack is None or logical_id not in self.stack.resources:
            raise KeyError(f"no resource {logical_id} in the deployed stack")
        return self.stack.resources[logical_id].physical_id

    def state_machine_arn(self, name: str) -> str:
        """The ARN of a state machine by logical id, physical name, or stack output."""
        if name in self.state_machines:
            return self.state_machines[name]
        for arn in self.state_machines.values():
            if name == arn.rsplit(":", 1)[-1]:
                return arn
        if isinstance(self.outputs.get(name), str) and ":stateMachine:" in self.outputs[name]:
            return str(self.outputs[name])
        raise KeyError(f"no state machine named {name}; known: {sorted(self.state_machines)}")

    # -- executions --

    def start_execution(
        self, state_machine_arn: str, input: Mapping[str, Any] | str | None = None, name: str | None = None
    ) -> str:
        """Start an execution (always named: moto mishandles unnamed ones); returns its ARN."""
        if self.check_iam_before_start:
            self.assert_iam(state_machine_arn)
        # Any JSON value is a valid input ([] and 0 too); only "no input" means {}.
        payload = input if isinstance(input, str) else json.dumps({} if input is None else input)
        execution_name = name or f"local-{uuid.uuid4().hex[:16]}"
        response = self.client("stepfunctions").start_execution(
            stateMachineArn=state_machine_arn, name=execution_name, input=payload
        )
        return str(response["executionArn"])

    def wait_for_execution(
        self, execution_arn: str, timeout: float = 120.0, poll: float = 0.05
    ) -> ExecutionResult:
        """Wait until the execution ends; on timeout stop it and raise TimeoutError."""
        return wait_for_execution(self.client("stepfunctions"), execution_arn, timeout, poll)

    def run(
        self,
        state_machine: str,
        input: Mapping[str, Any] | str | None = None,
        *,
        name: str | None = None,
        timeout: float = 120.0,
    ) -> ExecutionResult:
        """Start an execution of a state machine (ARN, logical id or name) and wait for it."""
        arn = state_machine if state_machine.startswith("arn:") else self.state_machine_arn(state_machine)
        return self.wait_for_execution(self.start_execution(arn, input, name), timeout)

    # -- IAM --

    def role_policies(self, role_name: str) -> list[dict[str, Any]]:
        """The policy documents of a role: inline ones and attached managed ones."""
        iam = self.client("iam")
        documents = [
            _document(iam.get_role_policy(RoleName=role_name, PolicyName=policy)["PolicyDocument"])
            for policy in iam.list_role_policies(RoleName=role_name)["PolicyNames"]
        ]
        for attached in iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]:
            with contextlib.suppress(ClientError):  # AWS-managed policies are not loaded in moto
                policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
                version = iam.get_policy_version(
                    PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"]
                )["PolicyVersion"]
                documents.append(_document(version["Document"]))
        return documents

    def check_iam(self, state_machine_arn: str) -> list[iam_check.Finding]:
        """What the state machine's definition needs that its role's policies do not allow."""
        description = self.client("stepfunctions").describe_state_machine(stateMachineArn=state_machine_arn)
        role_arn = description["roleArn"]
        account = iam_check.Account(self.region, self.account_id, self.partition)
        policies = self.role_policies(role_arn.rsplit("/", 1)[-1])
        return iam_check.check_definition(description["definition"], policies, account, role_arn=role_arn)

    def assert_iam(self, state_machine_arn: str) -> None:
        """Raise IamCheckError naming each missing action and state (checked once per machine)."""
        if state_machine_arn in self._iam_checked:
            return
        findings = self.check_iam(state_machine_arn)
        if findings:
            role = self.client("stepfunctions").describe_state_machine(stateMachineArn=state_machine_arn)[
                "roleArn"
            ]
            raise iam_check.IamCheckError(state_machine_arn, role, findings)
        self._iam_checked.add(state_machine_arn)

    def _task_authorizer(self) -> Callable[[TaskContext, dict[str, Any]], TaskError | None]:
        """Each Task's request authorized as its state machine's role, names resolved (`task_calls`)."""
        roles: dict[str, str] = {}

        def role_of(state_machine_arn: str) -> str:
            if state_machine_arn not in roles:
                roles[state_machine_arn] = self.client("stepfunctions").describe_state_machine(
                    stateMachineArn=state_machine_arn
                )["roleArn"]
            return roles[state_machine_arn]

        calls = TaskCalls(
            RoleAccess(self.client, region=self.region, account_id=self.account_id),
            role_of=role_of,
            account=iam_check.Account(self.region, self.account_id, self.partition),
        )

        def authorize(context: TaskContext, parameters: dict[str, Any]) -> TaskError | None:
            refused = calls.refusal(
                state_machine_arn=context.state_machine_arn,
                resource=context.resource,
                parameters=parameters,
                session_name=context.execution_name,
            )
            if refused is None:
                return None
            return refused_task_error(resource_key(context.resource), refused.code, refused.message)

        return authorize

    # -- services acting on the stack --

    def fire_alarm(self, alarm: str, reason: str = "") -> list[service_events.Delivery]:
        """Put an alarm (logical id or name) in ALARM; its actions are delivered as CloudWatch would."""
        name = self.physical_name(alarm) if self.stack and alarm in self.stack.resources else alarm
        return service_events.fire_alarm(self.client, name, account_id=self.account_id, reason=reason)

    def fire_rule(self, rule: str) -> list[service_events.Delivery]:
        """Deliver an EventBridge rule's event (logical id or name) to its targets as EventBridge would."""
        name = self.physical_name(rule) if self.stack and rule in self.stack.resources else rule
        return service_events.fire_rule(
            self.client, name, account_id=self.account_id, role_policies=self.role_policies
        )

    def _check_log_groups(self) -> None:
        """AWS refuses a KMS-encrypted log group whose key CloudWatch Logs may not use."""
        refused = [
            d
            for d in service_events.log_group_decisions(
                self.client, region=self.region, account_id=self.account_id
            )
            if not d.allowed
        ]
        if refused:
            raise cdk_deploy.DeployError(
                "CloudWatch Logs may not use the key of "
                + "; ".join(f"{d.resource}: {d.message}" for d in refused)
            )

    # -- notifications --

    def notifications(self, topic_arn: str | None = None) -> list[Notification]:
        """Every message published so far to the stack's topics (or one topic)."""
        sqs = self.client("sqs")
        for topic, queue_url in self._topic_queues.items():
            while True:
                messages = sqs.receive_message(
                    QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
                ).get("Messages", [])
                if not messages:
                    break
                for message in messages:
                    self._notifications.append(notification_from_message(topic, message["Body"]))
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return [n for n in self._notifications if topic_arn is None or n.topic_arn == topic_arn]

    # -- internals --

    def _register_functions(self) -> None:
        """Each Python function of the stack, run in process from the code it was deployed with."""
        assert self.stack is not None and self._scratch is not None
        lambda_client = self.client("lambda")
        access = RoleAccess(self.client, region=self.region, account_id=self.account_id)
        for logical_id, name in self.stack.physical_ids("AWS::Lambda::Function").items():
            config = lambda_client.get_function_configuration(FunctionName=name)
            if not str(config.get("Runtime", "")).startswith("python"):
                LOG.warning("function %s (%s) does not run locally", logical_id, config.get("Runtime"))
                continue
            code_dir = self._scratch / "lambda" / name
            with zipfile.ZipFile(
                io.BytesIO(moto_deploy.published_code(self.account_id, self.region, name))
            ) as z:
                z.extractall(code_dir)
            arn = str(config["FunctionArn"])
            function = LocalLambda(
                name=name,
                arn=arn,
                code_dir=code_dir,
                handler=str(config["Handler"]),
                timeout=float(config.get("Timeout", 3)),
                memory=int(config.get("MemorySize", 128)),
                environment={
                    **self._lambda_environment(name),
                    **(config.get("Environment") or {}).get("Variables", {}),
                },
                # the function's credentials: its role's session named after it (Lambda adds the key)
                role=RoleCalls(
                    access,
                    str(config["Role"]),
                    session_name=name,
                    context={"lambda:SourceFunctionArn": arn},
                ),
            )
            self.functions[logical_id] = function
            self.hooks.register_lambda(name, function)

    def _lambda_environment(self, name: str) -> dict[str, str]:
        """What the Lambda runtime sets, pointed at the local account."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": FAKE_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIALS["aws_secret_access_key"],
            "AWS_SESSION_TOKEN": FAKE_CREDENTIALS["aws_session_token"],
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        }

    def _observe_topics(self) -> None:
        """A queue subscribed to each topic, so that what the workflows publish can be read back."""
        assert self.stack is not None
        sqs, sns = self.client("sqs"), self.client("sns")
        for logical_id, topic_arn in self.stack.physical_ids("AWS::SNS::Topic").items():
            queue_url = sqs.create_queue(QueueName=f"local-notifications-{logical_id}"[:80])["QueueUrl"]
            queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
            self._topic_queues[topic_arn] = queue_url

    def _register_nested_executions(self) -> None:
        # moto 5.2.5 calls StartExecution with the definition's PascalCase names and reads the
        # response the same way, so `states:startExecution(.sync)` never works: served here.
        for suffix, wait, parse in (("", False, False), (".sync", True, False), (".sync:2", True, True)):
            self.hooks.register(f"states:startExecution{suffix}", self._nested_execution(wait, parse))

    def _nested_execution(self, wait: bool, parse: bool) -> Callable[[dict[str, Any], TaskContext], Any]:
        def handle(parameters: dict[str, Any], context: TaskContext) -> dict[str, Any]:
            machine = parameters["StateMachineArn"]
            payload = parameters.get("Input", {})
            try:
                if self.check_iam_before_start:
                    self.assert_iam(machine)
                started = self.client("stepfunctions").start_execution(
                    stateMachineArn=machine,
                    name=parameters.get("Name") or f"{context.execution_name[:40]}-{uuid.uuid4().hex[:16]}",
                    input=payload if isinstance(payload, str) else json.dumps(payload),
                )
            except ClientError as exc:
                error = exc.response["Error"]
                raise TaskError(sdk_error_name("StepFunctions", error["Code"]), error["Message"]) from exc
            if not wait:
                return {
                    "ExecutionArn": started["executionArn"],
                    "StartDate": epoch_millis(started["startDate"]),
                }
            return await_child_execution(
                self.client("stepfunctions"), started["executionArn"], context, parse
            )

        return handle


def _document(document: Any) -> dict[str, Any]:
    return json.loads(document) if isinstance(document, str) else dict(document)
