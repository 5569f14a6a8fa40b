"""Reading drop-folder objects from S3 (or the local S3 of ``rekognito serve``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from rekognito.api._generated import ImageTooLargeException

_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchVersion"}


@dataclass(frozen=True)
class CurrentObject:
    data: bytes
    version_id: str | None
    etag: str


def _missing(exc: ClientError) -> bool:
    """The key has no current object (not: the bucket is missing, access is denied)."""
    return str(exc.response.get("Error", {}).get("Code", "")) in _MISSING


class DropBucket:
    """The two reads ingestion needs; any other S3 error propagates (a transient failure)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def current(self, bucket: str, key: str, max_bytes: int) -> CurrentObject | None:
        """The key's current content, or None when the key has no current object."""
        try:
            response = self._client.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        body = response["Body"]
        try:
            length = int(response.get("ContentLength") or 0)
            if length > max_bytes:
                raise ImageTooLargeException(f"S3 object is {length} bytes; the limit is {max_bytes} bytes")
            data: bytes = body.read(max_bytes + 1)
        finally:
            body.close()
        if len(data) > max_bytes:
            raise ImageTooLargeException(f"S3 object exceeds the limit of {max_bytes} bytes")
        return CurrentObject(
            data=data,
            version_id=response.get("VersionId") or None,
            etag=str(response.get("ETag", "")).strip('"'),
        )

    def exists(self, bucket: str, key: str) -> bool:
        try:
            self._client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                return False
            raise
        return True
