"""What the training code and the infrastructure must agree on, in one place.

One package, imported as ``contract`` everywhere: by the CDK app, local mode and the tests (the
repository root is their import root), by the training scripts (the CDK bundling ships this
folder inside the training-code archive, whose root is the container's working directory and
import root) and by the Lambda handlers (shipped as ``contract/`` at the root of the Lambda
asset). Standard library only.
"""

from __future__ import annotations

import re
from typing import Final

# SageMaker input channels. ``train``/``validation`` feed training (TFRecord shards
# plus ``metadata.json``), ``test`` holds TFRecords for offline checks, and
# ``transform`` holds the JSON Lines batch-transform input used by evaluation.
TRAIN_CHANNEL: Final = "train"
VALIDATION_CHANNEL: Final = "validation"
TEST_CHANNEL: Final = "test"
TRANSFORM_CHANNEL: Final = "transform"
TRAINING_CHANNELS: Final = (TRAIN_CHANNEL, VALIDATION_CHANNEL)
ALL_CHANNELS: Final = (TRAIN_CHANNEL, VALIDATION_CHANNEL, TEST_CHANNEL, TRANSFORM_CHANNEL)

METADATA_FILE: Final = "metadata.json"
TFRECORD_SUFFIX: Final = ".tfrecord"
TRANSFORM_SUFFIX: Final = ".jsonl"

# Batch-transform records: one JSON object per line. Only ``FEATURES_KEY`` reaches
# the model (DataProcessing.InputFilter); the output is joined to the input, so
# the evaluation reads id, label and prediction from one line.
RECORD_ID_KEY: Final = "id"
LABEL_KEY: Final = "label"
FEATURES_KEY: Final = "features"
TRANSFORM_CONTENT_TYPE: Final = "application/jsonlines"
TRANSFORM_INPUT_FILTER: Final = f"$.{FEATURES_KEY}"
TRANSFORM_OUTPUT_FILTER: Final = f"$['{RECORD_ID_KEY}','{LABEL_KEY}','SageMakerOutput']"
PREDICTION_OUTPUT_KEY: Final = "SageMakerOutput"

# Exported model: SM_MODEL_DIR/<version>/saved_model.pb, as TF Serving expects.
MODEL_VERSION: Final = "1"
SERVING_SIGNATURE: Final = "serving_default"
SERVING_INPUT_NAME: Final = "features"
SERVING_OUTPUT_NAME: Final = "probabilities"

# Per-epoch metric lines printed by train.py, e.g.
#   metrics epoch=3 loss=0.1234 accuracy=0.9712 val_loss=0.1010 val_accuracy=0.9750
METRIC_LINE_PREFIX: Final = "metrics"
TRAINING_METRICS: Final = ("loss", "accuracy", "val_loss", "val_accuracy")
_NUMBER: Final = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"


# The metric a tuning job minimises (one of TRAINING_METRICS).
TUNING_OBJECTIVE: Final = "val_loss"


def metric_regex(name: str) -> str:
    """The regex SageMaker uses to scrape ``name`` from the training log."""
    return rf"\b{name}={_NUMBER}"


def format_metric_line(epoch: int, values: dict[str, float]) -> str:
    """One log line that every regex of ``METRIC_DEFINITIONS`` can read."""
    fields = " ".join(f"{name}={values[name]:.6f}" for name in TRAINING_METRICS if name in values)
    return f"{METRIC_LINE_PREFIX} epoch={epoch} {fields}"


METRIC_DEFINITIONS: Final = tuple(
    {"Name": name, "Regex": metric_regex(name)} for name in TRAINING_METRICS
)


def scrape_metrics(log_text: str) -> dict[str, float]:
    """Last value of each metric in a log, the way SageMaker's FinalMetricDataList reports it."""
    found: dict[str, float] = {}
    for definition in METRIC_DEFINITIONS:
        matches = re.findall(definition["Regex"], log_text)
        if matches:
            found[definition["Name"]] = float(matches[-1])
    return found


# Where the training code writes the reason for a failed job (SageMaker shows it
# as FailureReason) and where spot checkpoints live inside the container.
FAILURE_FILE: Final = "/opt/ml/output/failure"
CHECKPOINT_DIR: Final = "/opt/ml/checkpoints"

# Entry points inside the training-code archive.
TRAINING_ENTRY_POINT: Final = "train.py"
PREPROCESSING_ENTRY_POINT: Final = "preprocess.py"

# Overrides for the container paths above, for runs outside a container (local
# mode sets them). Both entry points honour FAILURE_FILE_ENV; a processing job
# reports its failure through PROCESSING_MESSAGE_FILE (DescribeProcessingJob's
# ExitMessage) rather than the training job's failure file.
FAILURE_FILE_ENV: Final = "SM_OUTPUT_FAILURE"
CHECKPOINT_DIR_ENV: Final = "SM_CHECKPOINT_DIR"
PROCESSING_MESSAGE_FILE: Final = "/opt/ml/output/message"

# Exit codes of train.py and preprocess.py: 0 success, INPUT_ERROR_EXIT_CODE for
# bad arguments or bad data (retrying will not help), 1 for anything else.
INPUT_ERROR_EXIT_CODE: Final = 2
