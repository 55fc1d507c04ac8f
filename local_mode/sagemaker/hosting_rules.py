"""SageMaker's rules for endpoint variants: what an update keeps, what it refuses, capacity changes.

- ``UpdateEndpoint`` with ``RetainAllVariantProperties`` keeps each same-named variant's instance
  count and weight, and the endpoint's data capture, except the ``ExcludeRetainedVariantProperties``
  (API reference, UpdateEndpoint).
- An update that changes the instance type of a variant registered with Application Auto Scaling
  fails (SageMaker guide, "Update endpoints that use auto scaling").
- ``UpdateEndpointWeightsAndCapacities`` sets a variant's desired count or weight (what autoscaling calls).
- A serverless variant has a ``ServerlessConfig`` and no instance type or count, its config no
  ``DataCaptureConfig``, and an instance-based endpoint cannot be updated to serverless (SageMaker
  guide, "Serverless Inference" feature exclusions and "Update a serverless endpoint").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local_mode.sagemaker.shapes import SageMakerApiError, drop_none

SCALED_INSTANCE_TYPE_CHANGE = (
    "The variant {variant} of endpoint {endpoint} is registered as a scalable target with Application "
    "Auto Scaling, and this update changes its instance type ({old} to {new}). Deregister the scalable "
    "target before the update and register it again after."
)


@dataclass(frozen=True)
class Retention:
    """What an update keeps from the live endpoint (``RetainAllVariantProperties``)."""

    excluded: frozenset[str]

    @classmethod
    def of(cls, request: dict[str, Any]) -> Retention | None:
        if not request.get("RetainAllVariantProperties"):
            return None
        excluded = request.get("ExcludeRetainedVariantProperties", [])
        return cls(frozenset(item["VariantPropertyType"] for item in excluded))

    def variants(self, live: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The new variants, with the live instance count and weight of those with the same name."""
        by_name = {variant["VariantName"]: variant for variant in live}
        kept = []
        for variant in new:
            old = by_name.get(variant["VariantName"], {})
            merged = dict(variant)
            for desired, current in (
                ("DesiredInstanceCount", "CurrentInstanceCount"),
                ("DesiredWeight", "CurrentWeight"),
            ):
                if desired not in self.excluded and desired in old:
                    merged[current] = merged[desired] = old[desired]
            kept.append(merged)
        return kept

    def data_capture(self, live: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any] | None:
        return new if "DataCaptureConfig" in self.excluded else live


def variant_summary(variant: dict[str, Any]) -> dict[str, Any]:
    """DescribeEndpoint's ProductionVariantSummary of a newly deployed variant."""
    summary: dict[str, Any] = {
        "VariantName": variant["VariantName"],
        "DeployedImages": [],
        "CurrentWeight": float(variant.get("InitialVariantWeight", 1.0)),
        "DesiredWeight": float(variant.get("InitialVariantWeight", 1.0)),
    }
    if "ServerlessConfig" in variant:
        summary["CurrentServerlessConfig"] = summary["DesiredServerlessConfig"] = variant["ServerlessConfig"]
    else:
        count = int(variant.get("InitialInstanceCount", 1))
        summary["CurrentInstanceCount"] = summary["DesiredInstanceCount"] = count
    return summary


def capture_summary(capture: dict[str, Any] | None) -> dict[str, Any] | None:
    """DescribeEndpoint's DataCaptureConfigSummary."""
    if not capture:
        return None
    return drop_none(
        {
            "EnableCapture": bool(capture.get("EnableCapture")),
            "CaptureStatus": "Started" if capture.get("EnableCapture") else "Stopped",
            "CurrentSamplingPercentage": int(capture["InitialSamplingPercentage"]),
            "DestinationS3Uri": capture["DestinationS3Uri"],
            "KmsKeyId": capture.get("KmsKeyId") or "",
        }
    )


def refuse_scaled_instance_type_change(
    endpoint: str,
    live_config: dict[str, Any],
    new_config: dict[str, Any],
    registered: Callable[[str, str], bool],
) -> None:
    """ValidationException when a registered variant would change instance type."""
    new_types = {v["VariantName"]: v.get("InstanceType") for v in new_config["ProductionVariants"]}
    for variant in live_config["ProductionVariants"]:
        name, old = variant["VariantName"], variant.get("InstanceType")
        new = new_types.get(name)
        if old and new and old != new and registered(endpoint, name):
            message = SCALED_INSTANCE_TYPE_CHANGE.format(variant=name, endpoint=endpoint, old=old, new=new)
            raise SageMakerApiError("ValidationException", message)


def set_capacities(
    endpoint_arn: str, variants: list[dict[str, Any]], request: dict[str, Any]
) -> list[dict[str, Any]]:
    """The variants after UpdateEndpointWeightsAndCapacities' DesiredWeightsAndCapacities."""
    by_name = {variant["VariantName"]: dict(variant) for variant in variants}
    for change in request["DesiredWeightsAndCapacities"]:
        variant = by_name.get(change["VariantName"])
        if variant is None:
            message = f'The variant name(s) "{change["VariantName"]}" is/are not present for {endpoint_arn}.'
            raise SageMakerApiError("ValidationException", message)
        if "DesiredInstanceCount" in change:
            variant["CurrentInstanceCount"] = variant["DesiredInstanceCount"] = change["DesiredInstanceCount"]
        if "DesiredWeight" in change:
            variant["CurrentWeight"] = variant["DesiredWeight"] = float(change["DesiredWeight"])
    return [by_name[variant["VariantName"]] for variant in variants]


def refuse_invalid_serverless_config(request: dict[str, Any]) -> None:
    """CreateEndpointConfig's serverless rules: instances or ServerlessConfig, and no data capture."""
    for variant in request["ProductionVariants"]:
        instances = [key for key in ("InstanceType", "InitialInstanceCount") if key in variant]
        serverless = "ServerlessConfig" in variant
        if serverless and instances:
            name, fields = variant["VariantName"], ", ".join(instances)
            message = f"Variant {name}: ServerlessConfig cannot be set with {fields}."
            raise SageMakerApiError("ValidationException", message)
        if not serverless and "InstanceType" not in variant:
            message = f"Variant {variant['VariantName']}: InstanceType or ServerlessConfig must be specified."
            raise SageMakerApiError("ValidationException", message)
        memory = variant.get("ServerlessConfig", {}).get("MemorySizeInMB", 1024)
        if memory % 1024:  # botocore's model has the bounds; the API also wants 1 GB steps
            message = (
                f"Variant {variant['VariantName']}: MemorySizeInMB must be a multiple of 1024, got {memory}."
            )
            raise SageMakerApiError("ValidationException", message)
        if serverless and request.get("DataCaptureConfig"):
            message = (
                "DataCaptureConfig is not supported for endpoint configurations with a ServerlessConfig."
            )
            raise SageMakerApiError("ValidationException", message)


def refuse_instance_to_serverless(
    endpoint: str, live_config: dict[str, Any], new_config: dict[str, Any]
) -> None:
    """ValidationException: an instance-based endpoint cannot be updated to a serverless config."""
    live_instances = any("ServerlessConfig" not in v for v in live_config["ProductionVariants"])
    if live_instances and any("ServerlessConfig" in v for v in new_config["ProductionVariants"]):
        message = (
            f"Endpoint {endpoint} uses instances and cannot be updated to a serverless endpoint "
            "configuration. Delete the endpoint and create it with the serverless configuration."
        )
        raise SageMakerApiError("ValidationException", message)
