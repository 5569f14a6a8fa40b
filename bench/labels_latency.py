"""Per-image latency of DetectLabels, DetectText and DetectModerationLabels on this machine.

Calls the operations directly (no HTTP) with the real models, one inference thread, on
the test photos; writes a JSON report to reports/labels_latency.json.

    python bench/labels_latency.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from tests.functional.test_detect_labels_models import astronaut, chelsea, coffee, puppy
from tests.functional.test_text_models import _text_image

from rekognito.operations.labels import detect_labels, detect_moderation_labels
from rekognito.operations.text import detect_text
from rekognito.request import RequestContext
from rekognito.services import Services
from rekognito.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def _time(call: Any, repeat: int) -> dict[str, float]:
    call()  # warm-up (session creation, first-run allocations)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000.0)
    return {"median_ms": statistics.median(samples), "min_ms": min(samples), "max_ms": max(samples)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    services = Services(Settings(data_dir=ROOT / ".cache" / "bench-data", inference_threads=1))
    ctx = RequestContext(services=services, request_id="bench", operation="bench")
    photos = {"astronaut": astronaut(), "chelsea": chelsea(), "coffee": coffee(), "puppy": puppy()}
    report: dict[str, Any] = {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "threads": 1,
    }
    results: dict[str, dict[str, Any]] = {}
    for name, path in photos.items():
        image = {"Bytes": path.read_bytes()}
        results[f"DetectLabels/{name}"] = _time(
            lambda image=image: detect_labels(ctx, {"Image": image}), args.repeat
        )
        results[f"DetectLabels+IMAGE_PROPERTIES/{name}"] = _time(
            lambda image=image: detect_labels(
                ctx, {"Image": image, "Features": ["GENERAL_LABELS", "IMAGE_PROPERTIES"]}
            ),
            args.repeat,
        )
        results[f"DetectModerationLabels/{name}"] = _time(
            lambda image=image: detect_moderation_labels(ctx, {"Image": image}), args.repeat
        )
    text_bytes, _ = _text_image()
    results["DetectText/rendered-4-lines-900x420"] = _time(
        lambda: detect_text(ctx, {"Image": {"Bytes": text_bytes}}), args.repeat
    )
    report["results"] = results
    out = ROOT / "reports" / "labels_latency.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    services.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
