"""What rekognito's pytest fixtures cost a test suite.

Runs pytest in-process on a generated test module that uses the ``rekognition_client``
fixture, and reads each test's setup / call / teardown durations from pytest's own reports:

- the first test (one DetectFaces) pays for loading the face models; the same test run
  again later shows what is left once they are loaded;
- ``--iterations`` tests per mode (http, inprocess) each get a fresh ``rekognition_client``
  and make one ListCollections call; their setup + teardown is the per-test overhead.

Writes ``reports/fixture_overhead.json``. Usage: ``python bench/fixture_overhead.py [--iterations 50]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import textwrap
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.test_data import image_path  # noqa: E402

TARGET_MS = 50.0
PACKAGES = ("rekognito", "pytest", "boto3", "botocore", "moto", "onnxruntime", "numpy", "pillow")

TEST_MODULE = """
from pathlib import Path

import pytest

PHOTO = Path({photo!r}).read_bytes()
MODES = ["http", "inprocess"]


@pytest.mark.rekognito_mode("inprocess")
def test_first(rekognition_client):
    assert len(rekognition_client.detect_faces(Image={{"Bytes": PHOTO}})["FaceDetails"]) == 1


@pytest.mark.parametrize("rekognito_mode", MODES)
@pytest.mark.parametrize("i", range({iterations}))
def test_fresh_client(rekognition_client, rekognito_mode, i):
    assert rekognition_client.list_collections()["CollectionIds"] == []
    rekognition_client.create_collection(CollectionId="c")


@pytest.mark.rekognito_mode("inprocess")
def test_first_again(rekognition_client):
    assert len(rekognition_client.detect_faces(Image={{"Bytes": PHOTO}})["FaceDetails"]) == 1
"""


class Recorder:
    """Collects each test's phase durations (seconds) from pytest's reports."""

    def __init__(self) -> None:
        self.phases: dict[str, dict[str, float]] = {}
        self.failed: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.phases.setdefault(report.nodeid.split("::", 1)[1], {})[report.when] = report.duration
        if report.failed:
            self.failed.append(f"{report.nodeid} ({report.when})")


def summary(values_s: list[float]) -> dict[str, float]:
    values = sorted(v * 1000 for v in values_s)
    return {
        "n": len(values),
        "median_ms": round(statistics.median(values), 2),
        "mean_ms": round(statistics.fmean(values), 2),
        "p90_ms": round(values[max(0, int(len(values) * 0.9) - 1)], 2),
        "max_ms": round(values[-1], 2),
        "min_ms": round(values[0], 2),
    }


def versions() -> dict[str, str]:
    found: dict[str, str] = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--output", type=Path, default=ROOT / "reports" / "fixture_overhead.json")
    args = parser.parse_args()

    photo = image_path("obama.jpg")
    recorder = Recorder()
    with tempfile.TemporaryDirectory(prefix="rekognito-bench-") as folder:
        tests = Path(folder)
        (tests / "pytest.ini").write_text("[pytest]\nrekognito_mode = http\n", encoding="utf-8")
        (tests / "test_overhead.py").write_text(
            textwrap.dedent(TEST_MODULE.format(photo=str(photo), iterations=args.iterations)),
            encoding="utf-8",
        )
        for name in [n for n in os.environ if n.startswith("AWS_")]:
            del os.environ[name]  # as in a CI job without AWS credentials
        started = time.perf_counter()
        code = pytest.main(
            ["-q", "-p", "no:cacheprovider", "-p", "no:randomly", str(tests)], plugins=[recorder]
        )
        wall = time.perf_counter() - started
    if code != 0 or recorder.failed:
        print("benchmark tests failed:", recorder.failed, file=sys.stderr)
        return 1

    def total(phases: dict[str, float]) -> float:
        return sum(phases.values())

    first = recorder.phases["test_first"]
    again = recorder.phases["test_first_again"]
    per_mode: dict[str, Any] = {}
    for mode in ("http", "inprocess"):
        runs = [
            phases
            for test, phases in recorder.phases.items()
            if test.startswith("test_fresh_client[") and mode in test.rstrip("]").split("[", 1)[1].split("-")
        ]
        overhead = [p["setup"] + p["teardown"] for p in runs]
        per_mode[mode] = {
            "fixture_setup_plus_teardown": summary(overhead),
            "setup": summary([p["setup"] for p in runs]),
            "teardown": summary([p["teardown"] for p in runs]),
            "call_list_and_create_collection": summary([p["call"] for p in runs]),
            "meets_target": statistics.median(overhead) * 1000 < TARGET_MS,
        }
    report = {
        "what": "pytest durations of tests using the rekognition_client fixture (fresh state per test)",
        "iterations_per_mode": args.iterations,
        "target_per_test_overhead_ms": TARGET_MS,
        "first_test": {
            "total_ms": round(total(first) * 1000, 1),
            "phases_ms": {k: round(v * 1000, 1) for k, v in first.items()},
            "same_test_once_models_are_loaded_ms": round(total(again) * 1000, 1),
            "model_loading_estimate_ms": round((total(first) - total(again)) * 1000, 1),
        },
        "per_test": per_mode,
        "pytest_wall_s": round(wall, 2),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "python": sys.version.split()[0],
            "implementation": platform.python_implementation(),
        },
        "packages": versions(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(
        json.dumps(
            {
                "first_test": report["first_test"],
                "per_test": {
                    mode: values["fixture_setup_plus_teardown"] for mode, values in per_mode.items()
                },
            },
            indent=2,
        )
    )
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
