"""Any AWS call made as an IAM role, authorized as AWS would before it is sent.

`RoleCalls(access, role_arn, session_name=...)` stands for one assumed-role session, e.g. a Lambda
function's (``arn:aws:sts::ACCOUNT:assumed-role/ROLE/FUNCTION``). While ``with calls.acting():``
runs, every botocore client created **in that thread** (``boto3.client(...)``, ``boto3.resource``,
a new ``boto3.Session``: all go through ``botocore.session.Session.create_client``) gets a
``before-parameter-build`` hook that authorizes each of its operations as the role before the
request is sent, as AWS authorizes a request signed with the role's credentials. The hook stays
on the client: a client a handler caches at import keeps acting as its function's role, with the
policies of the latest ``acting()`` (each one takes a fresh snapshot, read lazily from the local
services; see `role_access.RoleSession`). Clients of other threads, and clients created before
or outside ``acting()``, are not touched. What each operation needs is `call_permissions`'s.

A refused call raises what botocore raises for AWS's answer: ``client.exceptions.from_code(code)``
(``ClientError`` unless the service models the code) with AWS's message, ``User: arn:aws:sts::
ACCOUNT:assumed-role/ROLE/SESSION is not authorized to perform: dynamodb:Query on resource: ARN
because no identity-based policy allows the dynamodb:Query action`` (IAM User Guide, "Troubleshoot
access denied error messages"). The codes: S3 ``AccessDenied`` (403, the resource quoted, as
`role_access` does), SNS ``AuthorizationError`` (403, ``SNS:Publish`` as SNS spells it), every
other mapped service ``AccessDeniedException``.

Not evaluated (as in `role_access`): SCPs, permission boundaries, session policies, DynamoDB
resource policies, VPC endpoint policies; presigned URLs are not authorized when they are made
(AWS authorizes them when they are used, which local mode does not see).
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

import botocore.session
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from local_mode.checks.access_policy import (
    AccessRequest,
    ContextValue,
    Decision,
    Policy,
    access_denied_message,
    authorize,
)
from local_mode.checks.call_permissions import OPERATIONS, Call, Need, UnmappedOperation, service_prefix
from local_mode.checks.role_access import S3_OPERATIONS, RoleAccess, RoleSession

__all__ = ["RoleCalls", "UnmappedOperation", "refusal_code"]

# service → (error code, HTTP status) of its refusal
_DENIED: Final = {"s3": ("AccessDenied", 403), "sns": ("AuthorizationError", 403)}
_DEFAULT_DENIED: Final = ("AccessDeniedException", 400)


def refusal_code(service: str, action: str = "") -> tuple[str, int]:
    """The error code and HTTP status with which `service` (botocore's name) refuses a request whose
    authorization of `action` failed: SNS answers a refused use of the topic's key with
    ``KMSAccessDenied`` (SNS API reference, Publish, "Errors")."""
    if service == "sns" and action.startswith("kms:"):
        return "KMSAccessDenied", 400
    return _DENIED.get(service, _DEFAULT_DENIED)


# --- acting as the role -------------------------------------------------------------------------------

_STATE: Final = threading.local()  # .calls: the RoleCalls this thread acts as; .reading: policies being read
_PATCH_LOCK: Final = threading.Lock()
_patch_users = 0
_original_create_client: Callable[..., BaseClient] = botocore.session.Session.create_client


def _create_client(self: botocore.session.Session, *args: Any, **kwargs: Any) -> BaseClient:
    client = _original_create_client(self, *args, **kwargs)
    calls: RoleCalls | None = getattr(_STATE, "calls", None)
    if calls is not None and not getattr(_STATE, "reading", False):
        calls.attach(client)
    return client


def _install() -> None:
    global _patch_users, _original_create_client
    with _PATCH_LOCK:
        if _patch_users == 0 and botocore.session.Session.create_client is not _create_client:
            _original_create_client = botocore.session.Session.create_client
            botocore.session.Session.create_client = _create_client
        _patch_users += 1


def _uninstall() -> None:
    global _patch_users
    with _PATCH_LOCK:
        _patch_users -= 1
        if _patch_users == 0 and botocore.session.Session.create_client is _create_client:
            botocore.session.Session.create_client = _original_create_client


@contextlib.contextmanager
def _reading() -> Iterator[None]:
    """The authorizer's own reads (IAM, S3, KMS through the administrative clients) are not checked."""
    before = getattr(_STATE, "reading", False)
    _STATE.reading = True
    try:
        yield
    finally:
        _STATE.reading = before


class RoleCalls:
    """One assumed-role session whose clients' calls are authorized as AWS would (see the module doc).

    ``context``: condition keys every request carries besides the global ones (a Lambda
    function's: ``lambda:SourceFunctionArn``).
    """

    def __init__(
        self,
        access: RoleAccess,
        role_arn: str,
        *,
        session_name: str,
        context: Mapping[str, ContextValue] | None = None,
    ) -> None:
        self.access = access
        self.role_arn = role_arn
        self.session_name = session_name
        self.context = dict(context or {})
        self._session: RoleSession | None = None
        self._lock = threading.RLock()

    @property
    def principal(self) -> str:
        return self.session().principal

    def session(self) -> RoleSession:
        """The current snapshot of the role's policies (a new one per `acting`)."""
        with self._lock:
            if self._session is None:
                self.refresh()
            assert self._session is not None
            return self._session

    def refresh(self) -> None:
        """Forget what was read: the next call reads the policies again (IAM changes apply)."""
        with self._lock:
            self._session = self.access.session(
                self.role_arn, session_name=self.session_name, context=self.context
            )

    @contextlib.contextmanager
    def acting(self) -> Iterator[RoleCalls]:
        """Clients created in this thread until the block ends act as the role (a fresh snapshot)."""
        self.refresh()
        _install()
        previous = getattr(_STATE, "calls", None)
        _STATE.calls = self
        try:
            yield self
        finally:
            _STATE.calls = previous
            _uninstall()

    def attach(self, client: BaseClient) -> BaseClient:
        """Authorize every operation of ``client`` as this role from now on."""

        def before_parameter_build(
            params: Mapping[str, Any], model: Any, context: Mapping[str, Any] | None = None, **_: Any
        ) -> None:
            if context and context.get("is_presign_request"):
                return  # authorized when the URL is used, not when it is made
            self.check(model.service_model.service_name, model.name, params, client=client)

        client.meta.events.register(
            "before-parameter-build", before_parameter_build, unique_id=f"role-calls-{id(self)}"
        )
        return client

    # -- authorization ----------------------------------------------------------------------------

    def check(
        self, service: str, operation: str, params: Mapping[str, Any], *, client: BaseClient | None = None
    ) -> None:
        """Raise what botocore raises for AWS's refusal unless the role may make this call."""
        region = client.meta.region_name if client is not None else None
        refused = self.refused(service, operation, params, region=region)
        if refused is None:
            return
        action, message = refused
        code, status = refusal_code(service, action)
        response: dict[str, Any] = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        error_class = client.exceptions.from_code(code) if client is not None else ClientError
        raise error_class(response, operation)

    def denial(
        self, service: str, operation: str, params: Mapping[str, Any], *, region: str | None = None
    ) -> str | None:
        """AWS's message for the first authorization of this call refused, else None.

        Raises `UnmappedOperation` for a call it cannot map.
        """
        refused = self.refused(service, operation, params, region=region)
        return None if refused is None else refused[1]

    def refused(
        self, service: str, operation: str, params: Mapping[str, Any], *, region: str | None = None
    ) -> tuple[str, str] | None:
        """(IAM action, AWS's message) of the first authorization of this call refused, else None."""
        with _reading():
            if service == "s3" and operation in S3_OPERATIONS:
                message = self.session().denial(operation, params)  # bucket policy and SSE-KMS too
                return None if message is None else ("s3", message)
            for request, decision in self.decisions(service, operation, params, region=region):
                if not decision.allowed:
                    return request.action, self.message(service, request, decision)
        return None

    def decisions(
        self, service: str, operation: str, params: Mapping[str, Any], *, region: str | None = None
    ) -> list[tuple[AccessRequest, Decision]]:
        """Each authorization AWS makes for a call of `OPERATIONS`, with its outcome."""
        resolver = (OPERATIONS.get(service) or {}).get(operation)
        if resolver is None:
            raise self._unmapped(service, operation)
        session = self.session()
        call = Call(
            service, operation, params, service_prefix(service), region or session.region, session.account_id
        )
        with _reading():
            needs = [n for need in resolver(call) for n in (need, *self.implied(need, region=call.region))]
            return [self.decide(need, region=call.region) for need in needs]

    def implied(self, need: Need, *, region: str | None = None) -> list[Need]:
        """What AWS authorizes as the caller besides `need`, for the same request.

        Publishing to a topic with server-side encryption uses the topic's KMS key as the publisher
        (SNS Developer Guide, "Configuring AWS KMS permissions": publishers need
        ``kms:GenerateDataKey*`` and ``kms:Decrypt`` on the key), through SNS.
        """
        if need.action != "sns:Publish" or need.resource == "*":
            return []
        session = self.session()
        with _reading():
            key_id = session.policies.topic_key(need.resource)
            # The AWS managed key aws/sns lets every principal of the account use it through SNS.
            if key_id is None or key_id.endswith("alias/aws/sns"):
                return []
            key_arn, _ = session.key(key_id)
        context: dict[str, ContextValue] = {
            "kms:ViaService": f"sns.{region or session.region}.amazonaws.com",
            "kms:CallerAccount": session.account_id,
        }
        return [Need(action, key_arn, "key", context) for action in ("kms:GenerateDataKey", "kms:Decrypt")]

    def decide(
        self, need: Need, *, region: str | None = None, partial: bool = False
    ) -> tuple[AccessRequest, Decision]:
        """AWS's decision on one authorization of this session (identity and resource policies).

        ``partial``: the resource is a pattern (``*`` where the caller cannot name it), decided as
        `access_policy` decides a partial request."""
        session = self.session()
        with _reading():
            request = AccessRequest(
                principal=session.principal,
                action=need.action,
                resource=need.resource,
                account_id=session.account_id,
                principal_arn=self.role_arn,
                context={
                    **session.global_context(),
                    "aws:RequestedRegion": region or session.region,
                    **need.context,
                },
                partial=partial,
            )
            return request, self._decide(session, need, request)

    def _unmapped(self, service: str, operation: str) -> UnmappedOperation:
        return UnmappedOperation(
            f"local mode cannot authorize {service}.{operation} as {self.role_arn} (session "
            f"{self.session_name}): map it in local_mode/checks/call_permissions.py"
        )

    def _decide(self, session: RoleSession, need: Need, request: AccessRequest) -> Decision:
        identity = session.identity_policies()
        if need.policy == "key":
            _, key_policy = session.key(need.resource)
            return authorize(request, identity, key_policy, key_policy=True)
        return authorize(request, identity, self._resource_policy(session, need))

    @staticmethod
    def _resource_policy(session: RoleSession, need: Need) -> Policy | None:
        if need.policy in ("none", "key") or need.resource == "*":
            return None
        return session.policies.resource_policy(need.policy, need.resource)

    @staticmethod
    def message(service: str, request: AccessRequest, decision: Decision) -> str:
        """AWS's AccessDenied message for a refused request to `service` (botocore's name)."""
        if service == "sns" and request.action.startswith("sns:"):  # SNS spells them "SNS:Publish"
            shown = "SNS:" + request.action.split(":", 1)[1]
            decision = dataclasses.replace(decision, reason=decision.reason.replace(request.action, shown))
            request = dataclasses.replace(request, action=shown)
        return access_denied_message(request, decision, quote_resource=False)
