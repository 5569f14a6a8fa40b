"""The local endpoint: HTTP on loopback -> API Gateway REST proxy event -> the Lambda handler.

Each request becomes the same event API Gateway sends to ``functions/api/app.py``, and the
same handler code answers it, so what runs on a laptop is what runs in Lambda.

HTTP itself is waitress's (a pure-Python WSGI server): HTTP/1.1 keep-alive, chunked request
bodies, one event loop for every socket and a bounded pool of worker threads, so an idle or
slow client holds a socket, never a thread. On top of it :class:`ThreadedWsgiServer` adds
what waitress lacks: a deadline for a request's headers and body (slow senders are cut
off, not only silent ones), Rekognition-style JSON errors for requests waitress refuses
(malformed HTTP, bodies over the limit), and a start/stop in a background thread. The
local S3 of ``rekognito serve`` (:mod:`rekognito.local_aws`) runs on the same class.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher, WSGITask

from rekognito.api.protocol import MAX_BODY_BYTES, error_response, handle_event
from rekognito.errors import RekognitionError, SerializationException, UnknownOperationException

log = logging.getLogger(__name__)

EventHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
ErrorBody = Callable[[int, str], tuple[list[tuple[str, str]], bytes]]

_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class ServerLimits:
    """The bounds of one HTTP server (seconds, counts, bytes).

    ``threads``: requests executed at once (more wait in waitress's queue; the API's own
    ``max_inflight_requests`` limiter answers ThrottlingException below this bound);
    ``connections``: open sockets, past which new connections wait in the listen backlog;
    ``idle_timeout``: a keep-alive connection without a request in progress is closed
    after this long; ``request_timeout``: a request whose headers and body have not fully
    arrived this long after its first byte is dropped (the connection is closed).
    """

    threads: int = 32
    connections: int = 256
    idle_timeout: float = 60.0
    request_timeout: float = 30.0
    max_body_bytes: int = MAX_BODY_BYTES
    max_header_bytes: int = 64 * 1024
    backlog: int = 1024


def _status_line(status: int) -> str:
    return f"{status} {_REASONS.get(status, 'Error')}"


def rekognition_error_body(status: int, message: str) -> tuple[list[tuple[str, str]], bytes]:
    """Headers and JSON body of a Rekognition-style error for an HTTP-level failure."""
    error: RekognitionError = SerializationException(message)
    if status >= 500:
        from rekognito.api._generated import InternalServerError

        error = InternalServerError("Internal server error")
    response = error_response(error, str(uuid.uuid4()))
    headers = [(str(k), str(v)) for k, v in (response.get("headers") or {}).items()]
    return headers, str(response.get("body") or "").encode("utf-8")


class _KeepHeaderCase:
    """waitress writes header names capitalised (``X-Amzn-Requestid``); keep ours as given."""

    response_headers: list[tuple[str, str]]

    def build_response_header(self) -> bytes:
        spelled = {
            "-".join(p.capitalize() for p in name.split("-")): name for name, _ in self.response_headers
        }
        head: bytes = super().build_response_header()  # type: ignore[misc]
        lines = head.split(b"\r\n")
        for n, line in enumerate(lines[1:], start=1):
            name, separator, value = line.partition(b": ")
            original = spelled.get(name.decode("latin-1")) if separator else None
            if original is not None:
                lines[n] = original.encode("latin-1") + separator + value
        return b"\r\n".join(lines)


class _Task(_KeepHeaderCase, WSGITask):  # type: ignore[misc]
    pass


class _ErrorTask(_KeepHeaderCase, ErrorTask):  # type: ignore[misc]
    """waitress's answer to a request it refused, in the body format of the served API."""

    def execute(self) -> None:
        error = self.request.error
        status = int(getattr(error, "code", 400))
        reason = str(getattr(error, "reason", "Bad Request"))
        detail = str(getattr(error, "body", "") or "").strip()
        format_error: ErrorBody = self.channel.server.error_body
        headers, body = format_error(status, f"{reason}: {detail}" if detail else reason)
        self.status = f"{status} {reason}"
        self.response_headers.extend(headers)
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class _Channel(HTTPChannel):  # type: ignore[misc]
    """One connection; remembers when the request being received started."""

    task_class = _Task
    error_task_class = _ErrorTask
    request_started: float | None = None

    def received(self, data: bytes) -> bool:
        if self.request is None and data:
            self.request_started = time.monotonic()
        accepted: bool = super().received(data)
        if self.request is None:
            self.request_started = None
        return accepted


class _Server(TcpWSGIServer):  # type: ignore[misc]
    channel_class = _Channel
    error_body: ErrorBody = staticmethod(rekognition_error_body)
    request_timeout: float = 30.0

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # idle keep-alive connections (channel_timeout)
        deadline = time.monotonic() - self.request_timeout
        for channel in list(self.active_channels.values()):
            started = getattr(channel, "request_started", None)
            if started is not None and started < deadline and not channel.requests:
                log.info("request not received in time, closing", extra={"client": channel.addr[0]})
                channel.will_close = True


class ThreadedWsgiServer:
    """A WSGI app served by waitress on ``host:port`` (port 0 picks a free one)."""

    def __init__(
        self,
        app: WsgiApp,
        host: str,
        port: int,
        *,
        limits: ServerLimits | None = None,
        error_body: ErrorBody = rekognition_error_body,
        name: str = "rekognito-http",
    ) -> None:
        limits = limits or ServerLimits()
        adjustments = Adjustments(
            host=host,
            port=port,
            threads=limits.threads,
            connection_limit=limits.connections,
            channel_timeout=max(1, round(limits.idle_timeout)),
            # How often timeouts are checked: a fraction of the shortest one.
            cleanup_interval=max(0.2, min(limits.idle_timeout, limits.request_timeout) / 4),
            max_request_body_size=limits.max_body_bytes,
            max_request_header_size=limits.max_header_bytes,
            backlog=limits.backlog,
            ident="rekognito",
            asyncore_use_poll=True,  # select() stops at 1024 descriptors
            asyncore_loop_timeout=1,
            expose_tracebacks=False,
            log_socket_errors=False,
        )
        # waitress counts channel_timeout in whole seconds; ours may be shorter (tests).
        adjustments.channel_timeout = limits.idle_timeout
        dispatcher = ThreadedTaskDispatcher()
        dispatcher.set_thread_count(limits.threads)
        self._server = _Server(app, map={}, dispatcher=dispatcher, adj=adjustments)
        self._server.error_body = error_body
        self._server.request_timeout = limits.request_timeout
        self._name = name
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    @property
    def host(self) -> str:
        return str(self._server.effective_host)

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def open_connections(self) -> int:
        """Client connections currently open (for tests and diagnostics)."""
        return len(self._server.active_channels)

    def start(self) -> ThreadedWsgiServer:
        self._thread = threading.Thread(target=self.serve_forever, name=self._name, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        try:
            self._server.run()
        finally:
            self._stopped.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every connection, end the worker threads."""
        server = self._server
        if not self._stopped.is_set() and self._thread is not None:
            # The event loop owns the socket map: close everything from inside it.
            try:
                server.trigger.pull_trigger(lambda: _close_all(server))
            except OSError:  # the wake-up pipe is gone already: close from here
                _close_all(server)
            self._stopped.wait(timeout)
        else:
            _close_all(server)
        server.task_dispatcher.shutdown(timeout=timeout)
        if self._thread is not None:
            self._thread.join(timeout=timeout)


def _close_all(server: _Server) -> None:
    for dispatcher in list(server._map.values()):
        with contextlib.suppress(OSError):
            dispatcher.close()
    server._map.clear()


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


def wsgi_headers(environ: dict[str, Any]) -> dict[str, str]:
    """The request headers of a WSGI environ, named as HTTP spells them (``X-Amz-Date``)."""
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:]
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = key
        else:
            continue
        if value == "" and key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            continue
        headers["-".join(part.capitalize() for part in name.split("_"))] = str(value)
    return headers


def read_body(environ: dict[str, Any]) -> bytes:
    """The whole request body (waitress has already received it, de-chunked)."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH") or ""
    if length.isdigit():
        return bytes(stream.read(int(length)))
    return bytes(stream.read())


def event_app(handler: EventHandler) -> WsgiApp:
    """The WSGI app of the API: ``POST`` -> proxy event -> ``handler``; other methods -> 405."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ["REQUEST_METHOD"])
        if method != "POST":
            response = error_response(
                UnknownOperationException(f"Method {method[:16]} is not allowed: the API is POST /"), "-"
            )
            response["statusCode"] = 405
            response["headers"]["Allow"] = "POST"
        else:
            path = str(environ.get("REQUEST_URI") or environ.get("PATH_INFO") or "/")
            event = build_event(
                method, path, wsgi_headers(environ), read_body(environ), str(environ.get("REMOTE_ADDR", ""))
            )
            try:
                response = handler(event, None)
            except Exception:  # the handler answers errors itself; this is a last resort
                log.exception("handler crashed")
                from rekognito.api._generated import InternalServerError

                response = error_response(InternalServerError("Internal server error"), "-")
        body = response.get("body") or ""
        payload = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode("utf-8")
        headers = [(str(k), str(v)) for k, v in (response.get("headers") or {}).items()]
        headers.append(("Content-Length", str(len(payload))))
        start_response(_status_line(int(response.get("statusCode", 200))), headers)
        return [payload]

    return app


class LocalEndpoint(ThreadedWsgiServer):
    """The Rekognition API on ``host:port`` (port 0 picks a free one)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 4566,
        handler: EventHandler | None = None,
        *,
        limits: ServerLimits | None = None,
    ) -> None:
        chosen: EventHandler = handler if handler is not None else handle_event
        super().__init__(event_app(chosen), host, port, limits=limits, name="rekognito-http")

    def start(self) -> LocalEndpoint:
        super().start()
        return self

    def __enter__(self) -> LocalEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
