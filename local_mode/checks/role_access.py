"""S3 clients that act as an IAM role: every request authorized as AWS would, before it is sent.

``RoleAccess(client)`` reads the policies from the local services themselves (moto's IAM, S3 and
KMS through boto3, by `policy_sources`; ``client`` is e.g. ``MotoServer.client`` or
``LocalCloud.client``), never from the template, so a deployed stack with a grant removed is
refused here as on AWS.

``RoleAccess.s3_for(role_arn)`` returns a new boto3 S3 client whose botocore
``before-parameter-build.s3`` hook authorizes each operation as the role's SageMaker session
(``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SageMaker``) and raises botocore's ``ClientError``
``AccessDenied`` with AWS's message when it is refused. Each client reads the role's policies,
the bucket policies, the buckets' default encryption and the key policies once, when it first
needs them (a job's client is a snapshot taken as the job runs). ``RoleAccess.session(role_arn,
session_name=..., context=...)`` is another session of the role: `role_calls` uses one named
after each Lambda function, for every service the function calls.

What each S3 operation needs (S3 User Guide, "Required permissions for Amazon S3 API operations"):
ListObjects(V2) ``s3:ListBucket`` on the bucket with ``s3:prefix``/``s3:delimiter``/``s3:max-keys``;
GetObject/HeadObject ``s3:GetObject`` (``s3:GetObjectVersion`` with a VersionId); PutObject and the
multipart calls ``s3:PutObject``; and, for SSE-KMS, ``kms:Decrypt`` on GetObject,
``kms:GenerateDataKey`` on PutObject and both on CreateMultipartUpload (S3 User Guide,
"UsingKMSEncryption": HeadObject needs no KMS permission). S3 calls KMS for the requester with
``kms:ViaService = s3.REGION.amazonaws.com``, ``kms:CallerAccount`` and the encryption context
``aws:s3:arn`` = the object ARN, or the bucket ARN when S3 Bucket Keys are on ("bucket-key.html").
Every request carries ``aws:SecureTransport = true`` (SageMaker uses TLS), ``aws:PrincipalArn`` (the
role), ``aws:PrincipalAccount``, ``aws:userid`` (``ROLEID:SageMaker``), ``aws:PrincipalType``,
``aws:RequestedRegion`` and the role's tags as ``aws:PrincipalTag/*``. ``aws:SourceAccount`` and
``aws:SourceArn`` are not set: AWS sets them only on requests a service principal makes on a
resource's behalf, not on requests made with a role's credentials.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Final

import boto3
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from local_mode.checks.access_policy import (
    AccessRequest,
    ContextValue,
    Decision,
    Policy,
    access_denied_message,
    authorize,
    match_policy,
)
from local_mode.checks.policy_sources import ClientFactory, KmsEncryption, PolicySnapshot

__all__ = ["S3_OPERATIONS", "RoleAccess", "RoleSession", "bucket_policy_verdict"]

SESSION_NAME: Final = "SageMaker"

# Bucket-level operations → their IAM action (the rest are object operations, below).
_BUCKET_ACTIONS: Final = {
    "ListObjects": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "GetBucketLocation": "s3:GetBucketLocation",
    "GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "GetBucketPolicy": "s3:GetBucketPolicy",
    "GetBucketVersioning": "s3:GetBucketVersioning",
}
_OBJECT_ACTIONS: Final = {
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "CopyObject": "s3:PutObject",
    "UploadPartCopy": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "ListParts": "s3:ListMultipartUploadParts",
    "DeleteObject": "s3:DeleteObject",
    "GetObjectTagging": "s3:GetObjectTagging",
    "PutObjectTagging": "s3:PutObjectTagging",
}
# ListObjects(V2) parameters → the condition keys S3 sets from them
_LIST_CONDITION_KEYS: Final = (
    ("Prefix", "s3:prefix"),
    ("Delimiter", "s3:delimiter"),
    ("MaxKeys", "s3:max-keys"),
)
_VERSIONED: Final = {"s3:GetObject": "s3:GetObjectVersion", "s3:DeleteObject": "s3:DeleteObjectVersion"}
# every S3 operation mapped above (the rest are mapped to ``s3:OPERATION`` by `RoleSession.check`)
S3_OPERATIONS: Final = frozenset({*_BUCKET_ACTIONS, *_OBJECT_ACTIONS})


class RoleAccess:
    """Hands out S3 clients bound to IAM roles; reads policies from the local services.

    ``client(service_name)`` returns an administrative boto3 client of the local cloud (for
    ``iam``, ``s3``, ``kms``); ``region``/``account_id`` default to the S3 client's region and
    the role ARNs' account.
    """

    def __init__(
        self,
        client: ClientFactory,
        *,
        region: str | None = None,
        account_id: str | None = None,
        session_name: str = SESSION_NAME,
    ) -> None:
        self._client = client
        self.region = region or client("s3").meta.region_name
        self.account_id = account_id
        self.session_name = session_name

    def session(
        self,
        role_arn: str,
        *,
        session_name: str | None = None,
        context: Mapping[str, ContextValue] | None = None,
    ) -> RoleSession:
        """A fresh snapshot of what governs the role's access (read lazily).

        ``session_name``: the assumed-role session's name (default: this access's, ``SageMaker``);
        ``context``: condition keys every request of the session carries besides the global ones
        (a Lambda function's credentials add ``lambda:SourceFunctionArn``).
        """
        return RoleSession(self, role_arn, session_name=session_name, context=context)

    def s3_for(self, role_arn: str) -> BaseClient:
        """A new S3 client of the local cloud whose every request is authorized as ``role_arn``."""
        return self.session(role_arn).s3_client()

    def admin(self, service_name: str) -> BaseClient:
        return self._client(service_name)


class RoleSession:
    """One role's assumed-role session, with the policies it read (cached for its lifetime)."""

    def __init__(
        self,
        access: RoleAccess,
        role_arn: str,
        *,
        session_name: str | None = None,
        context: Mapping[str, ContextValue] | None = None,
    ) -> None:
        self.access = access
        self.role_arn = role_arn
        self.role_name = role_arn.rsplit("/", 1)[-1]
        self.account_id = access.account_id or role_arn.split(":")[4]
        self.region = access.region
        self.session_name = session_name or access.session_name
        self.principal = f"arn:aws:sts::{self.account_id}:assumed-role/{self.role_name}/{self.session_name}"
        self.extra_context: dict[str, ContextValue] = dict(context or {})
        self.policies = PolicySnapshot(
            access.admin, self.role_name, region=self.region, account_id=self.account_id
        )

    # -- the client -------------------------------------------------------------------------------

    def s3_client(self) -> BaseClient:
        admin = self.access.admin("s3")
        credentials = admin._request_signer._credentials  # the local cloud's (fake) credentials
        client = boto3.session.Session().client(
            "s3",
            region_name=admin.meta.region_name,
            endpoint_url=admin.meta.endpoint_url,
            aws_access_key_id=credentials.access_key,
            aws_secret_access_key=credentials.secret_key,
            aws_session_token=credentials.token,
            config=admin.meta.config,
        )
        client.meta.events.register("before-parameter-build.s3", self._before_call)
        return client

    def _before_call(self, params: Mapping[str, Any], model: Any, **_: Any) -> None:
        self.check(model.name, params)

    # -- authorization ----------------------------------------------------------------------------

    def check(self, operation: str, params: Mapping[str, Any]) -> None:
        """Raise ``ClientError`` AccessDenied (as S3 answers) unless the role may make this call."""
        message = self.denial(operation, params)
        if message is not None:
            raise ClientError(
                {
                    "Error": {"Code": "AccessDenied", "Message": message},
                    "ResponseMetadata": {"HTTPStatusCode": 403},
                },
                operation,
            )

    def denial(self, operation: str, params: Mapping[str, Any]) -> str | None:
        """AWS's AccessDenied message for the first request of this S3 call refused, else None."""
        for request, quote in self.requests_for(operation, params):
            decision = self.decide(request)
            if not decision.allowed:
                return access_denied_message(request, decision, quote_resource=quote)
        return None

    def decide(self, request: AccessRequest) -> Decision:
        identity = self.identity_policies()
        if request.action.startswith("kms:"):
            _, key_policy = self.key(request.resource)
            return authorize(request, identity, key_policy, key_policy=True)
        bucket = request.resource.split(":::", 1)[-1].split("/", 1)[0]
        return authorize(request, identity, self.policies.bucket_policy(bucket))

    def requests_for(self, operation: str, params: Mapping[str, Any]) -> list[tuple[AccessRequest, bool]]:
        """The (request, quote resource in the message) pairs S3 authorizes for one API call."""
        bucket = str(params.get("Bucket", ""))
        if not bucket:
            return []  # ListBuckets and friends: not used by jobs
        key = params.get("Key")
        base = self._context()
        context: dict[str, ContextValue] = dict(base)
        if operation in _BUCKET_ACTIONS or key is None:
            action = _BUCKET_ACTIONS.get(operation, f"s3:{operation}")
            for param, name in _LIST_CONDITION_KEYS:
                if param in params:
                    context[name] = str(params[param])
            resource = f"arn:aws:s3:::{bucket}"
            return [(self._request(action, resource, context), True)]
        action = _OBJECT_ACTIONS.get(operation, f"s3:{operation}")
        if params.get("VersionId"):
            action = _VERSIONED.get(action, action)
            context["s3:versionid"] = str(params["VersionId"])
        if "ServerSideEncryption" in params:
            context["s3:x-amz-server-side-encryption"] = str(params["ServerSideEncryption"])
        if "SSEKMSKeyId" in params:
            context["s3:x-amz-server-side-encryption-aws-kms-key-id"] = str(params["SSEKMSKeyId"])
        object_arn = f"arn:aws:s3:::{bucket}/{key}"
        needed = [(self._request(action, object_arn, context), True)]
        for kms_action in _kms_actions(operation):
            encryption = self._encryption_for(operation, bucket, str(key), params)
            if encryption is None:
                break
            key_arn, _ = self.key(encryption.key_id)
            encryption_arn = f"arn:aws:s3:::{bucket}" if encryption.bucket_key else object_arn
            kms_context: dict[str, ContextValue] = {
                **base,
                "kms:ViaService": f"s3.{self.region}.amazonaws.com",
                "kms:CallerAccount": self.account_id,
                "kms:EncryptionContext:aws:s3:arn": encryption_arn,
                "kms:EncryptionContextKeys": ["aws:s3:arn"],
                "aws:CalledVia": ["s3.amazonaws.com"],
                "aws:CalledViaFirst": "s3.amazonaws.com",
                "aws:CalledViaLast": "s3.amazonaws.com",
                "aws:ViaAWSService": "true",
            }
            needed.append((self._request(kms_action, key_arn, kms_context), False))
        return needed

    def _request(self, action: str, resource: str, context: Mapping[str, ContextValue]) -> AccessRequest:
        return AccessRequest(
            principal=self.principal,
            action=action,
            resource=resource,
            account_id=self.account_id,
            principal_arn=self.role_arn,
            context=context,
        )

    def _context(self) -> dict[str, ContextValue]:
        return {
            **self.global_context(),
            "s3:authType": "REST-HEADER",
            "s3:signatureversion": "AWS4-HMAC-SHA256",
            "s3:TlsVersion": "1.2",
            "s3:ResourceAccount": self.account_id,
        }

    def global_context(self) -> dict[str, ContextValue]:
        """The keys every request of this session carries, whatever the service (no ``s3:*``)."""
        identity = self.policies.identity()
        now = dt.datetime.now(dt.UTC)
        context: dict[str, ContextValue] = {
            "aws:SecureTransport": "true",
            "aws:PrincipalArn": self.role_arn,
            "aws:PrincipalAccount": self.account_id,
            "aws:PrincipalType": "AssumedRole",
            "aws:PrincipalIsAWSService": "false",
            "aws:userid": f"{identity.role_id}:{self.session_name}",
            "aws:RequestedRegion": self.region,
            "aws:ResourceAccount": self.account_id,
            "aws:CurrentTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "aws:EpochTime": str(int(now.timestamp())),
        }
        for name, value in identity.tags.items():
            context[f"aws:PrincipalTag/{name}"] = value
        context.update(self.extra_context)
        return context

    # -- what the session read (cached for its lifetime: `policy_sources`) --------------------------

    def identity_policies(self) -> list[Policy]:
        """The role's inline and attached policy documents, as IAM holds them (read once)."""
        return self.policies.identity().policies

    def key(self, key_id: str | None) -> tuple[str, Policy | None]:
        """(key ARN, key policy) of a KMS key id, ARN or alias; ``None`` is aws/s3 (read once)."""
        return self.policies.key(key_id)

    def _encryption_for(
        self, operation: str, bucket: str, key: str, params: Mapping[str, Any]
    ) -> KmsEncryption | None:
        """The SSE-KMS this call writes with or reads from, or None when the object is not SSE-KMS."""
        default = self.policies.default_encryption(bucket)
        if operation in ("PutObject", "CreateMultipartUpload", "CopyObject"):
            requested = params.get("ServerSideEncryption")
            if requested is not None:
                if not str(requested).startswith("aws:kms"):
                    return None
                bucket_key = params.get("BucketKeyEnabled", bool(default and default.bucket_key))
                return KmsEncryption(params.get("SSEKMSKeyId"), bool(bucket_key))
            return default
        return self.policies.object_encryption(bucket, key, params.get("VersionId"))


def _kms_actions(operation: str) -> tuple[str, ...]:
    if operation == "GetObject":
        return ("kms:Decrypt",)
    if operation in ("PutObject", "CopyObject"):
        return ("kms:GenerateDataKey",)
    if operation == "CreateMultipartUpload":
        return ("kms:GenerateDataKey", "kms:Decrypt")
    return ()


# --- moto's own bucket-policy check ---------------------------------------------------------------


def bucket_policy_verdict(policy: Policy | str, action: str, resource: str) -> str:
    """``DENIED``, ``PERMITTED`` or ``NEUTRAL`` for a request of unknown principal over (emulated) TLS.

    Only statements for every principal (``"*"``, ``{"AWS": "*"}``) count, with their
    conditions evaluated against ``aws:SecureTransport = true`` (every other key absent).
    """
    request = AccessRequest("local-caller", action, resource, "", context={"aws:SecureTransport": "true"})
    found = match_policy(policy, request, resource_policy=True)
    if found.deny is not None:
        return "DENIED"
    return "PERMITTED" if found.allow is not None else "NEUTRAL"
