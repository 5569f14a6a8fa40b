"""The door of the local S3 and SQS of ``rekognito serve``: who may put, read and delete what.

A WSGI middleware in front of moto's S3 and SQS apps. Every request is checked before moto
sees it:

* **Who**: a SigV4 signature (header or presigned URL, ``rekognito.security.signed_requests.
  verify_request``) by a principal of ``principals.json``, the same keys as for the API
  (``data/credentials``), or by the server's own in-memory key (its poller and its
  ``S3Object`` reads). With ``--insecure-no-auth`` S3 callers are ``anonymous`` with full
  rights, as on the API.
* **SQS** (the ingest queue and its dead-letter queue) answers the server's own key only:
  nobody else can send a hand-made event to the poller, read the queue or purge it.
* **SNS, and SQS queues other than the ingest ones** (stored-video completion
  notifications, docs/video.md): full-rights (``*:*``) principals and the server only.
* **S3**, path-style requests only, by the grants of the API (``rekognito.security.authz``):

  ==========================================  ===============================================
  put, copy to, multipart upload into         ``index:C`` for ``s3://<drop bucket>/C/...``;
                                              overwriting an existing object (which replaces
                                              its faces) needs ``delete:C`` too
  delete (DeleteObject, DeleteObjects)        ``delete:C``
  get, head, copy from                        ``index:C`` or ``search:C`` for the drop
                                              bucket's ``C/``; ``s3read:bucket/prefix*``
  list                                        a prefix inside one of the above (or ``C/``
                                              with ``delete:C``)
  HeadBucket, GetBucketLocation, ListBuckets  any authenticated caller
  anything else (bucket settings, other       ``*:*``
  buckets' writes, ACLs, tags)
  ==========================================  ===============================================

  Keys with ``.``/``..``/empty segments or a ``%`` are refused (HTTP stacks may collapse or
  re-decode them, so that moto would store another key than the one checked).
* **Attribution**: the S3 event notifications moto sends while serving a request carry
  ``userIdentity.principalId`` = the caller's name, as S3 events do on AWS; the ingest
  handler audits drop-folder changes under that principal.
"""

from __future__ import annotations

import io
import logging
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote
from xml.sax.saxutils import escape

from rekognito.redact import key_digest
from rekognito.security.authz import object_read_allowed
from rekognito.security.principals import S3_READ, Grant, PrincipalRegistry, grants_allow
from rekognito.security.signed_requests import HttpRequest, RequestSignatureError, verify_request
from rekognito.server import StartResponse, WsgiApp, read_body

log = logging.getLogger("rekognito.local_gate")

INTERNAL_PRINCIPAL = "rekognito-server"
ANONYMOUS = "anonymous"
FULL = (Grant("*", "*"),)
_OBJECT_WRITE_QUERY = {"uploadId", "partNumber", "uploads"}
_LIST_QUERY = {"list-type", "prefix", "delimiter", "marker", "max-keys", "encoding-type"}


@dataclass(frozen=True)
class Caller:
    name: str
    grants: tuple[Grant, ...]
    internal: bool = False


@dataclass(frozen=True)
class Access:
    """One thing a request does: ``kind`` on ``bucket`` (and ``key``, or a list prefix)."""

    kind: str  # read | write | delete | list | bucket-read | admin
    bucket: str
    key: str = ""


class Denied(Exception):
    def __init__(self, code: str, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


# -- attribution of S3 events ----------------------------------------------------------------

_current = threading.local()


def current_principal() -> str | None:
    """The caller of the request this thread is serving through the gate (None outside one)."""
    principal = getattr(_current, "principal", None)
    return str(principal) if principal is not None else None


def install_event_attribution() -> None:
    """Make moto's S3 event records carry ``userIdentity.principalId`` of the gate's caller.

    moto builds each record in ``moto.s3.notifications._get_s3_event`` while it serves the
    request, in the request's thread; the gate names the caller in a thread-local around
    that call. Outside the gate (moto used elsewhere in the process) nothing changes.
    """
    from moto.s3 import notifications

    original = notifications._get_s3_event
    if getattr(original, "rekognito_attribution", False):
        return

    def with_identity(*args: Any, **kwargs: Any) -> dict[str, list[dict[str, Any]]]:
        event: dict[str, list[dict[str, Any]]] = original(*args, **kwargs)
        principal = getattr(_current, "principal", None)
        if principal is not None:
            for record in event.get("Records", []):
                record["userIdentity"] = {"principalId": principal}
                record["requestParameters"] = {"sourceIPAddress": getattr(_current, "source_ip", "")}
        return event

    with_identity.rekognito_attribution = True  # type: ignore[attr-defined]
    notifications._get_s3_event = with_identity


# -- what an S3 request does -----------------------------------------------------------------


def _query(raw_query: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for piece in raw_query.split("&") if raw_query else []:
        key, _, value = piece.partition("=")
        params[unquote(key)] = unquote(value.replace("+", " "))
    return params


def bucket_and_key(raw_path: str) -> tuple[str, str]:
    """``(bucket, key)`` of a path-style request, split as moto splits it."""
    path = unquote(raw_path)
    bucket = path.lstrip("/").split("/")[0]
    key = "/".join(path.split("/")[2:]) if path.startswith("/") else "/".join(path.split("/")[1:])
    return bucket, key


def _copy_source(value: str) -> tuple[str, str]:
    source = unquote(value.split("?", 1)[0]).lstrip("/")
    bucket, _, key = source.partition("/")
    return bucket, key


def _deleted_keys(body: bytes) -> list[str]:
    try:
        root = ET.fromstring(body)  # noqa: S314 - a signed caller's small XML, no entities
    except ET.ParseError as exc:
        raise Denied("MalformedXML", "The XML you provided was not well-formed", 400) from exc
    return [element.text or "" for element in root.iter() if element.tag.rsplit("}", 1)[-1] == "Key"]


def s3_accesses(request: HttpRequest) -> list[Access]:
    """What an S3 request reads, writes or deletes (see the module docstring)."""
    method = request.method.upper()
    bucket, key = bucket_and_key(request.raw_path)
    params = {
        k: v for k, v in _query(request.raw_query).items() if not k.startswith("X-Amz-") and k != "x-id"
    }
    if not bucket:
        return [Access("bucket-read" if method in ("GET", "HEAD") else "admin", "")]
    if not key:
        if method == "HEAD" or (method == "GET" and set(params) == {"location"}):
            return [Access("bucket-read", bucket)]
        if method == "GET" and (not params or set(params) <= _LIST_QUERY | {"versions", "uploads"}):
            return [Access("list", bucket, params.get("prefix", ""))]
        if method == "POST" and "delete" in params:
            return [Access("delete", bucket, k) for k in _deleted_keys(request.body)]
        return [Access("admin", bucket)]
    subresources = {
        name
        for name in params
        if name not in ("versionId", "x-id") and not name.startswith(("response-", "X-Amz-"))
    }
    if method in ("GET", "HEAD"):
        if "uploadId" in params:
            return [Access("write", bucket, key)]
        return [Access("read" if not subresources else "admin", bucket, key)]
    if method == "PUT" and subresources <= _OBJECT_WRITE_QUERY:
        accesses = [Access("write", bucket, key)]
        copy_source = request.header("x-amz-copy-source")
        if copy_source:
            source_bucket, source_key = _copy_source(copy_source)
            accesses.append(Access("read", source_bucket, source_key))
        return accesses
    if method == "POST" and subresources and subresources <= _OBJECT_WRITE_QUERY:
        return [Access("write", bucket, key)]
    if method == "DELETE" and not subresources:
        return [Access("delete", bucket, key)]
    if method == "DELETE" and subresources == {"uploadId"}:
        return [Access("write", bucket, key)]
    return [Access("admin", bucket, key)]


# -- who may do it -----------------------------------------------------------------------------


def _collection_of(key: str) -> str | None:
    collection_id, slash, rest = key.partition("/")
    return collection_id if slash and rest and collection_id else None


def _safe_key(key: str) -> bool:
    parts = key.split("/")
    return (
        "%" not in key
        and not any(part in ("", ".", "..") for part in parts[:-1])
        and parts[-1]
        not in (
            ".",
            "..",
        )
    )


def _full(grants: tuple[Grant, ...]) -> bool:
    return any(g.action == "*" and g.pattern == "*" for g in grants)


def _list_allowed(grants: tuple[Grant, ...], bucket: str, prefix: str, drop_bucket: str) -> bool:
    target = f"{bucket}/{prefix}"
    for grant in grants:
        if grant.action == S3_READ and grant.pattern.endswith("*") and target.startswith(grant.pattern[:-1]):
            return True
        if grant.action == S3_READ and grant.pattern == "*":
            return True
    collection_id = _collection_of(prefix + "x")
    if bucket != drop_bucket or collection_id is None:
        return False
    return any(grants_allow(grants, action, collection_id) for action in ("index", "search", "delete"))


def allowed(caller: Caller, access: Access, drop_bucket: str, exists: Callable[[str, str], bool]) -> bool:
    """Whether ``caller`` may do ``access`` (see the table of the module docstring)."""
    grants = caller.grants
    if caller.internal or access.kind == "bucket-read":
        return True
    if access.key and not _safe_key(access.key):
        return False
    if _full(grants):
        return True
    if access.kind == "read":
        return object_read_allowed(grants, access.bucket, access.key, drop_bucket)
    if access.kind == "list":
        return _list_allowed(grants, access.bucket, access.key, drop_bucket)
    collection_id = _collection_of(access.key)
    if access.bucket != drop_bucket or collection_id is None:
        return False
    if access.kind == "delete":
        return grants_allow(grants, "delete", collection_id)
    if access.kind == "write":
        if not grants_allow(grants, "index", collection_id):
            return False
        return not exists(access.bucket, access.key) or grants_allow(grants, "delete", collection_id)
    return False


# -- the middleware --------------------------------------------------------------------------


def _headers(environ: dict[str, Any]) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").lower()
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value != "":
            name = key.replace("_", "-").lower()
        else:
            continue
        headers[name] = [str(value)]
    return headers


def _s3_error(code: str, message: str, status: int, resource: str) -> tuple[list[tuple[str, str]], bytes]:
    request_id = uuid.uuid4().hex[:16].upper()
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        f"<Resource>{escape(resource)}</Resource><RequestId>{request_id}</RequestId></Error>"
    ).encode()
    return [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)], body


def _json_error(code: str, message: str) -> tuple[list[tuple[str, str]], bytes]:
    import json

    body = json.dumps({"__type": code, "message": message}).encode()
    return [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-ErrorType", code)], body


def _query_error(code: str, message: str) -> tuple[list[tuple[str, str]], bytes]:
    """An error of the AWS query protocol (SNS)."""
    body = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{escape(code)}</Code>"
        f"<Message>{escape(message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    ).encode()
    return [("Content-Type", "text/xml")], body


_REASONS = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 501: "Not Implemented"}


def _scope_service(request: HttpRequest) -> str:
    """The service an (unverified) SigV4 Authorization header is scoped to; ``s3`` if none."""
    auth = request.header("authorization") or ""
    _, _, rest = auth.partition("Credential=")
    parts = rest.split(",", 1)[0].split("/")
    return parts[3] if len(parts) >= 5 else "s3"


def _queue_names(request: HttpRequest) -> list[str]:
    """The queues an SQS request names (QueueUrl or QueueName; JSON or query protocol)."""
    import json

    values: list[str] = []
    if request.header("x-amz-target"):
        try:
            payload = json.loads(request.body or b"{}")
        except ValueError:
            payload = {}
        if isinstance(payload, dict):
            values = [str(payload[k]) for k in ("QueueUrl", "QueueName") if k in payload]
    else:
        form = {**_query(request.raw_query), **_query(request.body.decode("utf-8", "replace"))}
        values = [form[k] for k in ("QueueUrl", "QueueName") if k in form]
    return [value.rstrip("/").rsplit("/", 1)[-1] for value in values]


class LocalAwsGate:
    """The WSGI app of the local S3 + SQS port: checks, then moto's S3 or SQS app answers."""

    def __init__(
        self,
        *,
        s3_app: WsgiApp,
        sqs_app: WsgiApp,
        registry: PrincipalRegistry | None,
        internal_keys: tuple[str, str],
        region: str,
        drop_bucket: str,
        exists: Callable[[str, str], bool],
        sns_app: WsgiApp | None = None,
        internal_queues: tuple[str, ...] = (),
    ) -> None:
        self._s3 = s3_app
        self._sqs = sqs_app
        # Stored-video notifications: SNS topics and queues of full-rights principals.
        self._sns = sns_app
        self._internal_queues = internal_queues
        self._registry = registry
        self._internal_key_id, self._internal_secret = internal_keys
        self._region = region
        self._drop_bucket = drop_bucket
        self._exists = exists

    def _secret_of(self, access_key_id: str) -> str | None:
        if access_key_id == self._internal_key_id:
            return self._internal_secret
        if self._registry is None:
            return None
        stored = self._registry.by_access_key(access_key_id)
        return self._registry.secret_of(stored) if stored is not None else None

    def _caller(self, request: HttpRequest) -> tuple[Caller, str]:
        """The caller and the service its signature is scoped to (raises when it is not valid).

        Without a registry (``--insecure-no-auth``) only the server's own key is known: every
        other request, signed or not, is ``anonymous`` with full S3 rights (never SQS ones).
        """
        services = ("s3", "sqs", "sns") if self._sns is not None else ("s3", "sqs")
        if self._registry is None:
            try:
                verified = verify_request(
                    request, secret_of=self._secret_of, region=self._region, services=services
                )
            except RequestSignatureError:
                return Caller(ANONYMOUS, FULL), "sns" if _scope_service(request) == "sns" else "s3"
            return Caller(INTERNAL_PRINCIPAL, FULL, internal=True), verified.service
        verified = verify_request(request, secret_of=self._secret_of, region=self._region, services=services)
        if verified.access_key_id == self._internal_key_id:
            return Caller(INTERNAL_PRINCIPAL, FULL, internal=True), verified.service
        stored = self._registry.by_access_key(verified.access_key_id)
        if stored is None:  # deleted meanwhile
            raise Denied(
                "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."
            )
        return Caller(stored.name, stored.grants), verified.service

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        body = read_body(environ)
        raw_uri = str(environ.get("REQUEST_URI") or environ.get("PATH_INFO") or "/")
        raw_path, _, raw_query = raw_uri.partition("?")
        request = HttpRequest(
            method=str(environ["REQUEST_METHOD"]),
            raw_path=raw_path,
            raw_query=raw_query,
            headers=_headers(environ),
            body=body,
        )
        is_sqs_shaped = bool(request.header("x-amz-target")) or "Action=" in raw_query
        is_sns = self._sns is not None and _scope_service(request) == "sns"
        try:
            caller, service = self._caller(request)
            if service == "sns" and self._sns is not None:
                if not (caller.internal or _full(caller.grants)):
                    raise Denied("AccessDenied", "The local SNS answers full-rights principals only")
                app = self._sns
            elif service == "sqs" or (is_sqs_shaped and not caller.internal):
                if not caller.internal and not self._notification_queue(caller, request):
                    raise Denied(
                        "AccessDenied", "The ingest queues of rekognito serve answer the server only"
                    )
                app = self._sqs
            else:
                self._check_s3(caller, request)
                app = self._s3
        except (RequestSignatureError, Denied) as error:
            log.info(
                "local aws request refused",
                extra={
                    "error": error.code,
                    "method": request.method,
                    "source_ip": environ.get("REMOTE_ADDR"),
                },
            )
            if is_sns:
                headers, payload = _query_error(error.code, error.message)
            elif is_sqs_shaped:
                headers, payload = _json_error(error.code, error.message)
            else:
                headers, payload = _s3_error(error.code, error.message, error.status, raw_path)
            headers.append(("Content-Length", str(len(payload))))
            start_response(f"{error.status} {_REASONS.get(error.status, 'Error')}", headers)
            return [payload] if request.method.upper() != "HEAD" else []
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        _current.principal = caller.name
        _current.source_ip = str(environ.get("REMOTE_ADDR", ""))
        try:
            return app(environ, start_response)
        finally:
            _current.principal = None

    def _notification_queue(self, caller: Caller, request: HttpRequest) -> bool:
        """A full-rights principal's request on queues other than the ingest ones."""
        if self._sns is None or not _full(caller.grants):
            return False
        return not set(_queue_names(request)) & set(self._internal_queues)

    def _check_s3(self, caller: Caller, request: HttpRequest) -> None:
        from moto.s3.responses import S3Response

        host = request.header("host")
        if S3Response.subdomain_based_buckets(_HostOnly(host)):
            raise Denied("InvalidRequest", "The local S3 serves path-style requests only", 400)
        for access in s3_accesses(request):
            if not allowed(caller, access, self._drop_bucket, self._exists):
                log.info(
                    "local s3 access denied",
                    extra={
                        "principal": caller.name,
                        "access": access.kind,
                        "bucket": access.bucket,
                        "key_sha256": key_digest(access.key) if access.key else None,
                    },
                )
                raise Denied("AccessDenied", f"{caller.name} may not {access.kind} this object")


@dataclass(frozen=True)
class _HostOnly:
    """What moto's ``subdomain_based_buckets`` reads of a request."""

    host: str

    @property
    def headers(self) -> dict[str, str]:
        return {"host": self.host}

    @property
    def url(self) -> str:
        return f"http://{self.host}/"
