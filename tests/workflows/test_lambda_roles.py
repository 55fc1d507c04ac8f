"""Every Lambda acts as its execution role: a grant its handler needs, removed, fails its step as on AWS.

The copy of the synthesized template loses the EvaluatePredictions role's ``s3:GetObject`` on the
artifacts bucket's ``transform/*`` (what the handler reads the batch-transform predictions with);
the copy is deployed with ``cdk deploy`` and the training workflow fails at EvaluatePredictions
with S3's ``AccessDenied`` naming the function's role session and the action.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.workflows.support import Stack, StackManager
from tests.workflows.test_grants_aws_checks import drop_statements, edited_copy, resources_of

FUNCTION = "FunctionsEvaluatePredictions"


def without_reading_predictions(template: dict[str, Any]) -> None:
    """The EvaluatePredictions role loses ``s3:GetObject``/``s3:GetObjectVersion`` on ``transform/*``."""
    [policy] = [
        p
        for k, p in resources_of(template, "AWS::IAM::Policy").items()
        if k.startswith(f"{FUNCTION}RoleDefaultPolicy")
    ]
    drop_statements(
        policy["Properties"]["PolicyDocument"],
        lambda s: "s3:GetObject" in s["Action"] and "/transform/*" in json.dumps(s["Resource"]),
    )


@pytest.fixture(scope="module")
def unreadable_predictions(
    stacks: StackManager, cdk_out: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    copy = edited_copy(cdk_out, tmp_path_factory.mktemp("no-get-object"), without_reading_predictions)
    yield stacks.get(copy)
    stacks.close()  # the next test opens the unedited stack again


def function_role(stack: Stack, logical_prefix: str) -> tuple[str, str]:
    """(function name, role ARN) of a deployed function, as Lambda holds it."""
    [function] = [f for k, f in stack.cloud.functions.items() if k.startswith(logical_prefix)]
    config = stack.cloud.client("lambda").get_function_configuration(FunctionName=function.name)
    return function.name, str(config["Role"])


def test_every_function_acts_as_the_role_lambda_holds_for_it(stack: Stack) -> None:
    declared = [r for r in stack.template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert len(stack.cloud.functions) == len(declared)
    for logical_id, function in stack.cloud.functions.items():
        assert function.role is not None, logical_id
        name, role = function_role(stack, logical_id)
        assert (function.role.role_arn, function.role.session_name) == (role, name)


def test_without_get_object_on_the_predictions_evaluation_fails_with_access_denied(
    unreadable_predictions: Stack,
) -> None:
    stack = unreadable_predictions
    result = stack.run("training", {}, hint="no-get-object")

    assert result.status == "FAILED"
    [evaluation] = stack.calls(result.execution_arn, "EvaluatePredictions")
    assert not evaluation.succeeded
    name, role = function_role(stack, FUNCTION)
    session = f"arn:aws:sts::{stack.cloud.account_id}:assumed-role/{role.rsplit('/', 1)[-1]}/{name}"
    cause = json.loads(evaluation.cause or "{}")
    assert cause["errorMessage"].startswith(
        "An error occurred (AccessDenied) when calling the GetObject operation: "
        f"User: {session} is not authorized to perform: s3:GetObject on resource: "
        f'"arn:aws:s3:::{stack.artifacts_bucket}/transform/'
    ), cause
    assert cause["errorMessage"].endswith("because no identity-based policy allows the s3:GetObject action")
    # The Lambda runtime names the error by the exception's class: what botocore raises for S3's
    # AccessDenied (a modelled error in this botocore); the execution fails with it.
    raised = stack.cloud.client("s3").exceptions.from_code("AccessDenied").__name__
    assert evaluation.error == cause["errorType"] == raised == result.error
    # Listing the predictions was still allowed (ListBucket under transform/*): only the read failed.
    assert "s3:ListBucket" not in cause["errorMessage"]
    [failure] = stack.notifications(result.execution_arn, "FAILED")
    assert "is not authorized to perform: s3:GetObject" in json.dumps(failure)
    assert stack.deployed() == []
