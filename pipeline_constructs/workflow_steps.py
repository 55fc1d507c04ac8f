"""Steps both workflows use: retries, registry writes, notifications, the champion lookup."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from lambdas.model_registry import (
    NEW_ITEM_CONDITION,
    PARTITION_KEY,
    STATUS_INDEX,
    ModelStatus,
    StatusWrite,
    annotation_write,
    from_path,
    literal,
    new_item,
    status_query,
    status_write,
    transact_update,
)

from . import aws_error_names

_SAGEMAKER = aws_error_names.OPTIMIZED["sagemaker"]
_DYNAMODB = aws_error_names.OPTIMIZED["dynamodb"]
_SNS = aws_error_names.OPTIMIZED["sns"]
_STEP_FUNCTIONS = aws_error_names.OPTIMIZED["states"]

# Errors worth retrying: throttling, capacity and the services' own faults. Every name is one the
# integration can emit (pipeline_constructs/aws_error_names.py; tests/infra/test_error_names.py
# checks both definitions). Optimized integrations (`sagemaker:createModel`, `dynamodb:putItem`,
# `sns:publish`, `states:startExecution`, `lambda:invoke`) name errors after the AWS SDK for
# Java 1.x (`DynamoDB.`, `SageMaker.AmazonSageMakerException`); `aws-sdk:` integrations after the
# 2.x SDK (`DynamoDb.`, `SageMaker.SageMakerException`), always with the `Exception` suffix. The
# first name of each list is what the fault-injection suite raises as "transient".
SAGEMAKER_TRANSIENT = (_SAGEMAKER.generic, _SAGEMAKER.error_name("ResourceLimitExceeded"))
# SageMaker's model declares no throttling or validation error: those surface as the 2.x SDK's
# base class, SageMaker.SageMakerException (there is no SageMaker.ThrottlingException to match).
SAGEMAKER_SDK_TRANSIENT = (aws_error_names.sdk_generic_error("sagemaker"),)
DYNAMODB_TRANSIENT = (
    _DYNAMODB.error_name("ProvisionedThroughputExceededException"),
    _DYNAMODB.error_name("ThrottlingException"),
    _DYNAMODB.error_name("InternalServerError"),  # DynamoDB.InternalServerErrorException
    _DYNAMODB.error_name("RequestLimitExceeded"),  # DynamoDB.RequestLimitExceededException
)
DYNAMODB_SDK_TRANSIENT = tuple(
    aws_error_names.sdk_error_name("dynamodb", code)
    for code in (
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "InternalServerError",
        "RequestLimitExceeded",
    )
)
SNS_TRANSIENT = tuple(
    _SNS.error_name(c) for c in ("ThrottledException", "InternalErrorException", "KMSThrottlingException")
)
# StartExecution's own faults surface as the SDK's base class, AWSStepFunctionsException.
STEP_FUNCTIONS_TRANSIENT = (_STEP_FUNCTIONS.error_name("ExecutionLimitExceeded"), _STEP_FUNCTIONS.generic)
# What the Step Functions guide recommends retrying for Lambda (bp-lambda-serviceexception).
LAMBDA_TRANSIENT = (
    "Lambda.TooManyRequestsException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
)

ERROR_PATH = "$.error"
# Where a failure handler's own error goes, so it never hides the failure being handled.
HANDLER_ERROR_PATH = "$.handler_error"
NOW = "$$.State.EnteredTime"
# How a run whose model was rejected (at the quality gate or at approval) fails.
MODEL_REJECTED_ERROR = "ModelRejected"


def retry_transient(
    state: sfn.TaskStateBase | sfn.CustomState,
    errors: Sequence[str],
    *,
    max_attempts: int = 3,
    interval_seconds: int = 5,
) -> None:
    """Bounded exponential backoff with jitter for the given error names."""
    state.add_retry(
        errors=list(errors),
        interval=Duration.seconds(interval_seconds),
        backoff_rate=2.0,
        max_attempts=max_attempts,
        jitter_strategy=sfn.JitterType.FULL,
    )


def catch_all(
    state: sfn.TaskStateBase | sfn.CustomState | sfn.Parallel,
    handler: sfn.IChainable,
    *,
    result_path: str = ERROR_PATH,
) -> None:
    """Every failure goes to `handler` with the error kept beside the state data."""
    state.add_catch(handler, errors=[sfn.Errors.ALL], result_path=result_path)


def dynamo_number(path: str) -> tasks.DynamoAttributeValue:
    """A number from the state data; DynamoDB's API wants numbers as strings."""
    return tasks.DynamoAttributeValue.number_from_string(
        sfn.JsonPath.format("{}", sfn.JsonPath.string_at(path))
    )


def dynamo_string(path: str) -> tasks.DynamoAttributeValue:
    """A string from the state data (or the context object, `$$.`)."""
    return tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at(path))


def dynamo_format(template: str, *paths: str) -> tasks.DynamoAttributeValue:
    """A string of the state data's values at `paths`, each in a `{}` of `template` (States.Format)."""
    return tasks.DynamoAttributeValue.from_string(
        sfn.JsonPath.format(template, *(sfn.JsonPath.string_at(path) for path in paths))
    )


class RegistrySteps:
    """Task factories that write the model registry from a workflow."""

    def __init__(self, scope: Construct, *, table: dynamodb.ITable, model_name_path: str) -> None:
        self._scope = scope
        self._table = table
        self._model_name_path = model_name_path

    @property
    def table(self) -> dynamodb.ITable:
        return self._table

    def key(self, model_name_path: str | None = None) -> dict[str, tasks.DynamoAttributeValue]:
        return {PARTITION_KEY: dynamo_string(model_name_path or self._model_name_path)}

    def put_new_model(
        self, construct_id: str, *, item: Mapping[str, tasks.DynamoAttributeValue]
    ) -> tasks.DynamoPutItem:
        """Create the model's item; refuses to overwrite an existing one."""
        task = tasks.DynamoPutItem(
            self._scope,
            construct_id,
            table=self._table,
            item=new_item(
                now=dynamo_string(NOW),
                string=tasks.DynamoAttributeValue.from_string,
                key=dynamo_string(self._model_name_path),
                attributes=item,
            ),
            condition_expression=NEW_ITEM_CONDITION,
            result_path=sfn.JsonPath.DISCARD,
        )
        retry_transient(task, DYNAMODB_TRANSIENT)
        return task

    def set_status(
        self,
        construct_id: str,
        status: ModelStatus,
        *,
        attributes: Mapping[str, tasks.DynamoAttributeValue] | None = None,
        model_name_path: str | None = None,
        comment: str | None = None,
        expected: ModelStatus | tuple[ModelStatus, ...] | None = None,
        failure: sfn.IChainable | None = None,
    ) -> tasks.DynamoUpdateItem:
        """Move one model to `status`, setting the given attributes in the same write (only from
        `expected` when given); a failure that outlasts the retries goes to `failure` when given."""
        write = status_write(
            status,
            now=dynamo_string(NOW),
            string=tasks.DynamoAttributeValue.from_string,
            attributes=attributes,
            expected=expected,
        )
        task = self._update(construct_id, write, model_name_path=model_name_path, comment=comment)
        if failure is not None:
            catch_all(task, failure)
        return task

    def annotate(
        self,
        construct_id: str,
        *,
        status: ModelStatus,
        attributes: Mapping[str, tasks.DynamoAttributeValue],
        model_name_path: str | None = None,
        comment: str | None = None,
    ) -> tasks.DynamoUpdateItem:
        """Set attributes of one model that is (still) in `status`, without changing its status."""
        write = annotation_write(status, string=tasks.DynamoAttributeValue.from_string, attributes=attributes)
        return self._update(construct_id, write, model_name_path=model_name_path, comment=comment)

    def _update(
        self,
        construct_id: str,
        write: StatusWrite[tasks.DynamoAttributeValue],
        *,
        model_name_path: str | None,
        comment: str | None,
    ) -> tasks.DynamoUpdateItem:
        task = tasks.DynamoUpdateItem(
            self._scope,
            construct_id,
            comment=comment,
            table=self._table,
            key=self.key(model_name_path),
            update_expression=write.update_expression,
            expression_attribute_names=write.names,
            expression_attribute_values=write.values,
            condition_expression=write.condition_expression,
            result_path=sfn.JsonPath.DISCARD,
        )
        retry_transient(task, DYNAMODB_TRANSIENT)
        return task

    def find_deployed(self, construct_id: str, *, result_path: str) -> tasks.CallAwsService:
        """The newest DEPLOYED model (at most one item), from the status index."""
        task = tasks.CallAwsService(
            self._scope,
            construct_id,
            comment="Which model is deployed now",
            service="dynamodb",
            action="query",
            parameters={
                "TableName": self._table.table_name,
                **status_query(ModelStatus.DEPLOYED),
                "Limit": 1,
            },
            iam_resources=[self._table.table_arn, f"{self._table.table_arn}/index/{STATUS_INDEX}"],
            iam_action="dynamodb:Query",
            # The whole Query output: `Items` is optional in the API's model, and a ResultSelector
            # path that does not resolve raises States.Runtime, which no Catch can handle. Readers
            # test `<result_path>.Items[0]` with IsPresent first.
            result_path=result_path,
        )
        retry_transient(task, DYNAMODB_SDK_TRANSIENT)
        return task

    def transact(
        self, construct_id: str, *, items: list[dict[str, Any]], comment: str
    ) -> tasks.CallAwsService:
        """Several registry changes that must happen together (e.g. promote one, retire another)."""
        task = tasks.CallAwsService(
            self._scope,
            construct_id,
            comment=comment,
            service="dynamodb",
            action="transactWriteItems",
            parameters={"TransactItems": items},
            iam_resources=[self._table.table_arn],
            iam_action="dynamodb:UpdateItem",
            result_path=sfn.JsonPath.DISCARD,
        )
        retry_transient(task, DYNAMODB_SDK_TRANSIENT)
        return task

    def status_update_item(
        self,
        *,
        model_name_path: str,
        status: ModelStatus,
        expected: ModelStatus | tuple[ModelStatus, ...],
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One `Update` entry of a transaction, in the DynamoDB API's own shape."""
        write = status_write(status, now=from_path(NOW), string=literal, attributes=extra, expected=expected)
        return transact_update(self._table.table_name, from_path(model_name_path), write)


def notify(
    scope: Construct,
    construct_id: str,
    *,
    topic: sns.ITopic,
    subject: str,
    message: Mapping[str, Any] | sfn.TaskInput,
) -> tasks.SnsPublish:
    """Publish a JSON message (an object, or one the state data holds); the state data passes through."""
    task = tasks.SnsPublish(
        scope,
        construct_id,
        topic=topic,
        subject=subject,
        message=message if isinstance(message, sfn.TaskInput) else sfn.TaskInput.from_object(dict(message)),
        result_path=sfn.JsonPath.DISCARD,
    )
    retry_transient(task, SNS_TRANSIENT)
    return task


def failure_message(workflow: str) -> dict[str, Any]:
    return {
        "event": "FAILED",
        "workflow": workflow,
        "execution": sfn.JsonPath.execution_id,
        "error": sfn.JsonPath.string_at(f"{ERROR_PATH}.Error"),
        "cause": sfn.JsonPath.string_at(f"{ERROR_PATH}.Cause"),
    }


def notify_and_fail(
    scope: Construct,
    *,
    topic: sns.ITopic,
    workflow: str,
    fail_id: str,
    notify_id: str = "NotifyFailure",
    subject: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> tasks.SnsPublish:
    """Publish the failure (error and cause, plus `details`), then fail the execution with them."""
    fail = sfn.Fail(scope, fail_id, cause_path=f"{ERROR_PATH}.Cause", error_path=f"{ERROR_PATH}.Error")
    announce = notify(
        scope,
        notify_id,
        topic=topic,
        subject=subject or f"ML pipeline: {workflow} run failed",
        message={**failure_message(workflow), **(details or {})},
    )
    # A notification that cannot be sent must not hide the original failure.
    catch_all(announce, fail, result_path=HANDLER_ERROR_PATH)
    announce.next(fail)
    return announce


def notify_rejected_and_fail(
    scope: Construct,
    *,
    notify_id: str,
    topic: sns.ITopic,
    subject: str,
    message: Mapping[str, Any],
    fail_id: str,
    cause: str,
) -> sfn.Chain:
    """Publish a rejection (`message`), then fail the execution with MODEL_REJECTED_ERROR and `cause`."""
    announce = notify(scope, notify_id, topic=topic, subject=subject, message=message)
    fail = sfn.Fail(scope, fail_id, error=MODEL_REJECTED_ERROR, cause=cause)
    # The rejection is recorded: a notification that cannot be sent must not change the outcome.
    catch_all(announce, fail, result_path=HANDLER_ERROR_PATH)
    return announce.next(fail)


def invoke_lambda(
    scope: Construct,
    construct_id: str,
    function: lambda_.IFunction,
    *,
    payload: Mapping[str, Any],
    result_path: str,
    failure: sfn.IChainable | None = None,
) -> tasks.LambdaInvoke:
    """Call a handler with a JSON payload; its return value lands at `result_path`."""
    task = tasks.LambdaInvoke(
        scope,
        construct_id,
        lambda_function=function,
        payload=sfn.TaskInput.from_object(dict(payload)),
        payload_response_only=True,
        retry_on_service_exceptions=False,
        result_path=result_path,
    )
    retry_transient(task, LAMBDA_TRANSIENT)
    if failure is not None:
        catch_all(task, failure)
    return task


def guard_error_cause(scope: Construct, construct_id: str, handler: sfn.IChainable) -> sfn.Choice:
    """Go to `handler` with `$.error.Cause` always present.

    Failure handlers read `$.error.Error` and `$.error.Cause` (registry item, message, Fail
    state); a path that does not resolve raises States.Runtime, which nothing can catch, so an
    error caught without a Cause would end the run without its failure being recorded or sent.
    """
    missing = sfn.Pass(
        scope,
        f"{construct_id}Missing",
        parameters={"Error.$": f"{ERROR_PATH}.Error", "Cause": "(no cause given)"},
        result_path=ERROR_PATH,
    ).next(handler)
    return (
        sfn.Choice(scope, f"{construct_id}?")
        .when(sfn.Condition.is_present(f"{ERROR_PATH}.Cause"), handler)
        .otherwise(missing)
    )


def begin(scope: Construct) -> sfn.Pass:
    """The first state: state data becomes an object whatever the execution input is.

    Catches write errors into the state data, which fails on a non-object input (a list, a
    string, null) before ValidateInput could reject it by name; ValidateInput reads the raw
    input from the context instead.
    """
    return sfn.Pass(scope, "Begin", parameters={"execution.$": "$$.Execution.Name"})
