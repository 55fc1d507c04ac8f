"""Fine-grained properties of the synthesized stack that matter for security and operations."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from contract import METRIC_DEFINITIONS, TRANSFORM_INPUT_FILTER, TRANSFORM_OUTPUT_FILTER
from lambdas.model_registry import PARTITION_KEY, STATUS_INDEX
from lambdas.step_cache import PARTITION_KEY as CACHE_KEY
from lambdas.step_cache import TTL_ATTRIBUTE
from pipeline_cli.definitions import all_states, workflow_definitions


def _resources(template_json: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template_json["Resources"].items() if v["Type"] == resource_type}


def _statements(template_json: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for logical_id, resource in template_json["Resources"].items():
        properties = resource.get("Properties", {})
        documents = [
            properties.get("PolicyDocument"),
            properties.get("KeyPolicy"),
            *(p["PolicyDocument"] for p in properties.get("Policies", [])),
        ]
        for document in filter(None, documents):
            found.extend((logical_id, statement) for statement in document["Statement"])
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _definition(template_json: dict[str, Any], prefix: str) -> dict[str, Any]:
    (definition,) = [d for k, d in workflow_definitions(template_json).items() if k.startswith(prefix)]
    return definition


# -- storage ------------------------------------------------------------------------------------


def test_buckets_are_private_versioned_and_logged(template_json: dict[str, Any]) -> None:
    buckets = _resources(template_json, "AWS::S3::Bucket")
    assert len(buckets) == 3
    for logical_id, bucket in buckets.items():
        properties = bucket["Properties"]
        assert properties["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, logical_id
        assert properties["VersioningConfiguration"] == {"Status": "Enabled"}, logical_id
        assert bucket["DeletionPolicy"] == "Retain", logical_id
        if not logical_id.startswith("StorageAccessLogs"):
            encryption = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
            assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
            assert "KMSMasterKeyID" in encryption["ServerSideEncryptionByDefault"]
            assert properties["LoggingConfiguration"]["DestinationBucketName"]["Ref"].startswith(
                "StorageAccessLogs"
            )


def test_every_bucket_denies_plain_http(template_json: dict[str, Any]) -> None:
    policies = _resources(template_json, "AWS::S3::BucketPolicy")
    assert len(policies) == 3
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements
        )


def test_transient_prefixes_expire(template: Template) -> None:
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [
                        Match.object_like(
                            {"Prefix": "checkpoints/", "Status": "Enabled", "ExpirationInDays": 30}
                        ),
                        Match.object_like(
                            {"Prefix": "transform/", "Status": "Enabled", "ExpirationInDays": 30}
                        ),
                    ]
                )
            }
        },
    )


def test_key_rotates_and_is_retained(template_json: dict[str, Any]) -> None:
    (key,) = _resources(template_json, "AWS::KMS::Key").values()
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"


# -- registry -----------------------------------------------------------------------------------


def test_registry_table(template: Template, template_json: dict[str, Any]) -> None:
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": PARTITION_KEY, "KeyType": "HASH"}],
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": Match.object_like({"SSEEnabled": True, "SSEType": "KMS"}),
            "GlobalSecondaryIndexes": [
                Match.object_like(
                    {
                        "IndexName": STATUS_INDEX,
                        "KeySchema": [
                            {"AttributeName": "status", "KeyType": "HASH"},
                            {"AttributeName": "updated_at", "KeyType": "RANGE"},
                        ],
                    }
                )
            ],
        },
    )
    tables = _resources(template_json, "AWS::DynamoDB::Table").values()
    (registry,) = [t for t in tables if "GlobalSecondaryIndexes" in t["Properties"]]
    assert registry["DeletionPolicy"] == "Retain"


def test_step_cache_table_expires_entries_and_is_not_the_registry(template_json: dict[str, Any]) -> None:
    tables = _resources(template_json, "AWS::DynamoDB::Table")
    (cache,) = [t for name, t in tables.items() if name.startswith("StepCacheTable")]
    properties = cache["Properties"]
    assert properties["KeySchema"] == [{"AttributeName": CACHE_KEY, "KeyType": "HASH"}]
    assert properties["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    assert properties["SSESpecification"]["SSEType"] == "KMS"
    assert "GlobalSecondaryIndexes" not in properties


# -- IAM ----------------------------------------------------------------------------------------


def test_no_allow_statement_has_a_wildcard_action(template_json: dict[str, Any]) -> None:
    offenders = [
        (logical_id, action)
        for logical_id, statement in _statements(template_json)
        if statement["Effect"] == "Allow"
        for action in _as_list(statement.get("Action", []))
        if "*" in action
    ]
    assert offenders == []


def test_pass_role_only_to_sagemaker(template_json: dict[str, Any]) -> None:
    pass_role = [
        (lid, s) for lid, s in _statements(template_json) if "iam:PassRole" in _as_list(s.get("Action"))
    ]
    assert pass_role, "the workflows must be able to pass the SageMaker role"
    for logical_id, statement in pass_role:
        assert statement["Condition"] == {
            "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
        }, logical_id
        for resource in _as_list(statement["Resource"]):
            assert resource["Fn::GetAtt"][0].startswith("SageMakerRole"), logical_id


def test_sagemaker_role_reads_only_project_prefixes(template_json: dict[str, Any]) -> None:
    policies = [
        p for k, p in _resources(template_json, "AWS::IAM::Policy").items() if k.startswith("SageMakerRole")
    ]
    (policy,) = policies
    s3_resources = [
        resource
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if any(a.startswith("s3:") for a in _as_list(statement["Action"]))
        for resource in _as_list(statement["Resource"])
    ]
    assert s3_resources and all(resource != "*" for resource in s3_resources)


# -- workflows ----------------------------------------------------------------------------------


def test_state_machines_log_everything_and_trace(template_json: dict[str, Any]) -> None:
    machines = _resources(template_json, "AWS::StepFunctions::StateMachine")
    assert len(machines) == 2
    for machine in machines.values():
        properties = machine["Properties"]
        assert properties["LoggingConfiguration"]["Level"] == "ALL"
        assert properties["LoggingConfiguration"]["IncludeExecutionData"] is True
        assert properties["TracingConfiguration"] == {"Enabled": True}


@pytest.mark.parametrize("prefix", ["TrainingWorkflow", "EvaluationWorkflow"])
def test_every_task_retries_transient_errors_and_every_failure_is_caught(
    template_json: dict[str, Any], prefix: str
) -> None:
    definition = _definition(template_json, prefix)
    assert "TimeoutSeconds" in definition
    top_level = definition["States"]
    checked = 0
    for name, state in top_level.items():
        if state["Type"] == "Parallel":
            # A failing branch fails the Parallel, whose Catch handles it.
            assert state.get("Catch"), f"{name} has no Catch"
        if state["Type"] in {"Task", "Parallel", "Map"}:
            assert state.get("Catch"), f"{name} has no Catch"
            # The last catcher takes everything (what it leads to: tests/infra/test_failure_paths.py).
            assert state["Catch"][-1]["ErrorEquals"] == ["States.ALL"], name
            assert all(c["ErrorEquals"] for c in state["Catch"]), name
    for name, state in all_states(definition).items():
        if state["Type"] == "Task":
            checked += 1
            assert state.get("Retry"), f"{name} has no Retry"
            for retry in state["Retry"]:
                assert retry["MaxAttempts"] <= 5, name
    assert checked >= 5


def test_training_workflow_runs_the_expected_integrations(template_json: dict[str, Any]) -> None:
    resources = {
        str(state.get("Resource", "")).split(":::")[-1]
        for state in all_states(_definition(template_json, "TrainingWorkflow")).values()
    }
    assert {
        "sagemaker:createProcessingJob.sync",
        "sagemaker:createTrainingJob.sync",
        "sagemaker:createHyperParameterTuningJob.sync",
        "sagemaker:createModel",
        "sagemaker:createTransformJob.sync",
        "sagemaker:createEndpointConfig",
        "sagemaker:createEndpoint",
        "aws-sdk:sagemaker:updateEndpoint",
        "aws-sdk:sagemaker:describeEndpoint",
        "aws-sdk:dynamodb:query",
        "aws-sdk:dynamodb:transactWriteItems",
        "dynamodb:putItem",
        "dynamodb:updateItem",
        "sns:publish",
    } <= resources


def test_training_job_uses_spot_checkpoints_and_contract_metrics(template_json: dict[str, Any]) -> None:
    train = all_states(_definition(template_json, "TrainingWorkflow"))["Train"]
    parameters = train["Parameters"]
    assert parameters["EnableManagedSpotTraining.$"] == "$.run.training.use_spot"
    assert parameters["CheckpointConfig"] == {"S3Uri.$": "$.attempt.checkpoint_uri"}
    assert parameters["StoppingCondition.$"] == "$.attempt.stopping_condition"
    assert parameters["AlgorithmSpecification"]["MetricDefinitions"] == [dict(d) for d in METRIC_DEFINITIONS]


def test_transform_joins_predictions_to_labelled_input(template_json: dict[str, Any]) -> None:
    for prefix in ("TrainingWorkflow", "EvaluationWorkflow"):
        for state in all_states(_definition(template_json, prefix)).values():
            if str(state.get("Resource", "")).endswith("createTransformJob.sync"):
                assert state["Parameters"]["DataProcessing"] == {
                    "InputFilter": TRANSFORM_INPUT_FILTER,
                    "JoinSource": "Input",
                    "OutputFilter": TRANSFORM_OUTPUT_FILTER,
                }


def test_retrain_loop_and_endpoint_poll_are_bounded(template_json: dict[str, Any]) -> None:
    states = all_states(_definition(template_json, "TrainingWorkflow"))
    attempts_left = states["AttemptsLeft?"]["Choices"][0]
    assert attempts_left == {
        "Variable": "$.attempt.number",
        "NumericLessThanPath": "$.run.gate.max_attempts",
        "Next": "NextAttempt",
    }
    poll_bounds = [c for c in states["PollsLeft?"]["Choices"] if c.get("Variable") == "$.poll.polls"]
    assert poll_bounds and poll_bounds[0]["NumericGreaterThanEquals"] == 120  # 60 minutes / 30 s


def test_evaluation_schedule_is_off_by_default(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Events::Rule", {"State": "DISABLED", "ScheduleExpression": "rate(1 day)"}
    )


def test_failed_executions_raise_an_alarm(template: Template) -> None:
    template.resource_properties_count_is("AWS::CloudWatch::Alarm", {"MetricName": "ExecutionsFailed"}, 2)


def test_topic_is_encrypted(template: Template) -> None:
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
