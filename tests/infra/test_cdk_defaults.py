"""What `cdk.json` makes the default execution input is valid for the Lambdas that read it."""

from __future__ import annotations

from typing import Any

import app as cdk_app
from lambdas import attempt_plan, execution_input
from pipeline_constructs import training_jobs
from stacks.model_lifecycle_stack import _evaluation_defaults, _training_defaults
from stacks.settings import CONTEXT_KEY, load_settings

BUCKETS = execution_input.ProjectBuckets(data="data-bucket", artifacts="artifacts-bucket")


def _settings() -> Any:
    return load_settings(cdk_app.default_context()[CONTEXT_KEY])


def test_empty_training_input_runs_with_the_cdk_json_defaults() -> None:
    run = execution_input.validate_training_input({}, _training_defaults(_settings(), "data-bucket"), BUCKETS)
    assert run["data_uri"] == "s3://data-bucket/prepared/digits/"
    assert run["preprocess"] is False
    assert run["gate"]["max_attempts"] == _settings().quality_gate.max_attempts


def test_empty_evaluation_input_runs_with_the_cdk_json_defaults() -> None:
    run = execution_input.validate_evaluation_input(
        {}, _evaluation_defaults(_settings(), "data-bucket"), BUCKETS
    )
    assert run["data_uri"] == "s3://data-bucket/labelled/latest/"
    assert run["retrain_raw_data_uri"] == "s3://data-bucket/raw/digits/"


def test_tuning_ranges_cover_exactly_the_tuned_hyperparameters() -> None:
    ranges = training_jobs.TUNING_PARAMETER_RANGES  # what the Tune state searches
    assert {r["Name"] for kind in ranges.values() for r in kind} == set(attempt_plan.TUNED_HYPERPARAMETERS)
