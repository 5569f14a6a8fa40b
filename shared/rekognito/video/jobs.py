"""Stored-video jobs: their states, the records the job stores keep, and their errors.

A job moves ``PLANNING`` (probe the video, cut it into segments) -> ``RUNNING`` (segments
analysed, possibly by several workers at once) -> ``SUCCEEDED`` / ``FAILED``. Every piece
of work (planning a job, one segment, merging the results) is taken under a *lease* (see
:class:`Work`). The stores: :mod:`rekognito.video.sqlite_jobs` (``rekognito serve``) and
:mod:`rekognito.video.dynamo_jobs` (the SAM app); both implement
:class:`rekognito.ports.VideoJobStore`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PLANNING = "PLANNING"
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
IN_FLIGHT = (PLANNING, RUNNING)


@dataclass(frozen=True)
class Job:
    job_id: str
    api: str
    owner: str
    collection_id: str | None
    params: dict[str, Any]
    fingerprint: str
    client_token: str | None
    state: str
    status_message: str | None
    video: dict[str, Any] | None
    created_at: float
    finished_at: float | None
    expires_at: float | None
    attempts: int

    @property
    def job_status(self) -> str:
        """Rekognition's ``JobStatus``."""
        return "IN_PROGRESS" if self.state in IN_FLIGHT else self.state


@dataclass(frozen=True)
class Segment:
    job_id: str
    index: int
    start_ms: int
    end_ms: int
    attempts: int


@dataclass(frozen=True)
class Work:
    """A leased piece of work: ``plan`` a job, analyse a ``segment``, or ``finish`` (merge)."""

    kind: str
    job: Job
    segment: Segment | None = None


class JobExists(Exception):
    """A job with this client token exists; ``job`` is it."""

    def __init__(self, job: Job) -> None:
        super().__init__(job.job_id)
        self.job = job
