"""Search latency and memory against collection size (1k to 1M faces).

Each collection holds a handful of real faces (face_recognition's and insightface's photos)
and synthetic filler: random unit vectors written with ``store.put_faces`` in batches
(``bench.face_api_latency.fill``), never through the models. Queries are real embeddings
of other photos of the indexed people, so every search has a true match to find.

Backends: the embedded store (exact numpy search, the only one in it) and, when
``tests/support/opensearch_node.py`` can start a node, OpenSearch with the lucene HNSW
engine (its faiss engine lacks native libraries there) and exact rescoring.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.test_data import image_path

from bench._report import summary
from bench._workloads import group_face_crops, largest_face_embedding, open_rgb
from bench.face_api_latency import fill
from rekognito.domain import BoundingBox, StoredFace
from rekognito.inference.pipeline import FaceAnalyzer
from rekognito.operations.collections import create_collection
from rekognito.operations.context import RequestContext
from rekognito.services import Services
from rekognito.settings import Settings

MIN_COSINE = 0.5  # Similarity 80 for edgeface-s


def rss_bytes(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def real_pairs(analyzer: FaceAnalyzer) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(indexed, queries): one photo per person indexed, another photo (or a mirror) queried."""
    indexed, queries = [], []
    pairs = [("obama.jpg", "obama2.jpg"), ("obama3.jpg", "obama_partial_face.jpg")]
    for a, b in pairs:
        va = largest_face_embedding(analyzer, open_rgb(image_path(a)))
        vb = largest_face_embedding(analyzer, open_rgb(image_path(b)))
        if va is not None and vb is not None:
            indexed.append(va)
            queries.append(vb)
    from PIL import ImageOps

    for crop in group_face_crops():
        va = largest_face_embedding(analyzer, crop)
        vb = largest_face_embedding(
            analyzer, ImageOps.mirror(crop).resize((crop.width // 2, crop.height // 2))
        )
        if va is not None and vb is not None:
            indexed.append(va)
            queries.append(vb)
    return indexed, queries


def _put_real(services: Services, collection: str, vectors: list[np.ndarray]) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in vectors]
    box = BoundingBox(0.1, 0.1, 0.2, 0.2)
    services.store.put_faces(
        collection,
        [
            StoredFace(i, collection, f"real-{n}", box, 99.0, v, time.time())
            for n, (i, v) in enumerate(zip(ids, vectors, strict=True))
        ],
    )
    return ids


@contextmanager
def _embedded(tmp: Path) -> Iterator[tuple[Services, Callable[[], int]]]:
    services = Services(Settings(data_dir=tmp, auth_mode="none", audit_enabled=False))
    try:
        yield services, rss_bytes
    finally:
        services.close()


@contextmanager
def _opensearch() -> Iterator[tuple[Services, Callable[[], int]]]:
    from tests.support.opensearch_node import start_node

    with start_node(heap="2g") as node:
        services = Services(
            Settings(
                auth_mode="none",
                audit_enabled=False,
                store_backend="opensearch",
                opensearch_url=node.url,
                opensearch_engine="lucene",
            )
        )
        try:
            yield services, lambda: rss_bytes(node.process.pid)
        finally:
            services.close()


def _curve(
    services: Services,
    memory: Callable[[], int],
    sizes: tuple[int, ...],
    indexed: list[np.ndarray],
    queries: list[np.ndarray],
    iterations: int,
    say: Callable[[str], None],
    label: str,
) -> list[dict[str, Any]]:
    collection = f"scale-{uuid.uuid4().hex[:8]}"
    create_collection(RequestContext(services, "bench", "CreateCollection"), {"CollectionId": collection})
    real_ids = _put_real(services, collection, indexed)
    dimension = len(indexed[0])
    baseline = memory()
    current = len(real_ids)
    rows = []
    for size in sorted(sizes):
        started = time.perf_counter()
        if size > current:
            fill(services, collection, size - current, dimension)
        fill_s = time.perf_counter() - started
        current = max(size, current)
        services.store.search(collection, queries[0], limit=80, min_cosine=MIN_COSINE)  # load/refresh
        samples, found = [], 0
        for n in range(iterations):
            i = n % len(queries)
            t0 = time.perf_counter()
            matches = services.store.search(collection, queries[i], limit=80, min_cosine=MIN_COSINE)
            samples.append(time.perf_counter() - t0)
            found += any(m.face.face_id == real_ids[i] for m in matches)
        row: dict[str, Any] = {
            "backend": label,
            "faces": current,
            "fill_s": round(fill_s, 1),
            "memory_bytes": memory(),
            "memory_delta_bytes": memory() - baseline,
            "true_match_found": round(found / iterations, 3),
            **summary(samples),
        }
        rows.append(row)
        say(
            f"  scale {label} {current} faces: p50 {row.get('p50_ms')} ms, "
            f"rss {row['memory_bytes'] / 2**20:.0f} MiB"
        )
    return rows


def bend(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Fit p50 = a + b * faces; the bend is where the per-face cost equals the fixed cost."""
    if len(rows) < 2:
        return {}
    x = np.array([r["faces"] for r in rows], dtype=float)
    y = np.array([r["p50_ms"] for r in rows], dtype=float)
    b, a = np.polyfit(x, y, 1)
    knee = a / b if b > 0 and a > 0 else None
    return {
        "fixed_ms": round(float(a), 2),
        "ms_per_100k_faces": round(float(b) * 1e5, 2),
        "faces_where_scan_equals_fixed_cost": int(knee) if knee else None,
    }


def run(
    *,
    embedded_sizes: tuple[int, ...],
    opensearch_sizes: tuple[int, ...],
    iterations: int,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    analyzer = FaceAnalyzer.from_settings(Settings())
    indexed, queries = real_pairs(analyzer)
    result: dict[str, Any] = {
        "queries": len(queries),
        "min_cosine": MIN_COSINE,
        "limit": 80,
        "filler": "random unit vectors (numpy default_rng(0)), via put_faces in batches of 2000",
    }
    with tempfile.TemporaryDirectory() as tmp, _embedded(Path(tmp)) as (services, memory):
        rows = _curve(
            services, memory, embedded_sizes, indexed, queries, iterations, say, "embedded (exact numpy)"
        )
        db = Path(tmp) / "faces.sqlite3"
        result["embedded"] = {
            "rows": rows,
            "fit": bend(rows),
            "sqlite_bytes": db.stat().st_size if db.exists() else None,
        }
    if opensearch_sizes:
        try:
            with _opensearch() as (services, memory):
                rows = _curve(
                    services,
                    memory,
                    opensearch_sizes,
                    indexed,
                    queries,
                    iterations,
                    say,
                    "opensearch (lucene HNSW, rescored)",
                )
                result["opensearch"] = {
                    "rows": rows,
                    "fit": bend(rows),
                    "heap": "2g",
                    "memory": "RSS of the OpenSearch JVM",
                }
        except Exception as exc:  # the node is optional: report why it is missing
            result["opensearch"] = {"skipped": f"{type(exc).__name__}: {exc}"[:500]}
            say(f"  opensearch skipped: {exc}")
    result["cpu_count"] = os.cpu_count()
    return result
