"""A state machine with the project's operational defaults: full logging, tracing, a timeout."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct


def build_state_machine(
    scope: Construct,
    construct_id: str,
    *,
    definition: sfn.IChainable,
    timeout: Duration,
    logs_key: kms.IKey,
    log_retention: logs.RetentionDays,
    comment: str,
) -> sfn.StateMachine:
    """Logs every event with execution data to an encrypted log group; X-Ray on; a hard timeout."""
    log_group = logs.LogGroup(
        scope,
        f"{construct_id}Logs",
        retention=log_retention,
        encryption_key=logs_key,
        removal_policy=RemovalPolicy.DESTROY,
    )
    return sfn.StateMachine(
        scope,
        construct_id,
        definition_body=sfn.DefinitionBody.from_chainable(definition),
        comment=comment,
        # Last guard: no execution runs (or bills) forever, whatever a loop does.
        timeout=timeout,
        tracing_enabled=True,
        logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
    )
