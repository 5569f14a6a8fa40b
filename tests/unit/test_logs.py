"""Local logs have the keys Lambda's have (Powertools' formatter), with the request id as correlation id."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from rekognito.api.protocol import handle_event
from rekognito.logs import configure_logging, correlation, service_logger
from rekognito.server import build_event
from rekognito.services import Services
from rekognito.settings import Settings

LAMBDA_KEYS = {"level", "location", "message", "timestamp", "service", "name"}


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    root, service = logging.getLogger(), logging.getLogger("rekognito")
    saved = (list(root.handlers), root.level, list(service.handlers), service.level, service.propagate)
    buffer = io.StringIO()
    configure_logging("INFO", buffer)
    try:
        yield buffer
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        service_logger()  # (created by configure_logging if this test came first)
        service.handlers[:], service.level, service.propagate = (
            saved[2] or service.handlers,
            saved[3],
            saved[4],
        )


def lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_a_local_request_logs_with_its_request_id_as_correlation_id(
    log_lines: io.StringIO, tmp_path: Path
) -> None:
    services = Services(Settings(data_dir=tmp_path, auth_mode="none", audit_enabled=False))
    headers = {
        "X-Amz-Target": "RekognitionService.ListCollections",
        "Content-Type": "application/x-amz-json-1.1",
    }
    event = build_event("POST", "/", headers, b"{}", "127.0.0.1")
    assert handle_event(event, None, services)["statusCode"] == 200
    services.close()
    (request,) = [line for line in lines(log_lines) if line["message"] == "request"]
    assert set(request) >= LAMBDA_KEYS
    assert request["correlation_id"] == request["request_id"] == event["requestContext"]["requestId"]
    assert request["name"] == "rekognito.api.protocol"


def test_correlation_is_per_thread_and_ends_with_the_block(log_lines: io.StringIO) -> None:
    log = logging.getLogger("rekognito.test")
    with correlation("abc"):
        log.info("inside", extra={"k": 1})
    log.info("outside")
    logging.getLogger("waitress").warning("another library")
    inside, outside, other = lines(log_lines)
    assert (inside["correlation_id"], inside["k"]) == ("abc", 1)
    assert "correlation_id" not in outside
    assert set(other) >= LAMBDA_KEYS
