"""S3 transfers the way SageMaker's data plane does them, for the local SageMaker.

SageMaker copies an ``S3Prefix`` to a local folder keeping each object's key relative to
the prefix's "folder" (the part up to its last ``/``), and uploads folders back object by
object. Everything here goes through the boto3 S3 client the caller hands in (moto's
in-process or server-mode S3 in local mode).
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError

# What a refused or failed S3 request raises through boto3 (uploads wrap the ClientError).
S3_ERRORS = (ClientError, S3UploadFailedError)


class S3TransferError(Exception):
    """An S3 request of a transfer failed (e.g. AccessDenied for the job's role).

    ``operation`` is the S3 API call (``ListObjectsV2``, ``GetObject``, ``PutObject``), ``uri``
    what was being listed, read or written; ``code``/``message`` S3's error.
    """

    def __init__(self, operation: str, uri: str, error: BaseException) -> None:
        cause = error if isinstance(error, ClientError) else error.__context__
        if isinstance(cause, ClientError):
            details = cause.response.get("Error", {})
            self.code = str(details.get("Code", "Unknown"))
            self.message = str(details.get("Message", "")) or str(cause)
            self.status = int(cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            operation = cause.operation_name or operation
        else:
            self.code, self.message, self.status = type(error).__name__, str(error), 0
        self.operation = operation
        self.uri = uri
        super().__init__(f"{operation} failed for {uri}: {self.code}: {self.message}")

    @property
    def detail(self) -> str:
        """``(AccessDenied: <message>)``, as the training data plane reports S3 errors."""
        return f"({self.code}: {self.message})"

    @property
    def sdk_detail(self) -> str:
        """The AWS SDK for Java's form, which the processing data plane reports."""
        status = f"Status Code: {self.status}; " if self.status else ""
        return f"{self.message} (Service: Amazon S3; {status}Error Code: {self.code})"


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> S3Uri:
        if not uri.startswith("s3://"):
            raise ValueError(f"not an S3 URI: {uri!r}")
        bucket, _, key = uri[len("s3://") :].partition("/")
        if not bucket:
            raise ValueError(f"S3 URI without a bucket: {uri!r}")
        return cls(bucket, key)

    def join(self, *parts: str) -> S3Uri:
        key = self.key.rstrip("/")
        for part in parts:
            key = f"{key}/{part.strip('/')}" if key else part.strip("/")
        return S3Uri(self.bucket, key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class S3Object:
    key: str
    size: int
    etag: str


def list_objects(s3: Any, uri: S3Uri) -> list[S3Object]:
    """Every object whose key starts with ``uri.key``, sorted by key (S3's own listing order)."""
    objects: list[S3Object] = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=uri.bucket, Prefix=uri.key):
            for item in page.get("Contents", []):
                if not item["Key"].endswith("/"):  # "folder" placeholder objects carry no data
                    objects.append(S3Object(item["Key"], int(item["Size"]), str(item.get("ETag", ""))))
    except S3_ERRORS as error:
        raise S3TransferError("ListObjectsV2", str(uri), error) from error
    return sorted(objects, key=lambda o: o.key)


def relative_key(prefix: str, key: str) -> str:
    """``key`` relative to the folder part of ``prefix``: ``data/train`` + ``data/train/a`` → ``train/a``."""
    folder = prefix[: prefix.rfind("/") + 1]
    return key[len(folder) :]


def safe_local_path(root: Path, relative: str) -> Path:
    """``root/relative``, refusing keys that would escape ``root`` (``..``, absolute keys)."""
    target = (root / relative).resolve()
    if not target.is_relative_to(root.resolve()):
        raise ValueError(f"S3 key {relative!r} escapes {root}")
    return target


def download_objects(s3: Any, bucket: str, prefix: str, objects: list[S3Object], dest: Path) -> list[Path]:
    paths = []
    for obj in objects:
        target = safe_local_path(dest, relative_key(prefix, obj.key))
        target.parent.mkdir(parents=True, exist_ok=True)
        download_file(s3, S3Uri(bucket, obj.key), target)
        paths.append(target)
    return paths


def download_file(s3: Any, uri: S3Uri, target: Path) -> None:
    try:
        s3.download_file(uri.bucket, uri.key, str(target))
    except S3_ERRORS as error:
        raise S3TransferError("GetObject", str(uri), error) from error


def upload_file(s3: Any, path: Path, uri: S3Uri) -> None:
    try:
        s3.upload_file(str(path), uri.bucket, uri.key)
    except S3_ERRORS as error:
        raise S3TransferError("PutObject", str(uri), error) from error


def download_prefix(s3: Any, uri: S3Uri, dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    return download_objects(s3, uri.bucket, uri.key, list_objects(s3, uri), dest)


def iter_files(folder: Path) -> Iterator[Path]:
    return (path for path in sorted(folder.rglob("*")) if path.is_file())


def upload_folder(s3: Any, folder: Path, uri: S3Uri) -> list[str]:
    """Upload every file under ``folder`` to ``uri``/<relative path>; returns the S3 URIs written."""
    written = []
    for path in iter_files(folder):
        target = uri.join(path.relative_to(folder).as_posix())
        upload_file(s3, path, target)
        written.append(str(target))
    return written


def tar_folder(folder: Path, archive: Path) -> Path:
    """``tar -czf archive -C folder .``: members relative to ``folder`` (SageMaker's model.tar.gz layout)."""
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
    return archive


def extract_tar(archive: Path, dest: Path) -> None:
    """Extract a (gzipped) tarball; compression sniffed, not taken from the name (CDK may upload ``.gz``)."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:*") as tar:
        tar.extractall(dest, filter="data")
