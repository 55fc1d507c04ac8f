"""What moto leaves out of a `cdk deploy`, added in one place (the only module here that reaches
into moto's CloudFormation and Lambda internals besides the task hooks).

moto 5.2.5's CloudFormation creates most of the stack but skips four resource types with a
warning, creates state machines in a Step Functions backend that never executes them, and answers
DescribeStacks without Outputs after a change set (the path `cdk deploy` takes). Here each of
those types gets a CloudFormation resource model that applies the resource through its own service
API (a boto3 call to the same local server, so the request is parsed and validated as any other),
and the change set rebuilds the stack's outputs as CloudFormation does:

| type | applied with |
|---|---|
| `AWS::S3::BucketPolicy` | `s3:PutBucketPolicy` (`DeleteBucketPolicy` on delete) |
| `AWS::SNS::TopicPolicy` | `sns:SetTopicAttributes` `Policy` on each topic |
| `AWS::CloudWatch::Alarm` | `cloudwatch:PutMetricAlarm` |
| `AWS::StepFunctions::StateMachine` | `states:CreateStateMachine` (substitutions, logging, tracing) |
| `AWS::CDK::Metadata` | nothing: CDK's version report, with no effect on AWS either |
| `AWS::S3::Bucket` (moto: encryption, tags) | also versioning, public access, ownership, lifecycle, logging |
| `AWS::KMS::Key` | its KeyPolicy kept as JSON text, as the KMS API keeps it |
| `AWS::Logs::LogGroup` | its KmsKeyId, which moto's model drops |

`published_code` reads a function's code as moto's Lambda stored it from the asset bucket the CLI
published to: local mode runs handlers in process from exactly that archive.

The resources are created during the deploy, in dependency order, so they appear in
DescribeStackResources as `CREATE_COMPLETE` like every other resource. `install()` registers them
(process-wide, idempotent): moto finds resource models through `CloudFormationModel`'s subclasses.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import uuid
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import boto3
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing as cfn_parsing
from moto.core.common_models import CloudFormationModel
from moto.kms import models as kms_models
from moto.logs import models as logs_models
from moto.s3 import models as s3_models

LOG = logging.getLogger(__name__)


def _client(service: str, region: str) -> BaseClient:
    """A client for the moto server this code runs in (its port is in MOTO_PORT)."""
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region
    ).client(service, endpoint_url=f"http://localhost:{os.environ['MOTO_PORT']}")


def _policy_text(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


class _AppliedResource(CloudFormationModel):
    """A resource that exists only as what its API call applied; subclasses say which call."""

    TYPE: ClassVar[str] = ""
    NAME_PROPERTY: ClassVar[str] = ""

    def __init__(self, physical_id: str, properties: Mapping[str, Any], region: str, account_id: str) -> None:
        self.physical_resource_id = physical_id
        self.properties = dict(properties)
        self.region = region
        self.account_id = account_id

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.NAME_PROPERTY

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.TYPE

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        raise UnformattedGetAttTemplateException()

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> _AppliedResource:
        properties = cloudformation_json.get("Properties", {})
        resource = cls(cls.physical_id(resource_name, properties), properties, region_name, account_id)
        resource.apply()
        return resource

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: _AppliedResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> _AppliedResource:
        original_resource.remove()
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        properties = cloudformation_json.get("Properties", {})
        cls(cls.physical_id(resource_name, properties), properties, region_name, account_id).remove()

    @classmethod
    def physical_id(cls, resource_name: str, properties: Mapping[str, Any]) -> str:
        return resource_name

    def is_created(self) -> bool:
        return True

    def apply(self) -> None:
        raise NotImplementedError

    def remove(self) -> None:
        """Undo `apply` (stack update or delete)."""


class BucketPolicy(_AppliedResource):
    TYPE = "AWS::S3::BucketPolicy"

    def apply(self) -> None:
        _client("s3", self.region).put_bucket_policy(
            Bucket=self.properties["Bucket"], Policy=_policy_text(self.properties["PolicyDocument"])
        )

    def remove(self) -> None:
        _client("s3", self.region).delete_bucket_policy(Bucket=self.properties["Bucket"])


class TopicPolicy(_AppliedResource):
    TYPE = "AWS::SNS::TopicPolicy"

    def apply(self) -> None:
        # Like CloudFormation: the policy replaces each topic's default policy.
        sns = _client("sns", self.region)
        for topic in self.properties["Topics"]:
            sns.set_topic_attributes(
                TopicArn=topic,
                AttributeName="Policy",
                AttributeValue=_policy_text(self.properties["PolicyDocument"]),
            )


class MetricAlarm(_AppliedResource):
    TYPE = "AWS::CloudWatch::Alarm"
    NAME_PROPERTY = "AlarmName"
    # CloudFormation's property names are PutMetricAlarm's, but for these.
    _LISTS: ClassVar[tuple[str, ...]] = ("AlarmActions", "OKActions", "InsufficientDataActions", "Dimensions")

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name == "Arn":
            return f"arn:aws:cloudwatch:{self.region}:{self.account_id}:alarm:{self.physical_resource_id}"
        return super().get_cfn_attribute(attribute_name)

    def apply(self) -> None:
        request: dict[str, Any] = {
            key: value for key, value in self.properties.items() if key not in ("AlarmName",)
        }
        for key in self._LISTS:
            if key in request:
                request[key] = list(request[key])
        for key in ("EvaluationPeriods", "Period", "DatapointsToAlarm"):
            if key in request:
                request[key] = int(request[key])
        if "Threshold" in request:
            request["Threshold"] = float(request["Threshold"])
        if "ActionsEnabled" in request:
            request["ActionsEnabled"] = str(request["ActionsEnabled"]).lower() == "true"
        _client("cloudwatch", self.region).put_metric_alarm(AlarmName=self.physical_resource_id, **request)

    def remove(self) -> None:
        _client("cloudwatch", self.region).delete_alarms(AlarmNames=[self.physical_resource_id])


class StateMachine(_AppliedResource):
    """moto's own model writes to the Step Functions backend that does not execute; this one
    creates the state machine through the API, in the backend that runs executions."""

    TYPE = "AWS::StepFunctions::StateMachine"
    NAME_PROPERTY = "StateMachineName"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Arn", "Name")

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name == "Arn":
            return self.physical_resource_id
        if attribute_name == "Name":
            return self.physical_resource_id.rsplit(":", 1)[-1]
        return super().get_cfn_attribute(attribute_name)

    def apply(self) -> None:
        props = self.properties
        definition = props.get("DefinitionString") or json.dumps(props.get("Definition", {}))
        for key, value in (props.get("DefinitionSubstitutions") or {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        request: dict[str, Any] = {
            "name": self.physical_resource_id,
            "definition": definition,
            "roleArn": props["RoleArn"],
            "type": props.get("StateMachineType", "STANDARD"),
            "tags": [{"key": t["Key"], "value": t["Value"]} for t in props.get("Tags", [])],
        }
        logging = props.get("LoggingConfiguration")
        if logging:
            request["loggingConfiguration"] = {
                "level": logging.get("Level", "OFF"),
                "includeExecutionData": bool(logging.get("IncludeExecutionData", False)),
                "destinations": [
                    {"cloudWatchLogsLogGroup": {"logGroupArn": d["CloudWatchLogsLogGroup"]["LogGroupArn"]}}
                    for d in logging.get("Destinations", [])
                ],
            }
        if "TracingConfiguration" in props:
            request["tracingConfiguration"] = {"enabled": bool(props["TracingConfiguration"].get("Enabled"))}
        arn = _client("stepfunctions", self.region).create_state_machine(**request)["stateMachineArn"]
        self.physical_resource_id = str(arn)

    def remove(self) -> None:
        _client("stepfunctions", self.region).delete_state_machine(stateMachineArn=self.physical_resource_id)


class CdkMetadata(_AppliedResource):
    TYPE = "AWS::CDK::Metadata"

    @classmethod
    def physical_id(cls, resource_name: str, properties: Mapping[str, Any]) -> str:
        return str(uuid.uuid4())

    def apply(self) -> None:
        """CDK's version report: nothing to apply."""


# --- AWS::S3::Bucket: the properties moto's model leaves out -----------------------------------


def _lifecycle_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule as PutBucketLifecycleConfiguration takes it."""
    api: dict[str, Any] = {"Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
    if "Id" in rule:
        api["ID"] = rule["Id"]
    if "ExpirationInDays" in rule:
        api["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "NoncurrentVersionExpiration" in rule:
        api["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
        }
    if "AbortIncompleteMultipartUpload" in rule:
        days = int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        api["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
    return api


def apply_bucket_properties(bucket: str, properties: Mapping[str, Any], region: str) -> None:
    """Versioning, public access block, ownership, lifecycle and logging, through the S3 API."""
    s3 = _client("s3", region)
    if "VersioningConfiguration" in properties:
        status = properties["VersioningConfiguration"]["Status"]
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": status})
    if "PublicAccessBlockConfiguration" in properties:
        block = {k: str(v).lower() == "true" for k, v in properties["PublicAccessBlockConfiguration"].items()}
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=block)
    if "OwnershipControls" in properties:
        s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=properties["OwnershipControls"])
    if "LifecycleConfiguration" in properties:
        rules = [_lifecycle_rule(r) for r in properties["LifecycleConfiguration"]["Rules"]]
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    if "LoggingConfiguration" in properties:
        settings = properties["LoggingConfiguration"]
        target = {
            "TargetBucket": settings["DestinationBucketName"],
            "TargetPrefix": settings.get("LogFilePrefix", ""),
        }
        try:
            s3.put_bucket_logging(Bucket=bucket, BucketLoggingStatus={"LoggingEnabled": target})
        except ClientError as exc:
            # moto wants the target's policy to admit logging.s3.amazonaws.com first, but that policy
            # names this bucket's ARN, so CloudFormation creates it afterwards; S3 accepts that
            # order (CDK's server-access-logs integration test deploys it). moto delivers no
            # access logs either way.
            if exc.response["Error"]["Code"] != "InvalidTargetBucketForLogging":
                raise
            LOG.info("access logging of %s not applied locally: %s", bucket, exc)


def _complete_bucket(bucket: Any, properties: Mapping[str, Any], region: str) -> None:
    apply_bucket_properties(bucket.name, properties, region)


def _complete_key(key: Any, properties: Mapping[str, Any], region: str) -> None:
    """moto's key model keeps a template's KeyPolicy object as it is, where its API keeps the
    policy document as JSON text (and fails DescribeKey on anything else)."""
    if not isinstance(key.policy, str):
        key.policy = json.dumps(key.policy)


def _complete_log_group(group: Any, properties: Mapping[str, Any], region: str) -> None:
    """moto's log-group model reads the key as `kmsKeyId` (the API's casing), not the template's
    `KmsKeyId` (and moto has no AssociateKmsKey): the key is set on the group as created."""
    if properties.get("KmsKeyId") and not group.kms_key_id:
        group.kms_key_id = properties["KmsKeyId"]


Completion = Callable[[Any, Mapping[str, Any], str], None]


def _completed_after_create(model: type, complete: Completion) -> None:
    """Wrap a moto model's CloudFormation create: the created resource is then completed."""
    create = model.__dict__["create_from_cloudformation_json"].__func__
    if hasattr(create, "completed_by"):
        return

    def create_from_cloudformation_json(
        cls: Any,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        resource = create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        complete(resource, cloudformation_json.get("Properties", {}), region_name)
        return resource

    create_from_cloudformation_json.completed_by = complete  # type: ignore[attr-defined]
    setattr(model, "create_from_cloudformation_json", classmethod(create_from_cloudformation_json))  # noqa: B010


_MODELS: tuple[type[_AppliedResource], ...] = (
    BucketPolicy,
    TopicPolicy,
    MetricAlarm,
    StateMachine,
    CdkMetadata,
)


def _apply_with_outputs(original: Callable[[Any], None]) -> Callable[[Any], None]:
    def apply(change_set: Any) -> None:
        original(change_set)
        # CloudFormation evaluates the new template's Outputs once its resources exist.
        stack = change_set.stack
        stack.template = change_set.template
        stack._parse_template()
        stack.output_map = stack._create_output_map()

    apply.__wrapped__ = original  # type: ignore[attr-defined]
    return apply


def _bucket_permission_with_conditions(
    original: Callable[[Any, str, str], Any],
) -> Callable[[Any, str, str], Any]:
    """moto checks a bucket's policy on object requests without the statements' Conditions, so
    the TLS-only Deny (`aws:SecureTransport` false) would refuse every object request. Here the
    conditions are evaluated (every request stands for AWS's TLS one); what the caller's role may
    do is `role_access`'s to decide."""
    from moto.iam.access_control import PermissionResult

    from local_mode.checks.role_access import bucket_policy_verdict

    def get_permission(bucket: Any, action: str, resource: str) -> Any:
        if bucket.policy is None:
            return PermissionResult.NEUTRAL
        text = bucket.policy.decode() if isinstance(bucket.policy, bytes) else str(bucket.policy)
        return getattr(PermissionResult, bucket_policy_verdict(text, action, resource))

    get_permission.__wrapped__ = original  # type: ignore[attr-defined]
    return get_permission


def install() -> None:
    """Register the models and the fixes in this process (moto's server runs in it)."""
    if not hasattr(cfn_models.ChangeSet.apply, "__wrapped__"):
        setattr(cfn_models.ChangeSet, "apply", _apply_with_outputs(cfn_models.ChangeSet.apply))  # noqa: B010
    if not hasattr(s3_models.FakeBucket.get_permission, "__wrapped__"):
        original = s3_models.FakeBucket.get_permission
        setattr(s3_models.FakeBucket, "get_permission", _bucket_permission_with_conditions(original))  # noqa: B010
    _completed_after_create(s3_models.FakeBucket, _complete_bucket)
    _completed_after_create(kms_models.Key, _complete_key)
    _completed_after_create(logs_models.LogGroup, _complete_log_group)
    if all(cfn_parsing.get_model_map().get(model.TYPE) is model for model in _MODELS):
        return
    # moto looks models up among CloudFormationModel's direct subclasses; these derive from a
    # shared base, so the list moto reads is extended with them (later entries win).
    moto_models = cfn_parsing.get_model_list

    @functools.lru_cache
    def model_list() -> list[type[CloudFormationModel]]:
        return [*moto_models(), *_MODELS]

    cfn_parsing.get_model_list = model_list
    cfn_parsing.get_model_map.cache_clear()
    cfn_parsing.get_name_type_map.cache_clear()


def published_code(account_id: str, region: str, function_name: str) -> bytes:
    """The deployment package of a function, as its CloudFormation resource published it."""
    from moto.awslambda.utils import get_backend  # the backend in use (moto's "simple" one without Docker)

    function = get_backend(account_id, region).get_function(function_name)
    return bytes(function.code_bytes)
