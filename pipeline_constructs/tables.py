"""The DynamoDB table setup every table of the app shares (the model registry, the step cache)."""

from __future__ import annotations

from typing import ClassVar

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct


class EncryptedTable(Construct):
    """`table`: string partition key, on demand, encrypted with `key`, point-in-time recovery.

    A subclass says what differs: its partition key and removal policy, and whether the table has
    a TTL attribute or deletion protection.
    """

    partition_key: ClassVar[str]
    removal_policy: ClassVar[RemovalPolicy]
    time_to_live_attribute: ClassVar[str | None] = None
    deletion_protection: ClassVar[bool | None] = None

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=self.partition_key, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            time_to_live_attribute=self.time_to_live_attribute,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=self.deletion_protection,
            removal_policy=self.removal_policy,
        )
