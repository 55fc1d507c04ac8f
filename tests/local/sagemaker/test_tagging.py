"""The local SageMaker's tags: given at creation, AddTags, ListTags, DeleteTags, SageMaker's limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_mode.sagemaker.local_sagemaker import SageMakerApiError
from tests.local.sagemaker.test_local_sagemaker_support import local_sagemaker, register_model


def test_tags_given_at_creation_are_listed_added_to_and_deleted(tmp_path: Path) -> None:
    with local_sagemaker(tmp_path) as (sagemaker, s3):
        register_model(sagemaker, s3, "plain")
        config = {"EndpointConfigName": "tagged", "Tags": [{"Key": "run_id", "Value": "r1"}]}
        variant = {"VariantName": "AllTraffic", "ModelName": "plain", "InstanceType": "ml.m5.large"}
        arn = sagemaker.create_endpoint_config(
            {**config, "ProductionVariants": [{**variant, "InitialInstanceCount": 1}]}
        )["EndpointConfigArn"]

        def tags() -> dict[str, str]:
            return {t["Key"]: t["Value"] for t in sagemaker.list_tags({"ResourceArn": arn})["Tags"]}

        assert tags() == {"run_id": "r1"}
        assert sagemaker.list_tags({"ResourceArn": sagemaker.arns("model", "plain")})["Tags"] == []
        sagemaker.add_tags(
            {"ResourceArn": arn, "Tags": [{"Key": "run_id", "Value": "r2"}, {"Key": "team", "Value": "ml"}]}
        )
        assert tags() == {"run_id": "r2", "team": "ml"}
        sagemaker.delete_tags({"ResourceArn": arn, "TagKeys": ["team"]})
        assert tags() == {"run_id": "r2"}
        too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
        with pytest.raises(SageMakerApiError, match="at most 50"):
            sagemaker.add_tags({"ResourceArn": arn, "Tags": too_many})
        assert tags() == {"run_id": "r2"}  # refused as a whole
