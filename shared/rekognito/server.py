"""The local endpoint: HTTP on loopback -> API Gateway REST proxy event -> the Lambda handler.

Each request becomes the same event API Gateway sends to ``functions/api/app.py``, and the
same handler code answers it, so what runs on a laptop is what runs in Lambda.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rekognito.api.protocol import MAX_BODY_BYTES, error_response, handle_event
from rekognito.errors import SerializationException

log = logging.getLogger(__name__)

EventHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def build_event(
    method: str, path: str, headers: dict[str, str], body: bytes, client_ip: str
) -> dict[str, Any]:
    """An API Gateway REST (v1) proxy event for one HTTP request."""
    try:
        text: str = body.decode("utf-8")
        is_base64 = False
    except UnicodeDecodeError:
        text = base64.b64encode(body).decode("ascii")
        is_base64 = True
    request_id = str(uuid.uuid4())
    return {
        "resource": "/",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {key: [value] for key, value in headers.items()},
        "queryStringParameters": None,
        "pathParameters": None,
        "body": text,
        "isBase64Encoded": is_base64,
        "requestContext": {
            "resourcePath": "/",
            "httpMethod": method,
            "path": path,
            "stage": "local",
            "requestId": request_id,
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": client_ip, "userAgent": headers.get("User-Agent", "")},
        },
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "rekognito"
    sys_version = ""
    # Headers and body go out in one write anyway; without Nagle nothing waits for an ACK.
    disable_nagle_algorithm = True
    event_handler: EventHandler = staticmethod(handle_event)  # type: ignore[assignment]

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, response: dict[str, Any]) -> None:
        body = response.get("body") or ""
        payload = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode("utf-8")
        status = int(response.get("statusCode", 200))
        lines = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}"]
        headers = dict(response.get("headers") or {})
        headers["Content-Length"] = str(len(payload))
        headers.setdefault("Connection", "keep-alive")
        lines += [f"{key}: {value}" for key, value in headers.items()]
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)
        self.wfile.flush()

    def _serve(self) -> None:
        length_header = self.headers.get("Content-Length")
        try:
            length = int(length_header or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            self._send(error_response(SerializationException("Request body is too large or malformed"), "-"))
            return
        body = self.rfile.read(length) if length else b""
        headers = {key: value for key, value in self.headers.items()}
        event = build_event(self.command, self.path, headers, body, self.client_address[0])
        try:
            response = type(self).event_handler(event, None)
        except Exception:  # the handler answers errors itself; this is a last resort
            log.exception("handler crashed")
            from rekognito.api._generated import InternalServerError

            response = error_response(InternalServerError("Internal server error"), "-")
        self._send(response)

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()


class LocalEndpoint:
    """A threaded HTTP server for the API on ``host:port`` (port 0 picks a free one)."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 4566, handler: EventHandler | None = None
    ) -> None:
        attributes: dict[str, Any] = {} if handler is None else {"event_handler": staticmethod(handler)}
        handler_class = type("Handler", (_Handler,), attributes)
        self._server = ThreadingHTTPServer((host, port), handler_class)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        host_text = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{host_text}:{port}"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> LocalEndpoint:
        self._thread = threading.Thread(target=self._server.serve_forever, name="rekognito-http", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LocalEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
