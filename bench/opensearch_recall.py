"""OpenSearch through the project's store: search latency and true matches missed, against ``k``.

Not a test: a measurement written to ``reports/opensearch_recall.json``.

One collection of ``--n`` faces (512-d) is loaded through ``OpenSearchFaceStore`` (``bulk_load``:
refresh relaxed, ``_bulk`` in ``--bulk-threads`` parallel requests of 500 faces, one refresh at
the end), then searched through ``OpenSearchFaceStore.search`` exactly as SearchFaces does
(``limit``; ``min_cosine`` = Similarity 80, cosine 0.60 in edgeface-s's calibration) for each
``k`` in ``--k`` (the store's ``ef_search``: the least number of candidates the HNSW search
explores). A true match
is a face that exact search (numpy, float32) finds above the threshold within ``limit``; the
miss rate is the fraction of them a search does not return. The engine's own time (``took``)
is reported next to the time through the store. Planted matches: ``--data synthetic`` (random
queries with near duplicates at cosine 0.5-0.9) or ``--data faces`` (real face embeddings,
see ``bench/_vectors.py``); ``--data both`` runs both on one index.

Usage::

    python bench/opensearch_recall.py --n 100000                    # starts a node itself
    python bench/opensearch_recall.py --n 10000 --quick             # a minute or two
    python bench/opensearch_recall.py --n 300000 --k 64,128,256 --heap 2g
    python bench/opensearch_recall.py --url http://127.0.0.1:9200  # an existing node
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench._report import machine, summary  # noqa: E402
from bench._vectors import Matrix, Workload, filler, ground_truth, plant_faces, synthetic  # noqa: E402
from rekognito.adapters.opensearch.mapping import VectorSpec  # noqa: E402
from rekognito.domain import BoundingBox, Collection, StoredFace  # noqa: E402


def similarity_80_cosine() -> float:
    """The cosine of Similarity 80 (the default FaceMatchThreshold) in edgeface-s's calibration."""
    from rekognito.inference.embedder import EMBEDDERS
    from rekognito.inference.similarity import to_cosine

    return to_cosine(80.0, EMBEDDERS["edgeface-s"].calibration)


MIN_COSINE = similarity_80_cosine()
COLLECTION = "bench"


def face_id(i: int) -> str:
    return f"face-{i:08d}"


def stored(corpus: Matrix, start: int, stop: int) -> list[StoredFace]:
    box = BoundingBox(0.5, 0.5, 0.25, 0.25)
    return [
        StoredFace(face_id(i), COLLECTION, f"img-{i}", box, 99.0, corpus[i], 1_700_000_000.0)
        for i in range(start, stop)
    ]


def load(store: Any, corpus: Matrix, batch: int, say: Any = None) -> dict[str, Any]:
    """Create the collection and load ``corpus`` through ``bulk_load``; faces per second."""
    store.create_collection(Collection(COLLECTION, "arn:bench", "edgeface-s", time.time()))
    started = time.perf_counter()
    with store.bulk_load(COLLECTION):
        for start in range(0, len(corpus), batch):
            store.put_faces(COLLECTION, stored(corpus, start, min(start + batch, len(corpus))))
            if say and (start // batch) % 20 == 0:
                say(f"  loaded {start + batch} faces, {time.perf_counter() - started:.0f} s")
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 1), "faces_per_second": round(len(corpus) / seconds, 1), "batch": batch}


def measure(
    store: Any, client: Any, workload: Workload, truth: list[list[int]], limit: int
) -> dict[str, Any]:
    """Search every query through the store; misses against ``truth``; store and engine times."""
    index = store.face_index(COLLECTION)
    latencies: list[float] = []
    took: list[float] = []
    missed = total = 0
    for query, expected in zip(workload.queries, truth, strict=True):
        started = time.perf_counter()
        found = store.search(COLLECTION, query, limit=limit, min_cosine=MIN_COSINE)
        latencies.append(time.perf_counter() - started)
        got = {int(m.face.face_id.removeprefix("face-")) for m in found}
        total += len(expected)
        missed += len(set(expected) - got)
        floor = store.faces.score_map(index, COLLECTION).to_score(MIN_COSINE)
        body = store.faces.search_body(query, size=limit, k=store.faces.k_for(limit), min_score=floor)
        took.append(float(client.search(index=index, body=body, _source=False)["took"]) / 1000)
    timing = summary(latencies)
    return {
        "k": store.faces.k_for(limit),
        "true_matches": total,
        "missed": missed,
        "miss_rate": round(missed / total, 5) if total else None,
        "store_p50_ms": timing.get("p50_ms"),
        "store_p95_ms": timing.get("p95_ms"),
        "engine_took_p50_ms": summary(took).get("p50_ms"),
        "engine_took_p95_ms": summary(took).get("p95_ms"),
    }


@contextmanager
def node_url(args: argparse.Namespace) -> Iterator[tuple[str, int | None]]:
    if args.url:
        yield args.url, None
        return
    from tests.support.opensearch_node import start_node

    with start_node(heap=args.heap) as node:
        yield node.url, node.process.pid


def rss_mib(pid: int | None) -> float | None:
    if pid is None:
        return None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def workloads(args: argparse.Namespace) -> tuple[Matrix, list[Workload]]:
    """One corpus; with ``--data both`` the real faces are planted next to the synthetic matches."""
    built: list[Workload] = []
    if args.data in ("synthetic", "both"):
        built.append(synthetic(args.n, args.queries, seed=args.seed))
        corpus = built[0].corpus
    else:
        corpus = filler(args.n, args.seed + 1)
    if args.data in ("faces", "both"):
        taken = built[0].planted_rows if built else None
        built.append(plant_faces(corpus, exclude_rows=taken, seed=args.seed + 100))
    return corpus, built


def main(argv: list[str] | None = None) -> int:
    global MIN_COSINE  # noqa: PLW0603
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100_000, help="faces in the collection")
    parser.add_argument("--queries", type=int, default=300, help="synthetic queries (3 planted matches each)")
    parser.add_argument("--data", choices=("synthetic", "faces", "both"), default="both")
    parser.add_argument(
        "--limit", type=int, default=80, help="MaxFaces of each search (SearchFaces default 80)"
    )
    parser.add_argument(
        "--k", type=lambda s: [int(x) for x in s.split(",")], default=[80, 128, 192, 256, 384, 512, 768]
    )
    parser.add_argument("--engine", choices=("lucene", "faiss"), default="lucene")
    parser.add_argument("--space", choices=("innerproduct", "cosinesimil"), default="innerproduct")
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=VectorSpec().ef_construction)
    parser.add_argument("--batch", type=int, default=2000, help="faces per put_faces call")
    parser.add_argument("--bulk-threads", type=int, default=2)
    parser.add_argument("--url", help="an OpenSearch node to use instead of starting one")
    parser.add_argument("--heap", default="2g", help="heap of the node this script starts")
    parser.add_argument(
        "--force-merge",
        action="store_true",
        help="also merge to one segment and measure again (merge time reported)",
    )
    parser.add_argument("--quick", action="store_true", help="100 queries, k 128,256,512")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--min-cosine",
        type=float,
        default=None,
        help=f"threshold (default: Similarity 80, cosine {MIN_COSINE:.2f})",
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "opensearch_recall.json")
    args = parser.parse_args(argv)
    if args.min_cosine is not None:
        MIN_COSINE = args.min_cosine
    if args.quick:
        args.queries, args.k = 100, [128, 256, 512]
    from opensearchpy import OpenSearch

    from rekognito.adapters.opensearch import OpenSearchFaceStore

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    started = time.perf_counter()
    corpus, built = workloads(args)
    truths = {w.kind: ground_truth(w.corpus, w.queries, MIN_COSINE, args.limit) for w in built}
    say(f"data ready: {args.n} faces, {time.perf_counter() - started:.0f} s")
    report: dict[str, Any] = {
        "machine_before": machine(),
        "data": {
            "n": args.n,
            "workloads": [
                {
                    **w.describe(),
                    "true_matches_per_query": round(sum(map(len, truths[w.kind])) / len(w.queries), 2),
                }
                for w in built
            ],
            "min_cosine": MIN_COSINE,
            "limit": args.limit,
            "seed": args.seed,
        },
    }
    with node_url(args) as (url, pid):
        client = OpenSearch(hosts=[url], timeout=600)
        prefix = f"bench-{uuid.uuid4().hex[:8]}"

        def make(ef_search: int = 256) -> OpenSearchFaceStore:
            return OpenSearchFaceStore(
                client,
                index_prefix=prefix,
                engine=args.engine,
                space_type=args.space,
                m=args.m,
                ef_construction=args.ef_construction,
                ef_search=ef_search,
                number_of_replicas=0,
                bulk_threads=args.bulk_threads,
            )

        store = make()
        try:
            indexing = load(store, corpus, args.batch, say)
            index = store.face_index(COLLECTION)
            indexing["segments"] = len(client.cat.segments(index=index, format="json"))
            indexing["store_size"] = client.cat.indices(index=index, format="json")[0]["store.size"]
            say(f"indexed: {indexing}")
            for w in built:
                store.search(COLLECTION, w.queries[0], limit=args.limit, min_cosine=MIN_COSINE)  # warm up
            runs = []

            def sweep(segments: int) -> None:
                for k in args.k:
                    for w in built:
                        row = {
                            "data": w.kind,
                            "segments": segments,
                            **measure(make(k), client, w, truths[w.kind], args.limit),
                        }
                        runs.append(row)
                        say(json.dumps(row))

            sweep(indexing["segments"])
            if args.force_merge:
                began = time.perf_counter()
                client.indices.forcemerge(index=index, max_num_segments=1, request_timeout=7200)
                client.indices.refresh(index=index)
                indexing["force_merge_s"] = round(time.perf_counter() - began, 1)
                say(f"merged to one segment in {indexing['force_merge_s']} s")
                sweep(len(client.cat.segments(index=index, format="json")))
            info = client.info()
            report["opensearch"] = {
                "version": info["version"]["number"],
                "engine": args.engine,
                "space_type": args.space,
                "m": args.m,
                "ef_construction": args.ef_construction,
                "heap": None if args.url else args.heap,
                "jvm_rss_mib": rss_mib(pid),
                "bulk_threads": args.bulk_threads,
                "indexing": indexing,
                "search": runs,
            }
        finally:
            client.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
            store.close()
    report["machine"] = machine()
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
