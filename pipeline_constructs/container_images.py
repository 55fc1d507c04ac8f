"""TensorFlow container images per region, from the SageMaker SDK's image registry.

The stack is environment-agnostic, so the region is only known at deploy time:
a CfnMapping holds the SDK's registry account for every region, and each image
URI is assembled in CloudFormation from that account, the region and the
repository:tag the SDK names for this framework version and processor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aws_cdk import Aws, CfnMapping, Fn
from constructs import Construct
from sagemaker.core import image_uris

ImageScope = Literal["training", "inference"]
REFERENCE_REGION = "us-east-1"


@dataclass(frozen=True)
class ImageSpec:
    """One container image: which SDK scope, version and processor."""

    scope: ImageScope
    framework_version: str
    py_version: str | None
    instance_type: str

    def repository_and_tag(self) -> str:
        """`tensorflow-training:2.21-gpu-py312`, as the SDK names it."""
        uri = image_uris.retrieve(
            "tensorflow",
            region=REFERENCE_REGION,
            version=self.framework_version,
            py_version=self.py_version,
            instance_type=self.instance_type,
            image_scope=self.scope,
        )
        return uri.split("/", 1)[1]

    def registries(self) -> dict[str, str]:
        """Region → account of the AWS Deep Learning Containers registry for this version."""
        config = image_uris.config_for_framework("tensorflow")[self.scope]
        version = config.get("version_aliases", {}).get(self.framework_version, self.framework_version)
        registries: dict[str, str] = config["versions"][version]["registries"]
        return registries


class ContainerImages(Construct):
    """Image URIs (deploy-time tokens) for training, processing and inference containers."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        training: ImageSpec,
        processing: ImageSpec,
        inference: ImageSpec,
    ) -> None:
        super().__init__(scope, construct_id)
        specs = {"training": training, "processing": processing, "inference": inference}
        registries = {name: spec.registries() for name, spec in specs.items()}
        # Only regions that host every image can run the whole pipeline.
        regions = sorted(set.intersection(*(set(r) for r in registries.values())))
        self.mapping = CfnMapping(
            self,
            "Registries",
            mapping={region: {name: registries[name][region] for name in specs} for region in regions},
        )
        self.repositories = {name: spec.repository_and_tag() for name, spec in specs.items()}
        self.training_image_uri = self._uri("training")
        self.processing_image_uri = self._uri("processing")
        self.inference_image_uri = self._uri("inference")

    def registry_account(self, name: str) -> str:
        return self.mapping.find_in_map(Aws.REGION, name)

    def repository_arn(self, name: str) -> str:
        """ARN of the ECR repository an image comes from (for least-privilege pulls)."""
        repository = self.repositories[name].split(":", 1)[0]
        return Fn.join(
            "",
            [
                "arn:",
                Aws.PARTITION,
                ":ecr:",
                Aws.REGION,
                ":",
                self.registry_account(name),
                f":repository/{repository}",
            ],
        )

    def _uri(self, name: str) -> str:
        return Fn.join(
            "",
            [
                self.registry_account(name),
                ".dkr.ecr.",
                Aws.REGION,
                ".",
                Aws.URL_SUFFIX,
                "/",
                self.repositories[name],
            ],
        )
