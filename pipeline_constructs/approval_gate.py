"""Manual approval between the quality gate's pass branch and deployment (`quality_gate.approval`).

With `approval: manual`, RequestApproval invokes lambdas/approval_request.py with
`.waitForTaskToken` (DynamoDB and SNS have no callback pattern; Lambda does): the function records
the model PENDING_APPROVAL with the task token and notifies the topic, then the execution waits
for `mlpipeline approve` (SendTaskSuccess) or `mlpipeline reject` (SendTaskFailure with
`REJECTED_ERROR`), at most `gate.approval_timeout_seconds` (the task's TimeoutSecondsPath).
Approved: RecordApproved, then deployment. Rejected or timed out: RecordApprovalRejected,
NotifyApprovalRejected, and the run fails with ModelRejected, without retraining (a person, not
the metric, said no). Every decision lands at `$.approval.decision` as `{decided_by, reason}`.
With `approval: none` the gate's pass branch goes straight to deployment.
"""

from __future__ import annotations

from typing import Final

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from lambdas.approval_request import REJECTED_ERROR, TIMEOUT_DECIDER
from lambdas.attempt_state import ATTEMPT
from lambdas.model_registry import DECIDED_AT, DECIDED_BY, DECISION_REASON, REJECTION, ModelStatus

from .workflow_steps import (
    ERROR_PATH,
    LAMBDA_TRANSIENT,
    NOW,
    RegistrySteps,
    catch_all,
    dynamo_format,
    dynamo_string,
    notify_rejected_and_fail,
    retry_transient,
)

DECISION_PATH: Final = "$.approval.decision"
TIMEOUT_PATH: Final = "$.run.gate.approval_timeout_seconds"


class ApprovalGate(Construct):
    """`entry`: where the quality gate's pass branch goes; it reaches `deploy` only when approved."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        request_approval: lambda_.IFunction,
        registry: RegistrySteps,
        topic: sns.ITopic,
        deploy: sfn.IChainable,
        on_failure: sfn.IChainable,
    ) -> None:
        super().__init__(scope, construct_id)
        self._registry = registry
        self._on_failure = on_failure
        request = self._request(request_approval)
        rejected = self._rejected(topic)
        request.add_catch(
            self._reviewer_rejected().next(rejected), errors=[REJECTED_ERROR], result_path=ERROR_PATH
        )
        request.add_catch(
            self._timed_out().next(rejected), errors=[sfn.Errors.TIMEOUT], result_path=ERROR_PATH
        )
        catch_all(request, on_failure)
        request.next(self._approved()).next(deploy)
        self.entry = (
            sfn.Choice(self, "ApprovalRequired?", comment="quality_gate.approval: manual waits for a person")
            .when(sfn.Condition.string_equals("$.run.gate.approval", "manual"), request)
            .otherwise(deploy)
        )

    def _request(self, function: lambda_.IFunction) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self,
            "RequestApproval",
            comment="Records PENDING_APPROVAL with the task token, notifies, waits for a decision",
            lambda_function=function,
            integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            payload=sfn.TaskInput.from_object(
                {
                    "task_token": sfn.JsonPath.task_token,
                    "execution": sfn.JsonPath.execution_id,
                    "model_name": sfn.JsonPath.string_at(ATTEMPT.model_name),
                    "gate": sfn.JsonPath.object_at("$.run.gate"),
                    "evaluation": sfn.JsonPath.object_at("$.evaluation"),
                }
            ),
            retry_on_service_exceptions=False,
            task_timeout=sfn.Timeout.at(TIMEOUT_PATH),
            result_path=DECISION_PATH,
        )
        retry_transient(task, LAMBDA_TRANSIENT)
        return task

    def _decision_attributes(self) -> dict[str, tasks.DynamoAttributeValue]:
        return {
            DECIDED_BY: dynamo_string(f"{DECISION_PATH}.decided_by"),
            DECIDED_AT: dynamo_string(NOW),
            DECISION_REASON: dynamo_string(f"{DECISION_PATH}.reason"),
        }

    def _approved(self) -> tasks.DynamoUpdateItem:
        record = self._registry.set_status(
            "RecordApproved",
            ModelStatus.APPROVED,
            attributes=self._decision_attributes(),
            expected=ModelStatus.PENDING_APPROVAL,
            failure=self._on_failure,
        )
        return record

    def _reviewer_rejected(self) -> sfn.Pass:
        # `mlpipeline reject` sends the decision as SendTaskFailure's cause, as JSON.
        return sfn.Pass(
            self,
            "ReadRejection",
            parameters={"decision.$": f"States.StringToJson({ERROR_PATH}.Cause)"},
            result_path="$.approval",
        )

    def _timed_out(self) -> sfn.Pass:
        return sfn.Pass(
            self,
            "ApprovalTimedOut",
            parameters={
                "decision": {
                    "decided_by": TIMEOUT_DECIDER,
                    "reason.$": f"States.Format('no decision within {{}} seconds', {TIMEOUT_PATH})",
                }
            },
            result_path="$.approval",
        )

    def _rejected(self, topic: sns.ITopic) -> sfn.IChainable:
        record = self._registry.set_status(
            "RecordApprovalRejected",
            ModelStatus.REJECTED,
            attributes={
                REJECTION: dynamo_format(
                    "rejected by {}: {}", f"{DECISION_PATH}.decided_by", f"{DECISION_PATH}.reason"
                ),
                **self._decision_attributes(),
            },
            # Also from EVALUATED: a timeout (or a reviewer) may beat RequestApproval's own write.
            expected=(ModelStatus.PENDING_APPROVAL, ModelStatus.EVALUATED),
            failure=self._on_failure,
        )
        return record.next(
            notify_rejected_and_fail(
                self,
                notify_id="NotifyApprovalRejected",
                topic=topic,
                subject="ML pipeline: model rejected at approval",
                message={
                    "event": "REJECTED",
                    "stage": "approval",
                    "execution": sfn.JsonPath.execution_id,
                    "model_name": sfn.JsonPath.string_at(ATTEMPT.model_name),
                    "decided_by": sfn.JsonPath.string_at(f"{DECISION_PATH}.decided_by"),
                    "reason": sfn.JsonPath.string_at(f"{DECISION_PATH}.reason"),
                },
                fail_id="RejectedAtApproval",
                cause="The model was rejected at manual approval (or no decision came in time)",
            )
        )
