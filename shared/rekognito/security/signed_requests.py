"""AWS Signature Version 4 of raw HTTP requests: the local S3 and SQS of ``rekognito serve``.

:func:`verify_request` checks a request as received (``Authorization`` header, or a
presigned URL's query) for the gate of the local AWS (``rekognito.local_gate``), with the
rules of the API's :class:`rekognito.security.sigv4.SigV4Authenticator`; S3 signs the path
exactly as sent, and ``aws-chunked`` bodies may be signed per chunk or not at all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

from rekognito.errors import IncompleteSignatureException
from rekognito.security.sigv4 import ALGORITHM, AMZ_DATE_FORMAT, MAX_SKEW, Clock, parse_authorization, utcnow

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
# aws-chunked bodies whose chunks are not signed (a trailing checksum at most): like
# UNSIGNED-PAYLOAD, the signature covers the headers only.
UNSIGNED_STREAMING = ("STREAMING-UNSIGNED-PAYLOAD-TRAILER",)
SIGNED_STREAMING = ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
MAX_PRESIGN_EXPIRY_S = 7 * 24 * 3600
_QUERY_AUTH = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)


class RequestSignatureError(Exception):
    """A raw request's signature is missing or wrong; ``code``/``status`` as S3 answers them."""

    def __init__(self, code: str, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class HttpRequest:
    """A request as received: ``raw_path`` and ``raw_query`` percent-encoded as sent."""

    method: str
    raw_path: str
    raw_query: str
    headers: Mapping[str, list[str]]  # lower-case names
    body: bytes

    def header(self, name: str) -> str:
        return (self.headers.get(name) or [""])[0]


@dataclass(frozen=True)
class SignedCaller:
    access_key_id: str
    service: str
    payload: str  # the payload hash the signature covers: hex, UNSIGNED-PAYLOAD or STREAMING-*


SecretOf = Callable[[str], str | None]


class _RawSigner(SigV4Auth):  # type: ignore[misc]
    """botocore's SigV4 over a request as received, with what the client said it signed."""

    def __init__(
        self, credentials: Credentials, service: str, region: str, signed: HTTPHeaders, payload: str
    ) -> None:
        super().__init__(credentials, service, region)
        self._signed = signed
        self._payload = payload

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        return self._signed

    def payload(self, request: AWSRequest) -> str:
        return self._payload

    def _normalize_url_path(self, path: str) -> str:
        # S3 signs the path exactly as sent; other services sign it normalised.
        if self._service_name == "s3":
            return path
        return str(super()._normalize_url_path(path))


def _query_pairs(raw_query: str) -> list[tuple[str, str]]:
    pairs = []
    for piece in raw_query.split("&") if raw_query else []:
        key, _, value = piece.partition("=")
        pairs.append((key, value))
    return pairs


def _amz_time(raw: str, clock: Clock) -> dt.datetime:
    try:
        return dt.datetime.strptime(raw, AMZ_DATE_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError as exc:
        raise RequestSignatureError(
            "AccessDenied", "X-Amz-Date must be in ISO 8601 basic format (YYYYMMDD'T'HHMMSS'Z')"
        ) from exc


def verify_request(
    request: HttpRequest,
    *,
    secret_of: SecretOf,
    region: str,
    services: tuple[str, ...],
    clock: Clock = utcnow,
) -> SignedCaller:
    """Check the SigV4 signature of ``request`` (header or presigned query); return the caller.

    The canonical request is built by botocore's signer from the request as received, so it
    is the one the client's SDK built. Header signatures may cover a payload hash (checked
    against the body), ``UNSIGNED-PAYLOAD`` or an unsigned aws-chunked stream; presigned
    URLs (``X-Amz-Signature`` in the query) expire as their ``X-Amz-Expires`` says.
    """
    query = _query_pairs(request.raw_query)
    presigned = any(key == "X-Amz-Signature" for key, _ in query)
    authorization = request.header("authorization")
    if any(key == "AWSAccessKeyId" for key, _ in query) or authorization.startswith("AWS "):
        raise RequestSignatureError(
            "InvalidRequest", "Signature Version 2 is not supported: use AWS4-HMAC-SHA256 (s3v4)", 400
        )
    if presigned and authorization:
        raise RequestSignatureError("InvalidArgument", "Only one auth mechanism allowed", 400)
    if presigned:
        params = {unquote(key): unquote(value) for key, value in query}
        missing = [name for name in _QUERY_AUTH if not params.get(name)]
        if missing or params["X-Amz-Algorithm"] != ALGORITHM:
            raise RequestSignatureError(
                "AuthorizationQueryParametersError",
                f"Query-string authentication version 4 requires {', '.join(_QUERY_AUTH)}",
                400,
            )
        credential = params["X-Amz-Credential"].split("/")
        if len(credential) != 5:
            raise RequestSignatureError("AuthorizationQueryParametersError", "bad X-Amz-Credential", 400)
        access_key_id, scope = credential[0], credential[1:]
        signed_names = params["X-Amz-SignedHeaders"].lower().split(";")
        signature = params["X-Amz-Signature"].lower()
        amz_date = params["X-Amz-Date"]
        payload = UNSIGNED_PAYLOAD
        canonical_query = "&".join(f"{k}={v}" for k, v in query if k != "X-Amz-Signature")
        when = _amz_time(amz_date, clock)
        try:
            expires = int(params["X-Amz-Expires"])
        except ValueError:
            expires = -1
        if not 0 < expires <= MAX_PRESIGN_EXPIRY_S:
            raise RequestSignatureError(
                "AuthorizationQueryParametersError", "X-Amz-Expires must be between 1 and 604800", 400
            )
        now = clock()
        if now > when + dt.timedelta(seconds=expires) or when > now + MAX_SKEW:
            raise RequestSignatureError("AccessDenied", "Request has expired")
    else:
        if not authorization:
            raise RequestSignatureError("AccessDenied", "Anonymous access is not allowed: sign the request")
        try:
            access_key_id, scope, signed_names, signature = parse_authorization(authorization)
        except IncompleteSignatureException as exc:
            raise RequestSignatureError("AuthorizationHeaderMalformed", exc.message, 400) from exc
        amz_date = request.header("x-amz-date")
        if not amz_date:
            raise RequestSignatureError(
                "AccessDenied", "AWS authentication requires a valid X-Amz-Date header"
            )
        when = _amz_time(amz_date, clock)
        now = clock()
        if abs(now - when) > MAX_SKEW:
            raise RequestSignatureError(
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            )
        if "x-amz-date" not in signed_names:
            raise RequestSignatureError("AccessDenied", "'X-Amz-Date' must be a signed header")
        payload = request.header("x-amz-content-sha256")
        body_sha256 = hashlib.sha256(request.body).hexdigest()
        if not payload:
            payload = body_sha256
        elif payload in SIGNED_STREAMING:
            raise RequestSignatureError(
                "NotImplemented",
                "Signed aws-chunked uploads (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) are not supported by the "
                "local S3: sign the payload hash or use UNSIGNED-PAYLOAD",
                501,
            )
        elif payload != UNSIGNED_PAYLOAD and payload not in UNSIGNED_STREAMING and payload != body_sha256:
            raise RequestSignatureError(
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                400,
            )
        canonical_query = request.raw_query
    if request.header("x-amz-security-token"):
        raise RequestSignatureError(
            "InvalidToken", "The provided token is malformed or otherwise invalid.", 400
        )
    secret = secret_of(access_key_id)
    if secret is None:
        raise RequestSignatureError(
            "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."
        )
    date, scope_region, service, terminator = scope
    if (
        date != amz_date[:8]
        or scope_region != region
        or service not in services
        or terminator != "aws4_request"
    ):
        raise RequestSignatureError(
            "AuthorizationHeaderMalformed",
            f"The credential scope must be <date>/{region}/<{'|'.join(services)}>/aws4_request",
            400,
        )
    if "host" not in signed_names:
        raise RequestSignatureError("AccessDenied", "'Host' must be a signed header")
    signed = HTTPHeaders()
    for name in signed_names:
        if name not in request.headers:
            raise RequestSignatureError("AccessDenied", f"Signed header {name!r} is not in the request")
        for value in request.headers[name]:
            signed.add_header(name, value)
    url = f"http://{signed.get('host', 'localhost')}{request.raw_path or '/'}"
    aws_request = AWSRequest(
        method=request.method.upper(), url=url + (f"?{canonical_query}" if canonical_query else "")
    )
    aws_request.context["timestamp"] = amz_date
    signer = _RawSigner(Credentials(access_key_id, secret), service, region, signed, payload)
    canonical = signer.canonical_request(aws_request)
    expected = str(signer.signature(signer.string_to_sign(aws_request, canonical), aws_request))
    if not hmac.compare_digest(expected, signature):
        raise RequestSignatureError(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
        )
    return SignedCaller(access_key_id=access_key_id, service=service, payload=payload)
