"""The long fuzz run: >= 10,000 hostile requests over real HTTP; writes reports/fuzz.json.

Run: ``.venv/bin/python bench/fuzz.py --requests 10000 [--seed 1]``. The strategies and the
invariants are those of ``tests/integration/test_fuzz.py`` (``tests/support/fuzz.py``); here
violations are collected (with a replayable body) instead of failing the run.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.endpoint import running_endpoint
from tests.support.fuzz import PROTOCOL_BODIES_KNOWN_5XX, Fuzzer, FuzzRequest, request_strategy

from bench._report import write
from rekognito.inference.pipeline import FaceAnalyzer
from rekognito.services import Services
from rekognito.settings import Settings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=10_000, help="number of fuzz requests (default 10000)"
    )
    parser.add_argument("--seed", type=int, default=1, help="hypothesis seed (default 1)")
    parser.add_argument("--report", default="fuzz", help="report name under reports/ (default fuzz)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # the server logs every rejected request
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rekognito-fuzz-") as tmp:
        settings_ = Settings(
            data_dir=Path(tmp) / "data",
            auth_mode="none",
            s3_endpoint_url="http://127.0.0.1:9",
            audit_enabled=False,
        )
        services = Services(settings_, face_analyzer=FaceAnalyzer.from_settings(settings_))
        with running_endpoint(services) as endpoint:
            fuzzer = Fuzzer(endpoint.url, services, max_violations=200)
            fuzzer.on_violation = lambda v: print(f"VIOLATION {json.dumps(v)[:600]}", file=sys.stderr)
            fuzzer.prepare()
            progress = {"last": time.perf_counter()}

            def report_progress(_: Any = None) -> None:
                now = time.perf_counter()
                if now - progress["last"] > 30:
                    progress["last"] = now
                    stats = fuzzer.stats
                    print(f"{stats.requests} requests, {len(stats.violations)} violations", file=sys.stderr)

            @seed(args.seed)
            @settings(
                max_examples=args.requests,
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(request=request_strategy())
            def one(request: FuzzRequest) -> None:
                fuzzer.run_one(request)
                report_progress()

            one()
            # The bodies that crashed the server when first found, replayed on every run.
            for name, body in PROTOCOL_BODIES_KNOWN_5XX:
                fuzzer.run_one(FuzzRequest("ListCollections", body, f"protocol: {name}", expect_error=True))
        services.close()
    duration = time.perf_counter() - started
    stats = fuzzer.stats.as_dict()
    path = write(
        args.report,
        {
            "command": " ".join(["bench/fuzz.py", *sys.argv[1:]]),
            "seed": args.seed,
            "duration_s": round(duration, 1),
            "requests_per_s": round(stats["requests"] / duration, 1),
            **stats,
        },
    )
    print(f"{stats['requests']} requests in {duration:.0f}s, {len(stats['violations'])} violations -> {path}")
    return 1 if stats["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
