"""Whether an AWS service may act on a resource for this stack: alarms, rule targets, log groups.

Services act through the target's resource policy (no identity policy can grant a service
principal anything), with the request context AWS documents for each:

- **CloudWatch alarm actions to SNS** (`alarm_may_publish`): ``cloudwatch.amazonaws.com`` calls
  ``sns:Publish`` on the topic with ``aws:SourceArn`` = the alarm ARN, ``aws:SourceAccount``
  (and SNS's ``aws:SourceOwner``). A topic policy (``AWS::SNS::TopicPolicy``) *replaces* the
  default one, so it must allow this itself. An SSE-KMS topic also needs the key policy to let
  the principal ``kms:GenerateDataKey`` and ``kms:Decrypt`` (SNS Developer Guide, "Amazon SNS
  topic policies", "sns-key-management#compatibility-with-aws-services"; re:Post knowledge
  center "cloudwatch-receive-sns-for-alarm-trigger").
- **EventBridge rule targets** (`event_target_allowed`): a target with a ``RoleArn`` (Step
  Functions, ...) is called as that role: its trust policy must let ``events.amazonaws.com``
  ``sts:AssumeRole`` and its identity policies must allow the call (``states:StartExecution``);
  other targets (SNS, SQS, Lambda) authorize ``events.amazonaws.com`` by their resource policy
  with ``aws:SourceArn`` = the rule ARN (EventBridge User Guide, "eb-use-resource-based").
- **Log delivery to a KMS-encrypted log group** (`log_group_may_use_key`):
  ``logs.REGION.amazonaws.com`` uses the key with the encryption context
  ``aws:logs:arn`` = the log group ARN (CloudWatch Logs User Guide, "encrypt-log-data-kms").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from local_mode.checks.access_policy import (
    AccessRequest,
    ContextValue,
    Decision,
    Policy,
    authorize,
    match_policy,
    service_principal_allowed,
)

__all__ = ["ServiceDecision", "alarm_may_publish", "event_target_allowed", "log_group_may_use_key"]


@dataclass(frozen=True)
class ServiceDecision:
    """The outcome for a service acting on a resource; ``message`` says what AWS would record."""

    allowed: bool
    message: str
    action: str = ""
    resource: str = ""

    def __bool__(self) -> bool:
        return self.allowed


def _service_context(service: str, account_id: str, source_arn: str | None) -> dict[str, ContextValue]:
    context: dict[str, ContextValue] = {
        "aws:SecureTransport": "true",
        "aws:SourceAccount": account_id,
        "aws:PrincipalServiceName": service,
        "aws:PrincipalIsAWSService": "true",
    }
    if source_arn:
        context["aws:SourceArn"] = source_arn
    return context


def alarm_may_publish(
    *,
    alarm_arn: str,
    topic_arn: str,
    topic_policy: Policy | None,
    account_id: str,
    key_arn: str | None = None,
    key_policy: Policy | None = None,
) -> ServiceDecision:
    """May the alarm's action publish to the topic (and use the topic's KMS key)?

    ``topic_policy`` None means the topic has its default policy, which lets any principal of
    the owning account (``aws:SourceOwner``) publish, CloudWatch included.
    """
    service = "cloudwatch.amazonaws.com"
    context = _service_context(service, account_id, alarm_arn)
    context["aws:SourceOwner"] = account_id
    policy = topic_policy if topic_policy is not None else default_topic_policy(topic_arn, account_id)
    decision = service_principal_allowed(
        service, "sns:Publish", topic_arn, policy, account_id=account_id, context=context
    )
    if not decision.allowed:
        return ServiceDecision(
            False,
            f'Failed to execute action {topic_arn}. Received error: "CloudWatch Alarms is not authorized '
            f'to perform: SNS:Publish on resource:{topic_arn}" ({decision.reason})',
            "sns:Publish",
            topic_arn,
        )
    if key_arn is not None:
        kms_context = {**context, "kms:EncryptionContext:aws:sns:topicArn": topic_arn}
        for action in ("kms:GenerateDataKey", "kms:Decrypt"):
            found = service_principal_allowed(
                service, action, key_arn, key_policy, account_id=account_id, context=kms_context
            )
            if not found.allowed:
                return ServiceDecision(
                    False,
                    f'Failed to execute action {topic_arn}. Received error: "CloudWatch Alarms is not '
                    f'authorized to perform: {action} on resource: {key_arn}" ({found.reason})',
                    action,
                    key_arn,
                )
    return ServiceDecision(True, "allowed", "sns:Publish", topic_arn)


def default_topic_policy(topic_arn: str, account_id: str) -> dict[str, Any]:
    """The policy SNS gives a topic that has no policy of its own (``__default_policy_ID``)."""
    actions = [
        "SNS:GetTopicAttributes",
        "SNS:SetTopicAttributes",
        "SNS:AddPermission",
        "SNS:RemovePermission",
        "SNS:DeleteTopic",
        "SNS:Subscribe",
        "SNS:ListSubscriptionsByTopic",
        "SNS:Publish",
    ]
    return {
        "Version": "2008-10-17",
        "Id": "__default_policy_ID",
        "Statement": [
            {
                "Sid": "__default_statement_ID",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": actions,
                "Resource": topic_arn,
                "Condition": {"StringEquals": {"AWS:SourceOwner": account_id}},
            }
        ],
    }


_TARGET_ACTIONS = {
    "states": "states:StartExecution",
    "sns": "sns:Publish",
    "sqs": "sqs:SendMessage",
    "lambda": "lambda:InvokeFunction",
    "events": "events:PutEvents",
}


def event_target_allowed(
    *,
    rule_arn: str,
    target_arn: str,
    account_id: str,
    role_arn: str | None = None,
    role_trust_policy: Policy | None = None,
    role_policies: Sequence[Policy] = (),
    resource_policy: Policy | None = None,
) -> ServiceDecision:
    """May the EventBridge rule deliver to its target (as the target's role, or by its policy)?"""
    service = "events.amazonaws.com"
    action = _TARGET_ACTIONS.get(target_arn.split(":")[2], "*")
    context = _service_context(service, account_id, rule_arn)
    if role_arn is not None:
        trust = AccessRequest(service, "sts:AssumeRole", role_arn, account_id, context=context)
        trusted = match_policy(role_trust_policy, trust, resource_policy=True) if role_trust_policy else None
        if trusted is None or trusted.deny is not None or trusted.allow is None:
            return ServiceDecision(
                False,
                f"Events could not assume the role {role_arn}: its trust policy does not allow "
                f"{service} to perform sts:AssumeRole",
                "sts:AssumeRole",
                role_arn,
            )
        session = f"arn:aws:sts::{account_id}:assumed-role/{role_arn.rsplit('/', 1)[-1]}/events"
        request = AccessRequest(
            session,
            action,
            target_arn,
            account_id,
            principal_arn=role_arn,
            context={"aws:PrincipalArn": role_arn, "aws:SecureTransport": "true"},
        )
        decision: Decision = authorize(request, role_policies)
        if not decision.allowed:
            return ServiceDecision(
                False,
                f"User: {session} is not authorized to perform: {action} on resource: {target_arn} "
                f"because {decision.reason}",
                action,
                target_arn,
            )
        return ServiceDecision(True, "allowed", action, target_arn)
    decision = service_principal_allowed(
        service, action, target_arn, resource_policy, account_id=account_id, context=context
    )
    if not decision.allowed:
        return ServiceDecision(
            False,
            f"{service} is not authorized to perform: {action} on resource: {target_arn} "
            f"because {decision.reason}",
            action,
            target_arn,
        )
    return ServiceDecision(True, "allowed", action, target_arn)


LOGS_KEY_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey")


def log_group_may_use_key(
    *,
    log_group_arn: str,
    key_arn: str,
    key_policy: Policy | None,
    region: str,
    account_id: str,
    extra_context: Mapping[str, ContextValue] | None = None,
) -> ServiceDecision:
    """May CloudWatch Logs encrypt the log group's data with the key (AssociateKmsKey, delivery)?

    ``log_group_arn`` without the trailing ``:*`` (``arn:aws:logs:R:A:log-group:NAME``), which
    is the encryption context CloudWatch Logs sets.
    """
    service = f"logs.{region}.amazonaws.com"
    context: dict[str, ContextValue] = {
        "aws:SecureTransport": "true",
        "aws:PrincipalServiceName": service,
        "aws:PrincipalIsAWSService": "true",
        "kms:EncryptionContext:aws:logs:arn": log_group_arn.removesuffix(":*"),
        "kms:EncryptionContextKeys": ["aws:logs:arn"],
        **(extra_context or {}),
    }
    for action in LOGS_KEY_ACTIONS:
        decision = service_principal_allowed(
            service, action, key_arn, key_policy, account_id=account_id, context=context
        )
        if not decision.allowed:
            return ServiceDecision(
                False,
                f"The specified KMS key does not exist or is not allowed to be used with Arn "
                f"'{log_group_arn}' ({service} is not authorized to perform: {action} on resource: "
                f"{key_arn} because {decision.reason})",
                action,
                key_arn,
            )
    return ServiceDecision(True, "allowed", LOGS_KEY_ACTIONS[0], key_arn)
