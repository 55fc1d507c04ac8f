"""Each Task's request authorized as its state machine's role, with the values the run computed.

Step Functions calls the integrated service with the state machine role's credentials, so AWS
authorizes the request a Task really sends: the names the execution computed, the role it passes,
its tags. The static check (`iam_check`) runs before any execution and sees a computed name as
``*``: an Allow passes there when its pattern *can* match. Here the same evaluator
(`access_policy`, through the role's `RoleCalls`) decides each permission `task_permissions`
lists for the resolved parameters: a grant on ``model/other-*`` refuses the model
``tf2-digits-...``, and a Create request with ``Tags`` needs ``sagemaker:AddTags`` on exactly
what it creates (SageMaker AI Developer Guide, tag-based access control: tagging on creation is
authorized as ``sagemaker:AddTags`` as well as the Create action; pipeline_constructs/cost_tags.py).

Left to the static check, which already requires them: what a ``.sync`` Task does after its
request (``Describe*`` polls, ``Stop*`` on abort, the managed EventBridge rule). A resource the
request does not name (Application Auto Scaling's scalable target) is decided as a partial
request: its pattern may match, with every condition key the request carries evaluated. What AWS
authorizes as the caller for the same request is included (`RoleCalls.implied`: publishing to an
encrypted topic uses its KMS key).

The assumed-role session's name is local mode's (the execution's name); AWS does not document the
one Step Functions uses, and no policy of this project conditions on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from local_mode.checks.call_permissions import Need, PolicyKind
from local_mode.checks.role_access import RoleAccess
from local_mode.checks.role_calls import RoleCalls, refusal_code
from local_mode.checks.task_permissions import ANY, Account, Permission, task_permissions
from pipeline_constructs import aws_error_names

__all__ = ["TaskCallRefused", "TaskCalls"]

# The resource policies that join the role's for an action (IAM: same-account access).
_RESOURCE_POLICY: Final[dict[str, PolicyKind]] = {"lambda:InvokeFunction": "function", "sns:Publish": "topic"}


@dataclass(frozen=True)
class TaskCallRefused:
    """What the service answers a Task's request that IAM refuses."""

    code: str  # "AccessDeniedException"; S3 "AccessDenied"; SNS "AuthorizationError"
    message: str  # AWS's: "User: arn:aws:sts::...:assumed-role/ROLE/SESSION is not authorized to ..."
    action: str  # the IAM action refused


class TaskCalls:
    """Authorizes Tasks' requests as their state machines' roles (module doc).

    ``role_of``: a state machine's ARN → its role's ARN (Step Functions' ``DescribeStateMachine``).
    """

    def __init__(self, access: RoleAccess, *, role_of: Callable[[str], str], account: Account) -> None:
        self.access = access
        self.account = account
        self._role_of = role_of

    def refusal(
        self, *, state_machine_arn: str, resource: str, parameters: Mapping[str, Any], session_name: str
    ) -> TaskCallRefused | None:
        """The service's answer to the first refused authorization of this Task's request, or None."""
        role = RoleCalls(self.access, self._role_of(state_machine_arn), session_name=session_name[:64])
        service = _receiving_service(resource)  # it answers, whichever authorization was refused
        for permission in task_permissions(resource, parameters, self.account, polling=False):
            need = _need(permission)
            for one in (need, *role.implied(need)):
                request, decision = role.decide(one, partial=ANY in one.resource)
                if not decision.allowed:
                    code, _ = refusal_code(service, one.action)
                    return TaskCallRefused(code, RoleCalls.message(service, request, decision), one.action)
        return None


def _receiving_service(resource: str) -> str:
    """botocore's name of the service a Task's request goes to (e.g. SageMaker for CreateModel,
    whose refusal of the ``iam:PassRole`` it needs is SageMaker's answer)."""
    kind, service = aws_error_names.integration_of(resource)
    if kind == "aws-sdk":
        return aws_error_names.botocore_service(service)
    if kind == "optimized" and service in aws_error_names.OPTIMIZED:
        return aws_error_names.OPTIMIZED[service].botocore_name
    return "lambda" if kind == "lambda-function" else service


def _need(permission: Permission) -> Need:
    return Need(
        permission.action,
        permission.resource,
        _RESOURCE_POLICY.get(permission.action, "none"),
        dict(permission.context),
    )
