"""SageMaker hyperparameter tuning, run locally as a sequential random search.

Local stand-ins, stated once: ``Bayesian`` and ``Hyperband`` strategies sample at random
(locally there are too few jobs for a surrogate model to matter), ``Grid`` enumerates the
categorical values in order, and ``MaxParallelTrainingJobs`` is ignored (jobs run one by
one). Sampling is reproducible: ``RandomSeed`` when the request has one, else a seed derived
from the tuning job name. ``ScalingType`` ``Auto`` picks logarithmic scaling when a range is
positive and spans at least two orders of magnitude, linear otherwise.

Each training job is named as SageMaker names them, ``<tuning job>-<nnn>-<8 hex>``, and its
checkpoints go to ``<CheckpointConfig.S3Uri>/<training job name>`` so that sibling jobs never
resume from each other's checkpoints.
"""

from __future__ import annotations

import itertools
import math
import random
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from local_mode.sagemaker.shapes import SageMakerApiError, drop_none, echo_request, input_shape, utcnow

RunTraining = Callable[[dict[str, Any]], dict[str, Any]]

# TrainingJobDefinition members that are tuning-only, not CreateTrainingJob members.
_DEFINITION_ONLY = frozenset(
    {
        "DefinitionName",
        "TuningObjective",
        "HyperParameterRanges",
        "StaticHyperParameters",
        "HyperParameterTuningResourceConfig",
    }
)


def validate_tuning_request(request: dict[str, Any]) -> None:
    """What CreateHyperParameterTuningJob rejects up front."""
    definition = _definition(request)
    config = request["HyperParameterTuningJobConfig"]
    objective = config.get("HyperParameterTuningJobObjective") or definition.get("TuningObjective")
    if not objective:
        raise SageMakerApiError("ValidationException", "HyperParameterTuningJobObjective is required")
    metric_names = [
        m["Name"] for m in definition.get("AlgorithmSpecification", {}).get("MetricDefinitions", [])
    ]
    if objective["MetricName"] not in metric_names:
        raise SageMakerApiError(
            "ValidationException",
            f"The objective metric {objective['MetricName']} is not defined in MetricDefinitions "
            f"({', '.join(metric_names) or 'none'})",
        )
    ranges = _ranges(request)
    if config.get("Strategy") == "Grid" and (
        ranges.get("IntegerParameterRanges") or ranges.get("ContinuousParameterRanges")
    ):
        raise SageMakerApiError(
            "ValidationException", "The Grid strategy supports only categorical parameter ranges"
        )
    for spec in ranges.get("ContinuousParameterRanges", []):
        if (
            spec.get("ScalingType") == "ReverseLogarithmic"
            and not 0 <= float(spec["MinValue"]) < float(spec["MaxValue"]) < 1
        ):
            raise SageMakerApiError(
                "ValidationException", f"ReverseLogarithmic range {spec['Name']} must lie in [0, 1)"
            )
    for spec in (*ranges.get("IntegerParameterRanges", []), *ranges.get("ContinuousParameterRanges", [])):
        if spec.get("ScalingType") in ("Logarithmic",) and float(spec["MinValue"]) <= 0:
            raise SageMakerApiError(
                "ValidationException", f"Logarithmic range {spec['Name']} must be positive"
            )


def _definition(request: dict[str, Any]) -> dict[str, Any]:
    definition = request.get("TrainingJobDefinition") or next(
        iter(request.get("TrainingJobDefinitions", [])), None
    )
    if definition is None:
        raise SageMakerApiError("ValidationException", "TrainingJobDefinition is required")
    return definition


def _ranges(request: dict[str, Any]) -> dict[str, Any]:
    config = request["HyperParameterTuningJobConfig"]
    return config.get("ParameterRanges") or _definition(request).get("HyperParameterRanges") or {}


def _log_scale(scaling: str, low: float, high: float) -> bool:
    if scaling == "Logarithmic":
        return True
    return scaling == "Auto" and low > 0 and high / low >= 100


def _sample(ranges: dict[str, Any], rng: random.Random) -> dict[str, str]:
    tuned: dict[str, str] = {}
    for spec in ranges.get("IntegerParameterRanges", []):
        low, high = int(spec["MinValue"]), int(spec["MaxValue"])
        if _log_scale(spec.get("ScalingType", "Auto"), low, high):
            value = round(math.exp(rng.uniform(math.log(low), math.log(high))))
        else:
            value = rng.randint(low, high)
        tuned[spec["Name"]] = str(min(max(value, low), high))
    for spec in ranges.get("ContinuousParameterRanges", []):
        low_f, high_f = float(spec["MinValue"]), float(spec["MaxValue"])
        scaling = spec.get("ScalingType", "Auto")
        if scaling == "ReverseLogarithmic":
            number = 1 - math.exp(rng.uniform(math.log(1 - high_f), math.log(1 - low_f)))
        elif _log_scale(scaling, low_f, high_f):
            number = math.exp(rng.uniform(math.log(low_f), math.log(high_f)))
        else:
            number = rng.uniform(low_f, high_f)
        tuned[spec["Name"]] = repr(min(max(number, low_f), high_f))
    for spec in ranges.get("CategoricalParameterRanges", []):
        tuned[spec["Name"]] = rng.choice(list(spec["Values"]))
    return tuned


def _candidates(request: dict[str, Any], rng: random.Random) -> Iterator[dict[str, str]]:
    ranges = _ranges(request)
    if request["HyperParameterTuningJobConfig"].get("Strategy") == "Grid":
        categorical = ranges.get("CategoricalParameterRanges", [])
        for values in itertools.product(*(spec["Values"] for spec in categorical)):
            yield {spec["Name"]: value for spec, value in zip(categorical, values, strict=True)}
        return
    while True:
        yield _sample(ranges, rng)


def _training_request(
    request: dict[str, Any], definition: dict[str, Any], job_name: str, tuned: dict[str, str]
) -> dict[str, Any]:
    allowed = input_shape("CreateTrainingJob").members
    training = {k: v for k, v in definition.items() if k in allowed and k not in _DEFINITION_ONLY}
    training["TrainingJobName"] = job_name
    training["HyperParameters"] = {**definition.get("StaticHyperParameters", {}), **tuned}
    algorithm = dict(definition.get("AlgorithmSpecification", {}))
    algorithm_members = input_shape("CreateTrainingJob").members["AlgorithmSpecification"].members
    training["AlgorithmSpecification"] = {k: v for k, v in algorithm.items() if k in algorithm_members}
    if "CheckpointConfig" in training:
        checkpoint = dict(training["CheckpointConfig"])
        checkpoint["S3Uri"] = f"{checkpoint['S3Uri'].rstrip('/')}/{job_name}"
        training["CheckpointConfig"] = checkpoint
    return training


def run_tuning_job(
    request: dict[str, Any], arn: str, run_training: RunTraining
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run the training jobs through ``run_training``.

    Returns the DescribeHyperParameterTuningJob response and the training job summaries
    (ListTrainingJobsForHyperParameterTuningJob).
    """
    created = utcnow()
    name: str = request["HyperParameterTuningJobName"]
    config = request["HyperParameterTuningJobConfig"]
    definition = _definition(request)
    objective = config.get("HyperParameterTuningJobObjective") or definition["TuningObjective"]
    limits = config.get("ResourceLimits", {})
    max_jobs = int(limits.get("MaxNumberOfTrainingJobs", 1))
    target = config.get("TuningJobCompletionCriteria", {}).get("TargetObjectiveMetricValue")
    seed = config.get("RandomSeed", zlib.crc32(name.encode()))
    rng = random.Random(seed)
    summaries: list[dict[str, Any]] = []
    for index, tuned in enumerate(itertools.islice(_candidates(request, rng), max_jobs), start=1):
        job_name = f"{name}-{index:03d}-{rng.getrandbits(32):08x}"
        described = run_training(_training_request(request, definition, job_name, tuned))
        summaries.append(_summary(name, described, tuned, objective))
        value = summaries[-1].get("FinalHyperParameterTuningJobObjectiveMetric", {}).get("Value")
        if (
            target is not None
            and value is not None
            and _better_or_equal(objective["Type"], value, float(target))
        ):
            break
    end = utcnow()
    succeeded = [s for s in summaries if s["ObjectiveStatus"] == "Succeeded"]
    best = None
    if succeeded:
        pick = min if objective["Type"] == "Minimize" else max
        best = pick(succeeded, key=lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
    failures = [s for s in summaries if s["TrainingJobStatus"] != "Completed"]
    described = drop_none(
        {
            **echo_request("DescribeHyperParameterTuningJob", request),
            "HyperParameterTuningJobArn": arn,
            "HyperParameterTuningJobStatus": "Completed" if best else "Failed",
            "FailureReason": None if best else _failure_reason(failures),
            "CreationTime": created,
            "HyperParameterTuningEndTime": end,
            "LastModifiedTime": end,
            "TrainingJobStatusCounters": {
                "Completed": sum(s["TrainingJobStatus"] == "Completed" for s in summaries),
                "InProgress": 0,
                "RetryableError": 0,
                "NonRetryableError": sum(s["TrainingJobStatus"] == "Failed" for s in summaries),
                "Stopped": sum(s["TrainingJobStatus"] == "Stopped" for s in summaries),
            },
            "ObjectiveStatusCounters": {
                "Succeeded": len(succeeded),
                "Pending": 0,
                "Failed": len(summaries) - len(succeeded),
            },
            "BestTrainingJob": best,
            "ConsumedResources": {"RuntimeInSeconds": max(1, math.ceil((end - created).total_seconds()))},
        }
    )
    return described, summaries


def _better_or_equal(kind: str, value: float, target: float) -> bool:
    return value <= target if kind == "Minimize" else value >= target


def _failure_reason(failures: list[dict[str, Any]]) -> str:
    if not failures:
        return "No training job reported the objective metric"
    return f"All training jobs failed. Last failure: {failures[-1].get('FailureReason', 'unknown')}"


def _summary(
    tuning_name: str, described: dict[str, Any], tuned: dict[str, str], objective: dict[str, str]
) -> dict[str, Any]:
    metrics = {m["MetricName"]: m["Value"] for m in described.get("FinalMetricDataList", [])}
    value = metrics.get(objective["MetricName"])
    succeeded = described["TrainingJobStatus"] == "Completed" and value is not None
    return drop_none(
        {
            "TrainingJobName": described["TrainingJobName"],
            "TrainingJobArn": described["TrainingJobArn"],
            "TuningJobName": tuning_name,
            "CreationTime": described["CreationTime"],
            "TrainingStartTime": described.get("TrainingStartTime"),
            "TrainingEndTime": described.get("TrainingEndTime"),
            "TrainingJobStatus": described["TrainingJobStatus"],
            "TunedHyperParameters": tuned,
            "FailureReason": described.get("FailureReason"),
            "FinalHyperParameterTuningJobObjectiveMetric": (
                {"Type": objective["Type"], "MetricName": objective["MetricName"], "Value": value}
                if value is not None
                else None
            ),
            "ObjectiveStatus": "Succeeded" if succeeded else "Failed",
        }
    )
