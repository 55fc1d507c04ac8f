"""Deploy a synthesized app into a local account the way the README deploys it: with the CDK CLI.

`cdk bootstrap` and `cdk deploy` (the CLI pinned in package.json) run against moto's server as
they would against AWS: the CLI publishes the assets to the bootstrap bucket and creates the stack
through a CloudFormation change set, which moto's CloudFormation carries out (with
`cfn_resources` for the types it does not model). What the stack is afterwards comes from
CloudFormation: `DescribeStacks` (status, outputs) and `ListStackResources` (physical ids).

moto reads a change set's `TemplateURL` path-style only when the URL names `localhost`, so the CLI
is pointed at `http://localhost:PORT`, not 127.0.0.1 (see ../shared/research/aws-fidelity.md).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from botocore.client import BaseClient

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
CDK_CLI: Final = REPO_ROOT / "node_modules" / ".bin" / "cdk"
DEPLOY_TIMEOUT_SECONDS: Final = 300


class DeployError(RuntimeError):
    """The CDK CLI failed; the message ends with the tail of its output."""


@dataclass(frozen=True)
class StackResource:
    logical_id: str
    resource_type: str
    physical_id: str
    status: str


@dataclass(frozen=True)
class DeployedStack:
    """A stack as CloudFormation describes it after the deploy."""

    name: str
    stack_id: str
    status: str
    outputs: Mapping[str, str]
    resources: Mapping[str, StackResource]  # by logical id
    seconds: float

    def physical_ids(self, resource_type: str) -> dict[str, str]:
        """Logical id → physical id of every resource of one type."""
        return {
            r.logical_id: r.physical_id for r in self.resources.values() if r.resource_type == resource_type
        }


def cli_environment(endpoint_url: str, region: str) -> dict[str, str]:
    """The environment under which the CDK CLI talks to the local account instead of AWS."""
    return {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint_url.replace("127.0.0.1", "localhost"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "CDK_DISABLE_VERSION_CHECK": "1",
    }


def run_cli(args: list[str], *, env: Mapping[str, str], log: Path) -> None:
    """Run the pinned CDK CLI from the repository root (its cdk.json), output appended to `log`."""
    if not CDK_CLI.exists():
        raise DeployError(f"the CDK CLI is not installed at {CDK_CLI}: run `make install` (npm ci)")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as output:
        output.write(f"$ cdk {' '.join(args)}\n")
        output.flush()
        completed = subprocess.run(
            [str(CDK_CLI), *args, "--no-notices", "--ci"],
            cwd=REPO_ROOT,
            env=dict(env),
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=DEPLOY_TIMEOUT_SECONDS,
            check=False,
        )
    if completed.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-25:])
        raise DeployError(f"cdk {args[0]} failed (exit {completed.returncode}); full log: {log}\n{tail}")


def deploy(
    cdk_out: Path,
    stack_name: str,
    *,
    endpoint_url: str,
    region: str,
    account_id: str,
    cloudformation: BaseClient,
    log: Path,
) -> DeployedStack:
    """`cdk bootstrap` the local account, `cdk deploy` the assembly, describe the result."""
    started = time.perf_counter()
    env = cli_environment(endpoint_url, region)
    run_cli(["bootstrap", f"aws://{account_id}/{region}", "--app", str(cdk_out)], env=env, log=log)
    run_cli(
        ["deploy", stack_name, "--app", str(cdk_out), "--require-approval", "never"],
        env=env,
        log=log,
    )
    return describe(cloudformation, stack_name, seconds=time.perf_counter() - started)


def describe(cloudformation: BaseClient, stack_name: str, *, seconds: float = 0.0) -> DeployedStack:
    [stack] = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    if not str(stack["StackStatus"]).endswith("_COMPLETE") or "ROLLBACK" in str(stack["StackStatus"]):
        raise DeployError(
            f"stack {stack_name} is {stack['StackStatus']}: {stack.get('StackStatusReason', '')}"
        )
    return DeployedStack(
        name=stack_name,
        stack_id=str(stack["StackId"]),
        status=str(stack["StackStatus"]),
        outputs={o["OutputKey"]: str(o["OutputValue"]) for o in stack.get("Outputs") or []},
        resources=_resources(cloudformation, stack_name),
        seconds=seconds,
    )


def _resources(cloudformation: BaseClient, stack_name: str) -> dict[str, StackResource]:
    found: dict[str, StackResource] = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for summary in page["StackResourceSummaries"]:
            resource = _resource(summary)
            found[resource.logical_id] = resource
    return found


def _resource(summary: Mapping[str, Any]) -> StackResource:
    return StackResource(
        logical_id=str(summary["LogicalResourceId"]),
        resource_type=str(summary["ResourceType"]),
        physical_id=str(summary["PhysicalResourceId"]),
        status=str(summary["ResourceStatus"]),
    )
