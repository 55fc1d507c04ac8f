"""`resume`: a new execution with a failed one's input, going on from the first step that had not succeeded.

Steps that succeeded are SageMaker jobs the step cache recorded (lambdas/step_cache.py): the new
execution finds them and reuses their results, so it starts no job that already succeeded.
Step Functions' own redrive is not used: every Catch of these workflows leads to a registry
write and a Fail state, so a redriven execution would restart at that Fail state; and redrive
keeps the old execution's attempt plan and names, which a run that must create its job again
(for instance after the job's output expired) cannot reuse.
"""

from __future__ import annotations

import json
import secrets
from typing import Any, Final

from lambdas.execution_input import MAX_REASON_CHARS, PARENT_EXECUTION_KEY
from pipeline_cli.backend import Backend
from pipeline_cli.errors import EXIT_USAGE, CliError

RESUMABLE: Final = ("FAILED", "TIMED_OUT", "ABORTED")
CACHED_WORKFLOW: Final = "training"
_NAME_MAX: Final = 80


def resumed_input(backend: Backend, execution_arn: str) -> dict[str, Any]:
    """The input of the execution that resumes `execution_arn` (a failed training execution)."""
    description = backend.client("stepfunctions").describe_execution(executionArn=execution_arn)
    status = str(description["status"])
    if status not in RESUMABLE:
        raise CliError(
            f"{execution_arn} is {status}: only a failed, timed-out or aborted execution can be resumed",
            EXIT_USAGE,
        )
    workflow = backend.workflow_of(str(description["stateMachineArn"]))
    if workflow != CACHED_WORKFLOW:
        raise CliError(
            f"{execution_arn} is a {workflow} execution: only the training workflow's steps are cached; "
            "start it again instead",
            EXIT_USAGE,
        )
    raw = json.loads(description.get("input") or "{}")
    if not isinstance(raw, dict):
        raise CliError(f"{execution_arn} had a non-object input: it could not have started a run", EXIT_USAGE)
    cache = raw.get("cache")
    if isinstance(cache, dict) and cache.get("enabled") is False:
        raise CliError(
            f"{execution_arn} ran with cache.enabled false: nothing it did was recorded to reuse; "
            "start it again instead",
            EXIT_USAGE,
        )
    raw.pop(PARENT_EXECUTION_KEY, None)  # the new execution is this command's, not the parent's
    raw["reason"] = f"resume of {execution_name(execution_arn)}"[:MAX_REASON_CHARS]
    return raw


def execution_name(execution_arn: str) -> str:
    return execution_arn.rsplit(":", 1)[-1]


def resume_name(execution_arn: str) -> str:
    """`resume-<old name>-<hex>`, within Step Functions' 80 characters."""
    suffix = f"-{secrets.token_hex(3)}"
    return f"resume-{execution_name(execution_arn)}"[: _NAME_MAX - len(suffix)] + suffix
