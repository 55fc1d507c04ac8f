"""evaluate_predictions: metrics maths, transform-output parsing, the PNG, and the S3 handler (moto)."""

from __future__ import annotations

import json
import random
import re
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lambdas import evaluate_predictions
from lambdas.evaluate_predictions import (
    InvalidEvaluationEvent,
    LabelsMissing,
    NoPredictions,
    PredictionsMalformed,
    UnknownMetric,
    compute_metrics,
    parse_prediction_line,
    registry_metrics,
)
from lambdas.png_heatmap import PNG_SIGNATURE, render_confusion_png
from tests.unit.lambda_fixtures import ARTIFACTS_BUCKET, LambdaContextStub

# --- metrics -------------------------------------------------------------------------------------


def test_metrics_of_a_small_hand_computed_case() -> None:
    # true:      0 0 1 1 2 2
    # predicted: 0 1 1 1 2 0
    metrics = compute_metrics([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0])
    assert metrics.confusion_matrix == ((1, 1, 0), (0, 2, 0), (1, 0, 1))
    assert metrics.records == 6
    assert metrics.accuracy == pytest.approx(4 / 6)
    per_class = {c.label: c for c in metrics.per_class}
    # class 0: 1 hit of 2 predicted, 2 true; class 1: 2 of 3 predicted, 2 true; class 2: 1 of 1, 2 true
    assert (per_class[0].precision, per_class[0].recall, per_class[0].f1) == pytest.approx(
        (1 / 2, 1 / 2, 1 / 2)
    )
    assert (per_class[1].precision, per_class[1].recall, per_class[1].f1) == pytest.approx((2 / 3, 1, 0.8))
    assert (per_class[2].precision, per_class[2].recall, per_class[2].f1) == pytest.approx((1, 1 / 2, 2 / 3))
    assert [c.support for c in metrics.per_class] == [2, 2, 2]
    assert [c.predicted for c in metrics.per_class] == [2, 3, 1]
    assert metrics.macro_f1 == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert metrics.macro_precision == pytest.approx((0.5 + 2 / 3 + 1) / 3)
    assert metrics.macro_recall == pytest.approx((0.5 + 1 + 0.5) / 3)


def test_perfect_and_never_predicted_classes() -> None:
    perfect = compute_metrics([0, 1, 2], [0, 1, 2])
    assert (perfect.accuracy, perfect.macro_f1) == (1.0, 1.0)
    # Class 1 is never predicted: precision 0 by convention, not a ZeroDivisionError.
    missed = compute_metrics([0, 1], [0, 0])
    assert missed.per_class[1].precision == 0.0 and missed.per_class[1].f1 == 0.0
    assert missed.macro_f1 == pytest.approx((2 / 3 + 0) / 2)


def test_class_absent_from_labels_and_predictions_does_not_lower_macro_scores() -> None:
    metrics = compute_metrics([0, 1], [0, 1], num_classes=10)
    assert len(metrics.confusion_matrix) == 10
    assert metrics.macro_f1 == 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_match_scikit_learn(seed: int) -> None:
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = random.Random(seed)
    labels = [rng.randrange(10) for _ in range(500)]
    # Mostly right, sometimes wrong, and class 9 never predicted.
    predicted = [y if rng.random() < 0.7 else rng.randrange(9) for y in labels]
    predicted = [8 if p == 9 else p for p in predicted]
    ours = compute_metrics(labels, predicted, num_classes=10)
    assert ours.accuracy == pytest.approx(sklearn_metrics.accuracy_score(labels, predicted))
    assert ours.macro_f1 == pytest.approx(
        sklearn_metrics.f1_score(labels, predicted, average="macro", zero_division=0)
    )
    assert ours.macro_precision == pytest.approx(
        sklearn_metrics.precision_score(labels, predicted, average="macro", zero_division=0)
    )
    assert ours.macro_recall == pytest.approx(
        sklearn_metrics.recall_score(labels, predicted, average="macro", zero_division=0)
    )
    precision, recall, f1, support = sklearn_metrics.precision_recall_fscore_support(
        labels, predicted, labels=list(range(10)), zero_division=0
    )
    assert [c.precision for c in ours.per_class] == pytest.approx(list(precision))
    assert [c.recall for c in ours.per_class] == pytest.approx(list(recall))
    assert [c.f1 for c in ours.per_class] == pytest.approx(list(f1))
    assert [c.support for c in ours.per_class] == list(support)
    expected_matrix = sklearn_metrics.confusion_matrix(labels, predicted, labels=list(range(10))).tolist()
    assert [list(row) for row in ours.confusion_matrix] == expected_matrix


@pytest.mark.parametrize(
    ("labels", "predicted", "num_classes", "message"),
    [
        ([], [], None, "at least one record"),
        ([0, 1], [0], None, "as many predictions"),
        ([5], [0], 3, "0..2"),
    ],
)
def test_compute_metrics_rejects_inconsistent_input(
    labels: list[int], predicted: list[int], num_classes: int | None, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        compute_metrics(labels, predicted, num_classes)


def test_registry_metrics_are_dynamodb_numbers() -> None:
    metrics = compute_metrics([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0])
    attributes = registry_metrics(metrics.summary())
    assert set(attributes) == {"accuracy", "macro_f1", "macro_precision", "macro_recall", "records"}
    assert attributes["records"] == {"N": "6"}
    for name, value in attributes.items():
        (number,) = value.values()
        assert list(value) == ["N"] and "e" not in number.lower()
        assert float(number) == pytest.approx(metrics.summary()[name])
    assert registry_metrics({"accuracy": 0.00001})["accuracy"] == {"N": "0.00001"}


# --- parsing transform output --------------------------------------------------------------------

PROBS = [0.1, 0.7, 0.2]


@pytest.mark.parametrize(
    "output",
    [{"predictions": [PROBS]}, {"predictions": PROBS}, [PROBS], PROBS],
    ids=["serving-batch", "flat-predictions", "list-of-rows", "bare-vector"],
)
def test_prediction_output_shapes(output: Any) -> None:
    line = json.dumps({"id": "r7", "label": 2, "SageMakerOutput": output})
    record = parse_prediction_line(line, source="s3://b/p/x.jsonl.out", line_number=3)
    assert (record.record_id, record.label, record.probabilities, record.predicted_class) == (
        "r7",
        2,
        tuple(PROBS),
        1,
    )


def test_argmax_takes_the_first_of_equal_probabilities() -> None:
    line = json.dumps({"label": 0, "SageMakerOutput": {"predictions": [[0.2, 0.4, 0.4]]}})
    assert parse_prediction_line(line, source="f", line_number=1).predicted_class == 1


@pytest.mark.parametrize(
    ("line", "error", "message"),
    [
        ("{not json", PredictionsMalformed, "invalid JSON"),
        ("[1, 2]", PredictionsMalformed, "expected a JSON object, got list"),
        ('{"id": "a", "SageMakerOutput": {"predictions": [[0.5, 0.5]]}}', LabelsMissing, "no 'label'"),
        ('{"label": null, "SageMakerOutput": [0.5, 0.5]}', LabelsMissing, "no 'label'"),
        (
            '{"label": "3", "SageMakerOutput": [0.5, 0.5]}',
            PredictionsMalformed,
            "expected 'label' to be a class",
        ),
        (
            '{"label": true, "SageMakerOutput": [0.5, 0.5]}',
            PredictionsMalformed,
            "expected 'label' to be a class",
        ),
        (
            '{"label": -1, "SageMakerOutput": [0.5, 0.5]}',
            PredictionsMalformed,
            "expected 'label' to be a class",
        ),
        ('{"label": 1}', PredictionsMalformed, "no 'SageMakerOutput'"),
        (
            '{"label": 1, "SageMakerOutput": {"error": "boom"}}',
            PredictionsMalformed,
            "vector of class probabilities",
        ),
        (
            '{"label": 1, "SageMakerOutput": {"predictions": [[0.2, 0.8], [0.5, 0.5]]}}',
            PredictionsMalformed,
            "one",
        ),
        ('{"label": 1, "SageMakerOutput": [0.9]}', PredictionsMalformed, "vector of class probabilities"),
        ('{"label": 1, "SageMakerOutput": [0.5, "x"]}', PredictionsMalformed, "finite numbers"),
        ('{"label": 1, "SageMakerOutput": [0.5, NaN]}', PredictionsMalformed, "finite numbers"),
        (
            '{"label": 1, "SageMakerOutput": [0.5, 0.2, 0.3]}',
            PredictionsMalformed,
            "expected 2 class probabilities",
        ),
        (
            '{"label": 2, "SageMakerOutput": [0.5, 0.5]}',
            PredictionsMalformed,
            "label 2 is not one of the model's 2",
        ),
    ],
)
def test_malformed_lines_name_file_and_line(line: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as caught:
        parse_prediction_line(line, source="s3://b/out/part-1.jsonl.out", line_number=42, num_classes=2)
    assert str(caught.value).startswith("s3://b/out/part-1.jsonl.out line 42: ")
    assert message in str(caught.value)


# --- PNG -----------------------------------------------------------------------------------------


def png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    assert data.startswith(PNG_SIGNATURE)
    offset = len(PNG_SIGNATURE)
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        yield kind, body
        offset += 12 + length


def decode_rgb(data: bytes) -> tuple[int, int, list[bytes]]:
    chunks = list(png_chunks(data))
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, color, compression, filtering, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, color, compression, filtering, interlace) == (8, 2, 0, 0, 0)
    raw = zlib.decompress(chunks[1][1])
    stride = 1 + 3 * width
    assert len(raw) == height * stride
    rows = [raw[y * stride : (y + 1) * stride] for y in range(height)]
    assert all(row[0] == 0 for row in rows)  # filter type None
    return width, height, [row[1:] for row in rows]


def pixel(rows: list[bytes], x: int, y: int) -> tuple[int, ...]:
    return tuple(rows[y][3 * x : 3 * x + 3])


def test_confusion_png_is_a_readable_heatmap() -> None:
    matrix = [[8, 2, 0], [0, 10, 0], [0, 0, 0]]
    width, height, rows = decode_rgb(render_confusion_png(matrix))
    cell = (width - 1) // 3 - 1
    assert width == height == 3 * (cell + 1) + 1
    assert cell >= 10

    def centre(row: int, col: int) -> tuple[int, ...]:
        return pixel(rows, col * (cell + 1) + 1 + cell // 2, row * (cell + 1) + 1 + cell // 2)

    assert centre(0, 2) == (255, 255, 255)  # no records: white
    assert centre(2, 2) == (255, 255, 255)  # empty row: white, no division by zero
    red, green, blue = centre(1, 1)  # all of class 1 correct: full blue
    assert blue > red and blue > green
    red, green, blue = centre(0, 1)  # 20% confused: reddish
    assert red > blue and red > green
    assert sum(centre(0, 0)) < sum(centre(0, 1)) < 3 * 255  # darker where more records fall
    assert pixel(rows, 0, 0) == pixel(rows, cell + 1, 5)  # grid lines


def test_confusion_png_for_many_classes_stays_bounded() -> None:
    width, height, _ = decode_rgb(render_confusion_png([[1] * 200 for _ in range(200)]))
    assert 1000 < width == height <= 2048


@pytest.mark.parametrize("matrix", [[], [[1, 2]], [[1, -1], [0, 0]], [[1.5, 0], [0, 1]]])
def test_confusion_png_rejects_bad_matrices(matrix: Any) -> None:
    with pytest.raises(ValueError, match="confusion matrix"):
        render_confusion_png(matrix)


# --- S3 and the handler (moto) -------------------------------------------------------------------

PREDICTIONS = f"s3://{ARTIFACTS_BUCKET}/transform/cand-a1-eval/"
CHAMPION_PREDICTIONS = f"s3://{ARTIFACTS_BUCKET}/transform/cand-a1-champ/"
REPORT = f"s3://{ARTIFACTS_BUCKET}/evaluations/cand-a1/"


def transform_line(record_id: str, label: int, predicted: int, classes: int = 3) -> str:
    probabilities = [0.05] * classes
    probabilities[predicted] = 0.9
    return json.dumps({"id": record_id, "label": label, "SageMakerOutput": {"predictions": [probabilities]}})


def lines(pairs: list[tuple[int, int]], start: int = 0) -> str:
    return "\n".join(transform_line(f"r{start + i}", y, p) for i, (y, p) in enumerate(pairs)) + "\n"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        evaluate_predictions.s3_client.cache_clear()
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=ARTIFACTS_BUCKET)
        yield client
    evaluate_predictions.s3_client.cache_clear()


def put(s3: Any, uri: str, body: str | bytes) -> None:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    s3.put_object(Bucket=bucket, Key=key, Body=body)


def get(s3: Any, uri: str) -> bytes:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def event(**overrides: Any) -> dict[str, Any]:
    return {
        "predictions_uri": PREDICTIONS,
        "report_uri": REPORT,
        "model_name": "cand-a1",
        "metric": "accuracy",
        "champion": None,
        "tolerance": 0.01,
        **overrides,
    }


def handle(request: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = evaluate_predictions.handler(request, LambdaContextStub())
    return result


def test_candidate_only(s3: Any) -> None:
    # Two output files (one per input file), a blank line, and objects that are not transform output.
    put(s3, PREDICTIONS + "part-0.jsonl.out", lines([(0, 0), (0, 1), (1, 1)]) + "\n")
    put(s3, PREDICTIONS + "part-1.jsonl.out", lines([(1, 1), (2, 2), (2, 0)], start=3))
    put(s3, PREDICTIONS + "part-1.jsonl", "not output")
    put(s3, PREDICTIONS[:-1] + "0/part-9.jsonl.out", "a sibling job's output, not ours")

    result = handle(event(predictions_uri=PREDICTIONS[:-1]))  # no trailing slash: still only this job

    assert result["champion"] is None
    candidate = result["candidate"]
    assert candidate["model_name"] == "cand-a1"
    assert candidate["records"] == 6
    assert candidate["metric"] == pytest.approx(4 / 6)
    assert candidate["metrics"] == {
        "accuracy": pytest.approx(4 / 6),
        "macro_f1": pytest.approx((0.5 + 0.8 + 2 / 3) / 3),
        "macro_precision": pytest.approx((0.5 + 2 / 3 + 1) / 3),
        "macro_recall": pytest.approx((0.5 + 1 + 0.5) / 3),
        "records": 6,
    }
    assert candidate["registry_metrics"]["records"] == {"N": "6"}
    assert candidate["report_uri"] == REPORT + "report.json"
    assert candidate["confusion_matrix_uri"] == REPORT + "confusion_matrix.png"
    json.dumps(result)

    report = json.loads(get(s3, REPORT + "report.json"))
    assert report["model_name"] == "cand-a1"
    assert report["predictions_uri"] == PREDICTIONS
    assert report["prediction_files"] == [PREDICTIONS + "part-0.jsonl.out", PREDICTIONS + "part-1.jsonl.out"]
    assert report["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert report["metrics"] == candidate["metrics"]
    assert [c["support"] for c in report["per_class"]] == [2, 2, 2]
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$", report["created_at"])
    width, _, _ = decode_rgb(get(s3, REPORT + "confusion_matrix.png"))
    assert width > 30


def test_champion_is_scored_on_the_same_data_with_a_floor(s3: Any) -> None:
    put(s3, PREDICTIONS + "data.jsonl.out", lines([(0, 0), (1, 1), (2, 2), (2, 1)]))
    put(s3, CHAMPION_PREDICTIONS + "data.jsonl.out", lines([(0, 0), (1, 1), (2, 1), (2, 1)]))

    result = handle(
        event(
            metric="macro_f1",
            tolerance=0.05,
            champion={"model_name": "champ-a2", "predictions_uri": CHAMPION_PREDICTIONS},
        )
    )

    candidate, champion = result["candidate"], result["champion"]
    assert candidate["metric"] == candidate["metrics"]["macro_f1"]
    assert champion["model_name"] == "champ-a2"
    assert champion["metric"] == champion["metrics"]["macro_f1"]
    assert champion["metrics"]["accuracy"] == 0.5
    assert champion["floor"] == pytest.approx(champion["metric"] - 0.05)
    assert champion["report_uri"] == REPORT + "champion/report.json"
    assert json.loads(get(s3, champion["report_uri"]))["model_name"] == "champ-a2"
    assert get(s3, champion["confusion_matrix_uri"]).startswith(PNG_SIGNATURE)


def test_champion_marked_absent_is_not_scored(s3: Any) -> None:
    put(s3, PREDICTIONS + "data.jsonl.out", lines([(0, 0), (1, 1)]))
    # What the training workflow sends when the registry has no DEPLOYED model.
    result = handle(event(champion={"present": False}))
    assert result["champion"] is None
    assert result["candidate"]["records"] == 2
    present = {"present": True, "model_name": "champ-a2", "predictions_uri": CHAMPION_PREDICTIONS}
    with pytest.raises(NoPredictions):  # present: the champion's (missing) predictions are read
        handle(event(champion=present))
    with pytest.raises(InvalidEvaluationEvent, match="model_name"):  # present, but which model?
        handle(event(champion={"present": True, "predictions_uri": CHAMPION_PREDICTIONS}))


def test_floor_has_no_float_noise(s3: Any) -> None:
    pairs = [(0, 0)] * 97 + [(1, 0)] * 3  # champion accuracy 0.97
    put(s3, PREDICTIONS + "d.jsonl.out", lines(pairs))
    champion = {"model_name": "champ", "predictions_uri": PREDICTIONS}
    assert handle(event(champion=champion, tolerance=0.01))["champion"]["floor"] == 0.96


def test_listing_follows_every_page(s3: Any) -> None:
    for index in range(1000):  # a full first page of objects that are not predictions
        put(s3, PREDICTIONS + f"{index:04d}.log", b"")
    put(s3, PREDICTIONS + "zzz.jsonl.out", lines([(1, 1), (0, 0)]))
    assert handle(event())["candidate"]["records"] == 2


def test_no_output_files(s3: Any) -> None:
    put(s3, PREDICTIONS + "input.jsonl", lines([(0, 0)]))
    with pytest.raises(NoPredictions, match=re.escape(f"no *.out files under {PREDICTIONS}")):
        handle(event())


def test_output_files_without_records(s3: Any) -> None:
    put(s3, PREDICTIONS + "empty.jsonl.out", "\n\n")
    with pytest.raises(NoPredictions, match="hold no records"):
        handle(event())


def test_malformed_output_names_object_and_line(s3: Any) -> None:
    put(s3, PREDICTIONS + "a.jsonl.out", lines([(0, 0)]) + "\n" + '{"label": 1, "SageMakerOutput": "oops"}\n')
    with pytest.raises(PredictionsMalformed, match=re.escape(f"{PREDICTIONS}a.jsonl.out line 3: ")):
        handle(event())


def test_class_count_must_agree_across_files(s3: Any) -> None:
    put(s3, PREDICTIONS + "a.jsonl.out", lines([(0, 0)]))
    put(s3, PREDICTIONS + "b.jsonl.out", json.dumps({"label": 0, "SageMakerOutput": [0.5, 0.5]}))
    with pytest.raises(
        PredictionsMalformed, match=re.escape("b.jsonl.out line 1: expected 3 class probabilities")
    ):
        handle(event())


def test_unlabelled_transform_output(s3: Any) -> None:
    put(s3, PREDICTIONS + "a.jsonl.out", json.dumps({"id": "x", "SageMakerOutput": [0.5, 0.5]}))
    with pytest.raises(LabelsMissing, match=re.escape(f"{PREDICTIONS}a.jsonl.out line 1: no 'label'")):
        handle(event())


def test_not_utf8(s3: Any) -> None:
    put(s3, PREDICTIONS + "a.jsonl.out", b"\xff\xfe\n")
    with pytest.raises(PredictionsMalformed, match="line 1: expected UTF-8"):
        handle(event())


def test_unknown_metric_fails_before_reading(s3: Any) -> None:
    with pytest.raises(UnknownMetric, match="metric: expected one of accuracy, macro_f1"):
        handle(event(metric="auc"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"model_name": ""}, "model_name: expected at least 1 character"),
        ({"predictions_uri": "/tmp/out"}, "predictions_uri: expected an s3://bucket/prefix/ URI"),
        ({"tolerance": 2}, "tolerance: expected <= 1"),
        (
            {"champion": {"model_name": "c"}},
            "champion: expected a predictions_uri for the champion that is present",
        ),
        ({"predictions_url": PREDICTIONS}, "predictions_url: unknown field"),
        (
            {"champion": {"model_name": "c", "predictions_uri": PREDICTIONS, "status": "DEPLOYED"}},
            "champion.status: unknown field (expected one of: present, model_name, predictions_uri)",
        ),
    ],
)
def test_bad_events_name_the_field(s3: Any, overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidEvaluationEvent, match=re.escape(message)):
        handle(event(**overrides))
