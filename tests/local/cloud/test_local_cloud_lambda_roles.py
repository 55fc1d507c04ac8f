"""LocalCloud runs each function as its role: the tiny stack, its handler's DynamoDB grant removed.

The tiny stack of test_local_cloud.py is synthesized, the Plan function's ``dynamodb:GetItem``
grant (CDK's ``grant_read_data``) removed from the template, the copy deployed with ``cdk deploy``:
the handler's GetItem is refused with DynamoDB's ``AccessDeniedException`` and AWS's message, and
the Task fails with the Lambda runtime's error name for it (``ClientError``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from local_mode.cloud.local_cloud import LocalCloud
from tests.local.cloud.test_local_cloud import synth_tiny_stack


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    out = tmp_path_factory.mktemp("cdk") / "cdk.out"
    synth_tiny_stack(out)
    template_path = out / "Tiny.template.json"
    template = json.loads(template_path.read_text())
    [policy] = [
        r
        for k, r in template["Resources"].items()
        if r["Type"] == "AWS::IAM::Policy" and k.startswith("PlanServiceRoleDefaultPolicy")
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    kept = [s for s in statements if "dynamodb:GetItem" not in s["Action"]]
    assert len(kept) == len(statements) - 1  # the synth grants what the handler calls
    if kept:
        policy["Properties"]["PolicyDocument"]["Statement"] = kept
    else:  # a policy must hold a statement: one the handler does not use
        policy["Properties"]["PolicyDocument"]["Statement"] = [
            {"Effect": "Allow", "Action": "sns:ListTopics", "Resource": "*"}
        ]
    template_path.write_text(json.dumps(template))
    with LocalCloud(out, "Tiny") as local:
        yield local


def test_a_handler_call_its_role_does_not_allow_fails_the_task_with_access_denied(cloud: LocalCloud) -> None:
    result = cloud.run(cloud.outputs["FlowArn"], {"name": "mnist-1"}, name="no-get-item", timeout=30)

    assert result.status == "FAILED"
    assert result.error == "ClientError"  # the Lambda runtime's errorType: the exception's class
    cause = json.loads(result.cause or "{}")
    [function] = cloud.functions.values()
    role = cloud.client("lambda").get_function_configuration(FunctionName=function.name)["Role"]
    table = cloud.outputs["ModelRegistryTableName"]
    assert cause["errorType"] == "ClientError"
    assert cause["errorMessage"] == (
        "An error occurred (AccessDeniedException) when calling the GetItem operation: "
        f"User: arn:aws:sts::{cloud.account_id}:assumed-role/{role.rsplit('/', 1)[-1]}/{function.name} "
        f"is not authorized to perform: dynamodb:GetItem on resource: "
        f"arn:aws:dynamodb:{cloud.region}:{cloud.account_id}:table/{table} "
        "because no identity-based policy allows the dynamodb:GetItem action"
    )
    [attempt] = cloud.hooks.invocations_of("PlanAttempt", execution_arn=result.execution_arn)
    assert attempt.failed
