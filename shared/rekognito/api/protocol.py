"""The AWS JSON 1.1 protocol: API Gateway proxy event in, proxy response out.

This is the only place where exceptions become HTTP responses. Errors carry ``__type``,
``Code`` and ``Message`` in the body and ``x-amzn-ErrorType`` / ``x-amzn-RequestId``
headers, as Rekognition sends them; an unexpected exception is logged server-side and the
client gets a plain ``InternalServerError``, never a stack trace.

The audit flow of a request (docs/governance.md):

* the operation runs inside an audit scope naming the caller, so every store change it
  makes is preceded by a durable write-ahead entry (``security/audit/write_ahead.py``);
  when that entry cannot be written nothing changes and the client gets
  ``InternalServerError``;
* its result is returned only after the request's own entry is written: a response whose
  entry failed is never sent (the client gets ``InternalServerError``);
* operations that change something go through the replay cache (``api/replay.py``): the
  SDK's retries of one call (same ``amz-sdk-invocation-id``) get the first attempt's
  response instead of running again.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
import uuid
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from rekognito.api._generated import OPERATION_NAMES, TARGET_PREFIX, InternalServerError
from rekognito.api.model import parse_request
from rekognito.api.replay import ReplayCache, Reply, replay_key, usable_invocation_id
from rekognito.errors import RekognitionError, SerializationException, UnknownOperationException
from rekognito.logs import correlation, correlation_of
from rekognito.operations import load_all
from rekognito.operations.registry import OPERATIONS
from rekognito.request import RequestContext
from rekognito.security.audit.write_ahead import AuditScope, AuditUnavailableError, audit_scope
from rekognito.security.authz import ANY_GRANT, OPERATION_ACTIONS
from rekognito.services import Services, get_services

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/x-amz-json-1.1"
MAX_BODY_BYTES = 8 * 1024 * 1024
READ_ONLY_ACTIONS = frozenset({"search", "detect", "audit", ANY_GRANT})


def changes_something(operation: str) -> bool:
    """Whether ``operation`` may change state (an unknown one is assumed to)."""
    rule = OPERATION_ACTIONS.get(operation)
    return rule is None or rule.action not in READ_ONLY_ACTIONS


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
        claim = _claim(services, ctx, headers, body)
        if isinstance(claim, Reply):
            return _replayed(services, ctx, params, claim)
        result = _run(services, ctx, params, claim)
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
        if ctx is not None and not isinstance(error, AuditUnavailableError):
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


class _Claim:
    """This attempt runs the request and owes the replay cache its outcome."""

    def __init__(self, cache: ReplayCache, key: str) -> None:
        self.cache = cache
        self.key = key


def _claim(
    services: Services, ctx: RequestContext, headers: dict[str, str], body: bytes
) -> _Claim | Reply | None:
    invocation_id = usable_invocation_id(headers.get("amz-sdk-invocation-id"))
    if invocation_id is None or not changes_something(ctx.operation):
        return None
    cache = services.replay_cache
    principal = ctx.principal.name if ctx.principal else "-"
    key = replay_key(principal, invocation_id, body)
    earlier = cache.claim(key, ctx.request_id)
    return earlier if earlier is not None else _Claim(cache, key)


def _run(
    services: Services, ctx: RequestContext, params: dict[str, Any], claim: _Claim | None
) -> dict[str, Any]:
    scope: AuditScope | None = None
    try:
        with services.limiter, audit_scope(ctx.principal, ctx.request_id, ctx.operation) as scope:
            result = OPERATIONS[ctx.operation](ctx, params)
    except Exception as exc:
        if claim is not None:
            if scope is not None and scope.changed:
                error = (
                    exc if isinstance(exc, RekognitionError) else InternalServerError("Internal server error")
                )
                claim.cache.finish(claim.key, error.status, _error_body(error))
            else:
                claim.cache.release(claim.key)
        raise
    if claim is not None:
        # Kept before the request's own entry is written: if that fails (500), the SDK's
        # retry gets this result rather than indexing again.
        claim.cache.finish(claim.key, 200, json.dumps(result, separators=(",", ":"), allow_nan=False))
    return result


def _replayed(
    services: Services, ctx: RequestContext, params: dict[str, Any], reply: Reply
) -> dict[str, Any]:
    """Answer a retry with the first attempt's response; audited like any answer."""
    ctx.audit["replay_of"] = reply.request_id
    body: dict[str, Any] = json.loads(reply.body)
    if reply.status == 200:
        services.audit.record(ctx, params, body, None)
        log.info("request replayed", extra={"operation": ctx.operation, "request_id": ctx.request_id})
        return _response(200, body, ctx.request_id)
    code = str(body.get("__type", "InternalServerError"))
    services.audit.record(ctx, params, None, code)
    return _response(reply.status, body, ctx.request_id, code)


def _error_body(error: RekognitionError) -> str:
    return json.dumps(
        {"__type": error.code, "Code": error.code, "Message": error.message}, separators=(",", ":")
    )


def _audit_failure(services: Services, ctx: RequestContext, params: dict[str, Any], code: str) -> None:
    try:
        services.audit.record(ctx, params, None, code)
    except Exception:
        log.exception("audit record failed", extra={"request_id": ctx.request_id})
