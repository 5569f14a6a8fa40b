"""More concurrent requests than ``max_inflight_requests``: the excess is throttled, retries succeed."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from rekognito.inference.pipeline import FaceAnalyzer
from rekognito.services import Services
from rekognito.settings import Settings
from tests.integration.test_face_api import raw_post
from tests.support.endpoint import running_endpoint
from tests.support.workload import retrying_client

pytestmark = pytest.mark.slow
LIMIT = 2
HOLD_S = 1.0


class SlowAnalyzer:
    """The real analyzer, but every call holds its request slot for ``HOLD_S`` first."""

    def __init__(self, inner: FaceAnalyzer) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._inner, name)
        if not callable(found):
            return found

        def slow(*args: Any, **kwargs: Any) -> Any:
            time.sleep(HOLD_S)
            return found(*args, **kwargs)

        return slow


@pytest.fixture
def slow_endpoint(tmp_path: Path, face_analyzer: FaceAnalyzer) -> Iterator[Any]:
    settings = Settings(
        data_dir=tmp_path / "data", auth_mode="none", max_inflight_requests=LIMIT, audit_enabled=False
    )
    services = Services(settings, face_analyzer=SlowAnalyzer(face_analyzer))  # type: ignore[arg-type]
    with running_endpoint(services) as endpoint:
        yield endpoint
    services.close()


def test_excess_concurrent_requests_are_throttled(slow_endpoint: Any, photo: Any) -> None:
    # Given more simultaneous DetectFaces than the server admits at once
    import base64

    body = json.dumps({"Image": {"Bytes": base64.b64encode(photo("obama.jpg")).decode()}}).encode()
    start = threading.Barrier(3 * LIMIT)

    def call(_: int) -> tuple[int, dict[str, Any]]:
        start.wait()
        status, _headers, payload = raw_post(slow_endpoint.url, "DetectFaces", body)
        return status, payload

    # When they all arrive together
    with ThreadPoolExecutor(3 * LIMIT) as pool:
        answers = list(pool.map(call, range(3 * LIMIT)))

    # Then at most LIMIT run and the others get ThrottlingException (HTTP 400)
    ok = [a for a in answers if a[0] == 200]
    throttled = [a for a in answers if a[0] == 400 and a[1]["__type"] == "ThrottlingException"]
    assert 1 <= len(ok) <= LIMIT + 1, answers
    assert len(ok) + len(throttled) == len(answers), answers
    assert len(throttled) >= LIMIT


def test_boto3_retries_until_every_request_succeeds(slow_endpoint: Any, photo: Any) -> None:
    image = photo("obama.jpg")
    start = threading.Barrier(3 * LIMIT)

    def call(_: int) -> int:
        client = retrying_client(slow_endpoint.url, max_attempts=20)
        start.wait()
        response = client.detect_faces(Image={"Bytes": image})
        assert len(response["FaceDetails"]) == 1
        return int(response["ResponseMetadata"]["RetryAttempts"])

    with ThreadPoolExecutor(3 * LIMIT) as pool:
        retries = list(pool.map(call, range(3 * LIMIT)))
    assert sum(retries) >= 1, retries
