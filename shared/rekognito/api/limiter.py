"""The bound on concurrent API requests (``REKOGNITO_MAX_INFLIGHT_REQUESTS``)."""

from __future__ import annotations

import threading

from rekognito.api._generated import ThrottlingException


class InflightLimiter:
    """Bounds concurrent requests; past the bound, callers get ThrottlingException."""

    def __init__(self, limit: int, wait_seconds: float = 0.5) -> None:
        self._semaphore = threading.BoundedSemaphore(limit)
        self._wait = wait_seconds

    def __enter__(self) -> InflightLimiter:
        if not self._semaphore.acquire(timeout=self._wait):
            raise ThrottlingException("Rate exceeded: too many concurrent requests, retry with backoff")
        return self

    def __exit__(self, *exc: object) -> None:
        self._semaphore.release()
