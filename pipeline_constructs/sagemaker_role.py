"""The role SageMaker jobs and endpoints run as."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

ECR_PULL_ACTIONS = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability")
LOG_ACTIONS = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams")


class SageMakerExecutionRole(Construct):
    """Runs training, processing, transform jobs and endpoints.

    Starts with only what every SageMaker container needs (its own logs and
    metrics, pulling the framework images); the stack adds data access per prefix.
    `passable_role` is an immutable reference handed to Step Functions tasks, so
    their automatic grants cannot widen this role (CDK would add `s3:*` on `*`
    for JSONPath S3 locations).
    """

    def __init__(self, scope: Construct, construct_id: str, *, image_repository_arns: Sequence[str]) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="SageMaker jobs and endpoints of the ML pipeline",
        )
        stack = Stack.of(self)
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=list(LOG_ACTIONS),
                resources=[
                    stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="/aws/sagemaker/*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "aws/sagemaker/*"]}},
            )
        )
        # GetAuthorizationToken has no resource-level permissions.
        self.role.add_to_policy(iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]))
        self.role.add_to_policy(
            iam.PolicyStatement(actions=list(ECR_PULL_ACTIONS), resources=list(image_repository_arns))
        )
        self.passable_role = iam.Role.from_role_arn(self, "Passable", self.role.role_arn, mutable=False)
