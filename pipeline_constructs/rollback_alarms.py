"""The CloudWatch alarms that roll back a blue/green endpoint update (AutoRollbackConfiguration).

SageMaker watches them during the deployment's waits (every canary or linear step and the
termination wait); one in ALARM shifts all traffic back to the old fleet and fails the update.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

MICROSECONDS_PER_MILLISECOND = 1000


def rollback_alarms(
    scope: Construct, *, endpoint_name: str, variant_name: str, max_model_latency_ms: int
) -> list[cloudwatch.Alarm]:
    """(model server errors, model latency) on the endpoint's variant, both over two 1-minute periods."""
    dimensions = {"EndpointName": endpoint_name, "VariantName": variant_name}
    errors = cloudwatch.Alarm(
        scope,
        "EndpointErrorsAlarm",
        alarm_description="Model server errors on the endpoint: rolls back a blue/green update",
        metric=cloudwatch.Metric(
            namespace="AWS/SageMaker",
            metric_name="Invocation5XXErrors",
            dimensions_map=dimensions,
            statistic="Sum",
            period=Duration.minutes(1),
        ),
        threshold=1,
        evaluation_periods=2,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    latency = cloudwatch.Alarm(
        scope,
        "EndpointLatencyAlarm",
        alarm_description=(
            f"p90 model latency above {max_model_latency_ms} ms on the endpoint: "
            "rolls back a blue/green update"
        ),
        # ModelLatency is reported in microseconds (SageMaker guide, "Amazon SageMaker AI metrics").
        metric=cloudwatch.Metric(
            namespace="AWS/SageMaker",
            metric_name="ModelLatency",
            dimensions_map=dimensions,
            statistic="p90",
            period=Duration.minutes(1),
        ),
        threshold=max_model_latency_ms * MICROSECONDS_PER_MILLISECOND,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluation_periods=2,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    return [errors, latency]
