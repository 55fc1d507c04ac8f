"""The step cache: its table, and the states that put a SageMaker job behind a lookup.

`StepCache.around(step, job)` builds, in the caller's scope:

    Find<Name>InCache → <Name>Cached? → hit:  Reuse<Name>  (the recorded result at `result_path`)
                                      → miss: <job> → Fresh<Name> (this job's result) → Cache<Name>

Both ends leave `result_path` as `{..., "reused": bool, "source_job": the job that did the work}`.
The key and the checks are the function's (lambdas/step_cache.py); what enters the key is what
the caller puts in `request` and `inputs` (never a job name, output location or tag).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from lambdas.step_cache import PARTITION_KEY, TTL_ATTRIBUTE

from .tables import EncryptedTable
from .workflow_steps import invoke_lambda

CACHE_SETTINGS_PATH = "$.run.cache"


class StepCacheTable(EncryptedTable):
    """One item per cached step result, keyed by its content digest; DynamoDB's TTL deletes old ones."""

    partition_key = PARTITION_KEY
    time_to_live_attribute = TTL_ATTRIBUTE
    # Every entry can be recomputed by running its job again: nothing to keep.
    removal_policy = RemovalPolicy.DESTROY


@dataclass(frozen=True)
class CachedStep:
    """One SageMaker job behind the cache.

    `name` names the states; `step` is the function's step kind; `request` and `inputs` (input
    name → s3:// URI, JSONPath values allowed) are what the key is computed from; `fresh_result`
    is the result of a job that ran (Pass parameters), stored for later runs; `artifact` is the
    field of the result whose objects must still exist for a hit.
    """

    name: str
    step: str
    request: Mapping[str, Any]
    inputs: Mapping[str, Any]
    result_path: str
    fresh_result: Mapping[str, Any]
    artifact: str
    after_reuse: sfn.IChainable | None = field(default=None)

    @property
    def lookup_path(self) -> str:
        return f"$.cache_{self.name.lower()}"


class StepCache:
    """Builds cached steps in `scope`; every Task state's failure goes to `on_failure` (None: inside a
    Parallel branch, whose Catch is the Parallel's own)."""

    def __init__(
        self, scope: Construct, *, function: lambda_.IFunction, on_failure: sfn.IChainable | None
    ) -> None:
        self._scope = scope
        self._function = function
        self._on_failure = on_failure

    def around(self, step: CachedStep, job: sfn.Chain | sfn.State) -> sfn.Chain:
        scope = self._scope
        lookup = invoke_lambda(
            scope,
            f"Find{step.name}InCache",
            self._function,
            payload={
                "action": "lookup",
                "step": step.step,
                "settings": sfn.JsonPath.object_at(CACHE_SETTINGS_PATH),
                "request": dict(step.request),
                "inputs": dict(step.inputs),
            },
            result_path=step.lookup_path,
            failure=self._on_failure,
        )
        reuse: sfn.Chain | sfn.Pass = sfn.Pass(
            scope,
            f"Reuse{step.name}",
            comment="The recorded result of the same work, whose output still exists",
            input_path=f"{step.lookup_path}.result",
            result_path=step.result_path,
        )
        if step.after_reuse is not None:
            reuse = reuse.next(step.after_reuse)
        fresh = sfn.Pass(
            scope,
            f"Fresh{step.name}",
            parameters={**step.fresh_result, "reused": False},
            result_path=step.result_path,
        )
        record = invoke_lambda(
            scope,
            f"Cache{step.name}",
            self._function,
            payload={
                "action": "record",
                "lookup": sfn.JsonPath.object_at(step.lookup_path),
                "result": sfn.JsonPath.object_at(step.result_path),
                "artifact_uri": sfn.JsonPath.string_at(f"{step.result_path}.{step.artifact}"),
                "execution": sfn.JsonPath.execution_id,
                "max_age_days": sfn.JsonPath.number_at(f"{CACHE_SETTINGS_PATH}.max_age_days"),
            },
            result_path=sfn.JsonPath.DISCARD,
            failure=self._on_failure,
        )
        run_job = job if isinstance(job, sfn.Chain) else sfn.Chain.start(job)
        choice = (
            sfn.Choice(scope, f"{step.name}Cached?")
            .when(sfn.Condition.boolean_equals(f"{step.lookup_path}.hit", True), reuse)
            .otherwise(run_job)
        )
        run_job.next(fresh).next(record)
        ends = choice.afterwards()
        lookup.next(choice)
        return sfn.Chain.custom(lookup, ends.end_states, record)
