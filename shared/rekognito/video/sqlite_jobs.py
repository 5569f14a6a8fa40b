"""The persistent video job store: ``<data_dir>/video/jobs.sqlite3`` (0600, WAL).

A job moves ``PLANNING`` (probe the video, cut it into segments) -> ``RUNNING`` (segments
analysed, possibly by several workers at once) -> ``SUCCEEDED`` / ``FAILED``. Every piece
of work (planning a job, one segment, merging the results) is taken under a *lease*: the
worker that holds it renews it while it works (heartbeat); a worker killed mid-work stops
renewing, the lease runs out and another worker (or the same one, restarted) takes the work
again. Each piece has at most ``max_attempts`` tries; then the job is ``FAILED`` with a
message, so no job stays ``IN_PROGRESS`` forever. Finished segments stay done: a restarted
job resumes with the segments still missing.

Finished jobs keep their results until ``expires_at`` (``REKOGNITO_VIDEO_RETENTION_DAYS``),
then :meth:`JobStore.purge_expired` deletes them. Face search jobs are also deleted with
their collection (:meth:`JobStore.delete_for_collection`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rekognito.video.jobs import (
    FAILED,
    IN_FLIGHT,
    PLANNING,
    RUNNING,
    SUCCEEDED,
    Job,
    JobExists,
    Segment,
    Work,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    api TEXT NOT NULL,
    owner TEXT NOT NULL,
    collection_id TEXT,
    params TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    client_token TEXT,
    state TEXT NOT NULL,
    status_message TEXT,
    video TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    finished_at REAL,
    expires_at REAL,
    lease_owner TEXT,
    lease_until REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    notified INTEGER NOT NULL DEFAULT 0,
    result BLOB
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_token ON jobs (owner, api, client_token)
    WHERE client_token IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state);
CREATE INDEX IF NOT EXISTS jobs_collection ON jobs (collection_id);
CREATE TABLE IF NOT EXISTS segments (
    job_id TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    result BLOB,
    PRIMARY KEY (job_id, idx)
);
"""


def _pack(value: Any) -> bytes:
    return zlib.compress(json.dumps(value, separators=(",", ":"), allow_nan=False).encode("utf-8"), 6)


def _unpack(blob: bytes | None) -> Any:
    return None if blob is None else json.loads(zlib.decompress(blob))


_JOB_COLUMNS = (
    "job_id, api, owner, collection_id, params, fingerprint, client_token, state, status_message, "
    "video, created_at, finished_at, expires_at, attempts"
)


# Column names only, never a value: every value is a bound parameter.
_SELECT_JOBS = f"SELECT {_JOB_COLUMNS}"


def _job(row: tuple[Any, ...]) -> Job:
    return Job(
        job_id=row[0],
        api=row[1],
        owner=row[2],
        collection_id=row[3],
        params=json.loads(row[4]),
        fingerprint=row[5],
        client_token=row[6],
        state=row[7],
        status_message=row[8],
        video=json.loads(row[9]) if row[9] else None,
        created_at=row[10],
        finished_at=row[11],
        expires_at=row[12],
        attempts=row[13],
    )


class JobStore:
    """Video jobs, segments and results in one SQLite file; safe across threads and processes."""

    # Completion notifications are published by the workers' loop (``unnotified``).
    deferred_notifications = True

    def __init__(self, data_dir: Path, *, max_attempts: int = 3, retention_s: float = 7 * 86400.0) -> None:
        directory = data_dir / "video"
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = directory / "jobs.sqlite3"
        # Created 0600 before SQLite opens it: results name faces (biometric data).
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        self.max_attempts = max_attempts
        self.retention_s = retention_s
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)
        self._lock = threading.RLock()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- the API side ---------------------------------------------------------------------

    def create(
        self,
        *,
        job_id: str,
        api: str,
        owner: str,
        collection_id: str | None,
        params: dict[str, Any],
        fingerprint: str,
        client_token: str | None,
        max_in_flight: int,
        now: float,
    ) -> Job | None:
        """Insert a job; None when ``max_in_flight`` jobs are already in progress.

        Raises :class:`JobExists` when the owner already started ``api`` with this token.
        """
        with self._transaction() as db:
            if client_token is not None:
                row = db.execute(
                    f"{_SELECT_JOBS} FROM jobs WHERE owner = ? AND api = ? AND client_token = ?",
                    (owner, api, client_token),
                ).fetchone()
                if row is not None:
                    raise JobExists(_job(row))
            (in_flight,) = db.execute("SELECT COUNT(*) FROM jobs WHERE state IN (?, ?)", IN_FLIGHT).fetchone()
            if in_flight >= max_in_flight:
                return None
            db.execute(
                "INSERT INTO jobs (job_id, api, owner, collection_id, params, fingerprint, client_token, "
                "state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    api,
                    owner,
                    collection_id,
                    json.dumps(params, separators=(",", ":")),
                    fingerprint,
                    client_token,
                    PLANNING,
                    now,
                    now,
                ),
            )
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, job_id: str, now: float | None = None) -> Job | None:
        """The job; with ``now``, None once its results expired (even before the purge)."""
        with self._lock:
            row = self._db.execute(f"{_SELECT_JOBS} FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        job = None if row is None else _job(row)
        if job is not None and now is not None and job.expires_at is not None and job.expires_at <= now:
            return None
        return job

    def result(self, job_id: str) -> Any:
        with self._lock:
            row = self._db.execute("SELECT result FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return None if row is None else _unpack(row[0])

    def delete_for_collection(self, collection_id: str, api: str) -> list[str]:
        """Delete the ``api`` jobs (in progress or finished) of a collection; their ids."""
        with self._transaction() as db:
            ids = [
                r[0]
                for r in db.execute(
                    "SELECT job_id FROM jobs WHERE collection_id = ? AND api = ?", (collection_id, api)
                ).fetchall()
            ]
            db.execute("DELETE FROM jobs WHERE collection_id = ? AND api = ?", (collection_id, api))
        return ids

    def lease(
        self, job_id: str, kind: str, index: int | None, worker: str, now: float, lease_s: float
    ) -> Work | None:
        """Only the SAM app's store is driven by messages; here workers ``claim``."""
        raise NotImplementedError("the SQLite job store is polled with claim()")

    def all_segments_done(self, job_id: str) -> bool:
        with self._lock:
            (left,) = self._db.execute(
                "SELECT COUNT(*) FROM segments WHERE job_id = ? AND done = 0", (job_id,)
            ).fetchone()
        return int(left) == 0

    def purge_expired(self, now: float) -> list[str]:
        """Delete finished jobs past their ``expires_at``; their ids."""
        with self._transaction() as db:
            ids = [
                r[0]
                for r in db.execute(
                    "SELECT job_id FROM jobs WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
                ).fetchall()
            ]
            db.execute("DELETE FROM jobs WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,))
        return ids

    # -- the worker side ------------------------------------------------------------------

    def claim(self, worker: str, now: float, lease_s: float) -> Work | None:
        """Lease the next piece of work, oldest job first; fail what ran out of attempts."""
        until = now + lease_s
        with self._transaction() as db:
            # Pieces whose lease expired max_attempts times: the job fails, cleanly.
            exhausted = db.execute(
                "SELECT job_id FROM jobs WHERE state IN (?, ?) AND attempts >= ? "
                "AND (lease_until IS NULL OR lease_until < ?) "
                "UNION SELECT s.job_id FROM segments s JOIN jobs j ON j.job_id = s.job_id "
                "WHERE j.state = ? AND s.done = 0 AND s.attempts >= ? AND s.lease_until < ?",
                (*IN_FLIGHT, self.max_attempts, now, RUNNING, self.max_attempts, now),
            ).fetchall()
            for (job_id,) in exhausted:
                self._fail(
                    db,
                    job_id,
                    f"The video worker stopped {self.max_attempts} times while processing this job",
                    now,
                    self.retention_s,
                )
            row = db.execute(
                f"{_SELECT_JOBS} FROM jobs WHERE state = ? AND (lease_until IS NULL OR lease_until < ?) "
                "ORDER BY created_at LIMIT 1",
                (PLANNING, now),
            ).fetchone()
            if row is not None:
                self._lease_job(db, row[0], worker, until, now)
                return Work("plan", _job(row))
            seg = db.execute(
                "SELECT s.job_id, s.idx, s.start_ms, s.end_ms, s.attempts FROM segments s "
                "JOIN jobs j ON j.job_id = s.job_id WHERE j.state = ? AND s.done = 0 "
                "AND (s.lease_until IS NULL OR s.lease_until < ?) ORDER BY j.created_at, s.idx LIMIT 1",
                (RUNNING, now),
            ).fetchone()
            if seg is not None:
                db.execute(
                    "UPDATE segments SET lease_owner = ?, lease_until = ?, attempts = attempts + 1 "
                    "WHERE job_id = ? AND idx = ?",
                    (worker, until, seg[0], seg[1]),
                )
                job_row = db.execute(f"{_SELECT_JOBS} FROM jobs WHERE job_id = ?", (seg[0],)).fetchone()
                return Work("segment", _job(job_row), Segment(seg[0], seg[1], seg[2], seg[3], seg[4] + 1))
            row = db.execute(
                f"{_SELECT_JOBS} FROM jobs j WHERE state = ? "  # noqa: S608 - see _SELECT_JOBS
                "AND (lease_until IS NULL OR lease_until < ?) "
                "AND NOT EXISTS (SELECT 1 FROM segments s WHERE s.job_id = j.job_id AND s.done = 0) "
                "ORDER BY created_at LIMIT 1",
                (RUNNING, now),
            ).fetchone()
            if row is not None:
                self._lease_job(db, row[0], worker, until, now)
                return Work("finish", _job(row))
        return None

    @staticmethod
    def _lease_job(db: sqlite3.Connection, job_id: str, worker: str, until: float, now: float) -> None:
        db.execute(
            "UPDATE jobs SET lease_owner = ?, lease_until = ?, attempts = attempts + 1, updated_at = ? "
            "WHERE job_id = ?",
            (worker, until, now, job_id),
        )

    def renew(self, work: Work, worker: str, until: float) -> bool:
        """Extend the lease; False when it was lost (expired and taken, or the job deleted)."""
        with self._transaction() as db:
            if work.segment is not None:
                cursor = db.execute(
                    "UPDATE segments SET lease_until = ? WHERE job_id = ? AND idx = ? AND lease_owner = ? "
                    "AND done = 0",
                    (until, work.job.job_id, work.segment.index, worker),
                )
            else:
                cursor = db.execute(
                    "UPDATE jobs SET lease_until = ? WHERE job_id = ? AND lease_owner = ? "
                    "AND state IN (?, ?)",
                    (until, work.job.job_id, worker, *IN_FLIGHT),
                )
            return cursor.rowcount == 1

    def planned(
        self, work: Work, worker: str, video: dict[str, Any], bounds: list[tuple[int, int]], now: float
    ) -> bool:
        """Record the video's metadata and its segments; the job starts ``RUNNING``."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE jobs SET state = ?, video = ?, lease_owner = NULL, lease_until = NULL, attempts = 0, "
                "updated_at = ? WHERE job_id = ? AND lease_owner = ? AND state = ?",
                (RUNNING, json.dumps(video), now, work.job.job_id, worker, PLANNING),
            )
            if cursor.rowcount != 1:
                return False
            db.executemany(
                "INSERT INTO segments (job_id, idx, start_ms, end_ms) VALUES (?, ?, ?, ?)",
                [(work.job.job_id, i, start, end) for i, (start, end) in enumerate(bounds)],
            )
        return True

    def segment_done(self, work: Work, worker: str, result: Any) -> bool:
        assert work.segment is not None
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE segments SET done = 1, result = ?, lease_owner = NULL, lease_until = NULL "
                "WHERE job_id = ? AND idx = ? AND lease_owner = ? AND done = 0",
                (_pack(result), work.job.job_id, work.segment.index, worker),
            )
            return cursor.rowcount == 1

    def segment_results(self, job_id: str) -> list[Any]:
        with self._lock:
            rows = self._db.execute(
                "SELECT result FROM segments WHERE job_id = ? ORDER BY idx", (job_id,)
            ).fetchall()
        return [_unpack(r[0]) for r in rows]

    def succeed(self, work: Work, worker: str, result: Any, now: float) -> bool:
        """Store the merged result (and drop the per-segment ones, which hold embeddings)."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE jobs SET state = ?, result = ?, finished_at = ?, expires_at = ?, updated_at = ?, "
                "lease_owner = NULL, lease_until = NULL WHERE job_id = ? AND lease_owner = ? AND state = ?",
                (
                    SUCCEEDED,
                    _pack(result),
                    now,
                    now + self.retention_s,
                    now,
                    work.job.job_id,
                    worker,
                    RUNNING,
                ),
            )
            if cursor.rowcount != 1:
                return False
            db.execute("DELETE FROM segments WHERE job_id = ?", (work.job.job_id,))
        return True

    def fail(self, job_id: str, message: str, now: float) -> bool:
        with self._transaction() as db:
            return self._fail(db, job_id, message, now, self.retention_s)

    @staticmethod
    def _fail(db: sqlite3.Connection, job_id: str, message: str, now: float, retention_s: float) -> bool:
        cursor = db.execute(
            "UPDATE jobs SET state = ?, status_message = ?, finished_at = ?, expires_at = ?, updated_at = ?, "
            "lease_owner = NULL, lease_until = NULL WHERE job_id = ? AND state IN (?, ?)",
            (FAILED, message[:1000], now, now + retention_s, now, job_id, *IN_FLIGHT),
        )
        db.execute("DELETE FROM segments WHERE job_id = ?", (job_id,))
        return cursor.rowcount == 1

    def unnotified(self) -> list[Job]:
        """Finished jobs whose completion has not been published yet (at least once)."""
        with self._lock:
            rows = self._db.execute(
                f"{_SELECT_JOBS} FROM jobs WHERE state IN (?, ?) AND notified = 0 ORDER BY finished_at",
                (SUCCEEDED, FAILED),
            ).fetchall()
        return [_job(r) for r in rows]

    def mark_notified(self, job_id: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE jobs SET notified = 1 WHERE job_id = ?", (job_id,))

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        return {str(state): int(n) for state, n in rows}
