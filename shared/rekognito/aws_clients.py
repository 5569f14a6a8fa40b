"""The boto3 clients rekognito builds from its settings, configured in one place."""

from __future__ import annotations

from typing import Any

from rekognito.settings import Settings

S3_RETRIES = {"max_attempts": 3, "mode": "standard"}
S3_CONNECT_TIMEOUT_S = 5


def s3_client(settings: Settings, *, read_timeout: float = 30) -> Any:
    """An S3 client for AWS or the configured S3 endpoint (``REKOGNITO_S3_ENDPOINT_URL``)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        region_name=settings.region,
        endpoint_url=settings.s3_endpoint_url,
        config=Config(retries=S3_RETRIES, connect_timeout=S3_CONNECT_TIMEOUT_S, read_timeout=read_timeout),
    )
