"""The template resolver: every intrinsic function, physical names, assets, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from local_mode.template import NO_VALUE, CfnTemplate, CloudEnv, TemplateError, generated_name

TEMPLATE: dict[str, Any] = {
    "Parameters": {
        "Stage": {"Type": "String", "Default": "dev"},
        "BootstrapVersion": {
            "Type": "AWS::SSM::Parameter::Value<String>",
            "Default": "/cdk-bootstrap/hnb659fds/version",
        },
    },
    "Mappings": {"Sizes": {"dev": {"Instance": "ml.m5.large"}, "prod": {"Instance": "ml.c5.xlarge"}}},
    "Conditions": {
        "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
        "IsDev": {"Fn::Not": [{"Condition": "IsProd"}]},
        "Both": {"Fn::And": [{"Condition": "IsDev"}, {"Fn::Or": [{"Condition": "IsProd"}, True]}]},
    },
    "Resources": {
        "Data": {"Type": "AWS::S3::Bucket", "Properties": {"VersioningConfiguration": {"Status": "Enabled"}}},
        "Named": {
            "Type": "AWS::S3::Bucket",
            "Properties": {"BucketName": {"Fn::Sub": "named-${AWS::AccountId}-${AWS::Region}"}},
        },
        "Registry": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
        "Topic": {"Type": "AWS::SNS::Topic"},
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"Path": "/service/"}},
        "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"FunctionName": "plan-attempt"}},
        "Flow": {"Type": "AWS::StepFunctions::StateMachine"},
        "ProdOnly": {"Type": "AWS::SNS::Topic", "Condition": "IsProd"},
        "Custom": {"Type": "Custom::Thing"},
    },
}


@pytest.fixture
def template() -> CfnTemplate:
    return CfnTemplate(TEMPLATE, CloudEnv(stack_name="Lifecycle"))


def test_pseudo_parameters(template: CfnTemplate) -> None:
    resolved = template.resolve(
        {
            "Fn::Join": [
                ":",
                [
                    {"Ref": p}
                    for p in (
                        "AWS::Partition",
                        "AWS::Region",
                        "AWS::AccountId",
                        "AWS::URLSuffix",
                        "AWS::StackName",
                    )
                ],
            ]
        }
    )
    assert resolved == "aws:us-east-1:123456789012:amazonaws.com:Lifecycle"
    assert template.resolve({"Ref": "AWS::StackId"}).startswith(
        "arn:aws:cloudformation:us-east-1:123456789012:stack/Lifecycle/"
    )


def test_ref_gives_each_type_what_cloudformation_gives(template: CfnTemplate) -> None:
    bucket = template.resolve({"Ref": "Data"})
    assert bucket == generated_name("Lifecycle", "Data", max_length=63, lowercase=True, with_stack=True)
    assert bucket.startswith("lifecycle-data-") and bucket == bucket.lower()
    assert template.resolve({"Ref": "Named"}) == "named-123456789012-us-east-1"
    assert template.resolve({"Ref": "Registry"}).startswith("Lifecycle-Registry-")
    assert template.resolve({"Ref": "Topic"}).startswith(
        "arn:aws:sns:us-east-1:123456789012:Lifecycle-Topic-"
    )
    assert template.resolve({"Ref": "Fn"}) == "plan-attempt"
    assert template.resolve({"Ref": "Flow"}).startswith(
        "arn:aws:states:us-east-1:123456789012:stateMachine:Flow-"
    )
    assert template.resolve({"Ref": "Stage"}) == "dev"
    # Names are stable across runs: the "random" suffix is a hash of stack and logical id.
    assert CfnTemplate(TEMPLATE, CloudEnv(stack_name="Lifecycle")).resolve({"Ref": "Data"}) == bucket


def test_get_att_both_forms(template: CfnTemplate) -> None:
    table = template.resolve({"Ref": "Registry"})
    assert (
        template.resolve({"Fn::GetAtt": ["Registry", "Arn"]})
        == f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}"
    )
    assert (
        template.resolve({"Fn::GetAtt": "Fn.Arn"})
        == "arn:aws:lambda:us-east-1:123456789012:function:plan-attempt"
    )
    role = template.resolve({"Ref": "Role"})
    assert (
        template.resolve({"Fn::GetAtt": ["Role", "Arn"]}) == f"arn:aws:iam::123456789012:role/service/{role}"
    )
    assert template.resolve({"Fn::GetAtt": ["Topic", "TopicName"]}).startswith("Lifecycle-Topic-")


def test_join_split_select(template: CfnTemplate) -> None:
    arn = {"Ref": "Flow"}
    assert template.resolve({"Fn::Select": [6, {"Fn::Split": [":", arn]}]}) == template.physical("Flow").name
    assert template.resolve({"Fn::Select": ["1", ["a", "b"]]}) == "b"
    assert (
        template.resolve({"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::x"]]})
        == "arn:aws:s3:::x"
    )


def test_sub_string_and_list_forms(template: CfnTemplate) -> None:
    assert (
        template.resolve({"Fn::Sub": "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}"})
        == "cdk-hnb659fds-assets-123456789012-us-east-1"
    )
    assert (
        template.resolve({"Fn::Sub": "${Fn.Arn}|${Stage}|${!Literal}"})
        == "arn:aws:lambda:us-east-1:123456789012:function:plan-attempt|dev|${Literal}"
    )
    assert (
        template.resolve({"Fn::Sub": ["${Name}-${AWS::Region}", {"Name": {"Ref": "Fn"}}]})
        == "plan-attempt-us-east-1"
    )


def test_find_in_map_if_and_conditions(template: CfnTemplate) -> None:
    assert template.resolve({"Fn::FindInMap": ["Sizes", {"Ref": "Stage"}, "Instance"]}) == "ml.m5.large"
    assert (
        template.resolve({"Fn::FindInMap": ["Sizes", "test", "Instance", {"DefaultValue": "ml.t3"}]})
        == "ml.t3"
    )
    assert template.resolve({"Fn::If": ["IsProd", "big", "small"]}) == "small"
    assert template.condition("IsDev") and template.condition("Both")
    assert template.resolve({"A": {"Fn::If": ["IsProd", 1, {"Ref": "AWS::NoValue"}]}, "B": 2}) == {"B": 2}
    assert template.resolve({"Ref": "AWS::NoValue"}) is NO_VALUE
    assert "ProdOnly" not in template.resources_of_type("AWS::SNS::Topic")


def test_parameters_can_be_overridden() -> None:
    prod = CfnTemplate(TEMPLATE, CloudEnv(stack_name="S"), parameters={"Stage": "prod"})
    assert prod.resolve({"Fn::If": ["IsProd", "big", "small"]}) == "big"
    assert prod.resources_of_type("AWS::SNS::Topic") == ["Topic", "ProdOnly"]


def test_other_intrinsics(template: CfnTemplate) -> None:
    assert template.resolve({"Fn::Base64": "hi"}) == "aGk="
    assert template.resolve({"Fn::GetAZs": ""}) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert template.resolve({"Fn::Length": [1, 2, 3]}) == 3
    assert json.loads(template.resolve({"Fn::ToJsonString": {"k": {"Ref": "Stage"}}})) == {"k": "dev"}


def test_unknown_intrinsic_names_the_resource_and_path() -> None:
    broken = {
        "Resources": {
            "Flow": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {"DefinitionString": {"Fn::Join": ["", ["x", {"Fn::ImportValue": "Shared"}]]}},
            }
        }
    }
    template = CfnTemplate(broken, CloudEnv(stack_name="S"))
    with pytest.raises(TemplateError) as error:
        template.properties("Flow")
    message = str(error.value)
    assert "resource Flow" in message and "Fn::ImportValue" in message
    assert "Resources.Flow.Properties.DefinitionString.Fn::Join[1][1].Fn::ImportValue" in message


def test_unknown_attribute_and_name_errors(template: CfnTemplate) -> None:
    with pytest.raises(TemplateError, match="attribute 'Nope' of AWS::S3::Bucket"):
        template.resolve({"Fn::GetAtt": ["Data", "Nope"]}, "Outputs.X.Value")
    with pytest.raises(TemplateError, match="Ref to unknown name 'Ghost'"):
        template.resolve({"Ref": "Ghost"})
    with pytest.raises(TemplateError, match="no such entry"):
        template.resolve({"Fn::FindInMap": ["Sizes", "nope", "Instance"]})


def test_cdk_out_with_manifest_and_assets(tmp_path: Path) -> None:
    (tmp_path / "asset.abc").mkdir()
    (tmp_path / "asset.abc" / "handler.py").write_text("def handler(e, c): return e\n")
    (tmp_path / "asset.def.tar.gz").write_bytes(b"\x1f\x8b")
    (tmp_path / "Stack.template.json").write_text(
        json.dumps(
            {
                "Resources": {},
                "Outputs": {
                    "Bucket": {"Value": {"Fn::Sub": "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}"}}
                },
            }
        )
    )
    destination = {"bucketName": "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}"}
    (tmp_path / "Stack.assets.json").write_text(
        json.dumps(
            {
                "files": {
                    "abc": {
                        "source": {"path": "asset.abc", "packaging": "zip"},
                        "destinations": {"d": {**destination, "objectKey": "abc.zip"}},
                    },
                    "def": {
                        "source": {"path": "asset.def.tar.gz", "packaging": "file"},
                        "destinations": {"d": {**destination, "objectKey": "def.gz"}},
                    },
                }
            }
        )
    )
    (tmp_path / "manifest.json").write_text(
        json.dumps(
            {
                "artifacts": {
                    "Stack.assets": {
                        "type": "cdk:asset-manifest",
                        "properties": {"file": "Stack.assets.json"},
                    },
                    "Stack": {
                        "type": "aws:cloudformation:stack",
                        "dependencies": ["Stack.assets"],
                        "properties": {"templateFile": "Stack.template.json", "stackName": "ModelLifecycle"},
                    },
                }
            }
        )
    )

    template = CfnTemplate.from_cdk_out(tmp_path, "ModelLifecycle")
    assert template.env.stack_name == "ModelLifecycle"
    bucket = "cdk-hnb659fds-assets-123456789012-us-east-1"
    assert template.outputs() == {"Bucket": bucket}
    code = template.asset_for(bucket, "abc.zip")
    assert code is not None and code.is_directory and code.source == tmp_path / "asset.abc"
    archive = template.asset_for(bucket, "def.gz")
    assert archive is not None and not archive.is_directory and archive.packaging == "file"
    with pytest.raises(TemplateError, match="no stack 'Other'"):
        CfnTemplate.from_cdk_out(tmp_path, "Other")
