"""CloudWatch metrics in the Embedded Metric Format, built by Powertools' EMF provider.

On Lambda each EMF document is a JSON line on stdout, which CloudWatch turns into metrics
without an API call (Powertools' ``flush_metrics``). Locally (``rekognito serve``) the same
documents go to the debug log. Each :class:`BatchMetrics` owns its documents (Powertools'
``EphemeralMetrics``, not the process-wide ``Metrics``), so batches handled at once on
several threads never flush each other's counts.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from rekognito.logs import SERVICE

log = logging.getLogger(__name__)

MetricsSink = Callable[[EphemeralMetrics], None]


def to_stdout(metrics: EphemeralMetrics) -> None:
    """Lambda: print the EMF document (CloudWatch Logs extracts the metrics)."""
    metrics.flush_metrics()


def to_debug_log(metrics: EphemeralMetrics) -> None:
    """Local mode: the same EMF document, as the ``emf`` key of a debug line."""
    log.debug("metrics", extra={"emf": metrics.serialize_metric_set()})
    metrics.clear_metrics()


class BatchMetrics:
    """Counters summed over one batch (one document, dimension ``service``) and failures
    (one document each, dimensions ``service`` and ``Reason``, an error code: a handful of
    values)."""

    def __init__(self, namespace: str, sink: MetricsSink = to_stdout) -> None:
        self.namespace = namespace
        self._sink = sink
        self._counts: Counter[str] = Counter()

    def _document(self) -> EphemeralMetrics:
        return EphemeralMetrics(namespace=self.namespace, service=SERVICE)

    def add(self, name: str, value: int = 1) -> None:
        self._counts[name] += value

    def failure(self, reason: str, *, permanent: bool) -> None:
        document = self._document()
        document.add_dimension(name="Reason", value=reason)
        document.add_metric(name="IngestFailures", unit=MetricUnit.Count, value=1)
        document.add_metadata(key="permanent", value=permanent)
        self._sink(document)

    def flush(self) -> None:
        if not self._counts:
            return
        document = self._document()
        for name, value in sorted(self._counts.items()):
            document.add_metric(name=name, unit=MetricUnit.Count, value=value)
        self._counts.clear()
        self._sink(document)
