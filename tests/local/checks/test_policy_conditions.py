"""IAM condition operators, set qualifiers and policy variables (policy_conditions)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from local_mode.checks.access_policy import AccessRequest
from local_mode.checks.policy_conditions import conditions_hold, strings, substitute

ACCOUNT = "123456789012"
DATA = "tfmodellifecycle-storagedata-abc"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/TfModelLifecycle-SageMakerRole574B07EB-XYZ"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/TfModelLifecycle-SageMakerRole574B07EB-XYZ/SageMaker"
ALARM = f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:TfModelLifecycle-TrainingWorkflowFailedAlarm-XYZ"


def request_with(**context: Any) -> AccessRequest:
    return AccessRequest(
        SESSION, "s3:GetObject", f"arn:aws:s3:::{DATA}/a", ACCOUNT, principal_arn=ROLE, context=context
    )


def partial_request(**context: Any) -> AccessRequest:
    return replace(request_with(**context), partial=True)


@pytest.mark.parametrize(
    ("block", "context", "expected"),
    [
        (
            {"StringEquals": {"aws:PrincipalAccount": ACCOUNT}},
            {"aws:principalaccount": ACCOUNT},
            True,
        ),  # keys: any case
        ({"StringNotEquals": {"aws:PrincipalAccount": ACCOUNT}}, {}, True),  # negated, key absent: true
        ({"StringLike": {"s3:prefix": "raw/*"}}, {}, False),  # positive, key absent: false
        ({"StringLikeIfExists": {"s3:prefix": "raw/*"}}, {}, True),
        ({"StringNotLike": {"s3:prefix": ["raw/*", "prepared/*"]}}, {"s3:prefix": "models/"}, True),
        ({"StringNotLike": {"s3:prefix": ["raw/*", "prepared/*"]}}, {"s3:prefix": "raw/x"}, False),
        (
            {"StringEqualsIgnoreCase": {"aws:PrincipalType": "assumedrole"}},
            {"aws:PrincipalType": "AssumedRole"},
            True,
        ),
        ({"ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:*:*:alarm:*"}}, {"aws:SourceArn": ALARM}, True),
        (
            {"ArnNotLike": {"aws:SourceArn": "arn:aws:cloudwatch:*:*:alarm:*"}},
            {"aws:SourceArn": ALARM},
            False,
        ),
        ({"ArnEquals": {"aws:PrincipalArn": ROLE}}, {"aws:PrincipalArn": ROLE}, True),
        ({"Bool": {"aws:SecureTransport": "false"}}, {"aws:SecureTransport": True}, False),
        ({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": "true"}, True),
        ({"Null": {"s3:prefix": "true"}}, {}, True),
        ({"Null": {"s3:prefix": "false"}}, {}, False),
        ({"NumericLessThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "5"}, True),
        ({"NumericGreaterThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "5"}, False),
        (
            {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
            {"aws:CurrentTime": "2026-11-29T00:00:00Z"},
            True,
        ),
        ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "10.1.2.3"}, True),
        (
            {"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": ["aws:s3:arn"]}},
            {"kms:EncryptionContextKeys": ["aws:s3:arn"]},
            True,
        ),
        ({"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": ["x"]}}, {}, False),
        (
            {"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["aws:s3:arn"]}},
            {"kms:EncryptionContextKeys": ["aws:s3:arn", "x"]},
            False,
        ),
        ({"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["aws:s3:arn"]}}, {}, True),
        (
            {"StringEquals": {"aws:PrincipalTag/team": "${aws:PrincipalTag/team}"}},
            {"aws:PrincipalTag/team": "ml"},
            True,
        ),
        ({"NoSuchOperator": {"a": "b"}}, {"a": "b"}, False),
    ],
)
def test_condition_operators(block: dict[str, Any], context: dict[str, Any], expected: bool) -> None:
    assert conditions_hold(block, request_with(**context)) is expected


@pytest.mark.parametrize("unknown", [True, False])
def test_a_partial_request_leaves_a_missing_key_to_the_caller(unknown: bool) -> None:
    known = partial_request(**{"aws:PrincipalAccount": ACCOUNT})
    assert conditions_hold({"StringEquals": {"aws:PrincipalAccount": ACCOUNT}}, known, unknown=unknown)
    assert not conditions_hold({"StringEquals": {"aws:PrincipalAccount": "1"}}, known, unknown=unknown)
    on_missing = {"StringNotEquals": {"aws:RequestTag/team": "ml"}}  # complete request: true
    assert conditions_hold(on_missing, known, unknown=unknown) is unknown
    assert conditions_hold(on_missing, request_with(**{"aws:PrincipalAccount": ACCOUNT}), unknown=unknown)
    variable = {"StringEquals": {"aws:PrincipalAccount": "${aws:RequestTag/account}"}}
    assert conditions_hold(variable, known, unknown=unknown) is unknown


def test_policy_variables_and_values() -> None:
    request = request_with(**{"aws:username": "ada"})
    assert substitute("home/${aws:username}/${*}${?}${$}", request) == "home/ada/*?$"
    assert substitute("${aws:userid, 'nobody'}", request) == "nobody"
    assert substitute("${aws:userid}", request, unresolved="*") == "*"
    assert "ada" not in substitute("${aws:userid}", request)
    assert strings(True) == ["true"] and strings([False, 3]) == ["false", "3"] and strings(None) == []
