"""Where the project keeps things in its two buckets: S3 key prefixes, each ending in ``/``.

The same values as the CDK app's storage construct (which grants access per prefix);
standard library only, so the Lambda asset and the CDK app can share it.
"""

from __future__ import annotations

from typing import Final

# Data bucket.
RAW_PREFIX: Final = "raw/"
PREPARED_PREFIX: Final = "prepared/"
LABELLED_PREFIX: Final = "labelled/"

# Artifacts bucket.
MODELS_PREFIX: Final = "models/"
CHECKPOINTS_PREFIX: Final = "checkpoints/"
TRANSFORM_PREFIX: Final = "transform/"
EVALUATIONS_PREFIX: Final = "evaluations/"
# The endpoint's data capture: <prefix><endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl (SageMaker's layout).
CAPTURE_PREFIX: Final = "capture/"
