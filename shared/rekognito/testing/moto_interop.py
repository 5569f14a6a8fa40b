"""Living with moto's ``mock_aws``: whether it is on, and S3 reads that it answers when it is."""

from __future__ import annotations

import sys
import threading
from typing import Any


def _moto_active() -> bool:
    """Whether moto's ``mock_aws`` is on (without importing moto)."""
    models = sys.modules.get("moto.core.models")
    stubber = getattr(models, "botocore_stubber", None)
    return bool(getattr(stubber, "enabled", False))


class _S3Reader:
    """Reads ``S3Object`` images with a plain boto3 S3 client, chosen at each read.

    Under moto's ``mock_aws`` it uses the default endpoint (no override, configured
    endpoint URLs ignored) so that moto answers; otherwise ``endpoint_url`` if given.
    """

    def __init__(self, region: str, endpoint_url: str | None) -> None:
        self._region = region
        self._endpoint_url = endpoint_url
        self._lock = threading.Lock()
        self._clients: dict[tuple[int, bool], tuple[Any, Any]] = {}

    def _client(self) -> Any:
        import boto3
        from botocore.config import Config

        mocked = _moto_active()
        with self._lock:
            if boto3.DEFAULT_SESSION is None:
                boto3.setup_default_session()
            session = boto3.DEFAULT_SESSION
            key = (id(session), mocked)
            cached = self._clients.get(key)
            if cached is not None and cached[0] is session:
                return cached[1]
            config = Config(
                retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30
            )
            if mocked:
                config = config.merge(Config(ignore_configured_endpoint_urls=True))
            client = session.client(
                "s3",
                region_name=self._region,
                endpoint_url=None if mocked else self._endpoint_url,
                config=config,
            )
            self._clients[key] = (session, client)
            return client

    def read_object(self, bucket: str, key: str, version: str | None, max_bytes: int) -> bytes:
        from rekognito.adapters.s3 import S3ObjectReader

        return S3ObjectReader(self._client()).read_object(bucket, key, version, max_bytes)


class _S3VideoSource:
    """The stored-video worker's S3 reads, through the client :class:`_S3Reader` picks, so that
    videos put into moto's ``mock_aws`` S3 are read from there too."""

    def __init__(self, reader: _S3Reader) -> None:
        self._reader = reader

    def _source(self) -> Any:
        from rekognito.video.source import S3VideoSource

        return S3VideoSource(self._reader._client())

    def size(self, bucket: str, key: str, version: str | None, max_bytes: int) -> int:
        size: int = self._source().size(bucket, key, version, max_bytes)
        return size

    def download(self, bucket: str, key: str, version: str | None, dest: Any, max_bytes: int) -> int:
        written: int = self._source().download(bucket, key, version, dest, max_bytes)
        return written
