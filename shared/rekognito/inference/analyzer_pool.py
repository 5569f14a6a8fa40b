"""Several face analyzers behind one, so that N threads can run the models at once.

:class:`~rekognito.inference.pipeline.FaceAnalyzer` runs one analysis at a time (its lock
keeps a small machine from oversubscribing its cores and per-request timings honest). Bulk
indexing wants the opposite: one analysis per core. :class:`AnalyzerPool` holds one analyzer
(its own onnxruntime sessions, one thread each) per worker and lends one to each call, so
``workers`` analyses run in parallel (onnxruntime releases the GIL) and no more. The
embeddings are the same whichever analyzer computes them.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from PIL import Image

from rekognito.domain import Embedding
from rekognito.inference.pipeline import AnalyzedFace, FaceAnalyzer
from rekognito.settings import Settings


class AnalyzerPool(FaceAnalyzer):
    """A :class:`FaceAnalyzer` that runs up to ``len(analyzers)`` analyses concurrently."""

    def __init__(self, analyzers: list[FaceAnalyzer]) -> None:
        if not analyzers:
            raise ValueError("an analyzer pool needs at least one analyzer")
        # The same models and options as the analyzers it lends (all made alike).
        vars(self).update(vars(analyzers[0]))
        self.size = len(analyzers)
        self._idle: queue.Queue[FaceAnalyzer] = queue.Queue()
        for analyzer in analyzers:
            self._idle.put(analyzer)

    @classmethod
    def create(cls, settings: Settings, workers: int) -> AnalyzerPool:
        return cls([FaceAnalyzer.from_settings(settings) for _ in range(max(1, workers))])

    @contextmanager
    def _lend(self) -> Iterator[FaceAnalyzer]:
        analyzer = self._idle.get()
        try:
            yield analyzer
        finally:
            self._idle.put(analyzer)

    def analyze(self, image: Image.Image, **options: Any) -> list[AnalyzedFace]:
        with self._lend() as analyzer:
            return analyzer.analyze(image, **options)

    def embed(self, face: AnalyzedFace) -> Embedding:
        with self._lend() as analyzer:
            return analyzer.embed(face)
