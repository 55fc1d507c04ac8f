"""The model registry: one DynamoDB item per trained model."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

from lambdas.model_registry import (
    PARTITION_KEY,
    STATUS_INDEX,
    STATUS_INDEX_PARTITION_KEY,
    STATUS_INDEX_SORT_KEY,
)

from .tables import EncryptedTable


class ModelRegistry(EncryptedTable):
    """On-demand table with point-in-time recovery; `by-status` answers "which model is deployed"."""

    partition_key = PARTITION_KEY
    deletion_protection = True
    removal_policy = RemovalPolicy.RETAIN

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey) -> None:
        super().__init__(scope, construct_id, key=key)
        self.table.add_global_secondary_index(
            index_name=STATUS_INDEX,
            partition_key=dynamodb.Attribute(
                name=STATUS_INDEX_PARTITION_KEY, type=dynamodb.AttributeType.STRING
            ),
            sort_key=dynamodb.Attribute(name=STATUS_INDEX_SORT_KEY, type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )
