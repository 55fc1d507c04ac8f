"""LocalCloud end to end on a tiny CDK stack, synthesized here and put in place by `cdk deploy`."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_mode.checks.iam_check import IamCheckError
from local_mode.cloud.local_cloud import LocalCloud
from local_mode.sagemaker.shapes import validate_request
from local_mode.sagemaker.tasks import SageMakerTasks

LAMBDA_HANDLER = """
import os

import boto3

import helper

TABLE = os.environ["TABLE_NAME"]
_dynamodb = boto3.client("dynamodb")  # created at import, like real handlers: needs AWS_ENDPOINT_URL then


def handler(event, context):
    if event.get("fail"):
        raise ValueError(f"cannot plan {event['name']}")
    item = _dynamodb.get_item(TableName=TABLE, Key={"model_name": {"S": event["name"]}})["Item"]
    return {"greeting": helper.greet(event["name"]), "status": item["status"]["S"],
            "function": context.function_name, "has_time": context.get_remaining_time_in_millis() > 0}
"""


def synth_tiny_stack(out: Path) -> None:
    """Synthesize the smoke-test stack into `out` (kept small: ~2 s)."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    import aws_cdk as cdk
    from aws_cdk import aws_dynamodb as ddb
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_s3 as s3
    from aws_cdk import aws_sns as sns
    from aws_cdk import aws_stepfunctions as sfn
    from aws_cdk import aws_stepfunctions_tasks as tasks

    source = out.parent / "lambda_src"
    source.mkdir(exist_ok=True)
    (source / "handler.py").write_text(textwrap.dedent(LAMBDA_HANDLER))
    (source / "helper.py").write_text("def greet(name):\n    return f'hello {name}'\n")

    app = cdk.App(outdir=str(out), builtin_cloud_formation_validation=False)
    stack = cdk.Stack(app, "Tiny")
    table = ddb.Table(
        stack,
        "Registry",
        partition_key=ddb.Attribute(name="model_name", type=ddb.AttributeType.STRING),
        billing_mode=ddb.BillingMode.PAY_PER_REQUEST,
    )
    table.add_global_secondary_index(
        index_name="by-status",
        partition_key=ddb.Attribute(name="status", type=ddb.AttributeType.STRING),
        sort_key=ddb.Attribute(name="updated_at", type=ddb.AttributeType.STRING),
    )
    bucket = s3.Bucket(stack, "Data", versioned=True)
    topic = sns.Topic(stack, "Notifications")
    function = lambda_.Function(
        stack,
        "Plan",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="handler.handler",
        code=lambda_.Code.from_asset(str(source)),
        environment={"TABLE_NAME": table.table_name},
    )
    table.grant_read_data(function)  # the handler's GetItem: Lambdas act as their roles locally too

    record = tasks.DynamoPutItem(
        stack,
        "Record",
        table=table,
        result_path=sfn.JsonPath.DISCARD,
        item={
            "model_name": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$.name")),
            "status": tasks.DynamoAttributeValue.from_string("TRAINING"),
        },
    )
    plan = tasks.LambdaInvoke(
        stack,
        "PlanAttempt",
        lambda_function=function,
        result_path="$.plan",
        result_selector={"out.$": "$.Payload"},
    )
    plan.add_catch(sfn.Pass(stack, "Handled"), errors=["ValueError"], result_path="$.error")
    notify = tasks.SnsPublish(
        stack,
        "Notify",
        topic=topic,
        subject="planned",
        result_path=sfn.JsonPath.DISCARD,
        message=sfn.TaskInput.from_object({"model": sfn.JsonPath.string_at("$.name")}),
    )
    flow = sfn.StateMachine(
        stack, "Flow", definition_body=sfn.DefinitionBody.from_chainable(record.next(plan).next(notify))
    )

    child = sfn.StateMachine(
        stack,
        "Child",
        definition_body=sfn.DefinitionBody.from_chainable(
            sfn.Pass(stack, "Echo", parameters={"echo.$": "$.name"})
        ),
    )
    run_child = tasks.StepFunctionsStartExecution(
        stack,
        "RunChild",
        state_machine=child,
        integration_pattern=sfn.IntegrationPattern.RUN_JOB,
        input=sfn.TaskInput.from_object({"name": sfn.JsonPath.string_at("$.name")}),
        result_selector={"output.$": "$.Output"},
        result_path="$.child",
    )
    parent = sfn.StateMachine(stack, "Parent", definition_body=sfn.DefinitionBody.from_chainable(run_child))

    create_model = tasks.SageMakerCreateModel(
        stack,
        "CreateModel",
        model_name=sfn.JsonPath.string_at("$.model"),
        result_path="$.created",
        primary_container=tasks.ContainerDefinition(
            image=tasks.DockerImage.from_registry(
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/tf-serving:2"
            ),
            model_s3_location=tasks.S3Location.from_json_expression("$.artifact"),
        ),
    )
    describe = tasks.CallAwsService(
        stack,
        "DescribeEndpoint",
        service="sagemaker",
        action="describeEndpoint",
        iam_resources=["*"],
        parameters={"EndpointName": sfn.JsonPath.string_at("$.endpoint")},
        result_selector={"status.$": "$.EndpointStatus"},
        result_path="$.endpoint_status",
    )
    describe.add_catch(
        sfn.Pass(stack, "NoEndpoint"), errors=["SageMaker.SageMakerException"], result_path="$.error"
    )
    deploy = sfn.StateMachine(
        stack, "Deploy", definition_body=sfn.DefinitionBody.from_chainable(create_model.next(describe))
    )

    sneaky = sfn.CustomState(
        stack,
        "DeleteEverything",
        state_json={
            "Type": "Task",
            "Resource": "arn:aws:states:::dynamodb:deleteItem",
            "Parameters": {"TableName": table.table_name, "Key": {"model_name": {"S": "x"}}},
        },
    )
    ungranted = sfn.StateMachine(
        stack, "Ungranted", definition_body=sfn.DefinitionBody.from_chainable(sneaky)
    )

    for name, value in {
        "FlowArn": flow.state_machine_arn,
        "ParentArn": parent.state_machine_arn,
        "DeployArn": deploy.state_machine_arn,
        "UngrantedArn": ungranted.state_machine_arn,
        "DataBucketName": bucket.bucket_name,
        "ModelRegistryTableName": table.table_name,
        "NotificationTopicArn": topic.topic_arn,
    }.items():
        cdk.CfnOutput(stack, name, value=value)
    app.synth()


class FakeSageMakerApiError(Exception):
    """The shape of local_mode.sagemaker.local_sagemaker.SageMakerApiError: a code and a message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class FakeSageMaker:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def create_model(self, request: dict[str, Any]) -> dict[str, Any]:
        validate_request("CreateModel", request)  # the backend is the API layer, as LocalSageMaker is
        self.requests.append(("CreateModel", request))
        return {"ModelArn": f"arn:aws:sagemaker:us-east-1:123456789012:model/{request['ModelName']}"}

    def describe_endpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(("DescribeEndpoint", request))
        if request["EndpointName"] == "missing":
            raise FakeSageMakerApiError("ValidationException", 'Could not find endpoint "missing".')
        name = request["EndpointName"]
        return {
            "EndpointName": name,
            "EndpointArn": f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{name}",
            "EndpointConfigName": "cfg",
            "EndpointStatus": "InService",
            "CreationTime": "2026-11-22T00:00:00Z",
            "LastModifiedTime": "2026-11-22T00:00:00Z",
        }


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    out = tmp_path_factory.mktemp("cdk") / "cdk.out"
    synth_tiny_stack(out)
    with LocalCloud(out, "Tiny", sagemaker=SageMakerTasks(FakeSageMaker())) as local:
        yield local


@pytest.fixture(autouse=True)
def _fresh_injections(cloud: LocalCloud) -> None:
    cloud.hooks.clear_injections()


def test_the_stack_is_what_cdk_deploy_created(cloud: LocalCloud) -> None:
    [stack] = cloud.client("cloudformation").describe_stacks(StackName="Tiny")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs == cloud.outputs
    assert set(outputs) >= {"FlowArn", "DataBucketName", "ModelRegistryTableName", "NotificationTopicArn"}
    s3 = cloud.client("s3")
    assert s3.get_bucket_versioning(Bucket=outputs["DataBucketName"])["Status"] == "Enabled"
    table = cloud.client("dynamodb").describe_table(TableName=outputs["ModelRegistryTableName"])["Table"]
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["by-status"]
    # The CLI published the Lambda code to the bootstrap bucket; the function runs that code.
    [assets_bucket] = [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("cdk-")]
    assert any(o["Key"].endswith(".zip") for o in s3.list_objects_v2(Bucket=assets_bucket)["Contents"])
    [function] = cloud.functions.values()
    assert (function.code_dir / "handler.py").read_text() == textwrap.dedent(LAMBDA_HANDLER)
    role = cloud.client("stepfunctions").describe_state_machine(stateMachineArn=outputs["FlowArn"])["roleArn"]
    assert cloud.role_policies(role.rsplit("/", 1)[-1])  # the CDK policy attached to the role


def test_put_item_lambda_and_publish_end_to_end(cloud: LocalCloud) -> None:
    result = cloud.run(cloud.outputs["FlowArn"], {"name": "mnist-1"}, name="e2e-ok", timeout=30)

    assert result.status == "SUCCEEDED", result.cause
    [function] = cloud.functions.values()  # the Python one; CDK's Node.js helpers are skipped
    assert result.output["plan"]["out"] == {
        "greeting": "hello mnist-1",
        "status": "TRAINING",
        "function": function.name,
        "has_time": True,
    }
    item = cloud.client("dynamodb").get_item(
        TableName=cloud.outputs["ModelRegistryTableName"], Key={"model_name": {"S": "mnist-1"}}
    )["Item"]
    assert item["status"] == {"S": "TRAINING"}
    [notification] = [
        n
        for n in cloud.notifications(cloud.outputs["NotificationTopicArn"])
        if n.json == {"model": "mnist-1"}
    ]
    assert notification.subject == "planned"
    calls = cloud.hooks.invocations_of(execution_arn=result.execution_arn)
    assert [c.state_name for c in calls] == ["Record", "PlanAttempt", "Notify"]
    assert not [c for c in calls if "sagemaker" in c.resource]  # no SageMaker request was made


def test_lambda_exception_is_caught_by_its_class_name(cloud: LocalCloud) -> None:
    result = cloud.run(
        cloud.outputs["FlowArn"], {"name": "mnist-2", "fail": True}, name="e2e-lambda-error", timeout=30
    )

    assert result.status == "SUCCEEDED"
    assert result.entered_states() == ["Record", "PlanAttempt", "Handled"]
    assert result.output["error"]["Error"] == "ValueError"
    assert "cannot plan mnist-2" in result.output["error"]["Cause"]


def test_transient_lambda_error_is_retried_per_the_cdk_retry(cloud: LocalCloud) -> None:
    cloud.hooks.inject("PlanAttempt", error="Lambda.ServiceException", times=2)
    result = cloud.run(cloud.outputs["FlowArn"], {"name": "mnist-3"}, name="e2e-retry", timeout=30)

    assert result.status == "SUCCEEDED"
    attempts = cloud.hooks.invocations_of("PlanAttempt", execution_arn=result.execution_arn)
    assert [(a.injected, a.outcome) for a in attempts] == [
        (True, "failed"),
        (True, "failed"),
        (False, "succeeded"),
    ]


def test_nested_state_machine_runs_to_completion(cloud: LocalCloud) -> None:
    result = cloud.run(cloud.outputs["ParentArn"], {"name": "nested"}, name="e2e-nested", timeout=30)

    assert result.status == "SUCCEEDED", result.cause
    assert result.output["child"] == {"output": {"echo": "nested"}}  # CDK's RUN_JOB is .sync:2


def test_sagemaker_tasks_are_served_by_the_backend(cloud: LocalCloud) -> None:
    fake = cloud.sagemaker
    assert isinstance(fake, FakeSageMaker)
    request = {"model": "candidate-1", "artifact": "s3://artifacts/models/m/model.tar.gz", "endpoint": "live"}
    result = cloud.run(cloud.outputs["DeployArn"], request, name="e2e-sagemaker", timeout=30)

    assert result.status == "SUCCEEDED", result.cause
    assert result.output["created"]["ModelArn"].endswith("model/candidate-1")
    assert result.output["endpoint_status"] == {"status": "InService"}
    operation, create = fake.requests[-2]
    assert operation == "CreateModel"
    assert create["PrimaryContainer"]["ModelDataUrl"] == "s3://artifacts/models/m/model.tar.gz"


def test_sagemaker_api_error_gets_the_aws_sdk_error_name(cloud: LocalCloud) -> None:
    request = {"model": "candidate-2", "artifact": "s3://a/m.tar.gz", "endpoint": "missing"}
    result = cloud.run(cloud.outputs["DeployArn"], request, name="e2e-no-endpoint", timeout=30)

    assert result.entered_states() == ["CreateModel", "DescribeEndpoint", "NoEndpoint"]
    assert result.output["error"]["Error"] == "SageMaker.SageMakerException"
    assert "Could not find endpoint" in result.output["error"]["Cause"]


def test_invalid_request_fails_like_the_real_api(cloud: LocalCloud) -> None:
    fake = cloud.sagemaker
    assert isinstance(fake, FakeSageMaker)
    before = len(fake.requests)
    result = cloud.run(
        cloud.outputs["DeployArn"],
        {"model": "bad_name!", "artifact": "s3://a/m.tar.gz", "endpoint": "x"},
        name="e2e-invalid",
        timeout=30,
    )

    assert result.status == "FAILED"
    assert result.error == "SageMaker.AmazonSageMakerException"
    assert "ModelName" in (result.cause or "") and "ValidationException" in (result.cause or "")
    assert len(fake.requests) == before


def test_missing_permission_fails_before_the_execution_starts(cloud: LocalCloud) -> None:
    arn = cloud.outputs["UngrantedArn"]
    with pytest.raises(IamCheckError) as error:
        cloud.start_execution(arn, {}, name="never")
    assert "DeleteEverything" in str(error.value) and "dynamodb:DeleteItem" in str(error.value)
    assert cloud.client("stepfunctions").list_executions(stateMachineArn=arn)["executions"] == []


def test_granted_state_machines_pass_the_iam_check(cloud: LocalCloud) -> None:
    for output in ("FlowArn", "ParentArn", "DeployArn"):
        assert cloud.check_iam(cloud.outputs[output]) == [], output


def test_a_second_cloud_in_the_same_process_is_refused(cloud: LocalCloud) -> None:
    with pytest.raises(RuntimeError, match="already installed"), LocalCloud(cloud.cdk_out, "Tiny"):
        pass
    assert cloud.client("s3").list_buckets()["Buckets"]  # the running cloud was left alone
