"""Metrics of a model from its batch transform output (the ``EvaluatePredictions`` state).

Reads the ``*.out`` files a transform job wrote (one JSON object per line: the
input record's id and label joined to the model's output), computes accuracy,
per-class precision/recall/F1 and the confusion matrix in plain Python, and
writes ``report.json`` and ``confusion_matrix.png`` next to each other. When the
workflow also transformed the same data with the current champion, the champion
is scored the same way and its ``floor`` (metric - tolerance) is what the quality
gate compares the candidate with. See docs/architecture.md, "Lambda events".
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Final

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

import contract
from lambdas.model_registry import EVALUATION_METRICS, RECORDS_METRIC
from lambdas.plain_numbers import plain_decimal
from lambdas.png_heatmap import render_confusion_png
from lambdas.s3_uris import S3UriError, s3_prefix, split_s3_uri
from lambdas.validation_messages import describe_validation_error, expected

logger = Logger()

PREDICTIONS_SUFFIX: Final = ".out"  # batch transform: <input file name>.out
SERVING_PREDICTIONS_KEY: Final = "predictions"  # TF Serving's REST response: {"predictions": [[...]]}
REPORT_FILE: Final = "report.json"
CONFUSION_MATRIX_FILE: Final = "confusion_matrix.png"
# The champion is scored on the candidate's evaluation data, so its report lives with the candidate's.
CHAMPION_REPORT_FOLDER: Final = "champion/"
# The gate compares metric >= floor; rounding away float noise keeps 0.97 - 0.01 at 0.96.
_FLOOR_DIGITS: Final = 12


class PredictionsMalformed(ValueError):
    """A line of transform output is not a labelled prediction; the message names the file and line."""


class LabelsMissing(ValueError):
    """A transform output line has no label: the transform input was not labelled data."""


class NoPredictions(ValueError):
    """No ``*.out`` file, or no record at all, under the predictions prefix."""


class UnknownMetric(ValueError):
    """The gate metric is not one evaluate_predictions computes."""


class InvalidEvaluationEvent(ValueError):
    """The event does not match the evaluate_predictions contract."""


# --- pure logic ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PredictionRecord:
    record_id: Any
    label: int
    probabilities: tuple[float, ...]

    @property
    def predicted_class(self) -> int:
        """Index of the highest probability; the first one on ties, like numpy's argmax."""
        return max(range(len(self.probabilities)), key=self.probabilities.__getitem__)


def parse_prediction_line(
    line: str, *, source: str, line_number: int, num_classes: int | None = None
) -> PredictionRecord:
    """One transform output line, ``{"id", "label", "SageMakerOutput": {"predictions": [[p0..pk]]}}``.

    Also accepted: ``SageMakerOutput`` as ``{"predictions": [p0..pk]}``, ``[[p0..pk]]`` or
    ``[p0..pk]`` (TF Serving and the transform join shape it differently by version).
    ``num_classes``, when known from earlier lines, is the length every vector must have.
    """
    where = f"{source} line {line_number}"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise PredictionsMalformed(f"{where}: expected a JSON object, got invalid JSON ({err.msg})") from None
    if not isinstance(record, dict):
        raise PredictionsMalformed(f"{where}: expected a JSON object, got {type(record).__name__}")
    label = record.get(contract.LABEL_KEY)
    if label is None:
        raise LabelsMissing(
            f"{where}: no '{contract.LABEL_KEY}'; the transform input must be labelled records "
            "and the job must join them to the output (JoinSource=Input)"
        )
    if isinstance(label, bool) or not isinstance(label, int) or label < 0:
        raise PredictionsMalformed(
            f"{where}: expected '{contract.LABEL_KEY}' to be a class index >= 0, got {label!r}"
        )
    if contract.PREDICTION_OUTPUT_KEY not in record:
        raise PredictionsMalformed(f"{where}: no '{contract.PREDICTION_OUTPUT_KEY}' (the model's output)")
    probabilities = _probability_vector(record[contract.PREDICTION_OUTPUT_KEY], where)
    classes = num_classes if num_classes is not None else len(probabilities)
    if len(probabilities) != classes:
        raise PredictionsMalformed(
            f"{where}: expected {classes} class probabilities like earlier lines, got {len(probabilities)}"
        )
    if label >= classes:
        raise PredictionsMalformed(f"{where}: label {label} is not one of the model's {classes} classes")
    return PredictionRecord(record.get(contract.RECORD_ID_KEY), label, probabilities)


def _probability_vector(output: Any, where: str) -> tuple[float, ...]:
    vector = output.get(SERVING_PREDICTIONS_KEY) if isinstance(output, dict) else output
    # A one-record batch of TF Serving's {"predictions": [[...]]}: unwrap the batch.
    if isinstance(vector, list) and vector and all(isinstance(row, list) for row in vector):
        if len(vector) != 1:
            raise PredictionsMalformed(f"{where}: expected one prediction per record, got {len(vector)}")
        vector = vector[0]
    if not isinstance(vector, list) or len(vector) < 2:
        raise PredictionsMalformed(
            f"{where}: expected '{contract.PREDICTION_OUTPUT_KEY}' to hold a vector of class "
            f"probabilities, got {json.dumps(output)[:80]}"
        )
    if any(isinstance(p, bool) or not isinstance(p, int | float) or not math.isfinite(p) for p in vector):
        raise PredictionsMalformed(f"{where}: expected finite numbers as class probabilities")
    return tuple(float(p) for p in vector)


@dataclass(frozen=True)
class ClassMetrics:
    label: int
    precision: float
    recall: float
    f1: float
    support: int  # records whose true label is this class
    predicted: int  # records predicted as this class


@dataclass(frozen=True)
class Metrics:
    records: int
    accuracy: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    per_class: tuple[ClassMetrics, ...]
    confusion_matrix: tuple[tuple[int, ...], ...]  # rows: true label, columns: predicted class

    def summary(self) -> dict[str, float | int]:
        """The scalar metrics: the gate's candidates (EVALUATION_METRICS) and the record count."""
        values: dict[str, float | int] = {name: getattr(self, name) for name in EVALUATION_METRICS}
        values[RECORDS_METRIC] = self.records
        return values


def compute_metrics(
    labels: Sequence[int], predicted: Sequence[int], num_classes: int | None = None
) -> Metrics:
    """Accuracy, per-class and macro precision/recall/F1, and the confusion matrix.

    Macro averages run over the classes that occur in ``labels`` or ``predicted``
    (scikit-learn's default), so a class absent from a small evaluation set does
    not count as a zero. A class never predicted has precision 0 (and so F1 0).
    """
    if len(labels) != len(predicted):
        raise ValueError(f"expected as many predictions as labels, got {len(predicted)} and {len(labels)}")
    if not labels:
        raise ValueError("expected at least one record")
    size = num_classes if num_classes is not None else max(*labels, *predicted) + 1
    if any(not 0 <= value < size for value in (*labels, *predicted)):
        raise ValueError(f"expected class indices in 0..{size - 1}")
    matrix = [[0] * size for _ in range(size)]
    for true_class, predicted_class in zip(labels, predicted, strict=True):
        matrix[true_class][predicted_class] += 1
    per_class = []
    for label in range(size):
        hits = matrix[label][label]
        support = sum(matrix[label])
        predicted_count = sum(row[label] for row in matrix)
        per_class.append(
            ClassMetrics(
                label=label,
                precision=hits / predicted_count if predicted_count else 0.0,
                recall=hits / support if support else 0.0,
                # 2PR/(P+R) written with counts, exact for hits == 0 too.
                f1=2 * hits / (support + predicted_count) if support + predicted_count else 0.0,
                support=support,
                predicted=predicted_count,
            )
        )
    present = [c for c in per_class if c.support or c.predicted]
    return Metrics(
        records=len(labels),
        accuracy=sum(matrix[c][c] for c in range(size)) / len(labels),
        macro_precision=math.fsum(c.precision for c in present) / len(present),
        macro_recall=math.fsum(c.recall for c in present) / len(present),
        macro_f1=math.fsum(c.f1 for c in present) / len(present),
        per_class=tuple(per_class),
        confusion_matrix=tuple(tuple(row) for row in matrix),
    )


def registry_metrics(summary: dict[str, float | int]) -> dict[str, dict[str, str]]:
    """Metrics as a DynamoDB AttributeValue map, for ``"metrics": {"M.$": ...}`` in a state machine."""
    return {name: {"N": plain_decimal(value)} for name, value in summary.items()}


def gate_metric(metric: str) -> str:
    """``metric`` if the gate can use it, else UnknownMetric listing the ones it can."""
    if metric not in EVALUATION_METRICS:
        raise UnknownMetric(f"metric: expected one of {', '.join(EVALUATION_METRICS)}, got {metric!r}")
    return metric


def build_report(
    metrics: Metrics, *, model_name: str, predictions_uri: str, files: Sequence[str], metric: str
) -> dict[str, Any]:
    """The ``report.json`` document."""
    return {
        "model_name": model_name,
        "predictions_uri": predictions_uri,
        "prediction_files": list(files),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "gate_metric": metric,
        "metrics": metrics.summary(),
        "num_classes": len(metrics.per_class),
        "per_class": [asdict(c) for c in metrics.per_class],
        "confusion_matrix": [list(row) for row in metrics.confusion_matrix],
        "confusion_matrix_axes": {"rows": "true label", "columns": "predicted class"},
    }


# --- S3 I/O --------------------------------------------------------------------------------------


@functools.cache
def s3_client() -> Any:
    """Created once per container; honours AWS_ENDPOINT_URL (local mode) by itself."""
    return boto3.client("s3")


def prediction_files(s3: Any, predictions_uri: str) -> list[str]:
    """Keys of every ``*.out`` object under the prefix (all pages), sorted."""
    bucket, prefix = split_s3_uri(predictions_uri)
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(PREDICTIONS_SUFFIX))
    if not keys:
        raise NoPredictions(
            f"no *{PREDICTIONS_SUFFIX} files under {predictions_uri}: did the transform job write there?"
        )
    return sorted(keys)


def read_predictions(s3: Any, predictions_uri: str) -> tuple[list[int], list[int], int, list[str]]:
    """Labels, predicted classes, number of classes and the files read, streaming line by line."""
    bucket, _ = split_s3_uri(predictions_uri)
    files = [f"s3://{bucket}/{key}" for key in prediction_files(s3, predictions_uri)]
    labels: list[int] = []
    predicted: list[int] = []
    num_classes: int | None = None
    for uri in files:
        for line_number, line in _lines(s3, uri):
            record = parse_prediction_line(line, source=uri, line_number=line_number, num_classes=num_classes)
            num_classes = len(record.probabilities)
            labels.append(record.label)
            predicted.append(record.predicted_class)
    if num_classes is None:
        raise NoPredictions(f"the *{PREDICTIONS_SUFFIX} files under {predictions_uri} hold no records")
    return labels, predicted, num_classes, files


def _lines(s3: Any, uri: str) -> Iterable[tuple[int, str]]:
    bucket, key = split_s3_uri(uri)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    for line_number, raw in enumerate(body.iter_lines(), start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise PredictionsMalformed(f"{uri} line {line_number}: expected UTF-8 text") from None
        if line.strip():
            yield line_number, line


def evaluate_model(
    s3: Any, *, model_name: str, predictions_uri: str, report_uri: str, metric: str
) -> dict[str, Any]:
    """Score one model's predictions, write report and heatmap under ``report_uri``, return the summary."""
    labels, predicted, num_classes, files = read_predictions(s3, predictions_uri)
    metrics = compute_metrics(labels, predicted, num_classes)
    report_bucket, report_prefix = split_s3_uri(report_uri)
    summary = metrics.summary()
    report = build_report(
        metrics, model_name=model_name, predictions_uri=predictions_uri, files=files, metric=metric
    )
    s3.put_object(
        Bucket=report_bucket,
        Key=report_prefix + CONFUSION_MATRIX_FILE,
        Body=render_confusion_png(metrics.confusion_matrix),
        ContentType="image/png",
    )
    s3.put_object(
        Bucket=report_bucket,
        Key=report_prefix + REPORT_FILE,
        Body=json.dumps(report, indent=2).encode(),
        ContentType="application/json",
    )
    return {
        "model_name": model_name,
        "metric": summary[metric],
        "metrics": summary,
        "registry_metrics": registry_metrics(summary),
        "records": metrics.records,
        "report_uri": report_uri + REPORT_FILE,
        "confusion_matrix_uri": report_uri + CONFUSION_MATRIX_FILE,
    }


# --- handler -------------------------------------------------------------------------------------


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("predictions_uri", "report_uri", check_fields=False)
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return s3_prefix(value)
        except S3UriError as err:
            raise expected(str(err)) from None


class ChampionPredictions(_Event):
    # A state machine cannot leave an object out of a payload conditionally, so the
    # workflow may always send the champion and say whether there is one: `{"present": false}`.
    present: bool = True
    model_name: str | None = Field(default=None, min_length=1)
    predictions_uri: str | None = None

    @model_validator(mode="after")
    def _named_when_present(self) -> ChampionPredictions:
        for field in ("model_name", "predictions_uri"):
            if self.present and getattr(self, field) is None:
                raise expected(f"a {field} for the champion that is present", field=field)
        return self


class EvaluationEvent(_Event):
    predictions_uri: str
    report_uri: str
    model_name: str = Field(min_length=1)
    metric: str
    champion: ChampionPredictions | None = None
    tolerance: float = Field(default=0.0, ge=0.0, le=1.0)


def evaluate(event: EvaluationEvent, s3: Any) -> dict[str, Any]:
    """The handler's work: score the candidate and, if there is one, the champion."""
    metric = gate_metric(event.metric)
    candidate = evaluate_model(
        s3,
        model_name=event.model_name,
        predictions_uri=event.predictions_uri,
        report_uri=event.report_uri,
        metric=metric,
    )
    champion = None
    if event.champion is not None and event.champion.present:
        assert event.champion.model_name is not None and event.champion.predictions_uri is not None
        champion = evaluate_model(
            s3,
            model_name=event.champion.model_name,
            predictions_uri=event.champion.predictions_uri,
            report_uri=event.report_uri + CHAMPION_REPORT_FOLDER,
            metric=metric,
        )
        champion["floor"] = round(champion["metric"] - event.tolerance, _FLOOR_DIGITS)
        if champion["records"] != candidate["records"]:
            logger.warning(
                "Candidate and champion were scored on different record counts",
                extra={"candidate_records": candidate["records"], "champion_records": champion["records"]},
            )
    return {"candidate": candidate, "champion": champion}


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        request = EvaluationEvent.model_validate(event)
    except ValidationError as err:
        raise InvalidEvaluationEvent("; ".join(describe_validation_error(err, EvaluationEvent))) from None
    result = evaluate(request, s3_client())
    logger.info(
        "Predictions evaluated",
        extra={
            "candidate": result["candidate"]["metrics"],
            "champion": result["champion"] and result["champion"]["metrics"],
        },
    )
    return result
