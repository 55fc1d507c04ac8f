"""AWS policy evaluation (access_policy) on the policy shapes of the synthesized template.

The documents below are the template's own statements (`cdk synth`, TfModelLifecycle.template.json)
with the CloudFormation tokens resolved for account 123456789012 in us-east-1.
"""

from __future__ import annotations

from typing import Any

from local_mode.checks.access_policy import (
    AccessRequest,
    access_denied_message,
    authorize,
    service_principal_allowed,
)
from tests.local.checks.role_access_cloud import (
    ACCOUNT,
    KEY_ENCRYPT_DECRYPT_ACTIONS,
    REGION,
    role_arn,
    session_arn,
)

DATA = "tfmodellifecycle-storagedata-abc"
ARTIFACTS = "tfmodellifecycle-storageartifacts-abc"
ASSETS = f"cdk-hnb659fds-assets-{ACCOUNT}-{REGION}"
CODE_KEY = "81d0964b38c80e7a86916db9282936fd7b7ddc1338b09b21c4f2ffd840dd0482.gz"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE_NAME = "TfModelLifecycle-SageMakerRole574B07EB-XYZ"
ROLE = role_arn(ROLE_NAME)
SESSION = session_arn(ROLE_NAME, "SageMaker")
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:TfModelLifecycle-NotificationsTopic-XYZ"
ALARM = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:TfModelLifecycle-TrainingWorkflowFailedAlarm-XYZ"

# SageMakerRoleDefaultPolicy: the S3 and KMS statements.
SAGEMAKER_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Effect": "Allow",
            "Resource": [
                f"arn:aws:s3:::{ASSETS}/{CODE_KEY}",
                f"arn:aws:s3:::{ARTIFACTS}/checkpoints/*",
                f"arn:aws:s3:::{ARTIFACTS}/models/*",
                f"arn:aws:s3:::{DATA}/labelled/*",
                f"arn:aws:s3:::{DATA}/prepared/*",
                f"arn:aws:s3:::{DATA}/raw/*",
            ],
        },
        {
            "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
            "Condition": {"StringLike": {"s3:prefix": ["raw/*", "prepared/*", "labelled/*"]}},
            "Effect": "Allow",
            "Resource": f"arn:aws:s3:::{DATA}",
        },
        {
            "Action": ["s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:PutObject"],
            "Effect": "Allow",
            "Resource": [
                f"arn:aws:s3:::{ARTIFACTS}/checkpoints/*",
                f"arn:aws:s3:::{ARTIFACTS}/models/*",
                f"arn:aws:s3:::{ARTIFACTS}/transform/*",
                f"arn:aws:s3:::{DATA}/prepared/*",
            ],
        },
        {"Action": list(KEY_ENCRYPT_DECRYPT_ACTIONS), "Effect": "Allow", "Resource": KEY_ARN},
    ],
}


def tls_only(bucket: str) -> dict[str, Any]:
    """StorageDataPolicy: the bucket policy `enforce_ssl=True` creates."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Action": "s3:*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            }
        ],
    }


# StorageKey's KeyPolicy.
KEY_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AccountAdministersAndDelegatesToIam",
            "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Resource": "*",
        },
        {
            "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"],
            "Condition": {
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:*"
                }
            },
            "Effect": "Allow",
            "Principal": {"Service": f"logs.{REGION}.amazonaws.com"},
            "Resource": "*",
        },
        {
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Resource": "*",
        },
    ],
}

S3_CONTEXT = {"aws:SecureTransport": "true", "aws:PrincipalArn": ROLE, "aws:PrincipalAccount": ACCOUNT}


def s3_request(action: str, resource: str, **context: Any) -> AccessRequest:
    return AccessRequest(
        SESSION, action, resource, ACCOUNT, principal_arn=ROLE, context={**S3_CONTEXT, **context}
    )


def kms_request(action: str, encryption_arn: str) -> AccessRequest:
    context = {
        **S3_CONTEXT,
        "kms:ViaService": f"s3.{REGION}.amazonaws.com",
        "kms:CallerAccount": ACCOUNT,
        "kms:EncryptionContext:aws:s3:arn": encryption_arn,
    }
    return AccessRequest(SESSION, action, KEY_ARN, ACCOUNT, principal_arn=ROLE, context=context)


# --- S3: identity policy, bucket policy, s3:prefix -----------------------------------------------


def test_list_bucket_is_allowed_only_under_the_granted_prefixes() -> None:
    bucket = f"arn:aws:s3:::{DATA}"
    policies = [SAGEMAKER_POLICY]
    assert authorize(
        s3_request("s3:ListBucket", bucket, **{"s3:prefix": "raw/digits/"}), policies, tls_only(DATA)
    )
    refused = s3_request("s3:ListBucket", bucket, **{"s3:prefix": "models/"})
    decision = authorize(refused, policies, tls_only(DATA))
    assert not decision
    assert access_denied_message(refused, decision) == (
        f"User: {SESSION} is not authorized to perform: s3:ListBucket on resource: "
        f'"arn:aws:s3:::{DATA}" because no identity-based policy allows the s3:ListBucket action'
    )
    # Without a Prefix the request carries no s3:prefix, so a StringLike on it cannot match.
    assert not authorize(s3_request("s3:ListBucket", bucket), policies, tls_only(DATA))


def test_get_bucket_location_under_an_s3_prefix_condition_never_applies() -> None:
    """GetBucketLocation carries no s3:prefix (research: aws-fidelity.md), so that grant is dead."""
    request = s3_request("s3:GetBucketLocation", f"arn:aws:s3:::{DATA}")
    assert not authorize(request, [SAGEMAKER_POLICY], tls_only(DATA))


def test_the_code_asset_is_readable_but_its_bucket_not_listable() -> None:
    """The Preprocess defect: GetObject on the key is granted, ListBucket on the assets bucket is not."""
    assert authorize(s3_request("s3:GetObject", f"arn:aws:s3:::{ASSETS}/{CODE_KEY}"), [SAGEMAKER_POLICY])
    listing = s3_request("s3:ListBucket", f"arn:aws:s3:::{ASSETS}", **{"s3:prefix": CODE_KEY})
    assert (
        "no identity-based policy allows the s3:ListBucket action"
        in authorize(listing, [SAGEMAKER_POLICY]).reason
    )


def test_tls_only_bucket_policy_refuses_plain_http_but_not_tls() -> None:
    key = f"arn:aws:s3:::{DATA}/raw/digits/a.npz"
    assert authorize(s3_request("s3:GetObject", key), [SAGEMAKER_POLICY], tls_only(DATA))
    plain = s3_request("s3:GetObject", key, **{"aws:SecureTransport": "false"})
    decision = authorize(plain, [SAGEMAKER_POLICY], tls_only(DATA))
    assert not decision
    assert decision.reason == "with an explicit deny in a resource-based policy"


def test_a_bucket_policy_naming_the_role_allows_without_an_identity_grant() -> None:
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ROLE},
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{DATA}/x/*",
            }
        ]
    }
    assert authorize(s3_request("s3:PutObject", f"arn:aws:s3:::{DATA}/x/1"), [], policy)
    account_only = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{DATA}/x/*",
            }
        ]
    }
    # Naming the account only delegates to IAM: an identity policy must allow.
    assert not authorize(s3_request("s3:PutObject", f"arn:aws:s3:::{DATA}/x/1"), [], account_only)


def test_an_identity_deny_wins_over_any_allow() -> None:
    deny = {"Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": f"arn:aws:s3:::{DATA}/raw/*"}]}
    decision = authorize(s3_request("s3:GetObject", f"arn:aws:s3:::{DATA}/raw/a"), [SAGEMAKER_POLICY, deny])
    assert not decision and decision.reason == "with an explicit deny in an identity-based policy"


def test_only_a_resource_policy_may_leave_resource_out() -> None:
    """IAM rejects an identity-policy statement without Resource; in a bucket policy it means the bucket."""
    no_resource = {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]}
    request = s3_request("s3:GetObject", f"arn:aws:s3:::{DATA}/x/1")
    assert not authorize(request, [no_resource])
    with_principal = {"Statement": [{**no_resource["Statement"][0], "Principal": {"AWS": ROLE}}]}
    assert authorize(request, [], with_principal)


# --- KMS: key policy delegation and encryption context ---------------------------------------------


def test_key_policy_delegating_to_the_account_needs_the_identity_grant_too() -> None:
    request = kms_request("kms:Decrypt", f"arn:aws:s3:::{DATA}")
    assert authorize(request, [SAGEMAKER_POLICY], KEY_POLICY, key_policy=True)
    without_kms = {"Statement": SAGEMAKER_POLICY["Statement"][:3]}
    decision = authorize(request, [without_kms], KEY_POLICY, key_policy=True)
    assert not decision
    assert access_denied_message(request, decision, quote_resource=False) == (
        f"User: {SESSION} is not authorized to perform: kms:Decrypt on resource: {KEY_ARN} "
        "because no identity-based policy allows the kms:Decrypt action"
    )


def test_an_identity_grant_alone_does_not_open_a_key_whose_policy_does_not_delegate() -> None:
    services_only = {"Statement": KEY_POLICY["Statement"][1:]}
    decision = authorize(
        kms_request("kms:GenerateDataKey", f"arn:aws:s3:::{DATA}"),
        [SAGEMAKER_POLICY],
        services_only,
        key_policy=True,
    )
    assert (
        not decision and decision.reason == "no resource-based policy allows the kms:GenerateDataKey action"
    )


def test_key_policy_conditions_on_via_service_and_encryption_context() -> None:
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ROLE},
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"},
                    "ArnEquals": {"kms:EncryptionContext:aws:s3:arn": f"arn:aws:s3:::{DATA}"},
                },
            }
        ]
    }
    # Bucket keys on: the context is the bucket ARN.
    assert authorize(kms_request("kms:Decrypt", f"arn:aws:s3:::{DATA}"), [], policy, key_policy=True)
    assert not authorize(
        kms_request("kms:Decrypt", f"arn:aws:s3:::{DATA}/raw/a"), [], policy, key_policy=True
    )


# --- the policy grammar ---------------------------------------------------------------------------


def test_not_action_not_resource_not_principal_and_policy_variables() -> None:
    resource = f"arn:aws:s3:::{DATA}/home/{ROLE.rsplit('/', 1)[-1]}/notes"
    identity = {
        "Statement": [
            {
                "Effect": "Allow",
                "NotAction": "s3:DeleteObject",
                "Resource": f"arn:aws:s3:::{DATA}/home/${{aws:RoleName}}/*",
            },
            {"Effect": "Deny", "Action": "s3:*", "NotResource": f"arn:aws:s3:::{DATA}/home/*"},
        ]
    }
    request = AccessRequest(
        SESSION,
        "s3:GetObject",
        resource,
        ACCOUNT,
        principal_arn=ROLE,
        context={"aws:RoleName": ROLE.rsplit("/", 1)[-1]},
    )
    assert authorize(request, [identity])
    assert not authorize(
        AccessRequest(
            SESSION, "s3:DeleteObject", resource, ACCOUNT, principal_arn=ROLE, context=request.context
        ),
        [identity],
    )
    outside = AccessRequest(
        SESSION, "s3:GetObject", f"arn:aws:s3:::{DATA}/raw/a", ACCOUNT, principal_arn=ROLE
    )
    assert authorize(outside, [identity]).reason == "with an explicit deny in an identity-based policy"
    deny_all_but = {
        "Statement": [
            {"Effect": "Deny", "NotPrincipal": {"AWS": [SESSION, ROLE]}, "Action": "s3:*", "Resource": "*"}
        ]
    }
    assert authorize(request, [identity], deny_all_but)
    other = AccessRequest(f"arn:aws:sts::{ACCOUNT}:assumed-role/Other/s", "s3:GetObject", resource, ACCOUNT)
    assert not authorize(other, [SAGEMAKER_POLICY], deny_all_but)


def test_service_principal_needs_a_resource_policy() -> None:
    assert not service_principal_allowed(
        "cloudwatch.amazonaws.com", "sns:Publish", TOPIC, None, account_id=ACCOUNT
    )
