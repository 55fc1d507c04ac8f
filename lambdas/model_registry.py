"""The model registry's vocabulary: table keys, index, and status values.

Shared by the Lambda handlers, the CDK app (which writes registry items from
the state machines), local mode and the operator CLI. Standard library only.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class ModelStatus(StrEnum):
    """Life cycle of one trained model (one registry item)."""

    TRAINING = "TRAINING"
    TRAINED = "TRAINED"
    EVALUATED = "EVALUATED"
    DEPLOYED = "DEPLOYED"
    REJECTED = "REJECTED"
    RETIRED = "RETIRED"
    FAILED = "FAILED"


PARTITION_KEY: Final = "model_name"
STATUS_INDEX: Final = "by-status"
STATUS_INDEX_PARTITION_KEY: Final = "status"
STATUS_INDEX_SORT_KEY: Final = "updated_at"


# Metrics that evaluate_predictions computes for a model. The quality gate may
# compare any of them (``gate.metric``), and the registry item's ``metrics`` map
# holds all of them plus RECORDS_METRIC (how many records they were computed on).
EVALUATION_METRICS: Final = ("accuracy", "macro_f1", "macro_precision", "macro_recall")
RECORDS_METRIC: Final = "records"
