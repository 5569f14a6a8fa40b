"""kill -9 of the server mid-write loses no acknowledged write and half-writes nothing (issue 10).

A few rounds of ``bench/crash.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.crash import run_rounds

pytestmark = pytest.mark.slow


def test_sigkill_mid_write_keeps_the_store_consistent(tmp_path: Path) -> None:
    result = run_rounds(tmp_path / "data", rounds=3, seed=3, max_kill_delay=4.0)
    assert all(round_["integrity_check"] == "ok" for round_ in result["rounds"])
    assert result["rounds_with_problems"] == 0, [r["problems"] for r in result["rounds"]]
    assert result["index_requests"] > 0
    assert "5xx" not in result["client_errors"]
