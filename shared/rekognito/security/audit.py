"""The audit trail: one hash-chained entry per request, successes and failures alike.

An entry records who (principal, access key id), when (UTC, ISO 8601), what (operation,
collection, the thresholds and filters asked for, the image *source*: ``bytes`` or
``s3://bucket/key``), the outcome (error code, number of results) and which identities
came back (every ``FaceId``/``UserId`` in the result, and the ids a request named). It
never holds image bytes, embeddings, bounding boxes or landmarks.

Each entry carries ``seq`` (1, 2, ...), ``prev`` (the ``hash`` of the entry before it,
:data:`GENESIS` for the first) and ``hash`` = SHA-256 of the canonical JSON of the entry
without ``hash`` (sorted keys, no spaces, UTF-8). Editing, deleting, reordering or
inserting an entry breaks the chain at that line, which ``rekognito audit verify``
reports. Someone able to rewrite the whole file can recompute every hash: for evidence
that survives a compromised host, ship entries off the machine (the DynamoDB sink) or
keep the head hash printed by ``audit verify`` somewhere else.

Sinks:

* :class:`FileAuditSink`: ``<data_dir>/audit/audit.jsonl`` (0600), appended under an
  exclusive ``flock`` with ``fsync``, so several processes (the server, the retention job,
  the CLI) extend one chain. ``audit.head`` holds the last ``seq`` and ``hash`` so that
  dropping the last lines is detected too.
* :class:`DynamoDBAuditSink` (``REKOGNITO_AUDIT_TABLE``): items with partition key
  ``stream`` = ``"audit"`` and sort key ``seq`` (number), written with a conditional put
  (``attribute_not_exists``) so two writers cannot fork the chain: the loser re-reads the
  head and retries. One partition key serialises writes (about a thousand entries a
  second), which is plenty for an audit trail.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import getpass
import hashlib
import json
import logging
import os
import random
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from rekognito.operations.context import Principal, RequestContext
from rekognito.security.authz import collection_from_arn

if TYPE_CHECKING:
    from rekognito.services import Services

log = logging.getLogger(__name__)

GENESIS = "0" * 64
STREAM = "audit"
THRESHOLD_PARAMS = (
    "FaceMatchThreshold",
    "SimilarityThreshold",
    "UserMatchThreshold",
    "MaxFaces",
    "MaxUsers",
    "MaxResults",
    "QualityFilter",
)
IMAGE_PARAMS = ("Image", "SourceImage", "TargetImage")
REQUEST_ID_PARAMS = ("FaceId", "FaceIds", "UserId", "UserIds")
RESULT_LISTS = (
    "FaceMatches",
    "UserMatches",
    "FaceRecords",
    "Faces",
    "Users",
    "DeletedFaces",
    "AssociatedFaces",
    "DisassociatedFaces",
    "FaceDetails",
    "CollectionIds",
    "Labels",
    "TextDetections",
    "ModerationLabels",
)

Clock = Callable[[], float]


# -- entries ------------------------------------------------------------------------------


def canonical(entry: Mapping[str, Any]) -> bytes:
    return json.dumps(
        entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def entry_hash(entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


def iso_time(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _ids(value: Any, key: str, found: dict[str, None]) -> None:
    if isinstance(value, dict):
        for name, item in value.items():
            if name == key and isinstance(item, str):
                found[item] = None
            else:
                _ids(item, key, found)
    elif isinstance(value, list):
        for item in value:
            _ids(item, key, found)


def _image_source(image: Any) -> str | None:
    if not isinstance(image, dict):
        return None
    s3 = image.get("S3Object")
    if isinstance(s3, dict):
        return f"s3://{s3.get('Bucket', '')}/{s3.get('Name', '')}"
    return "bytes" if "Bytes" in image else None


def _scalar_details(details: Mapping[str, Any]) -> dict[str, Any]:
    """What operations noted in ``ctx.audit``, limited to plain values (never arrays or bytes)."""
    kept: dict[str, Any] = {}
    for key, value in details.items():
        if isinstance(value, str | int | float | bool) or value is None:
            kept[str(key)] = value
        elif isinstance(value, list | tuple) and all(isinstance(v, str | int | float | bool) for v in value):
            kept[str(key)] = list(value)
    return kept


def describe_request(
    ctx: RequestContext,
    params: Mapping[str, Any],
    result: Mapping[str, Any] | None,
    error: str | None,
    now: float,
) -> dict[str, Any]:
    """The audit fields of one request (without ``seq``, ``prev`` and ``hash``)."""
    principal = ctx.principal
    collection = params.get("CollectionId")
    if collection is None and isinstance(params.get("ResourceArn"), str):
        collection = collection_from_arn(params["ResourceArn"]) or params["ResourceArn"]
    if collection is None:
        collection = ctx.audit.get("collection_id")
    entry: dict[str, Any] = {
        "time": iso_time(now),
        "request_id": ctx.request_id,
        "principal": principal.name if principal else None,
        "operation": ctx.operation,
        "collection": collection,
        "error": error,
    }
    if principal is not None and principal.access_key_id:
        entry["access_key_id"] = principal.access_key_id
    thresholds = {name: params[name] for name in THRESHOLD_PARAMS if name in params}
    if thresholds:
        entry["thresholds"] = thresholds
    images = {name: src for name in IMAGE_PARAMS if (src := _image_source(params.get(name)))}
    if images:
        entry["images"] = images
    requested: dict[str, None] = {}
    for name in REQUEST_ID_PARAMS:
        value = params.get(name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                requested[item] = None
    if requested:
        entry["requested_ids"] = list(requested)
    if result is not None:
        face_ids: dict[str, None] = {}
        _ids(result, "FaceId", face_ids)
        for deleted in result.get("DeletedFaces") or []:
            if isinstance(deleted, str):
                face_ids[deleted] = None
        user_ids: dict[str, None] = {}
        _ids(result, "UserId", user_ids)
        entry["face_ids"] = list(face_ids)
        entry["user_ids"] = list(user_ids)
        for name in RESULT_LISTS:
            if isinstance(result.get(name), list):
                entry["results"] = len(result[name])
                break
    details = _scalar_details(ctx.audit)
    if details:
        entry["details"] = details
    return entry


def chain(fields: Mapping[str, Any], seq: int, prev: str) -> dict[str, Any]:
    entry = {**fields, "seq": seq, "prev": prev}
    entry["hash"] = entry_hash(entry)
    return entry


# -- verification -------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    head: str
    broken_line: int | None = None
    reason: str | None = None


def verify_lines(lines: Iterable[str], head: tuple[int, str] | None = None) -> Verification:
    """Check a chain given as JSON lines in order; line numbers start at 1."""
    prev = GENESIS
    count = 0
    hashes: dict[int, str] = {}
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict):
                raise TypeError("not an object")
        except (ValueError, TypeError):
            return Verification(False, count, prev, number, "not a JSON object")
        if entry.get("hash") != entry_hash(entry):
            return Verification(False, count, prev, number, "entry was modified (hash does not match)")
        if entry.get("prev") != prev or entry.get("seq") != number:
            return Verification(
                False,
                count,
                prev,
                number,
                "entry does not follow the previous one (deleted, moved or inserted)",
            )
        prev = str(entry["hash"])
        hashes[number] = prev
        count = number
    if head is not None:
        head_seq, head_hash = head
        if head_seq > count:
            return Verification(False, count, prev, count + 1, f"entries {count + 1}..{head_seq} are missing")
        if hashes.get(head_seq, GENESIS if head_seq == 0 else None) != head_hash:
            return Verification(
                False, count, prev, max(head_seq, 1), "entry does not match the recorded head"
            )
    return Verification(True, count, prev)


# -- export -------------------------------------------------------------------------------

_RELATIVE = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: float | None = None) -> float:
    """``7d``, ``12h``, ``30m`` ago, or an ISO date/time (UTC unless it says otherwise)."""
    now = time.time() if now is None else now
    match = _RELATIVE.match(text.strip())
    if match:
        return now - int(match.group(1)) * _UNITS[match.group(2)]
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"--since {text!r}: use an ISO date/time or 7d, 12h, 30m") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def select(
    entries: Iterable[dict[str, Any]], collection: str | None = None, since: float | None = None
) -> Iterator[dict[str, Any]]:
    cutoff = iso_time(since) if since is not None else None
    for entry in entries:
        if collection is not None and entry.get("collection") != collection:
            continue
        if cutoff is not None and str(entry.get("time", "")) < cutoff:
            continue
        yield entry


# -- sinks --------------------------------------------------------------------------------


def _last_line(handle: BinaryIO) -> bytes:
    """The last non-empty line of a binary file open for reading."""
    handle.seek(0, os.SEEK_END)
    end = handle.tell()
    position = end
    tail = b""
    while position > 0:
        step = min(65536, position)
        position -= step
        handle.seek(position)
        tail = handle.read(step) + tail
        stripped = tail.rstrip(b"\n")
        cut = stripped.rfind(b"\n")
        if cut >= 0:
            return stripped[cut + 1 :]
    return tail.rstrip(b"\n")


class FileAuditSink:
    """JSON lines under ``<data_dir>/audit``, one hash chain, safe across processes."""

    def __init__(self, data_dir: Path, clock: Clock = time.time) -> None:
        self.directory = data_dir / "audit"
        self.path = self.directory / "audit.jsonl"
        self.head_path = self.directory / "audit.head"
        self._clock = clock

    def record(
        self, ctx: RequestContext, params: dict[str, Any], result: dict[str, Any] | None, error: str | None
    ) -> None:
        self.append(describe_request(ctx, params, result, error, self._clock()))

    def append(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "r+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            last = _last_line(handle)
            seq, prev = 1, GENESIS
            if last:
                previous = json.loads(last)
                seq, prev = int(previous["seq"]) + 1, str(previous["hash"])
            entry = chain(fields, seq, prev)
            handle.seek(0, os.SEEK_END)
            handle.write(canonical(entry) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
            self._write_head(seq, str(entry["hash"]))
        return entry

    def _write_head(self, seq: int, digest: str) -> None:
        tmp = self.head_path.with_name(f".audit.head.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(json.dumps({"seq": seq, "hash": digest}).encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.head_path)

    def _head(self) -> tuple[int, str] | None:
        try:
            raw = json.loads(self.head_path.read_text(encoding="utf-8"))
            return int(raw["seq"]), str(raw["hash"])
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            return (-1, "unreadable head")

    def _lines(self) -> Iterator[str]:
        with contextlib.suppress(FileNotFoundError), self.path.open(encoding="utf-8") as handle:
            for line in handle:
                yield line.rstrip("\n")

    def entries(self) -> Iterator[dict[str, Any]]:
        for line in self._lines():
            if line:
                yield json.loads(line)

    def verify(self) -> Verification:
        return verify_lines(self._lines(), self._head())

    def describe(self) -> str:
        return str(self.path)


class AuditConflictError(RuntimeError):
    """Writers kept racing for the next sequence number; the entry was not recorded."""


class DynamoDBAuditSink:
    """The chain as items of a DynamoDB table (``stream`` = "audit", ``seq`` = 1, 2, ...)."""

    MAX_ATTEMPTS = 20

    def __init__(self, table: str, region: str, client: Any = None, clock: Clock = time.time) -> None:
        self.table = table
        self.region = region
        self._client = client
        self._clock = clock

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("dynamodb", region_name=self.region)
        return self._client

    def record(
        self, ctx: RequestContext, params: dict[str, Any], result: dict[str, Any] | None, error: str | None
    ) -> None:
        self.append(describe_request(ctx, params, result, error, self._clock()))

    def _last(self) -> tuple[int, str]:
        found = self.client.query(
            TableName=self.table,
            KeyConditionExpression="#p = :p",
            ExpressionAttributeNames={"#p": "stream"},
            ExpressionAttributeValues={":p": {"S": STREAM}},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        ).get("Items", [])
        if not found:
            return 0, GENESIS
        return int(found[0]["seq"]["N"]), str(found[0]["hash"]["S"])

    def append(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        for attempt in range(self.MAX_ATTEMPTS):
            last_seq, prev = self._last()
            entry = chain(fields, last_seq + 1, prev)
            try:
                self.client.put_item(
                    TableName=self.table,
                    Item={
                        "stream": {"S": STREAM},
                        "seq": {"N": str(entry["seq"])},
                        "hash": {"S": entry["hash"]},
                        "entry": {"S": canonical(entry).decode("utf-8")},
                    },
                    ConditionExpression="attribute_not_exists(#s)",
                    ExpressionAttributeNames={"#s": "seq"},
                )
                return entry
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                log.info("audit append raced, retrying", extra={"seq": entry["seq"], "attempt": attempt + 1})
                time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
        raise AuditConflictError(
            f"could not append to audit table {self.table} after {self.MAX_ATTEMPTS} tries"
        )

    def _lines(self) -> Iterator[str]:
        paginator = self.client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="#p = :p",
            ExpressionAttributeNames={"#p": "stream"},
            ExpressionAttributeValues={":p": {"S": STREAM}},
            ConsistentRead=True,
        )
        for page in pages:
            for item in page.get("Items", []):
                yield str(item["entry"]["S"])

    def entries(self) -> Iterator[dict[str, Any]]:
        for line in self._lines():
            yield json.loads(line)

    def verify(self) -> Verification:
        return verify_lines(self._lines())

    def describe(self) -> str:
        return f"dynamodb table {self.table}"


def record_local_change(
    services: Any, operation: str, params: dict[str, Any], result: dict[str, Any] | None = None
) -> None:
    """Audit a change made from the CLI (principals, collection policy) as ``cli:<user>``."""
    ctx = RequestContext(
        services=services,
        request_id=str(uuid.uuid4()),
        operation=operation,
        principal=Principal(name=f"cli:{getpass.getuser()}"),
        audit={k: v for k, v in params.items() if k != "CollectionId"},
    )
    services.audit.record(ctx, params, result, None)


def record_face_changes(
    services: Services,
    *,
    operation: str,
    principal: str,
    request_id: str,
    collection_id: str,
    indexed: Sequence[str] = (),
    removed: Sequence[str] = (),
    image: Mapping[str, Any] | None = None,
) -> None:
    """Audit faces added or removed outside an API request (drop folder, bulk import)."""
    if not indexed and not removed:
        return
    ctx = RequestContext(
        services=services, request_id=request_id, operation=operation, principal=Principal(name=principal)
    )
    params: dict[str, Any] = {"CollectionId": collection_id}
    if image is not None:
        params["Image"] = dict(image)
    outcome = {
        "FaceRecords": [{"Face": {"FaceId": face_id}} for face_id in indexed],
        "DeletedFaces": list(removed),
    }
    services.audit.record(ctx, params, outcome, None)
