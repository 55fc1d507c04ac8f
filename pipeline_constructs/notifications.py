"""The topic that tells people a model was deployed, rejected, or a run failed."""

from __future__ import annotations

from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct


class PipelineNotifications(Construct):
    """An encrypted, TLS-only SNS topic with an optional e-mail subscription."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, email: str = "") -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="ML pipeline notifications",
            master_key=key,
            enforce_ssl=True,
        )
        if email:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
