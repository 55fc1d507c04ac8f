"""Malformed execution inputs fail in ValidateInput, naming the field, before anything is created."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import pytest

from tests.workflows.support import PREPARED_PREFIX, RAW_PREFIX, Stack


@dataclass(frozen=True)
class Malformed:
    id: str
    workflow: str
    input: Callable[[Stack], Any]  # the execution input, sent as JSON
    field: str  # what the cause must name
    known_bug: str | None = None


def _s3(prefix: str) -> Callable[[Stack], str]:
    return lambda stack: stack.data_uri(prefix)


CASES: Final = [
    Malformed(
        "epochs-as-string",
        "training",
        lambda s: {"hyperparameters": {"epochs": "12"}},
        "hyperparameters.epochs",
    ),
    Malformed(
        "negative-epochs", "training", lambda s: {"hyperparameters": {"epochs": -1}}, "hyperparameters.epochs"
    ),
    Malformed(
        "zero-learning-rate",
        "training",
        lambda s: {"hyperparameters": {"learning-rate": 0}},
        "hyperparameters.learning-rate",
    ),
    Malformed("unknown-top-level-field", "training", lambda s: {"epochs": 10}, "epochs"),
    Malformed(
        "unknown-nested-field",
        "training",
        lambda s: {"training": {"instance_typo": "ml.m5.large"}},
        "training.instance_typo",
    ),
    Malformed("data-uri-not-s3", "training", lambda s: {"data_uri": "not-a-uri"}, "data_uri"),
    Malformed(
        "raw-data-uri-https",
        "training",
        lambda s: {"raw_data_uri": "https://example.com/raw/"},
        "raw_data_uri",
    ),
    Malformed(
        "bucket-outside-project",
        "training",
        lambda s: {"data_uri": "s3://someone-elses-bucket/prepared/"},
        "data_uri",
    ),
    Malformed(
        "raw-and-prepared-data",
        "training",
        lambda s: {"raw_data_uri": _s3(RAW_PREFIX)(s), "data_uri": _s3(PREPARED_PREFIX)(s)},
        "data_uri",
    ),
    Malformed("oversized-reason", "training", lambda s: {"reason": "x" * 300}, "reason"),
    Malformed(
        "oversized-hyperparameter-name",
        "training",
        lambda s: {"hyperparameters": {"h" * 70: 1}},
        "hyperparameters." + "h" * 70,
    ),
    Malformed(
        "too-many-epochs-by-the-last-attempt",
        "training",
        lambda s: {"hyperparameters": {"epochs": 1000}},
        "hyperparameters.epochs",
    ),
    Malformed(
        "parallel-jobs-above-max-jobs",
        "training",
        lambda s: {"tuning": {"max_jobs": 2, "max_parallel_jobs": 3}},
        "tuning.max_parallel_jobs",
    ),
    Malformed("threshold-above-one", "training", lambda s: {"gate": {"threshold": 1.5}}, "gate.threshold"),
    Malformed("unknown-gate-metric", "training", lambda s: {"gate": {"metric": "auc"}}, "gate.metric"),
    Malformed("zero-attempts", "training", lambda s: {"gate": {"max_attempts": 0}}, "gate.max_attempts"),
    Malformed("spot-as-string", "training", lambda s: {"training": {"use_spot": "yes"}}, "training.use_spot"),
    Malformed(
        "zero-instances", "training", lambda s: {"training": {"instance_count": 0}}, "training.instance_count"
    ),
    Malformed(
        "instance-type-without-ml",
        "training",
        lambda s: {"training": {"instance_type": "m5.large"}},
        "training.instance_type",
    ),
    Malformed(
        "runtime-too-short",
        "training",
        lambda s: {"training": {"max_runtime_seconds": 10}},
        "training.max_runtime_seconds",
    ),
    Malformed(
        "spot-wait-below-runtime",
        "training",
        lambda s: {"training": {"max_wait_seconds": 100}},
        "training.max_wait_seconds",
    ),
    Malformed(
        "snake-case-batch-size",
        "training",
        lambda s: {"hyperparameters": {"batch_size": 64}},
        "hyperparameters.batch_size",
    ),
    Malformed(
        "reserved-hyperparameter",
        "training",
        lambda s: {"hyperparameters": {"sagemaker_program": "evil.py"}},
        "hyperparameters.sagemaker_program",
    ),
    Malformed(
        "nested-hyperparameter",
        "training",
        lambda s: {"hyperparameters": {"nested": {"a": 1}}},
        "hyperparameters.nested",
    ),
    Malformed("threshold-as-string", "evaluation", lambda s: {"threshold": "high"}, "threshold"),
    Malformed(
        "evaluation-bucket-outside-project",
        "evaluation",
        lambda s: {"data_uri": "s3://elsewhere/labelled/"},
        "data_uri",
    ),
    Malformed(
        "retrain-without-raw-data",
        "evaluation",
        lambda s: {"retrain_raw_data_uri": None},
        "retrain_raw_data_uri",
    ),
    Malformed("unknown-evaluation-metric", "evaluation", lambda s: {"metric": "loss"}, "metric"),
    Malformed("a-list", "training", lambda s: [], "input"),
    Malformed("a-string", "training", lambda s: "train please", "input"),
    Malformed("a-number", "training", lambda s: 42, "input"),
    Malformed("null", "training", lambda s: None, "input"),
    Malformed("evaluation-a-list", "evaluation", lambda s: [{}], "input"),
]


def _param(case: Malformed) -> Any:
    marks = (
        [pytest.mark.xfail(reason=case.known_bug, strict=True, raises=AssertionError)]
        if case.known_bug
        else []
    )
    return pytest.param(case, id=f"{case.workflow}-{case.id}", marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_malformed_input_fails_in_validate_input(stack: Stack, case: Malformed) -> None:
    arn = stack.start(case.workflow, json.dumps(case.input(stack)), f"bad-{case.id}")
    result = stack.wait(arn)

    # Nothing reached SageMaker or the registry: no request, no write, no item.
    assert stack.sagemaker_calls(arn) == []
    assert stack.registry_writes(arn) == []
    assert stack.items() == {}
    assert stack.sagemaker.requests == []
    assert result.status == "FAILED"
    assert result.error == "InvalidExecutionInput", result.cause
    assert result.entered_states()[:2] == ["Begin", "ValidateInput"]
    [validation] = stack.calls(arn, "ValidateInput")
    assert validation.error == "InvalidExecutionInput"
    message = json.loads(str(result.cause))["errorMessage"]
    assert f"{case.field}:" in message, message
    [notification] = stack.notifications(arn, "FAILED")
    assert notification["error"] == "InvalidExecutionInput"


def test_there_are_at_least_twenty_malformed_inputs() -> None:
    assert len({c.id for c in CASES}) == len(CASES) >= 20
    assert len([c for c in CASES if c.known_bug is None]) >= 20
