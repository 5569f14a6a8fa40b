"""Issue 15 rows 13 and 14: the local endpoint speaks HTTP/1.1 properly and bounds its resources.

Raw sockets on loopback against the real server (``rekognito.server.LocalEndpoint``) serving
the real protocol code; before the change (``http.server``) a chunked body was ignored and its
chunks parsed as a second request answered with an HTML page, and every idle socket held a
thread forever.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from rekognito.api.protocol import handle_event
from rekognito.server import LocalEndpoint, ServerLimits
from rekognito.services import Services
from tests.support.endpoint import rekognition_client

# Long enough that all 420 sockets are accepted before the first idle one times out, even on a
# loaded 2-core machine (accepting them took over 1.5 s at load 7).
IDLE_S = 4.0
REQUEST_S = 4.0


@pytest.fixture
def short_timeouts(services: Services) -> Iterator[LocalEndpoint]:
    limits = ServerLimits(idle_timeout=IDLE_S, request_timeout=REQUEST_S, connections=1000)
    endpoint = LocalEndpoint("127.0.0.1", 0, lambda e, c: handle_event(e, c, services), limits=limits)
    with endpoint:
        yield endpoint


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response (Content-Length framed) from ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a full response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value for name, _, value in (line.partition(": ") for line in lines)}
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return int(status_line.split()[1]), headers, body[:length]


def request(target: str, body_lines: bytes, extra: str = "") -> bytes:
    return (
        f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: RekognitionService.{target}\r\n"
        f"Content-Type: application/x-amz-json-1.1\r\n{extra}\r\n"
    ).encode() + body_lines


def test_a_chunked_body_is_read_and_the_connection_stays_usable(endpoint: Any) -> None:
    with socket.create_connection(("127.0.0.1", endpoint.port), timeout=10) as sock:
        # When CreateCollection arrives with its JSON body in two chunks
        body = b'{"CollectionId":"chunked"}'
        chunks = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (10, body[:10], len(body) - 10, body[10:])
        sock.sendall(request("CreateCollection", chunks, "Transfer-Encoding: chunked\r\n"))
        status, headers, payload = read_response(sock)
        # Then the body was read: the collection is created
        assert status == 200, payload
        assert headers["content-type"] == "application/x-amz-json-1.1"
        assert json.loads(payload)["StatusCode"] == 200
        # And the same connection serves the next request (no chunk bytes parsed as a request)
        sock.sendall(request("ListCollections", b"{}", "Content-Length: 2\r\n"))
        status, _, payload = read_response(sock)
        assert status == 200
        assert json.loads(payload)["CollectionIds"] == ["chunked"]


def test_malformed_http_gets_a_rekognition_style_json_error(endpoint: Any) -> None:
    with socket.create_connection(("127.0.0.1", endpoint.port), timeout=10) as sock:
        sock.sendall(request("ListCollections", b"{}", "Content-Length: two\r\n"))
        status, headers, payload = read_response(sock)
    assert status == 400
    assert headers["x-amzn-errortype"] == "SerializationException"
    assert json.loads(payload)["__type"] == "SerializationException"
    with socket.create_connection(("127.0.0.1", endpoint.port), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        status, headers, payload = read_response(sock)
    assert status == 400
    assert json.loads(payload)["__type"] == "SerializationException"


def test_a_body_over_the_limit_is_refused_before_it_is_read(endpoint: Any) -> None:
    with socket.create_connection(("127.0.0.1", endpoint.port), timeout=10) as sock:
        sock.sendall(request("ListCollections", b"", f"Content-Length: {64 * 1024 * 1024}\r\n"))
        status, _, payload = read_response(sock)
    assert status == 413
    assert json.loads(payload)["__type"] == "SerializationException"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "HEAD"])
def test_other_methods_are_not_routed_to_the_api(endpoint: Any, method: str) -> None:
    with socket.create_connection(("127.0.0.1", endpoint.port), timeout=10) as sock:
        sock.sendall(f"{method} / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())
        data = sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 405 ")
    assert b"allow: post" in data.lower()


def test_idle_and_slow_sockets_hold_no_thread_and_are_closed(short_timeouts: LocalEndpoint) -> None:
    port = short_timeouts.port
    threads_before = threading.active_count()
    # Given 400 connections that send nothing, and 20 that dribble a header byte at a time
    idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(400)]
    slow = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(20)]
    try:
        for sock in slow:
            sock.sendall(b"POST / HTTP/1.1\r\n")
        deadline = time.monotonic() + 2 * IDLE_S
        while short_timeouts.open_connections() < 420 and time.monotonic() < deadline:
            time.sleep(0.05)
        # Then no thread was started for them
        assert short_timeouts.open_connections() == 420
        assert threading.active_count() <= threads_before + 1
        # And a real client is still served meanwhile
        client = rekognition_client(short_timeouts.url)
        assert client.list_collections()["CollectionIds"] == []
        # And the slow senders are cut off once their request takes longer than the limit,
        # although they keep sending
        started = time.monotonic()
        cut_off: set[int] = set()
        while len(cut_off) < len(slow) and time.monotonic() - started < 4 * REQUEST_S:
            for n, sock in enumerate(slow):
                if n not in cut_off:
                    try:
                        sock.sendall(b"X-Slow: 1\r\n")
                    except OSError:
                        cut_off.add(n)
            time.sleep(0.1)
        assert len(cut_off) == len(slow)
        # And the idle ones are closed by the server (EOF) after the idle timeout
        for sock in idle:
            sock.settimeout(4 * IDLE_S)
            assert sock.recv(1) == b""
        assert short_timeouts.open_connections() <= 1
    finally:
        for sock in idle + slow:
            sock.close()
