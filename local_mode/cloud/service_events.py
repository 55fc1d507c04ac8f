"""AWS services acting on the deployed stack: alarm actions, rule targets, log delivery.

Each event reads what governs it from the local services (the topic's policy, the key's policy,
the target role's trust and identity policies) and is decided by `service_access`, as AWS decides
it for the service principal. A refused delivery happens nowhere and is reported with AWS's reason;
an allowed one happens: the alarm's message reaches the topic, the rule starts its state machine.

Nothing here runs by itself (local mode has no metrics and no scheduler): tests and the operator
trigger an alarm or a rule to see what AWS would do when it fires.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from local_mode.checks.service_access import (
    ServiceDecision,
    alarm_may_publish,
    event_target_allowed,
    log_group_may_use_key,
)

ClientFactory = Callable[[str], BaseClient]


@dataclass(frozen=True)
class Delivery:
    """One action or target of a fired alarm or rule: where it went, and what AWS would decide."""

    target: str
    decision: ServiceDecision
    result: Any = None  # the publish or StartExecution response when delivered

    @property
    def delivered(self) -> bool:
        return self.decision.allowed


def _document(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _key_policy(client: ClientFactory, key_id: str | None) -> tuple[str | None, Any]:
    if not key_id:
        return None, None
    kms = client("kms")
    try:
        key_arn = kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
        return key_arn, _document(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    except ClientError:  # an alias of an AWS-managed key, or a key that is gone: nothing allows it
        return key_id, None


def fire_alarm(
    client: ClientFactory, alarm_name: str, *, account_id: str, reason: str = ""
) -> list[Delivery]:
    """Put the alarm in ALARM and deliver each SNS action the way CloudWatch would."""
    cloudwatch = client("cloudwatch")
    [alarm] = cloudwatch.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"]
    why = reason or "Threshold crossed (local mode)"
    cloudwatch.set_alarm_state(AlarmName=alarm_name, StateValue="ALARM", StateReason=why)
    deliveries = []
    for action in alarm.get("AlarmActions", []):
        if ":sns:" not in action:
            deliveries.append(
                Delivery(action, ServiceDecision(False, f"{action}: only SNS actions run locally"))
            )
            continue
        attributes = client("sns").get_topic_attributes(TopicArn=action)["Attributes"]
        key_arn, key_policy = _key_policy(client, attributes.get("KmsMasterKeyId"))
        decision = alarm_may_publish(
            alarm_arn=alarm["AlarmArn"],
            topic_arn=action,
            topic_policy=_document(attributes["Policy"]) if "Policy" in attributes else None,
            account_id=account_id,
            key_arn=key_arn,
            key_policy=key_policy,
        )
        result = None
        if decision.allowed:
            result = client("sns").publish(
                TopicArn=action,
                Subject=f'ALARM: "{alarm_name}"',
                Message=json.dumps(_alarm_message(alarm, why)),
            )
        deliveries.append(Delivery(action, decision, result))
    return deliveries


def _alarm_message(alarm: dict[str, Any], reason: str) -> dict[str, Any]:
    """The fields of the JSON message CloudWatch publishes for an alarm action."""
    return {
        "AlarmName": alarm["AlarmName"],
        "AlarmArn": alarm["AlarmArn"],
        "NewStateValue": "ALARM",
        "NewStateReason": reason,
        "StateChangeTime": datetime.now(UTC).isoformat(),
        "Trigger": {
            "MetricName": alarm.get("MetricName"),
            "Namespace": alarm.get("Namespace"),
            "Dimensions": alarm.get("Dimensions", []),
        },
    }


def fire_rule(
    client: ClientFactory,
    rule_name: str,
    *,
    account_id: str,
    role_policies: Callable[[str], list[dict[str, Any]]],
) -> list[Delivery]:
    """Deliver the rule's event to each Step Functions target the way EventBridge would."""
    events = client("events")
    rule_arn = events.describe_rule(Name=rule_name)["Arn"]
    deliveries = []
    for target in events.list_targets_by_rule(Rule=rule_name)["Targets"]:
        role_arn = target.get("RoleArn")
        role_name = role_arn.rsplit("/", 1)[-1] if role_arn else None
        trust = (
            client("iam").get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
            if role_name
            else None
        )
        decision = event_target_allowed(
            rule_arn=rule_arn,
            target_arn=target["Arn"],
            account_id=account_id,
            role_arn=role_arn,
            role_trust_policy=_document(trust) if trust else None,
            role_policies=role_policies(role_name) if role_name else (),
        )
        result = None
        if decision.allowed and ":states:" in target["Arn"]:
            result = client("stepfunctions").start_execution(
                stateMachineArn=target["Arn"],
                name=f"{rule_name[:40]}-{datetime.now(UTC):%Y%m%d%H%M%S%f}",
                input=target.get("Input", "{}"),
            )
        deliveries.append(Delivery(target["Arn"], decision, result))
    return deliveries


def log_group_decisions(client: ClientFactory, *, region: str, account_id: str) -> list[ServiceDecision]:
    """For each KMS-encrypted log group: may CloudWatch Logs use its key? (AWS refuses the group
    at CreateLogGroup/AssociateKmsKey otherwise.)"""
    decisions = []
    for page in client("logs").get_paginator("describe_log_groups").paginate():
        for group in page["logGroups"]:
            if not group.get("kmsKeyId"):
                continue
            key_arn, key_policy = _key_policy(client, group["kmsKeyId"])
            decisions.append(
                log_group_may_use_key(
                    log_group_arn=str(group["arn"]).removesuffix(":*"),
                    key_arn=key_arn or group["kmsKeyId"],
                    key_policy=key_policy,
                    region=region,
                    account_id=account_id,
                )
            )
    return decisions
