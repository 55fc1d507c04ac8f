"""Services acting on the stack's resources (service_access): alarms, rule targets, log delivery.

The topic and key policies are the synthesized template's (see test_access_policy).
"""

from __future__ import annotations

from typing import Any

from local_mode.checks.service_access import alarm_may_publish, event_target_allowed, log_group_may_use_key
from tests.local.checks.test_access_policy import ACCOUNT, ALARM, KEY_ARN, KEY_POLICY, REGION, TOPIC

# NotificationsTopicPolicy as landed: only the TLS Deny.
TOPIC_POLICY_DENY_ONLY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AllowPublishThroughSSLOnly",
            "Action": "sns:Publish",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            "Effect": "Deny",
            "Principal": "*",
            "Resource": TOPIC,
        }
    ],
}
CLOUDWATCH_ALLOW: dict[str, Any] = {
    "Sid": "AllowCloudWatchAlarms",
    "Action": "sns:Publish",
    "Condition": {
        "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:*"},
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
    },
    "Effect": "Allow",
    "Principal": {"Service": "cloudwatch.amazonaws.com"},
    "Resource": TOPIC,
}


def test_alarm_cannot_publish_to_a_topic_whose_policy_holds_only_the_deny() -> None:
    decision = alarm_may_publish(
        alarm_arn=ALARM, topic_arn=TOPIC, topic_policy=TOPIC_POLICY_DENY_ONLY, account_id=ACCOUNT
    )
    assert not decision
    assert "CloudWatch Alarms is not authorized to perform: SNS:Publish" in decision.message
    assert decision.action == "sns:Publish"


def test_alarm_publishes_when_the_topic_allows_cloudwatch_and_the_key_lets_it_encrypt() -> None:
    policy = {**TOPIC_POLICY_DENY_ONLY, "Statement": [*TOPIC_POLICY_DENY_ONLY["Statement"], CLOUDWATCH_ALLOW]}
    decision = alarm_may_publish(
        alarm_arn=ALARM,
        topic_arn=TOPIC,
        topic_policy=policy,
        account_id=ACCOUNT,
        key_arn=KEY_ARN,
        key_policy=KEY_POLICY,
    )
    assert decision, decision.message
    # The key policy's cloudwatch statement is scoped to this account.
    without_cloudwatch = {"Statement": KEY_POLICY["Statement"][:2]}
    refused = alarm_may_publish(
        alarm_arn=ALARM,
        topic_arn=TOPIC,
        topic_policy=policy,
        account_id=ACCOUNT,
        key_arn=KEY_ARN,
        key_policy=without_cloudwatch,
    )
    assert not refused and refused.action == "kms:GenerateDataKey"
    other_alarm = ALARM.replace(ACCOUNT, "999999999999")
    assert not alarm_may_publish(
        alarm_arn=other_alarm, topic_arn=TOPIC, topic_policy=policy, account_id=ACCOUNT
    )


def test_a_topic_without_a_policy_of_its_own_lets_the_account_alarms_publish() -> None:
    assert alarm_may_publish(alarm_arn=ALARM, topic_arn=TOPIC, topic_policy=None, account_id=ACCOUNT)


def test_log_groups_may_use_the_key_with_their_encryption_context() -> None:
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/vendedlogs/states/Training"
    assert log_group_may_use_key(
        log_group_arn=group, key_arn=KEY_ARN, key_policy=KEY_POLICY, region=REGION, account_id=ACCOUNT
    )
    elsewhere = group.replace(ACCOUNT, "999999999999")
    refused = log_group_may_use_key(
        log_group_arn=elsewhere, key_arn=KEY_ARN, key_policy=KEY_POLICY, region=REGION, account_id=ACCOUNT
    )
    assert (
        not refused
        and "logs.us-east-1.amazonaws.com is not authorized to perform: kms:Encrypt" in refused.message
    )
    other_region = log_group_may_use_key(
        log_group_arn=group, key_arn=KEY_ARN, key_policy=KEY_POLICY, region="eu-west-1", account_id=ACCOUNT
    )
    assert not other_region  # the key policy names logs.us-east-1.amazonaws.com


def test_event_rule_target_runs_as_its_role() -> None:
    machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:Evaluation"
    events_role = f"arn:aws:iam::{ACCOUNT}:role/EvaluationWorkflowStateMachineEventsRole"
    trust = {
        "Statement": [
            {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}}
        ]
    }
    policy = {"Statement": [{"Action": "states:StartExecution", "Effect": "Allow", "Resource": machine}]}
    rule = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/EvaluationSchedule"
    kwargs: dict[str, Any] = {
        "rule_arn": rule,
        "target_arn": machine,
        "account_id": ACCOUNT,
        "role_arn": events_role,
    }
    assert event_target_allowed(**kwargs, role_trust_policy=trust, role_policies=[policy])
    assert not event_target_allowed(**kwargs, role_trust_policy=trust, role_policies=[])
    lambda_trust = {
        "Statement": [{**trust["Statement"][0], "Principal": {"Service": "lambda.amazonaws.com"}}]
    }
    assert not event_target_allowed(**kwargs, role_trust_policy=lambda_trust, role_policies=[policy])


def test_event_rule_target_by_resource_policy() -> None:
    rule = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/Nightly"
    topic_policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": TOPIC,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule}},
            }
        ]
    }
    assert event_target_allowed(
        rule_arn=rule, target_arn=TOPIC, account_id=ACCOUNT, resource_policy=topic_policy
    )
    assert not event_target_allowed(
        rule_arn=rule + "2", target_arn=TOPIC, account_id=ACCOUNT, resource_policy=topic_policy
    )
