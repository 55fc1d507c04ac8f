"""Buckets for data and model artifacts, their access logs, and the customer key."""

from __future__ import annotations

from aws_cdk import ArnFormat, Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from lambdas.artifact_layout import CAPTURE_PREFIX, CHECKPOINTS_PREFIX, TRANSFORM_PREFIX

# What the account root may do with the key (IAM policies then delegate use to roles).
KEY_ACCOUNT_ACTIONS = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:PutKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:EnableKeyRotation",
    "kms:DisableKeyRotation",
    "kms:ListResourceTags",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:EnableKey",
    "kms:DisableKey",
    "kms:UpdateKeyDescription",
    "kms:CreateGrant",
    "kms:ListGrants",
    "kms:RevokeGrant",
    "kms:RetireGrant",
    "kms:ListAliases",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:UpdateAlias",
)

ACCESS_LOGS_NOT_LOGGED = (
    "This is the access-log bucket itself: logging its own accesses to itself would log each log "
    "delivery, endlessly; the data and artifacts buckets log here"
)


class PipelineStorage(Construct):
    """Data and artifacts buckets: KMS-encrypted, versioned, TLS-only, private, logged, retained."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        transient_object_days: int = 30,
        capture_expiry_days: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)

        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the ML pipeline's buckets, registry, topic and logs",
            enable_key_rotation=True,
            # Replaces CDK's default root `kms:*` statement with the actions the account needs.
            policy=iam.PolicyDocument(
                statements=[
                    iam.PolicyStatement(
                        sid="AccountAdministersAndDelegatesToIam",
                        actions=list(KEY_ACCOUNT_ACTIONS),
                        principals=[iam.AccountRootPrincipal()],
                        resources=["*"],
                    )
                ]
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )
        self._allow_service_use_of_key()
        # S3 server access logging cannot write to KMS-encrypted buckets: SSE-S3 here.
        self.access_logs_bucket = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(365))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        # The reviewed checkov finding, acknowledged on this resource in the template itself.
        access_logs = self.access_logs_bucket.node.default_child
        assert isinstance(access_logs, s3.CfnBucket)
        access_logs.add_metadata(
            "checkov", {"skip": [{"id": "CKV_AWS_18", "comment": ACCESS_LOGS_NOT_LOGGED}]}
        )
        self.data_bucket = self._private_bucket("Data", log_prefix="data/")
        self.artifacts_bucket = self._private_bucket(
            "Artifacts",
            log_prefix="artifacts/",
            lifecycle_rules=[
                s3.LifecycleRule(prefix=prefix, expiration=Duration.days(transient_object_days))
                for prefix in (CHECKPOINTS_PREFIX, TRANSFORM_PREFIX)
            ]
            + (
                # The endpoint's captured requests and responses (data capture on).
                [s3.LifecycleRule(prefix=CAPTURE_PREFIX, expiration=Duration.days(capture_expiry_days))]
                if capture_expiry_days is not None
                else []
            ),
        )

    def _private_bucket(
        self, construct_id: str, *, log_prefix: str, lifecycle_rules: list[s3.LifecycleRule] | None = None
    ) -> s3.Bucket:
        return s3.Bucket(
            self,
            construct_id,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix=log_prefix,
            lifecycle_rules=[
                # Versioning keeps overwritten objects; bound what that costs.
                s3.LifecycleRule(noncurrent_version_expiration=Duration.days(90)),
                *(lifecycle_rules or []),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _allow_service_use_of_key(self) -> None:
        """Let CloudWatch Logs (encrypted log groups) and CloudWatch alarms (encrypted topic) use the key."""
        stack = Stack.of(self)
        self.key.add_to_resource_policy(
            # No kms:DescribeKey here: that request carries no encryption context, so under this
            # condition it could never be allowed (IAM linter: UNKNOWN_CONDITION_FOR_ACTION).
            iam.PolicyStatement(
                sid="CloudWatchLogsEncryptsLogGroups",
                actions=[
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncryptFrom",
                    "kms:ReEncryptTo",
                    "kms:GenerateDataKey",
                ],
                principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )
