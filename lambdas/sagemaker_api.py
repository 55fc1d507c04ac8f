"""The enumerated values SageMaker's API accepts, read from botocore's service model.

The one place that knows them: the run settings (run_settings.py), which validate cdk.json at
synth (stacks/settings.py) and the execution input (execution_input.py, in the ValidateInput
Lambda and the operator CLI's ``--dry-run``), check with ``SageMakerEnum.expectation``, so
``ml.fake.huge`` is refused before anything is created, not by CreateTrainingJob. The Lambda
runtime ships boto3/botocore; it reads the model of the botocore it has (loaded once, on first use).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

import botocore.session

SERVICE: Final = "sagemaker"
_MAX_EXAMPLES: Final = 3


@cache
def enum_values(shape: str) -> tuple[str, ...]:
    """The values botocore's SageMaker model allows for the string shape ``shape``."""
    model = botocore.session.get_session().get_service_model(SERVICE)
    values = model.shape_for(shape).enum
    if not values:
        raise ValueError(f"SageMaker shape {shape} is not an enumeration")
    return tuple(values)


@dataclass(frozen=True)
class SageMakerEnum:
    """One enumerated request field: its botocore shape, what it is, and where SageMaker reads it."""

    shape: str
    what: str
    request_field: str
    examples: tuple[str, ...]

    def values(self) -> tuple[str, ...]:
        return enum_values(self.shape)

    def expectation(self, value: Any) -> str | None:
        """None when SageMaker accepts ``value``, else what was expected (to follow "expected ").

        ``a SageMaker training instance type (e.g. ml.m5.xlarge, ml.g5.xlarge; see CreateTrainingJob
        ResourceConfig.InstanceType)``; close spellings of ``value`` come first among the examples.
        """
        values = self.values()
        if isinstance(value, str) and value in values:
            return None
        close = difflib.get_close_matches(value, values, n=2, cutoff=0.8) if isinstance(value, str) else []
        examples = list(dict.fromkeys([*close, *self.examples]))[:_MAX_EXAMPLES]
        return f"{self.what} (e.g. {', '.join(examples)}; see {self.request_field})"

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.values())}


TRAINING_INSTANCE_TYPE: Final = SageMakerEnum(
    "TrainingInstanceType",
    "a SageMaker training instance type",
    "CreateTrainingJob ResourceConfig.InstanceType",
    ("ml.m5.xlarge", "ml.g5.xlarge"),
)
PROCESSING_INSTANCE_TYPE: Final = SageMakerEnum(
    "ProcessingInstanceType",
    "a SageMaker processing instance type",
    "CreateProcessingJob ProcessingResources.ClusterConfig.InstanceType",
    ("ml.m5.xlarge", "ml.c5.2xlarge"),
)
TRANSFORM_INSTANCE_TYPE: Final = SageMakerEnum(
    "TransformInstanceType",
    "a SageMaker batch transform instance type",
    "CreateTransformJob TransformResources.InstanceType",
    ("ml.m5.xlarge", "ml.c5.xlarge"),
)
ENDPOINT_INSTANCE_TYPE: Final = SageMakerEnum(
    "ProductionVariantInstanceType",
    "a SageMaker endpoint instance type",
    "CreateEndpointConfig ProductionVariants[].InstanceType",
    ("ml.m5.large", "ml.g5.xlarge"),
)
ALL: Final = (
    TRAINING_INSTANCE_TYPE,
    PROCESSING_INSTANCE_TYPE,
    TRANSFORM_INSTANCE_TYPE,
    ENDPOINT_INSTANCE_TYPE,
)
