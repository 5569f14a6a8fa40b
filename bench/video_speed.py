"""Stored-video speed and face search quality on this machine.

Renders the test scene (tests/support/video.py: obama, biden and a group photo of six other
people entering and leaving) as 720p H.264, indexes obama (from a *different* photo) and
biden into a collection, and runs StartFaceSearch / StartFaceDetection / StartLabelDetection
jobs in-process with the real worker (decode, sampling, tracking, models, job store) for
several sampling intervals. Reports video seconds processed per wall-clock second (the
speed-up over real time), people found and false matches, into reports/video_speed.json.

    python bench/video_speed.py            # 720p, 30 fps, 30 s; intervals 250, 500, 1000 ms
    python bench/video_speed.py --quick    # 10 s of video, 500 ms only
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.test_data import image_path  # noqa: E402
from tests.support.video import SCENE, Appearance, render  # noqa: E402

from bench._report import write  # noqa: E402
from rekognito.operations.video import (  # noqa: E402
    start_face_detection,
    start_face_search,
    start_label_detection,
)
from rekognito.request import RequestContext  # noqa: E402
from rekognito.services import Services  # noqa: E402
from rekognito.settings import Settings  # noqa: E402
from rekognito.video.worker import WorkerThreads  # noqa: E402


class LocalFileSource:
    """Stands in for S3: the video is a local file (the download is a copy)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def size(self, bucket: str, key: str, version: str | None, max_bytes: int) -> int:
        return self.path.stat().st_size

    def download(self, bucket: str, key: str, version: str | None, dest: Path, max_bytes: int) -> int:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.path, dest)
        return self.path.stat().st_size


def _scene(duration_s: float) -> tuple[Appearance, ...]:
    """The test scene stretched to ``duration_s`` (same order of entries and exits)."""
    scale = duration_s / 20.0
    return tuple(
        Appearance(a.name, a.photo, a.crop, a.start_s * scale, a.end_s * scale, a.x, a.y, a.height)
        for a in SCENE
    )


def _run_job(
    services: Services, start: Any, params: dict[str, Any], timeout: float = 1800
) -> tuple[Any, float, float]:
    """Run one job to its end: (job, wall seconds, CPU seconds of this process, all threads)."""
    ctx = RequestContext(services=services, request_id=str(uuid.uuid4()), operation="bench")
    began = time.perf_counter()
    cpu = time.process_time()
    job_id = start(ctx, params)["JobId"]
    store = services.video_jobs
    while True:
        job = store.get(job_id)
        assert job is not None
        if job.job_status != "IN_PROGRESS":
            return job, time.perf_counter() - began, time.process_time() - cpu
        if time.perf_counter() - began > timeout:
            raise TimeoutError(job_id)
        time.sleep(0.05)


def _quality(
    services: Services, job_id: str, scene: tuple[Appearance, ...], interval_ms: int
) -> dict[str, Any]:
    result = services.video_jobs.result(job_id) or {}
    on_screen = {a.name: (a.start_s * 1000, a.end_s * 1000) for a in scene}
    indexes: dict[str, set[int]] = {}
    first: dict[str, int] = {}
    false_matches = 0
    entries = 0
    for item in result.get("items", []):
        entries += 1
        names = {m["Face"]["ExternalImageId"] for m in item["FaceMatches"]}
        for name in names:
            start, end = on_screen[name]
            if not start <= item["Timestamp"] < end:
                false_matches += 1
                continue
            indexes.setdefault(name, set()).add(item["Person"]["Index"])
            first[name] = min(first.get(name, 10**12), item["Timestamp"])
    return {
        "people_in_collection_and_video": 2,
        "people_found": sorted(indexes),
        "person_indexes_per_person": {k: len(v) for k, v in indexes.items()},
        "false_matches": false_matches,
        "person_entries": entries,
        "persons_tracked": result.get("persons_seen"),
        "first_seen_delay_ms": {k: round(v - on_screen[k][0]) for k, v in first.items()},
        "within_one_interval": all(v - on_screen[k][0] <= interval_ms + 40 for k, v in first.items()),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--inference-threads", type=int, default=1)
    parser.add_argument("--intervals", default=None, help="comma-separated sampling intervals in ms")
    parser.add_argument("--max-width", type=int, default=0, help="scale analysed frames down to this width")
    parser.add_argument("--name", default="video_speed", help="report name under reports/")
    parser.add_argument("--search-only", action="store_true", help="run only the face search jobs")
    args = parser.parse_args()
    duration = 10.0 if args.quick else 30.0
    intervals = [500] if args.quick else [250, 500, 1000]
    if args.intervals:
        intervals = [int(v) for v in args.intervals.split(",")]
    scene = _scene(duration)
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    work = Path(tempfile.mkdtemp(prefix="video-bench-"))
    try:
        video = render(
            work / "scene720.mp4", width=1280, height=720, fps=30, duration_s=duration, scene=scene
        )
        runs: list[dict[str, Any]] = []
        for interval in intervals:
            settings = Settings(
                data_dir=work / f"data-{interval}",
                auth_mode="none",
                audit_enabled=False,
                video_sample_ms=interval,
                video_max_width=args.max_width,
                video_segment_seconds=10,
                inference_threads=args.inference_threads,
            )
            services = Services(settings)
            services.video_source = LocalFileSource(video)
            ctx = RequestContext(services=services, request_id="bench", operation="bench")
            from rekognito.operations.collections import create_collection
            from rekognito.operations.faces import index_faces

            create_collection(ctx, {"CollectionId": "bench"})
            for name, photo in (("obama", "obama2.jpg"), ("biden", "biden.jpg")):
                index_faces(
                    ctx,
                    {
                        "CollectionId": "bench",
                        "Image": {"Bytes": image_path(photo).read_bytes()},
                        "ExternalImageId": name,
                        "MaxFaces": 1,
                    },
                )
            _ = services.face_analyzer
            workers = WorkerThreads(services, args.workers).start()
            params = {"Video": {"S3Object": {"Bucket": "bench", "Name": "scene720.mp4"}}}
            jobs = [("FaceSearch", start_face_search, {**params, "CollectionId": "bench"})]
            if not args.search_only and (not args.quick or interval == 500):
                jobs.append(("FaceDetection", start_face_detection, params))
            if not args.search_only and interval >= 500:
                jobs.append(("LabelDetection", start_label_detection, params))
            for api, start, job_params in jobs:
                job, wall, cpu = _run_job(services, start, job_params)
                entry: dict[str, Any] = {
                    "api": api,
                    "sample_interval_ms": interval,
                    "status": job.job_status,
                    "video_seconds": duration,
                    "wall_seconds": round(wall, 2),
                    "times_real_time": round(duration / wall, 2),
                    # Load-independent: CPU seconds spent per video second (all threads).
                    "cpu_seconds": round(cpu, 2),
                    "video_seconds_per_cpu_second": round(duration / cpu, 2),
                }
                if api == "FaceSearch":
                    entry["quality"] = _quality(services, job.job_id, scene, interval)
                runs.append(entry)
                print(entry, flush=True)
            workers.stop()
            services.close()
        report = {
            "load_average_at_start": load_at_start,
            "pyav": metadata.version("av"),
            "video": {"width": 1280, "height": 720, "fps": 30, "codec": "h264", "seconds": duration},
            "workers": args.workers,
            "inference_threads": args.inference_threads,
            "max_width": args.max_width,
            "segment_seconds": 10,
            "runs": runs,
        }
        print(write(args.name, report))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
