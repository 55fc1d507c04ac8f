"""Code shipped to SageMaker and Lambda, bundled locally (no Docker) and deterministically."""

from __future__ import annotations

import gzip
import io
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, BundlingOutput, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

REPO_ROOT = Path(__file__).resolve().parents[1]
TRAINING_CODE_DIR = REPO_ROOT / "training_code"
LAMBDA_CODE_DIR = REPO_ROOT / "lambdas"
# What the training code and the infrastructure share: one package at the repository root, shipped
# as a folder of that name at the root of both the training archive and the Lambda asset, so
# `import contract` resolves the same way in the container, in the Lambda and from the checkout.
SHARED_PACKAGES = (REPO_ROOT / "contract",)
ARCHIVE_NAME = "sourcedir.tar.gz"
_SKIPPED = {"__pycache__", ".pytest_cache", ".mypy_cache"}


def source_files(directory: Path) -> Iterator[Path]:
    """Files to ship, in a stable order, without caches."""
    for path in sorted(directory.rglob("*")):
        cached = _SKIPPED.intersection(path.relative_to(directory).parts) or path.suffix in {".pyc", ".pyo"}
        if path.is_file() and not cached:
            yield path


def package_files(packages: tuple[Path, ...]) -> Iterator[tuple[Path, Path]]:
    """(source, path in the bundle): each package as a folder of its name at the bundle's root."""
    for package in packages:
        for path in source_files(package):
            yield path, Path(package.name) / path.relative_to(package)


def shipped_files(directory: Path, packages: tuple[Path, ...] = ()) -> Iterator[tuple[Path, Path]]:
    """(source, path in the bundle): `directory`'s files at the root, then `packages` as folders."""
    for path in source_files(directory):
        yield path, path.relative_to(directory)
    yield from package_files(packages)


def write_source_archive(directory: Path, archive: Path, packages: tuple[Path, ...] = ()) -> None:
    """A gzipped tarball that is byte-identical for identical sources (fixed mtimes, owners, order)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, name in shipped_files(directory, packages):
            info = tarfile.TarInfo(name.as_posix())
            data = path.read_bytes()
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    with archive.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(buffer.getvalue())


@jsii.implements(ILocalBundling)
class _TarGzBundling:
    def __init__(self, source: Path, packages: tuple[Path, ...]) -> None:
        self._source = source
        self._packages = packages

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: object) -> bool:
        write_source_archive(self._source, Path(output_dir) / ARCHIVE_NAME, self._packages)
        return True


@jsii.implements(ILocalBundling)
class _LambdaBundling:
    def __init__(self, packages: tuple[Path, ...]) -> None:
        self._packages = packages

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: object) -> bool:
        output = Path(output_dir)
        for path, name in package_files(self._packages):
            target = output / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        return True


def _local_only(local: ILocalBundling, output_type: BundlingOutput) -> BundlingOptions:
    # The image is never pulled: local bundling always succeeds, so CDK never needs Docker.
    return BundlingOptions(image=DockerImage.from_registry("none"), local=local, output_type=output_type)


class TrainingCodeAsset(Construct):
    """`training_code/` plus `contract/`: the tar.gz script mode wants as `sagemaker_submit_directory`."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.asset = s3_assets.Asset(
            self,
            "Archive",
            path=str(TRAINING_CODE_DIR),
            asset_hash_type=AssetHashType.OUTPUT,
            bundling=_local_only(_TarGzBundling(TRAINING_CODE_DIR, SHARED_PACKAGES), BundlingOutput.ARCHIVED),
        )
        self.s3_uri = self.asset.s3_object_url
        # The version recorded in the registry: changes exactly when the shipped code does.
        self.code_version = self.asset.asset_hash


def lambda_code() -> lambda_.Code:
    """The `lambdas` and `contract` packages, as folders of one Lambda asset.

    Handlers are `lambdas.<module>.handler`: one import name, in the Lambda and in the checkout.
    """
    return lambda_.Code.from_asset(
        str(LAMBDA_CODE_DIR),
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=_local_only(
            _LambdaBundling((LAMBDA_CODE_DIR, *SHARED_PACKAGES)), BundlingOutput.NOT_ARCHIVED
        ),
    )
