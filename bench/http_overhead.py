"""Per-request overhead of the local endpoint's HTTP server: waitress against the old ``http.server``.

Both servers answer the same trivial handler (a fixed JSON body, no model, no store), so the
difference is the HTTP stack alone. The old server is today's ``rekognito.server`` taken from
git (``--baseline-rev``, default the last commit before the change), loaded as a module.

Measured per server, one client on one keep-alive connection (sequential round trips):
- ``raw``: ``http.client`` POSTs of a 2 KiB body;
- ``boto3``: ``ListCollections`` through a real boto3 client (signing, retries, parsing);
- ``parallel``: 8 ``http.client`` threads at once, requests per second.
Plus ``start_stop_ms``: starting and stopping the server (what a pytest fixture pays).

Writes ``reports/http_overhead.json``. ``--quick`` runs fewer requests.
Usage: ``python bench/http_overhead.py [--quick] [--requests 2000]``.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._report import summary, write  # noqa: E402

BASELINE_REV = "2cac4aa"
BODY = b'{"pad":"' + b"x" * 2040 + b'"}'
ANSWER = json.dumps({"CollectionIds": [], "FaceModelVersions": []})


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "r"},
        "body": ANSWER,
        "isBase64Encoded": False,
    }


def baseline_module(rev: str) -> ModuleType:
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:shared/rekognito/server.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    spec = importlib.util.spec_from_loader("rekognito_server_baseline", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, f"{rev}:server.py", "exec"), module.__dict__)
    return module


def servers(rev: str) -> dict[str, Callable[[], Any]]:
    from rekognito.server import LocalEndpoint

    baseline = baseline_module(rev)
    return {
        "http.server (before)": lambda: baseline.LocalEndpoint("127.0.0.1", 0, handler),
        "waitress (now)": lambda: LocalEndpoint("127.0.0.1", 0, handler),
    }


def raw_round_trips(port: int, n: int) -> list[float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "RekognitionService.X"}
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        connection.request("POST", "/", body=BODY, headers=headers)
        response = connection.getresponse()
        response.read()
        samples.append(time.perf_counter() - started)
    connection.close()
    return samples


def boto3_round_trips(url: str, n: int) -> list[float]:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "rekognition",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"max_attempts": 1}),
    )
    client.list_collections()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        client.list_collections()
        samples.append(time.perf_counter() - started)
    return samples


def parallel_rate(port: int, per_thread: int, threads: int = 8) -> float:
    barrier = threading.Barrier(threads + 1)

    def work() -> None:
        barrier.wait()
        raw_round_trips(port, per_thread)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    return threads * per_thread / (time.perf_counter() - started)


def start_stop_ms(make: Callable[[], Any], n: int) -> dict[str, float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        server = make()
        server.start()
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.request("POST", "/", body=b"{}")
        connection.getresponse().read()
        connection.close()
        server.stop()
        samples.append(time.perf_counter() - started)
    return summary(samples)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="200 requests per measurement")
    parser.add_argument("--baseline-rev", default=BASELINE_REV)
    args = parser.parse_args()
    n = 200 if args.quick else args.requests
    results: dict[str, Any] = {}
    for name, make in servers(args.baseline_rev).items():
        server = make()
        server.start()
        try:
            raw_round_trips(server.port, 50)  # warm up
            results[name] = {
                "raw": summary(raw_round_trips(server.port, n)),
                "boto3": summary(boto3_round_trips(server.url, n // 2)),
                "parallel_requests_per_s": round(parallel_rate(server.port, max(10, n // 8)), 1),
            }
        finally:
            server.stop()
        results[name]["start_stop"] = start_stop_ms(make, 10 if args.quick else 30)
        print(name, json.dumps(results[name]), flush=True)
    path = write(
        "http_overhead",
        {
            "benchmark": "http_overhead",
            "baseline_rev": args.baseline_rev,
            "requests": n,
            "waitress": metadata.version("waitress"),
            "results": results,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
