"""The video object: checked when a job starts, downloaded by the worker that runs it.

Videos are streamed to a private file under ``<data_dir>/video/tmp`` (0600; Lambda:
``/tmp``) rather than read into memory: Rekognition accepts objects up to 10 GB. The S3
client is the one the photo operations use (real S3, or the local S3 of ``rekognito
serve``, installed by the serve command as the ``video_source`` component).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from rekognito.api._generated import InvalidS3ObjectException, VideoTooLargeException
from rekognito.aws_clients import s3_client
from rekognito.settings import Settings

CHUNK_BYTES = 1024 * 1024


def _invalid(exc: Exception) -> InvalidS3ObjectException:
    code = (
        exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else type(exc).__name__
    )
    return InvalidS3ObjectException(
        f"Unable to get object metadata from S3. Check object key, region and/or access permissions. ({code})"
    )


def _args(bucket: str, key: str, version: str | None) -> dict[str, Any]:
    args: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version:
        args["VersionId"] = version
    return args


class S3VideoSource:
    def __init__(self, client: Any) -> None:
        self._client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> S3VideoSource:
        return cls(s3_client(settings, read_timeout=60))

    def size(self, bucket: str, key: str, version: str | None, max_bytes: int) -> int:
        """The object's size; InvalidS3ObjectException if unreadable, VideoTooLarge if over."""
        try:
            head = self._client.head_object(**_args(bucket, key, version))
        except (ClientError, BotoCoreError) as exc:
            raise _invalid(exc) from exc
        size = int(head.get("ContentLength") or 0)
        if size > max_bytes:
            raise VideoTooLargeException(
                f"The video is {size} bytes; the maximum file size is {max_bytes} bytes"
            )
        return size

    def download(self, bucket: str, key: str, version: str | None, dest: Path, max_bytes: int) -> int:
        """Stream the object into ``dest`` (created 0600); returns its size."""
        dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            response = self._client.get_object(**_args(bucket, key, version))
        except (ClientError, BotoCoreError) as exc:
            raise _invalid(exc) from exc
        written = 0
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in response["Body"].iter_chunks(CHUNK_BYTES):
                    written += len(chunk)
                    if written > max_bytes:
                        raise VideoTooLargeException(
                            f"The video exceeds the maximum file size of {max_bytes} bytes"
                        )
                    handle.write(chunk)
        except (ClientError, BotoCoreError) as exc:
            dest.unlink(missing_ok=True)
            raise _invalid(exc) from exc
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
        finally:
            response["Body"].close()
        return written
