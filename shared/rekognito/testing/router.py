"""In-process mode: a botocore ``before-send.rekognition`` handler answering from the API handler."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from rekognito.services import Services

if TYPE_CHECKING:
    from botocore.awsrequest import AWSPreparedRequest, AWSResponse

_SEND_EVENT = "before-send.rekognition"
_ANSWERED_URL = "http://answered-in-process.rekognito.invalid"


class _RawBody(io.BytesIO):
    """The ``raw`` of an :class:`AWSResponse`: botocore reads it through ``stream()``."""

    def stream(self, **_options: Any) -> Iterator[bytes]:
        chunk = self.read()
        while chunk:
            yield chunk
            chunk = self.read()


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _request_body(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    data = body.read()
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def _answer(services: Services, request: AWSPreparedRequest) -> AWSResponse:
    """Serve one prepared botocore request with the API handler, as API Gateway would."""
    import base64

    from botocore.awsrequest import AWSResponse

    from rekognito.api.protocol import handle_event
    from rekognito.server import build_event

    headers = {str(name): _text(value) for name, value in request.headers.items()}
    path = urlsplit(request.url).path or "/"
    event = build_event(str(request.method), path, headers, _request_body(request.body), "127.0.0.1")
    proxy = handle_event(event, None, services)
    body = str(proxy.get("body") or "")
    payload = base64.b64decode(body) if proxy.get("isBase64Encoded") else body.encode("utf-8")
    response_headers = dict(proxy.get("headers") or {})
    response_headers["Content-Length"] = str(len(payload))
    return AWSResponse(request.url, int(proxy.get("statusCode", 200)), response_headers, _RawBody(payload))


class _InProcessRouter:
    """The botocore ``before-send.rekognition`` handler of in-process mode.

    While any in-process block is active it is registered on boto3's default session and
    in botocore's built-in handlers (so sessions created meanwhile get it too); it answers
    from the innermost active block and returns None (botocore sends the request as usual)
    when none is active, so a session that outlives the block is left unaffected. Only
    Rekognition events reach it; moto's handler, registered for every ``before-send``, is
    called after it and keeps answering the other services.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # The containers of the active blocks, innermost last.
        self._active: list[Services] = []
        self._sessions: list[Any] = []

    def __call__(
        self, request: AWSPreparedRequest, event_name: str = "", **_kwargs: Any
    ) -> AWSResponse | None:
        if not event_name.startswith(_SEND_EVENT + "."):
            return None
        with self._lock:
            services = self._active[-1] if self._active else None
        if services is None:
            return None
        response = _answer(services, request)
        # botocore calls every before-send handler even after one answered, and takes the
        # first answer. moto's handler comes after ours and would treat the request as one
        # for its own (canned) Rekognition, failing on operations it lacks: point the
        # answered request at a host that no mock claims.
        request.url = _ANSWERED_URL + (urlsplit(request.url).path or "/")
        return response

    def activate(self, services: Services) -> None:
        with self._lock:
            if not self._active:
                self._install()
            self._active.append(services)

    def deactivate(self, services: Services) -> None:
        with self._lock:
            if services in self._active:
                self._active.remove(services)
            if not self._active:
                self._uninstall()

    def _install(self) -> None:
        import boto3
        from botocore.handlers import BUILTIN_HANDLERS

        BUILTIN_HANDLERS.append((_SEND_EVENT, self))
        session = boto3.DEFAULT_SESSION
        if session is not None:
            session.events.unregister(_SEND_EVENT, self)
            session.events.register(_SEND_EVENT, self)
            self._sessions.append(session)

    def _uninstall(self) -> None:
        import boto3
        from botocore.handlers import BUILTIN_HANDLERS

        while (_SEND_EVENT, self) in BUILTIN_HANDLERS:
            BUILTIN_HANDLERS.remove((_SEND_EVENT, self))
        sessions = [*self._sessions, boto3.DEFAULT_SESSION]
        self._sessions.clear()
        for session in sessions:
            if session is not None:
                session.events.unregister(_SEND_EVENT, self)


_ROUTER = _InProcessRouter()
