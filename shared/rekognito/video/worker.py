"""The video worker: takes leased work from the job store and does it.

``rekognito serve`` runs ``REKOGNITO_VIDEO_WORKERS`` of these as threads;
``python -m rekognito.video.worker --data-dir DIR`` runs one as a process of its own (more
workers, or on another machine sharing the data dir). A worker

* plans a job: downloads the video, probes it, cuts it into segments;
* analyses one segment (the sampled frames in it) and stores the partial result;
* finishes a job whose segments are all done: merges, stores the result, audits face
  search matches, and leaves the job to be notified;
* publishes pending completion notifications (at least once) and purges expired results.

While it works, a heartbeat thread renews its lease; when a renewal fails (the lease ran out
and someone else took the work, or the job was deleted with its collection) the work is
abandoned at the next frame.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from rekognito.api._generated import VideoTooLargeException
from rekognito.errors import RekognitionError
from rekognito.identity import Principal
from rekognito.ports import Runtime, VideoJobStore
from rekognito.request import RequestContext
from rekognito.video.analysis import JOB_TYPES
from rekognito.video.decode import SampledFrame, VideoDecodeError, VideoSupportMissing, probe, sample_frames
from rekognito.video.jobs import Job, Work
from rekognito.video.notify import completion_message

log = logging.getLogger(__name__)

IDLE_WAIT_S = 0.5
PURGE_EVERY_S = 3600.0
WORKER_PRINCIPAL = "system:video-worker"


class LeaseLost(Exception):
    """The lease ran out and the work belongs to someone else now (or the job is gone)."""


class Heartbeat:
    """Renews a lease every third of its length until closed; ``lost`` once a renewal fails."""

    def __init__(
        self, store: VideoJobStore, work: Work, worker: str, lease_s: float, clock: Callable[[], float]
    ) -> None:
        self._store, self._work, self._worker = store, work, worker
        self._lease_s, self._clock = lease_s, clock
        self._stop = threading.Event()
        self.lost = False
        self._thread = threading.Thread(target=self._run, name="rekognito-video-heartbeat", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._lease_s / 3):
            try:
                if not self._store.renew(self._work, self._worker, self._clock() + self._lease_s):
                    self.lost = True
                    return
            except Exception:
                log.exception("video lease renewal failed", extra={"job_id": self._work.job.job_id})

    def check(self) -> None:
        if self.lost:
            raise LeaseLost(self._work.job.job_id)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _s3(job: Job) -> dict[str, Any]:
    s3: dict[str, Any] = job.params["Video"]["S3Object"]
    return s3


def segment_bounds(duration_ms: int, segment_ms: int) -> list[tuple[int, int]]:
    """``[start, end)`` of each segment; the last one is open-ended (runs to the last frame)."""
    count = max(1, -(-duration_ms // segment_ms))
    bounds = [(i * segment_ms, (i + 1) * segment_ms) for i in range(count)]
    bounds[-1] = (bounds[-1][0], 2**62)
    return bounds


class VideoWorker:
    def __init__(
        self, services: Runtime, *, worker_id: str | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.services = services
        self.settings = services.settings
        self.store = services.video_jobs
        self.queue = services.video_queue
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.clock = clock
        self.tmp_dir = self.settings.data_dir / "video" / "tmp"
        self._last_purge = 0.0

    # -- the loop -------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        log.info("video worker started", extra={"worker": self.worker_id})
        while not stop.is_set():
            try:
                did = self.run_once()
                self.publish_notifications()
                self.maybe_purge()
            except Exception:
                log.exception("video worker iteration failed", extra={"worker": self.worker_id})
                did = False
            if not did:
                stop.wait(IDLE_WAIT_S)

    def run_once(self) -> bool:
        """Do one piece of work if there is one; True if there was."""
        work = self.store.claim(self.worker_id, self.clock(), self.settings.video_lease_seconds)
        if work is None:
            return False
        self.process(work)
        return True

    def process_message(self, job_id: str, kind: str, index: int | None) -> None:
        """Do the piece an SQS message names (deployed), unless it is done or taken."""
        work = self.store.lease(
            job_id, kind, index, self.worker_id, self.clock(), self.settings.video_lease_seconds
        )
        if work is None:
            log.info("video message skipped", extra={"job_id": job_id, "kind": kind, "segment": index})
            return
        self.process(work)

    def give_up(self, job_id: str, kind: str) -> None:
        """A piece failed on every delivery (its message reached the dead-letter queue)."""
        job = self.store.get(job_id)
        if job is not None:
            self._fail(job, f"The video worker failed {self.settings.video_max_attempts} times ({kind})")

    def process(self, work: Work) -> None:
        job = work.job
        log.info(
            "video work",
            extra={
                "job_id": job.job_id,
                "kind": work.kind,
                "segment": work.segment.index if work.segment else None,
            },
        )
        try:
            with Heartbeat(
                self.store, work, self.worker_id, self.settings.video_lease_seconds, self.clock
            ) as beat:
                if work.kind == "plan":
                    self._plan(work, beat)
                elif work.kind == "segment":
                    self._segment(work, beat)
                else:
                    self._finish(work)
        except LeaseLost:
            log.warning("video lease lost", extra={"job_id": job.job_id, "kind": work.kind})
        except (RekognitionError, VideoDecodeError, VideoSupportMissing) as error:
            self._fail(job, _status_message(error))
        except Exception:
            # Unexpected: the lease runs out and the piece is tried again (max_attempts).
            log.exception("video work failed", extra={"job_id": job.job_id, "kind": work.kind})
            if self.queue.announces:
                raise  # the message comes back after its visibility timeout

    # -- the pieces -----------------------------------------------------------------------

    def _video_path(self, job: Job) -> Path:
        return self.tmp_dir / job.job_id

    def _fetch(self, job: Job) -> Path:
        path = self._video_path(job)
        if not path.is_file():
            if self.queue.announces and self.tmp_dir.is_dir():
                # A Lambda container keeps /tmp between invocations: keep one video only.
                for other in self.tmp_dir.iterdir():
                    other.unlink(missing_ok=True)
            s3 = _s3(job)
            partial = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.part")
            self.services.video_source.download(
                s3["Bucket"], s3["Name"], s3.get("Version"), partial, self.settings.video_max_bytes
            )
            os.replace(partial, path)
        return path

    def _plan(self, work: Work, beat: Heartbeat) -> None:
        path = self._fetch(work.job)
        beat.check()
        info = probe(path)
        if info.duration_ms > self.settings.video_max_duration_s * 1000:
            raise VideoTooLargeException(
                f"The video lasts {info.duration_ms / 1000:.0f} s; "
                f"the maximum duration is {self.settings.video_max_duration_s} s"
            )
        bounds = segment_bounds(info.duration_ms, self.settings.video_segment_seconds * 1000)
        if not self.store.planned(work, self.worker_id, info.to_api(), bounds, self.clock()):
            raise LeaseLost(work.job.job_id)
        for index in range(len(bounds)):
            self.queue.submit(work.job.job_id, "segment", index)

    def _frames(
        self, path: Path, interval_ms: int, start_ms: int, end_ms: int, max_width: int, beat: Heartbeat
    ) -> Iterator[SampledFrame]:
        for frame in sample_frames(path, interval_ms, start_ms, end_ms, max_width):
            beat.check()
            yield frame

    def _segment(self, work: Work, beat: Heartbeat) -> None:
        assert work.segment is not None
        job = work.job
        path = self._fetch(job)
        interval = int(job.params["_interval_ms"])
        max_width = int(job.params.get("_max_width", 0))
        frames = self._frames(path, interval, work.segment.start_ms, work.segment.end_ms, max_width, beat)
        result = JOB_TYPES[job.api].analysis.segment(self.services, job, frames, interval)
        beat.check()
        if not self.store.segment_done(work, self.worker_id, result):
            raise LeaseLost(job.job_id)
        if self.queue.announces and self.store.all_segments_done(job.job_id):
            self.queue.submit(job.job_id, "finish")

    def _finish(self, work: Work) -> None:
        job = work.job
        interval = int(job.params["_interval_ms"])
        parts = self.store.segment_results(job.job_id)
        merged = JOB_TYPES[job.api].analysis.merge(self.services, job, parts, interval)
        merged["interval_ms"] = interval
        if not self.store.succeed(work, self.worker_id, merged, self.clock()):
            raise LeaseLost(job.job_id)
        self._cleanup(job)
        if job.api == "FACE_SEARCH":
            self._audit_search(job, merged, None)
        self._notify_now(job)
        log.info(
            "video job succeeded", extra={"job_id": job.job_id, "api": job.api, "items": len(merged["items"])}
        )

    def _fail(self, job: Job, message: str) -> None:
        if self.store.fail(job.job_id, message, self.clock()):
            log.info("video job failed", extra={"job_id": job.job_id, "api": job.api, "reason": message})
            if job.api == "FACE_SEARCH":
                self._audit_search(job, None, "VideoJobFailed")
            self._notify_now(job)
        self._cleanup(job)

    def _cleanup(self, job: Job) -> None:
        self._video_path(job).unlink(missing_ok=True)

    def _audit_search(self, job: Job, merged: dict[str, Any] | None, error: str | None) -> None:
        """One audit entry for the matches a face search job produced (or its failure)."""
        s3 = _s3(job)
        details: dict[str, Any] = {
            "job_id": job.job_id,
            "video": f"s3://{s3['Bucket']}/{s3['Name']}",
            "worker": self.worker_id,
        }
        result: dict[str, Any] | None = None
        if merged is not None:
            persons = merged.get("persons", {})
            face_ids = sorted({face_id for p in persons.values() for face_id in p["face_ids"]})
            details["persons_matched"] = len(persons)
            details["persons_seen"] = int(merged.get("persons_seen", 0))
            details["first_seen_ms"] = [p["first_ms"] for p in persons.values()]
            details["last_seen_ms"] = [p["last_ms"] for p in persons.values()]
            details["sampling_interval_ms"] = int(job.params["_interval_ms"])
            result = {"FaceMatches": [{"Face": {"FaceId": face_id}} for face_id in face_ids]}
        ctx = RequestContext(
            services=self.services,
            request_id=job.job_id,
            operation="VideoFaceSearchResult",
            principal=Principal(name=job.owner),
            audit=details,
        )
        params = {"CollectionId": job.collection_id, "FaceMatchThreshold": float(job.params["_threshold"])}
        try:
            self.services.audit.record(ctx, params, result, error)
        except Exception:
            log.exception("video audit record failed", extra={"job_id": job.job_id})

    # -- housekeeping ---------------------------------------------------------------------

    def _notify_now(self, job: Job) -> None:
        """Stores without a notification loop (DynamoDB) publish as soon as a job ends."""
        if self.store.deferred_notifications:
            return
        finished = self.store.get(job.job_id)
        channel = job.params.get("NotificationChannel")
        if finished is None or finished.job_status == "IN_PROGRESS" or not channel:
            return
        try:
            self.services.video_notifier.publish(
                channel["SNSTopicArn"], completion_message(finished, finished.api)
            )
        except Exception:
            # Once, best effort: the job's state is final either way (clients can poll).
            log.exception("video notification failed", extra={"job_id": job.job_id})

    def publish_notifications(self) -> None:
        for job in self.store.unnotified():
            channel = job.params.get("NotificationChannel")
            if channel:
                try:
                    self.services.video_notifier.publish(
                        channel["SNSTopicArn"], completion_message(job, job.api)
                    )
                except Exception:
                    log.exception("video notification failed", extra={"job_id": job.job_id})
                    continue
            self.store.mark_notified(job.job_id)

    def maybe_purge(self, force: bool = False) -> list[str]:
        now = self.clock()
        if not force and now - self._last_purge < PURGE_EVERY_S:
            return []
        self._last_purge = now
        purged = self.store.purge_expired(now)
        if purged:
            log.info("video results purged", extra={"jobs": len(purged)})
        if self.tmp_dir.is_dir():
            for path in self.tmp_dir.iterdir():
                job = self.store.get(path.name.split(".")[0])
                if job is None or job.job_status != "IN_PROGRESS":
                    path.unlink(missing_ok=True)
        return purged


def _status_message(error: Exception) -> str:
    if isinstance(error, RekognitionError):
        return f"{error.code}: {error.message}"
    if isinstance(error, VideoDecodeError):
        return f"Unsupported or corrupt video: {error}"
    return str(error)


class WorkerThreads:
    """``count`` workers as daemon threads (``rekognito serve``)."""

    def __init__(self, services: Runtime, count: int) -> None:
        self._stop = threading.Event()
        self.workers = [VideoWorker(services) for _ in range(count)]
        self._threads = [
            threading.Thread(target=w.run, args=(self._stop,), name=f"rekognito-video-{i}", daemon=True)
            for i, w in enumerate(self.workers)
        ]

    def start(self) -> WorkerThreads:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)


def start_video_workers(services: Runtime) -> WorkerThreads | None:
    count = services.settings.video_workers
    return WorkerThreads(services, count).start() if count > 0 else None


def main(argv: list[str] | None = None) -> int:
    """A stand-alone worker process on a data dir (S3 from REKOGNITO_S3_ENDPOINT_URL or AWS)."""
    parser = argparse.ArgumentParser(prog="python -m rekognito.video.worker")
    parser.add_argument("--data-dir", required=True)
    args = parser.parse_args(argv)
    os.environ["REKOGNITO_DATA_DIR"] = args.data_dir
    from rekognito.logs import configure_logging
    from rekognito.services import get_services

    services = get_services()
    configure_logging(services.settings.log_level)
    stop = threading.Event()
    import signal

    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    VideoWorker(services).run(stop)
    services.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
