"""The topic that tells people a model was deployed, rejected, or a run failed."""

from __future__ import annotations

from aws_cdk import ArnFormat, Aws, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct


class PipelineNotifications(Construct):
    """An encrypted, TLS-only SNS topic with an optional e-mail subscription.

    `enforce_ssl` writes an `AWS::SNS::TopicPolicy`, and a topic policy replaces the topic's
    default one: without an Allow for `cloudwatch.amazonaws.com`, alarm actions fail with "not
    authorized to perform: SNS:Publish" (AWS re:Post knowledge center,
    "cloudwatch-receive-sns-for-alarm-trigger"; SNS developer guide, "Amazon SNS topic policies").
    The Allow admits this account's alarms only. CloudWatch also needs the topic's key
    (`kms:Decrypt`, `kms:GenerateDataKey`): the storage key's policy grants that principal both.
    The workflows publish through their roles (identity policies), so they need nothing here;
    the stack's only EventBridge rule targets a state machine through a role, not a resource policy.
    """

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, email: str = "") -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="ML pipeline notifications",
            master_key=key,
            enforce_ssl=True,
        )
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarms",
                actions=["sns:Publish"],
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                resources=[self.topic.topic_arn],
                conditions={
                    "ArnLike": {
                        "aws:SourceArn": Stack.of(self).format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                },
            )
        )
        if email:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
