"""kill -9 of the ingest worker during puts, overwrites and deletes (issue 10, small run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.ingest_crash import run


@pytest.mark.slow
def test_killed_ingest_worker_converges_to_the_bucket(tmp_path: Path) -> None:
    report = run(tmp_path, rounds=3, seed=7)
    assert report["ok"], report["problems"]
    assert report["faces_at_end"] > 0 and len(report["kills_at_s"]) == 3
