"""Search latency and memory against collection size (1k to 1M faces).

Each collection holds a handful of real faces (face_recognition's and insightface's photos)
and synthetic filler: random unit vectors written with ``store.put_faces`` in batches
(``bench.face_api_latency.fill``), never through the models. Queries are real embeddings
of other photos of the indexed people, so every search has a true match to find.

Backends: the embedded store (exact search: an int8 scan plus float32 rescoring) and, when
``tests/support/opensearch_node.py`` can start a node, OpenSearch with the lucene HNSW
engine (its faiss engine lacks native libraries there).

``run`` is the section of ``bench/run_all.py``; run as a command (``curve_main``, below) the
script grows one collection per backend with planted true matches and reports misses
against exact search as well (``python bench/scale_curve.py --help``).
"""

from __future__ import annotations

import contextlib
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
from rekognito.request import RequestContext
from rekognito.services import Services
from rekognito.settings import Settings


def similarity_80_cosine() -> float:
    """The cosine of Similarity 80 (the default FaceMatchThreshold) in edgeface-s's calibration."""
    from rekognito.inference.embedder import EMBEDDERS
    from rekognito.inference.similarity import to_cosine

    return to_cosine(80.0, EMBEDDERS["edgeface-s"].calibration)


MIN_COSINE = similarity_80_cosine()


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
                    "opensearch (lucene HNSW, innerproduct)",
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


# ---------------------------------------------------------------------------------------------
# The scale curve as a command: both backends, misses against exact search, memory, index rate.

CURVE_DOC = """The scale curve of one backend, as a command (issue 16).

The collection grows through ``--sizes``; at each size the script reports the time to add the
new faces (faces per second), ``store.search`` latency p50/p95 (limit 80, Similarity 80 as
SearchFaces; ``--min-cosine`` overrides), the true matches missed against exact float32
search (numpy over the same vectors), memory, and the load average. Planted true matches,
written first so they
are in the collection at every size: synthetic near duplicates of random queries and real
face embeddings (``bench/_vectors.py``); the rest is random filler.

    python bench/scale_curve.py --backend embedded --sizes 10000,100000,1000000
    python bench/scale_curve.py --backend embedded --index hnsw --sizes 10000,100000
    python bench/scale_curve.py --backend opensearch --sizes 10000,100000,300000 --heap 2g
    python bench/scale_curve.py --backend embedded --quick          # 10k and 30k, a minute
"""


def _vector_bytes(store: Any) -> int | None:
    matrices = getattr(store, "_matrices", None)
    if matrices is None:
        return None
    return int(sum(m.nbytes for m in matrices.values()))


def _grow(store: Any, corpus: np.ndarray, start: int, stop: int, batch: int) -> float:
    from bench.opensearch_recall import COLLECTION, stored

    began = time.perf_counter()
    loader = store.bulk_load(COLLECTION) if hasattr(store, "bulk_load") else contextlib.nullcontext()
    with loader:
        for first in range(start, stop, batch):
            store.put_faces(COLLECTION, stored(corpus, first, min(first + batch, stop)))
    return time.perf_counter() - began


def _searches(
    store: Any, workloads: list[Any], size: int, corpus: np.ndarray, limit: int
) -> list[dict[str, Any]]:
    from bench._report import summary as timing
    from bench._vectors import ground_truth
    from bench.opensearch_recall import COLLECTION

    rows = []
    for workload in workloads:
        truth = ground_truth(corpus[:size], workload.queries, MIN_COSINE, limit)
        began = time.perf_counter()
        store.search(COLLECTION, workload.queries[0], limit=limit, min_cosine=MIN_COSINE)  # load / warm up
        first_s = time.perf_counter() - began
        latencies, missed, total = [], 0, 0
        for query, expected in zip(workload.queries, truth, strict=True):
            began = time.perf_counter()
            found = store.search(COLLECTION, query, limit=limit, min_cosine=MIN_COSINE)
            latencies.append(time.perf_counter() - began)
            got = {int(m.face.face_id.removeprefix("face-")) for m in found}
            total += len(expected)
            missed += len(set(expected) - got)
        stats = timing(latencies)
        rows.append(
            {
                "data": workload.kind,
                "queries": len(workload.queries),
                "true_matches": total,
                "missed": missed,
                "p50_ms": stats.get("p50_ms"),
                "p95_ms": stats.get("p95_ms"),
                # The first search loads the collection (embedded: vectors from SQLite, and
                # with hnsw builds or loads the graph); not part of p50/p95.
                "first_search_s": round(first_s, 2),
            }
        )
    return rows


def curve_main(argv: list[str] | None = None) -> int:
    global MIN_COSINE  # noqa: PLW0603
    import argparse
    import json

    from bench._report import machine
    from bench._vectors import Workload, face_vectors, filler, synthetic

    parser = argparse.ArgumentParser(
        description=CURVE_DOC, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("embedded", "opensearch"), required=True)
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[10_000, 100_000])
    parser.add_argument("--index", choices=("exact", "hnsw"), default="exact", help="embedded store index")
    parser.add_argument("--queries", type=int, default=200, help="synthetic queries (3 planted matches each)")
    parser.add_argument("--limit", type=int, default=80)
    parser.add_argument("--batch", type=int, default=5000, help="faces per put_faces call")
    parser.add_argument("--k", type=int, default=None, help="OpenSearch ef_search (default: the store's)")
    parser.add_argument("--heap", default="2g", help="heap of the OpenSearch node this script starts")
    parser.add_argument("--url", help="an OpenSearch node to use instead of starting one")
    parser.add_argument("--quick", action="store_true", help="sizes 10k,30k and 50 queries")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--min-cosine",
        type=float,
        default=None,
        help=f"threshold (default: Similarity 80, cosine {MIN_COSINE:.2f})",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.min_cosine is not None:
        MIN_COSINE = args.min_cosine
    if args.quick:
        args.sizes, args.queries = [10_000, 30_000], 50
    sizes = sorted(args.sizes)

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    # Planted rows first (synthetic, then real faces), then filler up to the largest size.
    synth = synthetic(args.queries * 3 + 10, args.queries, seed=args.seed)
    face_queries, face_planted = face_vectors()
    planted_faces = np.concatenate(face_planted)
    head = np.concatenate([synth.corpus[synth.planted_rows], planted_faces])
    corpus = np.empty((sizes[-1], head.shape[1]), dtype=np.float32)
    corpus[: len(head)] = head
    corpus[len(head) :] = filler(sizes[-1] - len(head), args.seed + 1)
    n_synth = len(synth.planted_rows)
    workloads = [
        Workload("synthetic", corpus, synth.queries, np.arange(n_synth)),
        Workload("faces", corpus, face_queries, np.arange(n_synth, len(head))),
    ]
    report: dict[str, Any] = {
        "backend": args.backend,
        "index": args.index if args.backend == "embedded" else None,
        "limit": args.limit,
        "min_cosine": MIN_COSINE,
        "planted": {"synthetic": n_synth, "faces": len(planted_faces), "face_queries": len(face_queries)},
        "machine_before": machine(),
        "rows": [],
    }
    with contextlib.ExitStack() as stack:
        pid: int | None = None
        if args.backend == "embedded":
            from rekognito.adapters.embedded_store import EmbeddedFaceStore

            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scale-embedded-")))
            store: Any = EmbeddedFaceStore(tmp, index=args.index)
            stack.callback(store.close)
            memory: Callable[[], int] = rss_bytes
        else:
            from opensearchpy import OpenSearch

            from rekognito.adapters.opensearch import OpenSearchFaceStore

            url = args.url
            if url is None:
                from tests.support.opensearch_node import start_node

                node = stack.enter_context(start_node(heap=args.heap))
                url, pid = node.url, node.process.pid
            client = OpenSearch(hosts=[url], timeout=600)
            prefix = f"scale-{uuid.uuid4().hex[:8]}"
            kwargs: dict[str, Any] = {"ef_search": args.k} if args.k else {}
            store = OpenSearchFaceStore(client, index_prefix=prefix, number_of_replicas=0, **kwargs)
            stack.callback(lambda: client.indices.delete(index=f"{prefix}-*", ignore_unavailable=True))
            memory = (lambda: rss_bytes(pid)) if pid else (lambda: 0)
            report["opensearch"] = {"ef_search": store.ef_search, "m": store.spec.m, "heap": args.heap}
        from bench.opensearch_recall import COLLECTION
        from rekognito.domain import Collection

        store.create_collection(Collection(COLLECTION, "arn:bench", "edgeface-s", time.time()))
        current = 0
        for size in sizes:
            seconds = _grow(store, corpus, current, size, args.batch)
            added, current = size - current, size
            say(f"{args.backend} {size}: added {added} in {seconds:.0f} s")
            searches = _searches(store, workloads, size, corpus, args.limit)
            row = {
                "faces": size,
                "added": added,
                "index_s": round(seconds, 1),
                "faces_per_s": round(added / seconds, 1) if seconds > 0 else None,
                "search": searches,
                "vector_bytes": _vector_bytes(store),
                "rss_bytes": memory(),
                "load_average": [round(x, 2) for x in os.getloadavg()],
            }
            if args.backend == "opensearch":
                index = store.face_index(COLLECTION)
                row["segments"] = len(client.cat.segments(index=index, format="json"))
                row["store_size"] = client.cat.indices(index=index, format="json")[0]["store.size"]
            report["rows"].append(row)
            say(json.dumps(row))
        if args.backend == "embedded":
            # A restart: a new store on the same files; its first search loads the collection.
            reopened = EmbeddedFaceStore(tmp, index=args.index)
            began = time.perf_counter()
            reopened.search(COLLECTION, workloads[0].queries[0], limit=args.limit, min_cosine=MIN_COSINE)
            report["reload_after_restart_s"] = round(time.perf_counter() - began, 1)
            reopened.close()
            say(f"first search after a restart ({sizes[-1]} faces): {report['reload_after_restart_s']} s")
    report["machine"] = machine()
    name = f"scale_{args.backend}" + ("_hnsw" if args.backend == "embedded" and args.index == "hnsw" else "")
    out = args.out or Path(__file__).resolve().parents[1] / "reports" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    say(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(curve_main())
