"""How many true matches above a cosine threshold does OpenSearch k-NN miss?

Not a test: a measurement written to ``reports/opensearch_recall.json``.

Data: ``--n`` synthetic L2-normalised vectors of dimension 512. For each of ``--queries``
random query vectors, ``--planted`` near duplicates are planted among them with a cosine to
the query drawn uniformly from [``--planted-min``, ``--planted-max``] (default 0.5-0.9),
mimicking genuine matches above a search threshold. Random 512-d vectors have cosines of
about +-0.05 with each other, so the true matches of a query above ``--threshold`` are,
in practice, exactly its planted vectors; the ground truth is nevertheless computed
exactly with numpy over the whole set.

For each ``ef_search`` the OpenSearch store is queried through ``OpenSearchFaceStore.search``
(``limit`` = ``--limit``, ``min_cosine`` = threshold), with and without exact rescoring; the
miss rate is the fraction of true matches not returned. Query latency (p50/p95) and
indexing throughput (``put_faces`` in batches, refresh included) are reported, side by
side with the embedded store (exact numpy search) when it is importable.

Usage::

    python bench/opensearch_recall.py --n 50000            # starts a node itself
    python bench/opensearch_recall.py --n 1000000 --heap 4g --url http://127.0.0.1:9200
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench._report import machine  # noqa: E402
from rekognito.domain import BoundingBox, Collection, StoredFace  # noqa: E402
from rekognito.ports import FaceStore  # noqa: E402

Matrix = npt.NDArray[np.float32]
DIMENSION = 512
MAX_N = 1_000_000


def unit_rows(rng: np.random.Generator, count: int) -> Matrix:
    rows = rng.standard_normal((count, DIMENSION), dtype=np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


def make_data(args: argparse.Namespace) -> tuple[Matrix, Matrix]:
    """The corpus (with planted near duplicates at random positions) and the queries."""
    rng = np.random.default_rng(args.seed)
    corpus = unit_rows(rng, args.n)
    queries = unit_rows(rng, args.queries)
    positions = rng.choice(args.n, size=args.queries * args.planted, replace=False)
    for i, position in enumerate(positions):
        query = queries[i // args.planted]
        cosine = rng.uniform(args.planted_min, args.planted_max)
        noise = rng.standard_normal(DIMENSION).astype(np.float32)
        noise -= float(noise @ query) * query
        noise /= np.linalg.norm(noise)
        corpus[position] = (cosine * query + np.sqrt(1.0 - cosine**2) * noise).astype(np.float32)
        corpus[position] /= np.linalg.norm(corpus[position])
    return corpus, queries


def ground_truth(corpus: Matrix, queries: Matrix, threshold: float, limit: int) -> list[set[int]]:
    truth: list[set[int]] = []
    for start in range(0, len(queries), 64):
        scores = queries[start : start + 64] @ corpus.T
        for row in scores:
            above = np.nonzero(row >= threshold)[0]
            best = above[np.argsort(-row[above])][:limit]
            truth.append({int(i) for i in best})
    return truth


def face_id(i: int) -> str:
    return f"face-{i:08d}"


def faces(corpus: Matrix, start: int, stop: int) -> list[StoredFace]:
    return [
        StoredFace(
            face_id=face_id(i),
            collection_id="bench",
            image_id=f"img-{i}",
            bounding_box=BoundingBox(0.5, 0.5, 0.25, 0.25),
            confidence=99.0,
            embedding=corpus[i],
            created_at=1_700_000_000.0,
        )
        for i in range(start, stop)
    ]


def index_all(store: FaceStore, corpus: Matrix, batch: int) -> dict[str, float]:
    store.create_collection(Collection("bench", "arn:bench", "synthetic", time.time()))
    started = time.perf_counter()
    for start in range(0, len(corpus), batch):
        store.put_faces("bench", faces(corpus, start, min(start + batch, len(corpus))))
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "faces_per_second": round(len(corpus) / seconds, 1), "batch": batch}


def measure(search: Callable[[Matrix], list[str]], queries: Matrix, truth: list[set[int]]) -> dict[str, Any]:
    latencies: list[float] = []
    missed = total = 0
    for query, expected in zip(queries, truth, strict=True):
        started = time.perf_counter()
        found = search(query)
        latencies.append((time.perf_counter() - started) * 1000)
        got = {int(fid.removeprefix("face-")) for fid in found}
        total += len(expected)
        missed += len(expected - got)
    return {
        "true_matches": total,
        "missed": missed,
        "miss_rate": round(missed / total, 5) if total else None,
        "latency_ms_p50": round(float(np.percentile(latencies, 50)), 2),
        "latency_ms_p95": round(float(np.percentile(latencies, 95)), 2),
    }


def store_search(store: FaceStore, limit: int, threshold: float) -> Callable[[Matrix], list[str]]:
    def run(query: Matrix) -> list[str]:
        return [m.face.face_id for m in store.search("bench", query, limit=limit, min_cosine=threshold)]

    return run


@contextmanager
def opensearch_url(args: argparse.Namespace) -> Iterator[str]:
    if args.url:
        yield args.url
        return
    from tests.support.opensearch_node import start_node

    with start_node(heap=args.heap) as node:
        yield node.url


def run_opensearch(
    args: argparse.Namespace, corpus: Matrix, queries: Matrix, truth: list[set[int]]
) -> dict[str, Any]:
    from opensearchpy import OpenSearch

    from rekognito.adapters.opensearch_store import OpenSearchFaceStore

    with opensearch_url(args) as url:
        client = OpenSearch(hosts=[url], timeout=300)
        info = client.info()
        plugins = client.cat.plugins(format="json")
        prefix = f"bench-{uuid.uuid4().hex[:8]}"

        def make(ef_search: int, rescore: bool) -> OpenSearchFaceStore:
            return OpenSearchFaceStore(
                client,
                index_prefix=prefix,
                engine=args.engine,
                ef_search=ef_search,
                ef_construction=args.ef_construction,
                m=args.m,
                rescore=rescore,
                number_of_replicas=0,
            )

        store = make(args.ef_search[0], True)
        try:
            indexing = index_all(store, corpus, args.batch)
            index = store.face_index("bench")
            if args.force_merge:
                started = time.perf_counter()
                client.indices.forcemerge(index=index, max_num_segments=1, request_timeout=3600)
                client.indices.refresh(index=index)
                indexing["force_merge_seconds"] = round(time.perf_counter() - started, 2)
            segments = client.cat.segments(index=index, format="json")
            indexing["segments"] = len(segments)
            store.search("bench", queries[0], limit=args.limit, min_cosine=args.threshold)  # warm up
            runs = []
            for ef in args.ef_search:
                if args.engine == "faiss":
                    client.indices.put_settings(index=index, body={"index": {"knn.algo_param.ef_search": ef}})
                for rescore in (True, False):
                    result = measure(
                        store_search(make(ef, rescore), args.limit, args.threshold), queries, truth
                    )
                    runs.append({"ef_search": ef, "k": max(2 * args.limit, ef), "rescore": rescore, **result})
                    print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
        finally:
            client.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
        return {
            "version": info["version"]["number"],
            "plugins": {p["component"]: p["version"] for p in plugins},
            "engine": args.engine,
            "space_type": "innerproduct" if args.engine == "faiss" else "cosinesimil",
            "m": args.m,
            "ef_construction": args.ef_construction,
            "heap": args.heap if not args.url else None,
            "indexing": indexing,
            "search": runs,
        }


def run_embedded(
    args: argparse.Namespace, corpus: Matrix, queries: Matrix, truth: list[set[int]]
) -> dict[str, Any]:
    try:
        from rekognito.adapters.embedded_store import EmbeddedFaceStore
    except ImportError as exc:
        return {"skipped": f"embedded store not importable: {exc}"}
    with tempfile.TemporaryDirectory(prefix="bench-embedded-") as data_dir:
        store = EmbeddedFaceStore(Path(data_dir))
        try:
            indexing = index_all(store, corpus, args.batch)
            store.search("bench", queries[0], limit=args.limit, min_cosine=args.threshold)
            result = measure(store_search(store, args.limit, args.threshold), queries, truth)
        finally:
            store.close()
    return {"indexing": indexing, "search": result}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100_000, help=f"corpus size (at most {MAX_N})")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--planted", type=int, default=3, help="near duplicates planted per query")
    parser.add_argument("--planted-min", type=float, default=0.5)
    parser.add_argument("--planted-max", type=float, default=0.9)
    parser.add_argument("--threshold", type=float, default=0.5, help="cosine above which a match counts")
    parser.add_argument("--limit", type=int, default=10, help="MaxFaces of each search")
    parser.add_argument("--ef-search", type=lambda s: [int(x) for x in s.split(",")], default=[100, 256])
    parser.add_argument("--engine", choices=("lucene", "faiss"), default="lucene")
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--force-merge", action="store_true", help="merge to one segment before searching")
    parser.add_argument("--url", help="an OpenSearch node to use instead of starting one")
    parser.add_argument("--heap", default="1g", help="heap of the node this script starts")
    parser.add_argument("--no-embedded", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "opensearch_recall.json")
    args = parser.parse_args(argv)
    if not 1 <= args.n <= MAX_N:
        parser.error(f"--n must be between 1 and {MAX_N}")
    if args.queries * args.planted > args.n:
        parser.error("--queries * --planted must not exceed --n")

    started = time.perf_counter()
    corpus, queries = make_data(args)
    truth = ground_truth(corpus, queries, args.threshold, args.limit)
    report: dict[str, Any] = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "data": {
            "n": args.n,
            "dimension": DIMENSION,
            "queries": args.queries,
            "planted_per_query": args.planted,
            "planted_cosine": [args.planted_min, args.planted_max],
            "threshold": args.threshold,
            "limit": args.limit,
            "seed": args.seed,
            "true_matches_per_query": round(sum(len(t) for t in truth) / len(truth), 3),
        },
        "opensearch": run_opensearch(args, corpus, queries, truth),
    }
    if not args.no_embedded:
        report["embedded"] = run_embedded(args, corpus, queries, truth)
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
