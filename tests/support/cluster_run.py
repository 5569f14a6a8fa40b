"""Index and search through the OpenSearch store while one node of a cluster is killed.

Shared by the suite's small three-node test (``tests/integration/test_opensearch_cluster.py``)
and the benchmark (``bench/opensearch_cluster.py``): a writer thread puts batches of faces
through :class:`OpenSearchFaceStore` and records which batches were acknowledged; a searcher
thread searches all the time; after ``kill_after_batches`` batches the node holding the
primary shard of the collection's face index is killed with SIGKILL. Afterwards every
acknowledged face must be readable by id and found (first, cosine 1) by searching its own
vector.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from opensearchpy import OpenSearch

from rekognito.adapters.opensearch import OpenSearchFaceStore
from rekognito.domain import BoundingBox, Collection, StoredFace
from rekognito.settings import Settings
from tests.support.opensearch_node import RunningCluster

Matrix = npt.NDArray[np.float32]
COLLECTION = "cluster"


@dataclass
class KillRun:
    batches: int
    batch_size: int
    acknowledged: list[str] = field(default_factory=list)
    failed_batches: int = 0
    write_errors: list[str] = field(default_factory=list)
    searches_ok: int = 0
    search_errors: int = 0
    search_latencies_s: list[float] = field(default_factory=list)
    searches_after_kill_ok: int = 0
    killed_node: str = ""
    killed_at_s: float = 0.0
    first_search_ok_after_kill_s: float | None = None
    lost: list[str] = field(default_factory=list)
    not_found_by_search: list[str] = field(default_factory=list)
    health_after: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    preloaded: int = 0
    preload_s: float = 0.0
    searched_after: int = 0

    def summary(self) -> dict[str, Any]:
        latencies = sorted(self.search_latencies_s)

        def pct(p: float) -> float | None:
            if not latencies:
                return None
            return round(latencies[min(len(latencies) - 1, round(p / 100 * (len(latencies) - 1)))] * 1000, 2)

        return {
            "batches": self.batches,
            "batch_size": self.batch_size,
            "acknowledged_faces": len(self.acknowledged),
            "failed_batches": self.failed_batches,
            "write_errors": self.write_errors[:10],
            "killed_node": self.killed_node,
            "killed_at_s": round(self.killed_at_s, 2),
            "searches_ok": self.searches_ok,
            "search_errors": self.search_errors,
            "searches_after_kill_ok": self.searches_after_kill_ok,
            "first_search_ok_after_kill_s": (
                None
                if self.first_search_ok_after_kill_s is None
                else round(self.first_search_ok_after_kill_s, 2)
            ),
            "search_p50_ms": pct(50),
            "search_p95_ms": pct(95),
            "acknowledged_faces_lost": len(self.lost),
            "acknowledged_faces_not_found_by_search": len(self.not_found_by_search),
            "preloaded_faces": self.preloaded,
            "preload_s": round(self.preload_s, 1),
            "acknowledged_faces_searched_after": self.searched_after,
            "health_after": self.health_after,
            "seconds": round(self.seconds, 1),
        }


def unit_rows(rng: np.random.Generator, count: int, dimension: int = 512) -> Matrix:
    rows = rng.standard_normal((count, dimension), dtype=np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


def _face(face_id: str, vector: Matrix) -> StoredFace:
    return StoredFace(
        face_id=face_id,
        collection_id=COLLECTION,
        image_id=f"img-{face_id}",
        bounding_box=BoundingBox(0.5, 0.5, 0.25, 0.25),
        confidence=99.0,
        embedding=vector,
        created_at=1_700_000_000.0,
    )


def cluster_store(cluster: RunningCluster, prefix: str | None = None) -> OpenSearchFaceStore:
    """The store as the application builds it, with the URLs of every node and one replica."""
    settings = Settings(
        store_backend="opensearch",
        opensearch_url=cluster.url,
        opensearch_index_prefix=prefix or f"cluster-{uuid.uuid4().hex[:8]}",
        opensearch_replicas=1,
    )
    return OpenSearchFaceStore.from_settings(settings, timeout_s=30.0)


def primary_node(client: OpenSearch, index: str) -> str:
    shards = client.cat.shards(index=index, format="json")
    return next(str(s["node"]) for s in shards if s["prirep"] == "p" and s["state"] == "STARTED")


def kill_one_node_while_indexing(
    cluster: RunningCluster,
    *,
    batches: int = 8,
    batch_size: int = 50,
    kill_after_batches: int = 3,
    seed: int = 11,
    preload: int = 0,
    search_sample: int | None = None,
) -> KillRun:
    """The run described in the module docstring; returns what happened.

    ``preload`` faces are loaded first (``bulk_load``) and count as acknowledged; afterwards
    every acknowledged face is read back by id, and searched for by its vector (all of them,
    or ``search_sample`` of the preloaded ones plus every face written around the kill).
    """
    rng = np.random.default_rng(seed)
    vectors = unit_rows(rng, preload + batches * batch_size)
    ids = [f"face-{i:06d}" for i in range(len(vectors))]
    store = cluster_store(cluster)
    run = KillRun(batches, batch_size)
    started = time.perf_counter()
    try:
        store.create_collection(Collection(COLLECTION, "arn:cluster", "synthetic", time.time()))
        cluster.health(wait_for_status="green")
        if preload:
            with store.bulk_load(COLLECTION):
                for start in range(0, preload, 2000):
                    stop = min(preload, start + 2000)
                    store.put_faces(COLLECTION, [_face(ids[i], vectors[i]) for i in range(start, stop)])
            run.acknowledged.extend(ids[:preload])
            run.preloaded = preload
            run.preload_s = time.perf_counter() - started
        victim = primary_node(store._client, store.face_index(COLLECTION))
        run.killed_node = victim
        victim_index = int(victim.rsplit("-", 1)[1])
        stop = threading.Event()
        killed = threading.Event()
        ack_lock = threading.Lock()

        def search_loop() -> None:
            query_rng = np.random.default_rng(seed + 1)
            while not stop.is_set():
                with ack_lock:
                    known = list(run.acknowledged)
                if not known:
                    time.sleep(0.01)
                    continue
                target = known[int(query_rng.integers(len(known)))]
                began = time.perf_counter()
                try:
                    store.search(COLLECTION, vectors[int(target[5:])], limit=5, min_cosine=0.5)
                except Exception:
                    run.search_errors += 1
                    time.sleep(0.05)
                    continue
                run.search_latencies_s.append(time.perf_counter() - began)
                run.searches_ok += 1
                if killed.is_set():
                    run.searches_after_kill_ok += 1
                    if run.first_search_ok_after_kill_s is None:
                        run.first_search_ok_after_kill_s = time.perf_counter() - started - run.killed_at_s

        searcher = threading.Thread(target=search_loop, name="cluster-searcher", daemon=True)
        searcher.start()
        for number in range(batches):
            if number == kill_after_batches:
                cluster.kill(victim_index)
                run.killed_at_s = time.perf_counter() - started
                killed.set()
            chunk = slice(preload + number * batch_size, preload + (number + 1) * batch_size)
            faces = [
                _face(face_id, vector) for face_id, vector in zip(ids[chunk], vectors[chunk], strict=True)
            ]
            try:
                store.put_faces(COLLECTION, faces)
            except Exception as exc:
                run.failed_batches += 1
                run.write_errors.append(f"batch {number}: {type(exc).__name__}: {exc}")
                continue
            with ack_lock:
                run.acknowledged.extend(face.face_id for face in faces)
        time.sleep(1.0)
        stop.set()
        searcher.join(timeout=60)
        run.health_after = {
            k: v
            for k, v in cluster.health(wait_for_nodes=len(cluster.nodes) - 1).items()
            if k in ("status", "number_of_nodes", "active_shards", "unassigned_shards")
        }
        found = {face.face_id for face in store.get_faces(COLLECTION, run.acknowledged)}
        run.lost = [face_id for face_id in run.acknowledged if face_id not in found]
        to_search = run.acknowledged
        if search_sample is not None and preload > search_sample:
            sample = np.random.default_rng(seed + 2).choice(preload, size=search_sample, replace=False)
            to_search = [ids[i] for i in sorted(sample.tolist())] + run.acknowledged[preload:]
        run.searched_after = len(to_search)
        for face_id in to_search:
            matches = store.search(COLLECTION, vectors[int(face_id[5:])], limit=1, min_cosine=0.99)
            if not matches or matches[0].face.face_id != face_id:
                run.not_found_by_search.append(face_id)
    finally:
        run.seconds = time.perf_counter() - started
        store.close()
    return run
