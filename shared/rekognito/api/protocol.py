"""The AWS JSON 1.1 protocol: API Gateway proxy event in, proxy response out.

This is the only place where exceptions become HTTP responses. Errors carry ``__type``,
``Code`` and ``Message`` in the body and ``x-amzn-ErrorType`` / ``x-amzn-RequestId``
headers, as Rekognition sends them; an unexpected exception is logged server-side and the
client gets a plain ``InternalServerError``, never a stack trace.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
import uuid
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from rekognito.api._generated import OPERATION_NAMES, TARGET_PREFIX, InternalServerError, ThrottlingException
from rekognito.api.model import parse_request
from rekognito.errors import RekognitionError, SerializationException, UnknownOperationException
from rekognito.logs import correlation, correlation_of
from rekognito.operations import load_all
from rekognito.operations.context import RequestContext
from rekognito.operations.registry import OPERATIONS
from rekognito.services import Services, get_services

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/x-amz-json-1.1"
MAX_BODY_BYTES = 8 * 1024 * 1024


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


def _response(status: int, body: dict[str, Any], request_id: str, error: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": CONTENT_TYPE, "x-amzn-RequestId": request_id}
    if error:
        headers["x-amzn-ErrorType"] = error
    return {
        "statusCode": status,
        "headers": headers,
        "body": json.dumps(body, separators=(",", ":"), allow_nan=False),
        "isBase64Encoded": False,
    }


def error_response(error: RekognitionError, request_id: str) -> dict[str, Any]:
    body = {"__type": error.code, "Code": error.code, "Message": error.message}
    return _response(error.status, body, request_id, error.code)


def _body(event: dict[str, Any]) -> bytes:
    request = APIGatewayProxyEvent(event)
    raw = request.body or ""
    if request.is_base64_encoded:
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SerializationException("Request body is not valid base64") from exc
    return raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)


def _operation(headers: dict[str, str]) -> str:
    target = headers.get("x-amz-target", "")
    prefix, _, name = target.partition(".")
    if prefix != TARGET_PREFIX or name not in OPERATION_NAMES:
        raise UnknownOperationException(f"Unknown operation: X-Amz-Target {target[:128]!r}")
    if name not in OPERATIONS:
        raise UnknownOperationException(f"Operation {name} is not implemented by this server")
    return name


def handle_event(
    event: dict[str, Any], context: Any = None, services: Services | None = None
) -> dict[str, Any]:
    """Serve one API Gateway REST proxy event; what is logged meanwhile carries its request id."""
    with correlation(correlation_of(event, correlation_paths.API_GATEWAY_REST)):
        return _serve_event(event, context, services)


def _serve_event(
    event: dict[str, Any], context: Any = None, services: Services | None = None
) -> dict[str, Any]:
    """Serve one API Gateway REST proxy event."""
    services = services or get_services()
    load_all()
    request_context = event.get("requestContext") or {}
    request_id = str(request_context.get("requestId") or uuid.uuid4())
    started = time.perf_counter()
    operation = "-"
    ctx: RequestContext | None = None
    params: dict[str, Any] = {}
    try:
        if str(event.get("httpMethod", "POST")).upper() != "POST":
            raise UnknownOperationException("Only POST / is served")
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
        operation = _operation(headers)
        body = _body(event)
        if len(body) > MAX_BODY_BYTES:
            raise SerializationException("Request body is too large")
        security = services.security
        principal = security.authenticate(event, body)
        try:
            raw = json.loads(body or b"{}")
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            # ValueError covers malformed JSON and integers beyond Python's digit limit;
            # RecursionError, pathologically deep nesting.
            raise SerializationException("Request body is not valid JSON") from exc
        if not isinstance(raw, dict):
            raise SerializationException("Request body must be a JSON object")
        params = parse_request(operation, raw)
        ctx = RequestContext(
            services=services, request_id=request_id, operation=operation, principal=principal
        )
        security.authorize(ctx, params)
        with services.limiter:
            result = OPERATIONS[operation](ctx, params)
        services.audit.record(ctx, params, result, None)
        log.info(
            "request",
            extra={
                "operation": operation,
                "request_id": request_id,
                "status": 200,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        return _response(200, result, request_id)
    except RekognitionError as error:
        if ctx is not None:
            _audit_failure(services, ctx, params, error.code)
        log.info(
            "request failed",
            extra={
                "operation": operation,
                "request_id": request_id,
                "error": error.code,
                "status": error.status,
            },
        )
        return error_response(error, request_id)
    except Exception:
        log.exception("internal error", extra={"operation": operation, "request_id": request_id})
        if ctx is not None:
            _audit_failure(services, ctx, params, "InternalServerError")
        return error_response(InternalServerError("Internal server error"), request_id)


def _audit_failure(services: Services, ctx: RequestContext, params: dict[str, Any], code: str) -> None:
    try:
        services.audit.record(ctx, params, None, code)
    except Exception:
        log.exception("audit record failed", extra={"request_id": ctx.request_id})
