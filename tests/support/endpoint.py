"""A real local endpoint on loopback for tests, and boto3 clients pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config

from rekognito.api.protocol import handle_event
from rekognito.server import LocalEndpoint
from rekognito.services import Services


@contextmanager
def running_endpoint(services: Services) -> Iterator[LocalEndpoint]:
    """Serve ``services`` on 127.0.0.1 (a free port) for the duration of the block."""
    endpoint = LocalEndpoint("127.0.0.1", 0, lambda event, context: handle_event(event, context, services))
    with endpoint:
        yield endpoint


def rekognition_client(url: str, access_key: str = "test", secret_key: str = "test", **config: Any) -> Any:
    return boto3.client(
        "rekognition",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=120, **config),
    )
