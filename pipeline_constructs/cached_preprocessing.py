"""Preprocessing behind the step cache: the same raw data prepared by the same code is not prepared again.

Builds its states in the caller's scope (state names are the workflow's own). On a hit, the run goes
on with the recorded prepared data: `$.run.data_uri` becomes that prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from contract import PREPROCESSING_ENTRY_POINT

from .sagemaker_tasks import SyncJobState
from .step_cache import CachedStep, StepCache
from .training_jobs import preprocess


@dataclass(frozen=True)
class Preprocessing:
    """The cached preprocessing step (ending with `$.run.data_uri` naming the prepared data)."""

    chain: sfn.IChainable
    job: SyncJobState


def cached_preprocess(
    scope: Construct,
    *,
    cache: StepCache,
    role: iam.IRole,
    processing_image: str,
    code_uri: str,
    code_version: str,
    on_failure: sfn.IChainable,
) -> Preprocessing:
    """Preprocess, unless the same raw data was prepared by the same code before: then use that data."""
    job = preprocess(
        scope, role=role, processing_image=processing_image, code_uri=code_uri, on_failure=on_failure
    )
    # A hit's data_uri replaces the run's (every later step reads $.run.data_uri).
    merge = sfn.Pass(
        scope,
        "MergePreparedData",
        parameters={"run.$": "States.JsonMerge($.run, $.preprocessing.prepared, false)"},
        result_path="$.prepared_run",
    )
    use = sfn.Pass(scope, "UsePreparedData", input_path="$.prepared_run.run", result_path="$.run")
    chain = cache.around(
        CachedStep(
            name="PreparedData",
            step="preprocess",
            request={
                "image": processing_image,
                "code_version": code_version,
                "entry_point": PREPROCESSING_ENTRY_POINT,
                # The instance count shards the output: it changes what is written.
                "instance_count": sfn.JsonPath.number_at("$.run.processing.instance_count"),
                "instance_type": sfn.JsonPath.string_at("$.run.processing.instance_type"),
            },
            inputs={"raw": sfn.JsonPath.string_at("$.run.raw_data_uri")},
            result_path="$.preprocessing",
            fresh_result={
                "prepared": {"data_uri.$": "$.run.data_uri"},
                "source_job.$": "$.preprocessing.job",
            },
            artifact="prepared.data_uri",
            after_reuse=merge.next(use),
        ),
        job,
    )
    return Preprocessing(chain=chain, job=job)
