"""The durable drop bucket of ``rekognito serve``: a write-through copy on disk, replayed at start.

moto keeps S3 and SQS in memory. :class:`DurableS3App` sits between the gate
(:mod:`rekognito.local_gate`, which checks who may do what first) and moto's S3: when moto
has accepted a write or a delete in the drop bucket, the key's new state is on disk, fsync'd,
before the client gets its answer. So whatever a client was told is stored survives a crash
or a restart, and so does the work it implies (indexing, face removal), until the ingest
handler has done it:

``<data dir>/drop/<bucket>/`` (0700; files 0600), one name per key (the sha256 of the key):

* ``objects/<id>``: a JSON header line (key, ETag, content type, uploader) and the bytes;
* ``done/<id>``: the ETag whose event the ingest handler has processed (absent: pending);
* ``deleted/<id>``: a delete whose event has not been processed yet (key, who deleted it).

At start (:meth:`DropJournal.restore`) every object is put back into moto without an event,
then an S3 event is queued again for every pending object and every delete, as S3 would
have sent it. The ingest handler is idempotent (faces are keyed by the object's revision),
so an event processed just before a crash and replayed after it changes nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from rekognito.ingest.events import ObjectChange
from rekognito.local_gate import current_principal, s3_accesses
from rekognito.redact import key_digest
from rekognito.security.signed_requests import HttpRequest
from rekognito.server import StartResponse, WsgiApp, read_body

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600


@dataclass(frozen=True)
class StoredObject:
    key: str
    etag: str
    content_type: str
    principal: str | None
    pending: bool

    def read(self, path: Path) -> bytes:
        with path.open("rb") as stream:
            stream.readline()
            return stream.read()


def _key_id(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomically(path: Path, chunks: Iterable[bytes], *, sync: bool = True) -> None:
    """``path`` holds ``chunks`` or what it held before, never a part (0600 from the start)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as stream:
            for chunk in chunks:
                stream.write(chunk)
            stream.flush()
            if sync:
                os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    if sync:
        _fsync_dir(path.parent)


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


class DropJournal:
    """The on-disk state of one drop bucket (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._objects = root / "objects"
        self._done = root / "done"
        self._deleted = root / "deleted"
        self._lock = threading.Lock()
        for directory in (root.parent, root, self._objects, self._done, self._deleted):
            directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            os.chmod(directory, DIR_MODE)
        for leftover in root.glob("*/.*.tmp"):  # a write cut short: it was never acknowledged
            leftover.unlink()

    @classmethod
    def for_bucket(cls, data_dir: Path, bucket: str) -> DropJournal:
        return cls(data_dir / "drop" / bucket)

    # -- what the S3 middleware records, before the client's answer ----------------------

    def object_written(
        self, key: str, data: bytes, etag: str, content_type: str, principal: str | None
    ) -> None:
        """``key`` now holds ``data``: durable, and pending until its event is processed."""
        key_id = _key_id(key)
        header = {"key": key, "etag": etag, "content_type": content_type, "principal": principal}
        with self._lock:
            _write_atomically(self._objects / key_id, [json.dumps(header).encode("utf-8"), b"\n", data])
            removed = _unlink(self._done / key_id) | _unlink(self._deleted / key_id)
            if removed:
                _fsync_dir(self.root)

    def object_deleted(self, key: str, principal: str | None) -> None:
        """``key`` is gone: durable, and pending until its removal event is processed."""
        key_id = _key_id(key)
        tombstone = json.dumps({"key": key, "principal": principal}).encode("utf-8")
        with self._lock:
            _write_atomically(self._deleted / key_id, [tombstone])
            _unlink(self._done / key_id)
            if _unlink(self._objects / key_id):
                _fsync_dir(self._objects)

    def etag_of(self, key: str) -> str | None:
        """The ETag of ``key`` as recorded, None when no object is recorded for it."""
        header = self._header(self._objects / _key_id(key))
        return str(header["etag"]) if header is not None else None

    # -- what the poller records once the ingest handler has done the work ---------------

    def processed(self, change: ObjectChange) -> None:
        """The ingest handler has handled ``change``: no need to replay it after a restart.

        Not fsync'd: if this is lost, the event is replayed and changes nothing.
        """
        key_id = _key_id(change.key)
        with self._lock:
            if change.kind == "removed":
                _unlink(self._deleted / key_id)
                return
            header = self._header(self._objects / key_id)
            if header is not None and change.etag is not None and header["etag"] == change.etag:
                _write_atomically(self._done / key_id, [change.etag.encode("ascii")], sync=False)

    # -- start -------------------------------------------------------------------------------

    @staticmethod
    def _header(path: Path) -> dict[str, Any] | None:
        try:
            with path.open("rb") as stream:
                header: dict[str, Any] = json.loads(stream.readline())
        except FileNotFoundError:
            return None
        return header

    def objects(self) -> Iterator[tuple[StoredObject, Path]]:
        for path in sorted(self._objects.iterdir()):
            if path.name.startswith("."):
                continue
            header = self._header(path)
            if header is None:
                continue
            done_path = self._done / path.name
            done = done_path.read_text(encoding="ascii") if done_path.is_file() else None
            stored = StoredObject(
                key=str(header["key"]),
                etag=str(header["etag"]),
                content_type=str(header.get("content_type") or "binary/octet-stream"),
                principal=header.get("principal"),
                pending=done != header["etag"],
            )
            yield stored, path

    def deletes(self) -> Iterator[tuple[str, str | None]]:
        for path in sorted(self._deleted.iterdir()):
            if path.name.startswith("."):
                continue
            tombstone = json.loads(path.read_bytes())
            yield str(tombstone["key"]), tombstone.get("principal")

    def restore(
        self,
        put: Callable[[str, bytes, str, str], None],
        enqueue: Callable[[dict[str, Any]], None],
        *,
        bucket: str,
        region: str,
    ) -> tuple[int, int]:
        """Put every object back (``put(key, data, etag, content type)``, without events), then
        ``enqueue`` the S3 event of each pending object and delete. Returns how many of each."""
        pending: list[StoredObject] = []
        for stored, path in self.objects():
            put(stored.key, stored.read(path), stored.etag, stored.content_type)
            if stored.pending:
                pending.append(stored)
        for stored in pending:
            enqueue(s3_event("ObjectCreated:Put", bucket, region, stored.key, stored.etag, stored.principal))
        deletes = list(self.deletes())
        for key, principal in deletes:
            enqueue(s3_event("ObjectRemoved:Delete", bucket, region, key, None, principal))
        return len(pending), len(deletes)


def s3_event(
    name: str, bucket: str, region: str, key: str, etag: str | None, principal: str | None
) -> dict[str, Any]:
    """An S3 event notification of one record, in the shape S3 (and moto) send."""
    obj: dict[str, Any] = {"key": quote_plus(key, safe="/"), "sequencer": f"{time.time_ns():X}"}
    if etag is not None:
        obj["eTag"] = etag
    record: dict[str, Any] = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "eventName": name,
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "rekognito-replay",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": obj,
        },
    }
    if principal:
        record["userIdentity"] = {"principalId": principal}
    return {"Records": [record]}


@dataclass(frozen=True)
class CurrentObject:
    """An object as S3 holds it now; its bytes are read only when they are recorded."""

    etag: str
    content_type: str
    read: Callable[[], bytes]


ObjectLookup = Callable[[str, str], CurrentObject | None]


class DurableS3App:
    """WSGI middleware in front of moto's S3: a write or delete in ``bucket`` is answered only
    once the key's new state is in ``journal`` (a failure to record it answers 500)."""

    def __init__(self, app: WsgiApp, journal: DropJournal, bucket: str, lookup: ObjectLookup) -> None:
        self._app = app
        self._journal = journal
        self._bucket = bucket
        self._lookup = lookup

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ["REQUEST_METHOD"]).upper()
        if method not in ("PUT", "POST", "DELETE"):
            return self._app(environ, start_response)
        body = read_body(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        raw_uri = str(environ.get("REQUEST_URI") or environ.get("PATH_INFO") or "/")
        raw_path, _, raw_query = raw_uri.partition("?")
        request = HttpRequest(method=method, raw_path=raw_path, raw_query=raw_query, headers={}, body=body)
        changed = [
            (access.kind, access.key)
            for access in s3_accesses(request)
            if access.bucket == self._bucket and access.key and access.kind in ("write", "delete")
        ]
        if not changed:
            return self._app(environ, start_response)
        answer: dict[str, Any] = {}
        chunks: list[bytes] = []

        def capture(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], Any]:
            answer["status"], answer["headers"] = status, headers
            return chunks.append

        result = self._app(environ, capture)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if callable(close):
                close()
        status = str(answer.get("status", "500 Internal Server Error"))
        headers: list[tuple[str, str]] = list(answer.get("headers") or [])
        if status.startswith("2"):
            try:
                for kind, key in changed:
                    self._record(kind, key)
            except OSError:
                log.exception("drop bucket change not recorded", extra={"bucket": self._bucket})
                status, headers, chunks = _internal_error()
        start_response(status, headers)
        return chunks

    def _record(self, kind: str, key: str) -> None:
        current = self._lookup(self._bucket, key)
        principal = current_principal()
        if current is None:
            if kind == "delete":
                self._journal.object_deleted(key, principal)
                log.info("drop delete recorded", extra={"key_sha256": key_digest(key)})
            return
        # A write that left the object as it was (an uploaded part, say) records nothing new.
        if self._journal.etag_of(key) == current.etag:
            return
        data = current.read()
        self._journal.object_written(key, data, current.etag, current.content_type, principal)
        log.info("drop object recorded", extra={"key_sha256": key_digest(key), "bytes": len(data)})


def _internal_error() -> tuple[str, list[tuple[str, str]], list[bytes]]:
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>'
        b"<Message>The change could not be stored durably; retry</Message></Error>"
    )
    headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))]
    return "500 Internal Server Error", headers, [body]
