"""A small CloudWatch Embedded Metric Format (EMF) writer.

Lambda turns each JSON line on stdout that carries an ``_aws`` block into metrics, without
any API call. Counters are summed per batch and flushed as one line; failures are written
one line each with a ``Reason`` dimension (an error code: a handful of values).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable

SERVICE = "rekognito"


def _stdout(line: str) -> None:
    print(line, file=sys.stdout, flush=True)


class EmfMetrics:
    def __init__(self, namespace: str, write: Callable[[str], None] = _stdout) -> None:
        self.namespace = namespace
        self._write = write
        self._counts: Counter[str] = Counter()

    def add(self, name: str, value: int = 1) -> None:
        self._counts[name] += value

    def failure(self, reason: str, *, permanent: bool) -> None:
        self._emit(
            {"IngestFailures": 1},
            dimensions={"service": SERVICE, "Reason": reason},
            properties={"permanent": permanent},
        )

    def flush(self) -> None:
        if self._counts:
            self._emit(dict(self._counts), dimensions={"service": SERVICE})
        self._counts.clear()

    def _emit(
        self,
        values: dict[str, int],
        *,
        dimensions: dict[str, str],
        properties: dict[str, object] | None = None,
    ) -> None:
        document: dict[str, object] = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self.namespace,
                        "Dimensions": [sorted(dimensions)],
                        "Metrics": [{"Name": name, "Unit": "Count"} for name in sorted(values)],
                    }
                ],
            },
            **dimensions,
            **(properties or {}),
            **values,
        }
        self._write(json.dumps(document, separators=(",", ":")))
