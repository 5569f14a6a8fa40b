"""Local S3 + SQS for the drop folder (placeholder until issue 3's local mode lands)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rekognito.services import Services


def start_local_aws(services: Services, *, host: str, port: int, say: Callable[[str], None]) -> Any:
    return None
