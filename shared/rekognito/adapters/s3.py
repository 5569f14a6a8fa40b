"""Reads ``S3Object`` images from S3 or from the local S3 of ``rekognito serve``."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from rekognito.api._generated import ImageTooLargeException, InvalidS3ObjectException
from rekognito.aws_clients import s3_client
from rekognito.settings import Settings


class S3ObjectReader:
    def __init__(self, client: Any) -> None:
        self._client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> S3ObjectReader:
        return cls(s3_client(settings))

    def read_object(self, bucket: str, key: str, version: str | None, max_bytes: int) -> bytes:
        args: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version:
            args["VersionId"] = version
        try:
            response = self._client.get_object(**args)
            length = int(response.get("ContentLength") or 0)
            if length > max_bytes:
                response["Body"].close()
                raise ImageTooLargeException(f"S3 object is {length} bytes; the limit is {max_bytes} bytes")
            data: bytes = response["Body"].read(max_bytes + 1)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise InvalidS3ObjectException(
                "Unable to get object metadata from S3. Check object key, region and/or access permissions. "
                f"({code})"
            ) from exc
        except BotoCoreError as exc:
            raise InvalidS3ObjectException("Unable to get object from S3") from exc
        if len(data) > max_bytes:
            raise ImageTooLargeException(f"S3 object exceeds the limit of {max_bytes} bytes")
        return data
