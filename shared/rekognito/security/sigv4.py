"""Authentication: AWS Signature Version 4 for the local endpoint, IAM identities on AWS.

:class:`SigV4Authenticator` checks the ``Authorization`` header of each request against the
principals of ``<data_dir>/security/principals.json`` (see :mod:`rekognito.security.principals`).
The expected signature is computed by botocore's own ``SigV4Auth`` over the request as
received, restricted to the headers the client says it signed, so the canonical request is
byte for byte the one the SDK built. The checks, in the order AWS makes them:

* no ``Authorization`` header -> ``MissingAuthenticationTokenException`` (403);
* a header that is not ``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``
  -> ``IncompleteSignatureException``;
* an access key id nobody holds, or a session token (we issue none) ->
  ``UnrecognizedClientException``;
* a credential scope for another date, region or service than ``rekognition``, a
  ``host`` or ``x-amz-date`` left unsigned, ``X-Amz-Date`` more than 15 minutes away from
  the server's clock ("Signature expired"), a payload hash that is not the body's, or a
  signature that differs -> ``InvalidSignatureException``.

:class:`IamAuthenticator` is for the Lambda behind API Gateway with ``AWS_IAM``
authorization: API Gateway has verified the signature already, and the caller is read
from ``requestContext.identity``. :class:`AnonymousAuthenticator` (``auth_mode=none``)
lets everyone in as ``anonymous``. Requests to the local S3 and SQS of ``rekognito serve``
are checked by :mod:`rekognito.security.signed_requests` with the same rules.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import quote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

from rekognito.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)
from rekognito.identity import Principal
from rekognito.security.principals import StoredPrincipal

log = logging.getLogger(__name__)

SERVICE = "rekognition"
ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = dt.timedelta(minutes=15)
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"

MISSING_TOKEN_MESSAGE = "Missing Authentication Token"  # noqa: S105 - an error message
INVALID_TOKEN_MESSAGE = "The security token included in the request is invalid."  # noqa: S105
BAD_SIGNATURE_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)

_AUTH_PART = re.compile(r"\s*([A-Za-z]+)=([^,\s]*)\s*")

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _ClientSignedHeaders(SigV4Auth):  # type: ignore[misc]
    """botocore's signer, signing exactly the headers the client listed in SignedHeaders."""

    def __init__(self, credentials: Credentials, region: str, signed: HTTPHeaders, body_sha256: str) -> None:
        super().__init__(credentials, SERVICE, region)
        self._signed = signed
        self._body_sha256 = body_sha256

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        return self._signed

    def payload(self, request: AWSRequest) -> str:
        return self._body_sha256


def parse_authorization(value: str) -> tuple[str, list[str], list[str], str]:
    """``(access key id, scope [date, region, service, terminator], signed headers, signature)``."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignatureException(
            f"Authorization header requires the {ALGORITHM} algorithm; got {algorithm[:32]!r}"
        )
    parts: dict[str, str] = {}
    for piece in rest.split(","):
        match = _AUTH_PART.fullmatch(piece)
        if match:
            parts[match.group(1)] = match.group(2)
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if not parts.get(name)]
    if missing:
        raise IncompleteSignatureException(
            f"Authorization header requires {', '.join(repr(m) for m in missing)} parameter(s). "
            f"Authorization={ALGORITHM} {rest[:256]}"
        )
    credential = parts["Credential"].split("/")
    if len(credential) != 5 or not credential[0]:
        raise IncompleteSignatureException(
            "Credential must have the form <access key id>/<date>/<region>/<service>/aws4_request"
        )
    signed_headers = parts["SignedHeaders"].lower().split(";")
    return credential[0], credential[1:], signed_headers, parts["Signature"].lower()


def _header_values(event: Mapping[str, Any]) -> dict[str, list[str]]:
    """Request headers by lower-case name, all values of each (API Gateway gives both forms)."""
    values: dict[str, list[str]] = {}
    multi = event.get("multiValueHeaders") or {}
    for name, items in multi.items():
        values.setdefault(str(name).lower(), []).extend(str(item) for item in items or [])
    for name, value in (event.get("headers") or {}).items():
        values.setdefault(str(name).lower(), [str(value)])
    return values


def _signed_paths(event: Mapping[str, Any]) -> list[str]:
    """The paths the client may have signed: the event's, and the request's as API Gateway
    received it (``requestContext.path``: the stage prefix included, as in ``/dev/``)."""
    path = str(event.get("path") or "/")
    received = str((event.get("requestContext") or {}).get("path") or "")
    return [path, received] if received and received != path else [path]


def _path_and_query(event: Mapping[str, Any], path: str | None = None) -> tuple[str, str]:
    path = path or str(event.get("path") or "/")
    if "?" in path:
        path, _, query = path.partition("?")
        return path, query
    pairs: list[str] = []
    multi = event.get("multiValueQueryStringParameters") or {}
    single = event.get("queryStringParameters") or {}
    for key, value_list in (multi or {k: [v] for k, v in single.items()}).items():
        for value in value_list or []:
            pairs.append(f"{quote(str(key), safe='-_.~')}={quote(str(value), safe='-_.~')}")
    return path, "&".join(pairs)


class KeyLookup(Protocol):
    """Where the authenticator finds a key's principal and secret (``PrincipalRegistry``,
    :class:`rekognito.security.key_pair.KeyPair`)."""

    def by_access_key(self, access_key_id: str) -> StoredPrincipal | None: ...

    def secret_of(self, principal: StoredPrincipal) -> str: ...


class SigV4Authenticator:
    def __init__(self, registry: KeyLookup, region: str, clock: Clock = utcnow) -> None:
        self.registry = registry
        self.region = region
        self.clock = clock

    def authenticate(self, event: dict[str, Any], body: bytes) -> Principal:
        headers = _header_values(event)
        authorization = (headers.get("authorization") or [""])[0]
        if not authorization:
            raise MissingAuthenticationTokenException(MISSING_TOKEN_MESSAGE)
        access_key_id, scope, signed_names, signature = parse_authorization(authorization)
        if headers.get("x-amz-security-token"):
            raise UnrecognizedClientException(INVALID_TOKEN_MESSAGE)
        stored = self.registry.by_access_key(access_key_id)
        if stored is None:
            raise UnrecognizedClientException(INVALID_TOKEN_MESSAGE)
        amz_date = self._request_time(headers)
        self._check_scope(scope, amz_date)
        if "host" not in signed_names:
            raise InvalidSignatureException("'Host' must be a signed header")
        if "x-amz-date" in headers and "x-amz-date" not in signed_names:
            raise InvalidSignatureException("'X-Amz-Date' must be a signed header")
        signed = HTTPHeaders()
        for name in signed_names:
            if name not in headers:
                raise InvalidSignatureException(f"Signed header {name!r} is not in the request")
            for value in headers[name]:
                signed.add_header(name, value)
        body_sha256 = hashlib.sha256(body).hexdigest()
        declared = (headers.get("x-amz-content-sha256") or [body_sha256])[0]
        if declared != body_sha256:
            raise InvalidSignatureException("X-Amz-Content-SHA256 does not match the request body")
        secret = self.registry.secret_of(stored)
        for path in _signed_paths(event):
            expected = self._signature(
                event,
                path=path,
                stored_secret=secret,
                scope=scope,
                amz_date=amz_date,
                signed=signed,
                body_sha256=body_sha256,
                access_key_id=access_key_id,
            )
            if hmac.compare_digest(expected, signature):
                return Principal(name=stored.name, access_key_id=access_key_id)
        log.info("signature mismatch", extra={"access_key_id": access_key_id, "principal": stored.name})
        raise InvalidSignatureException(BAD_SIGNATURE_MESSAGE)

    def _request_time(self, headers: dict[str, list[str]]) -> str:
        raw = (headers.get("x-amz-date") or [""])[0]
        if not raw:
            raise IncompleteSignatureException(
                "Authorization header requires existence of a 'X-Amz-Date' header"
            )
        try:
            when = dt.datetime.strptime(raw, AMZ_DATE_FORMAT).replace(tzinfo=dt.UTC)
        except ValueError as exc:
            raise IncompleteSignatureException(
                f"X-Amz-Date must be in ISO 8601 basic format (YYYYMMDD'T'HHMMSS'Z'); got {raw[:32]!r}"
            ) from exc
        now = self.clock()
        stamp = now.strftime(AMZ_DATE_FORMAT)
        if when < now - MAX_SKEW:
            earliest = (now - MAX_SKEW).strftime(AMZ_DATE_FORMAT)
            raise InvalidSignatureException(
                f"Signature expired: {raw} is now earlier than {earliest} ({stamp} - 15 min.)"
            )
        if when > now + MAX_SKEW:
            latest = (now + MAX_SKEW).strftime(AMZ_DATE_FORMAT)
            raise InvalidSignatureException(
                f"Signature not yet current: {raw} is still later than {latest} ({stamp} + 15 min.)"
            )
        return raw

    def _check_scope(self, scope: list[str], amz_date: str) -> None:
        date, region, service, terminator = scope
        if date != amz_date[:8]:
            raise InvalidSignatureException(
                f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                f"'{date[:16]}' != '{amz_date[:8]}', from '{amz_date}'."
            )
        if region != self.region:
            raise InvalidSignatureException(
                f"Credential should be scoped to a valid region: this endpoint serves '{self.region}', "
                f"not '{region[:32]}'."
            )
        if service != SERVICE:
            raise InvalidSignatureException(f"Credential should be scoped to correct service: '{SERVICE}'.")
        if terminator != "aws4_request":
            raise InvalidSignatureException(
                "Credential should be scoped with a valid terminator: 'aws4_request', "
                f"not '{terminator[:32]}'."
            )

    def _signature(
        self,
        event: Mapping[str, Any],
        *,
        path: str,
        stored_secret: str,
        access_key_id: str,
        scope: list[str],
        amz_date: str,
        signed: HTTPHeaders,
        body_sha256: str,
    ) -> str:
        path, query = _path_and_query(event, path)
        host = signed.get("host", "localhost")
        url = f"http://{host}{path}" + (f"?{query}" if query else "")
        request = AWSRequest(method=str(event.get("httpMethod", "POST")).upper(), url=url)
        request.context["timestamp"] = amz_date
        signer = _ClientSignedHeaders(
            Credentials(access_key_id, stored_secret), scope[1], signed, body_sha256
        )
        canonical = signer.canonical_request(request)
        string_to_sign = signer.string_to_sign(request, canonical)
        return str(signer.signature(string_to_sign, request))


class IamAuthenticator:
    """The caller API Gateway authenticated (``AWS_IAM`` authorization), from the event."""

    def authenticate(self, event: dict[str, Any], body: bytes) -> Principal:
        identity = (event.get("requestContext") or {}).get("identity") or {}
        arn = identity.get("userArn")
        if not arn:
            raise MissingAuthenticationTokenException(MISSING_TOKEN_MESSAGE)
        return Principal(
            name=str(arn),
            access_key_id=str(identity["accessKey"]) if identity.get("accessKey") else None,
            arn=str(arn),
        )


ANONYMOUS = Principal(name="anonymous")


class AnonymousAuthenticator:
    """``auth_mode=none``: everyone is ``anonymous``."""

    def authenticate(self, event: dict[str, Any], body: bytes) -> Principal:
        return ANONYMOUS
