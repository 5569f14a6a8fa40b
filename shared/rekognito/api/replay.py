"""A retried SDK call is run once: the replay cache of requests that change something.

The AWS SDKs retry a call after a 5xx, a throttling error or a lost connection, and send
the same ``amz-sdk-invocation-id`` header on every attempt of one call (with
``amz-sdk-request: attempt=N``); botocore 1.44 does so in its legacy, standard and adaptive
retry modes. IndexFaces has no ``ClientRequestToken``, so without this cache an attempt
whose response was lost stores its faces again on the retry.

For operations that change something, the first attempt claims the key
``SHA-256(principal, invocation id, SHA-256(body))`` (a ``pending`` row), runs, and stores
its response (``done``) whenever a change may have been made (a write-ahead audit entry was
written); otherwise it drops the claim, so that a retry runs afresh (the audit trail was
down, the request was throttled, the input was bad). A later attempt with the same key gets
the stored response instead of running again; one arriving while the first is still running
waits for it (up to :data:`PENDING_WAIT_S`, then ``ThrottlingException``, which the SDK
retries). A claim left by a process that died is taken over.

Rows live in ``<data_dir>/replay.sqlite3`` (0600) for :data:`TTL_S` seconds, at most
:data:`MAX_ROWS` of them. They hold responses (face ids, boxes, face details; never
embeddings). The cache is per host: on AWS Lambda each container has its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from rekognito.api._generated import ThrottlingException
from rekognito.settings import Settings

log = logging.getLogger(__name__)

TTL_S = 600.0
MAX_ROWS = 5000
PENDING_WAIT_S = 20.0
POLL_S = 0.05
MAX_INVOCATION_ID = 128

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    owner TEXT NOT NULL,
    request_id TEXT NOT NULL,
    status INTEGER,
    body TEXT,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS replies_created ON replies (created);
"""


@dataclass(frozen=True)
class Reply:
    """The response of the first attempt."""

    status: int
    body: str
    request_id: str


class _Pending:
    """Another live attempt holds the claim."""


def replay_key(principal: str, invocation_id: str, body: bytes) -> str:
    material = b"\0".join(
        (principal.encode("utf-8"), invocation_id.encode("utf-8"), hashlib.sha256(body).digest())
    )
    return hashlib.sha256(material).hexdigest()


def usable_invocation_id(value: str | None) -> str | None:
    if not value or len(value) > MAX_INVOCATION_ID or not value.isprintable():
        return None
    return value


def _alive(owner: str) -> bool:
    pid_text, _, _ = owner.partition(":")
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ReplayCache:
    def __init__(
        self,
        path: Path,
        *,
        ttl_s: float = TTL_S,
        max_rows: int = MAX_ROWS,
        pending_wait_s: float = PENDING_WAIT_S,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        self.path = path
        self._ttl = ttl_s
        self._max_rows = max_rows
        self._wait = pending_wait_s
        self._owner = f"{os.getpid()}:{uuid.uuid4().hex}"
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.executescript(_SCHEMA)

    @classmethod
    def from_settings(cls, settings: Settings) -> ReplayCache:
        return cls(settings.data_dir / "replay.sqlite3")

    def claim(self, key: str, request_id: str) -> Reply | None:
        """None: run the request, then :meth:`finish` or :meth:`release`. A Reply: answer with it."""
        deadline = time.monotonic() + self._wait
        while True:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    outcome = self._claim_locked(key, request_id)
                finally:
                    self._db.execute("COMMIT")
            if not isinstance(outcome, _Pending):
                return outcome
            if time.monotonic() >= deadline:
                raise ThrottlingException(
                    "An earlier attempt of this request is still running; retry with backoff"
                )
            time.sleep(POLL_S)

    def _claim_locked(self, key: str, request_id: str) -> Reply | _Pending | None:
        now = time.time()
        row = self._db.execute(
            "SELECT state, owner, request_id, status, body, created FROM replies WHERE key = ?", (key,)
        ).fetchone()
        if row is not None and row[5] < now - self._ttl:
            self._db.execute("DELETE FROM replies WHERE key = ?", (key,))
            row = None
        if row is None:
            self._prune(now)
            self._db.execute(
                "INSERT INTO replies (key, state, owner, request_id, created) VALUES (?, 'pending', ?, ?, ?)",
                (key, self._owner, request_id, now),
            )
            return None
        state, owner, first_request_id, status, body, _ = row
        if state == "done":
            return Reply(int(status), str(body), str(first_request_id))
        if owner != self._owner and not _alive(owner):
            log.warning(
                "replay claim of a dead process taken over", extra={"first_request_id": first_request_id}
            )
            self._db.execute(
                "UPDATE replies SET owner = ?, request_id = ?, created = ? WHERE key = ?",
                (self._owner, request_id, now, key),
            )
            return None
        return _Pending()

    def _prune(self, now: float) -> None:
        self._db.execute("DELETE FROM replies WHERE created < ?", (now - self._ttl,))
        (count,) = self._db.execute("SELECT COUNT(*) FROM replies").fetchone()
        if count >= self._max_rows:
            self._db.execute(
                "DELETE FROM replies WHERE key IN "
                "(SELECT key FROM replies WHERE state = 'done' ORDER BY created LIMIT ?)",
                (count - self._max_rows + 1,),
            )

    def finish(self, key: str, status: int, body: str) -> None:
        """Keep the response of the attempt that ran, for the retries to come."""
        with self._lock:
            self._db.execute(
                "UPDATE replies SET state = 'done', status = ?, body = ? WHERE key = ? AND owner = ?",
                (status, body, key, self._owner),
            )

    def release(self, key: str) -> None:
        """Nothing was changed: let a retry run afresh."""
        with self._lock:
            self._db.execute(
                "DELETE FROM replies WHERE key = ? AND state = 'pending' AND owner = ?", (key, self._owner)
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
