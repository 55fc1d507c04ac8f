"""Parsing and normalising ``s3://bucket/key`` URIs (standard library only)."""

from __future__ import annotations

import re
from typing import Final

S3_SCHEME: Final = "s3://"
# S3's bucket naming rules (lower case, digits, dots, hyphens; 3..63 characters).
_BUCKET_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_MAX_KEY_BYTES: Final = 1024


class S3UriError(ValueError):
    """A string is not a usable S3 URI; the message says what was expected."""


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/key`` -> ``("bucket", "some/key")``; the key may be empty."""
    if not uri.startswith(S3_SCHEME):
        raise S3UriError("an s3://bucket/prefix/ URI (it must start with s3://)")
    bucket, _, key = uri[len(S3_SCHEME) :].partition("/")
    if not _BUCKET_NAME.match(bucket):
        raise S3UriError("an s3://bucket/prefix/ URI with a valid bucket name (3-63 of a-z 0-9 . -)")
    if any(char.isspace() or not char.isprintable() for char in key):
        raise S3UriError("an s3:// URI without spaces or control characters")
    if len(key.encode()) > _MAX_KEY_BYTES:
        raise S3UriError(f"an s3:// URI whose key is at most {_MAX_KEY_BYTES} bytes")
    return bucket, key


def s3_prefix(uri: str) -> str:
    """Normalise a URI naming a folder-like prefix so that it ends in ``/``.

    The trailing slash matters: listing ``.../job-a1`` would also match
    ``.../job-a10``. The prefix must not be the bucket root and must not contain
    empty segments (``a//b``), which are legal keys but almost always a typo.
    """
    bucket, key = split_s3_uri(uri)
    key = key if key.endswith("/") else key + "/"
    if key == "/":
        raise S3UriError("an s3://bucket/prefix/ URI with a prefix below the bucket root")
    if key.startswith("/") or "//" in key:
        raise S3UriError("an s3://bucket/prefix/ URI without empty path segments ('//')")
    return f"{S3_SCHEME}{bucket}/{key}"
