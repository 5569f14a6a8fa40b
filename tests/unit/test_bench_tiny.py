"""The benchmark suite runs end to end on a tiny input. No numbers are asserted here: they
come from the report of ``bench/run_all.py``, not from tests."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from bench import run_all

pytestmark = pytest.mark.slow


def test_tiny_benchmark_writes_report_summary_and_plots(tmp_path: Path) -> None:
    # Given the tiny profile (every section but the peer, on a few photos)
    started = time.perf_counter()

    # When it runs
    assert run_all.main(["--tiny", "--out", str(tmp_path)]) == 0

    # Then it wrote the JSON report, the Markdown summary and the plots, without errors
    report = json.loads((tmp_path / "benchmarks.json").read_text())
    assert report["errors"] == {}
    for section in ("latency", "ingest", "scale", "accuracy"):
        assert section in report
    assert (tmp_path / "benchmarks.md").read_text().startswith("# Benchmarks")
    assert report["plots"] or report["plots_skipped"]  # matplotlib comes with requirements/bench.txt
    assert all(Path(p).is_file() and Path(p).parent == tmp_path / "plots" for p in report["plots"])
    assert time.perf_counter() - started < 60
