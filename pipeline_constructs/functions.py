"""The workflows' Lambda functions: one asset, one function per handler."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import ArnFormat, Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from .code_assets import lambda_code

RUNTIME = lambda_.Runtime.PYTHON_3_13
# Public Powertools v3 layer (logger, parser with pydantic v2), published per region by AWS.
POWERTOOLS_ACCOUNT = "017000801446"


class PipelineFunctions(Construct):
    """Validate the execution input, plan an attempt, evaluate predictions, request an approval."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        powertools_layer_version: int,
        log_retention: logs.RetentionDays,
        environment: Mapping[str, str],
        approval_environment: Mapping[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        self._code = lambda_code()
        self._key = key
        self._log_retention = log_retention
        self._layer = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "Powertools",
            Stack.of(self).format_arn(
                service="lambda",
                account=POWERTOOLS_ACCOUNT,
                resource="layer",
                resource_name=(
                    f"AWSLambdaPowertoolsPythonV3-{RUNTIME.name.replace('.', '')}-x86_64:"
                    f"{powertools_layer_version}"
                ),
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            ),
        )
        self._environment = {"POWERTOOLS_SERVICE_NAME": "ml-pipeline", **environment, "REGION": Aws.REGION}
        self.validate_input = self._function(
            "ValidateInput", "lambdas.execution_input.handler", timeout_seconds=10
        )
        self.plan_attempt = self._function("PlanAttempt", "lambdas.attempt_plan.handler", timeout_seconds=10)
        self.evaluate_predictions = self._function(
            "EvaluatePredictions", "lambdas.evaluate_predictions.handler", timeout_seconds=300, memory_mb=1024
        )
        # Manual approval: records PENDING_APPROVAL and notifies (the registry and the topic are its own).
        self.request_approval = self._function(
            "RequestApproval",
            "lambdas.approval_request.handler",
            timeout_seconds=10,
            extra_environment=approval_environment,
        )
        # The step cache's lookups and conditional records (the stack grants its table and listings).
        self.step_cache = self._function("StepCache", "lambdas.step_cache.handler", timeout_seconds=60)

    def _function(
        self,
        construct_id: str,
        handler: str,
        *,
        timeout_seconds: int,
        memory_mb: int = 256,
        extra_environment: Mapping[str, str] | None = None,
    ) -> lambda_.Function:
        log_group = logs.LogGroup(
            self,
            f"{construct_id}Logs",
            retention=self._log_retention,
            encryption_key=self._key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # An own role per function: only its log group (no AWSLambdaBasicExecutionRole) and X-Ray.
        role = iam.Role(self, f"{construct_id}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords"], resources=["*"]
            )
        )
        return lambda_.Function(
            self,
            construct_id,
            role=role,
            runtime=RUNTIME,
            handler=handler,
            code=self._code,
            layers=[self._layer],
            timeout=Duration.seconds(timeout_seconds),
            memory_size=memory_mb,
            environment={**self._environment, **(extra_environment or {})},
            environment_encryption=self._key,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
        )
