"""The analyzer pool lends one analyzer per call: at most ``size`` analyses run at once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rekognito.inference.analyzer_pool import AnalyzerPool


class CountingAnalyzer:
    """Stands in for FaceAnalyzer (only the pool's lending is under test)."""

    detector: Any = None
    embedder: Any = None
    running = 0
    peak = 0
    lock = threading.Lock()

    def __init__(self, name: str) -> None:
        self.name = name

    def analyze(
        self, image: Any, *, embed: bool, limit: int | None = None, largest_only: bool = False
    ) -> Any:
        with CountingAnalyzer.lock:
            CountingAnalyzer.running += 1
            CountingAnalyzer.peak = max(CountingAnalyzer.peak, CountingAnalyzer.running)
        time.sleep(0.02)
        with CountingAnalyzer.lock:
            CountingAnalyzer.running -= 1
        return [self.name]


def test_calls_run_in_parallel_up_to_the_pool_size() -> None:
    pool = AnalyzerPool([CountingAnalyzer("a"), CountingAnalyzer("b")])  # type: ignore[list-item]

    with ThreadPoolExecutor(max_workers=6) as threads:
        names = list(threads.map(lambda _: pool.analyze(None, embed=True)[0], range(24)))  # type: ignore[arg-type]

    assert CountingAnalyzer.peak == 2
    assert set(names) == {"a", "b"}
    assert pool.size == 2
