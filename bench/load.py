"""Concurrent load against ``rekognito serve`` in a subprocess; writes reports/load.json.

N worker processes, each with its own boto3 client (retrying throttling, standard mode), mix
IndexFaces, SearchFacesByImage, ListFaces and DeleteFaces on one collection for a while and
record every acknowledged FaceId and deletion. Afterwards the collection must hold exactly
the acknowledged, not deleted faces. Run: ``.venv/bin/python bench/load.py --workers 8 --seconds 120``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.server_process import ServerProcess
from tests.support.workload import WorkerResult, photo_pool, run_worker, verify_faces

from bench._progress import bar
from bench._report import summary, write

COLLECTION = "load"


def _worker(job: tuple[str, int, int, float]) -> WorkerResult:
    url, worker, seed, seconds = job
    return run_worker(url, COLLECTION, worker, seed=seed, seconds=seconds)


def aggregate(results: list[WorkerResult], duration: float) -> dict[str, Any]:
    latencies: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    for result in results:
        for operation, samples in result.latencies.items():
            latencies.setdefault(operation, []).extend(samples)
        for code, count in result.errors.items():
            errors[code] = errors.get(code, 0) + count
    succeeded = sum(len(samples) for samples in latencies.values())
    return {
        "requests_ok": succeeded,
        "requests_failed": sum(errors.values()),
        "throughput_rps": round(succeeded / duration, 2),
        "latency_by_operation": {op: summary(samples) for op, samples in sorted(latencies.items())},
        "throughput_by_operation_rps": {
            op: round(len(s) / duration, 2) for op, s in sorted(latencies.items())
        },
        "errors_by_code": dict(sorted(errors.items())),
        "throttling_retries": sum(r.retries for r in results),
        "throttled_after_all_retries": sum(r.throttled_final for r in results),
        "server_errors_5xx": [e for r in results for e in r.server_errors][:50],
        "faces_acknowledged": sum(len(r.acknowledged) for r in results),
        "deletions_acknowledged": sum(len(r.deleted) for r in results),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=8, help="client processes (default 8)")
    parser.add_argument("--seconds", type=float, default=120.0, help="duration of the load (default 120)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--max-inflight", type=int, default=None, help="REKOGNITO_MAX_INFLIGHT_REQUESTS of the server"
    )
    parser.add_argument("--report", default="load")
    args = parser.parse_args()
    photo_pool()  # fetch and build the photos once, before forking
    env = {"REKOGNITO_MAX_INFLIGHT_REQUESTS": str(args.max_inflight)} if args.max_inflight else {}
    with (
        tempfile.TemporaryDirectory(prefix="rekognito-load-") as tmp,
        ServerProcess(Path(tmp) / "data", env=env) as server,
    ):
        client = server.client()
        client.create_collection(CollectionId=COLLECTION)
        rss: list[int] = []
        stop = threading.Event()

        def sample_rss() -> None:
            with bar(desc=f"load ({args.workers} workers)", total=args.seconds, unit="s") as elapsed:
                while not stop.wait(1.0):
                    rss.append(server.rss_bytes())
                    elapsed.update(1)

        sampler = threading.Thread(target=sample_rss, daemon=True)
        sampler.start()
        started = time.perf_counter()
        jobs = [(server.url, worker, args.seed, args.seconds) for worker in range(args.workers)]
        with multiprocessing.get_context("fork").Pool(args.workers) as pool:
            results = pool.map(_worker, jobs)
        duration = time.perf_counter() - started
        stop.set()
        verification = verify_faces(client, COLLECTION, results)
        exit_code = server.stop()
    report = {
        "command": " ".join(["bench/load.py", *sys.argv[1:]]),
        "workers": args.workers,
        "seconds": args.seconds,
        "duration_s": round(duration, 1),
        "operation_mix_percent": {
            "IndexFaces": 35,
            "SearchFacesByImage": 25,
            "ListFaces": 20,
            "DeleteFaces": 20,
        },
        **aggregate(results, duration),
        "verification": verification.as_dict(),
        "server_rss_peak_mb": round(max(rss, default=0) / 2**20, 1),
        "server_exit_code_after_sigterm": exit_code,
    }
    path = write(args.report, report)
    ok = verification.ok and not report["server_errors_5xx"]
    print(
        f"{report['requests_ok']} requests in {duration:.0f}s ({report['throughput_rps']}/s), "
        f"{report['throttling_retries']} throttling retries, "
        f"verification {'ok' if verification.ok else 'FAILED'} -> {path}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
