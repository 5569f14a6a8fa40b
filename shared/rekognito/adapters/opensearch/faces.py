"""Faces in the OpenSearch store: writes, reads, deletion and k-NN search.

Search
    One request per search: the k-NN query explores ``k`` candidates (``k`` = the larger of
    the configured ``ef_search`` and the number of hits wanted; for lucene ``k`` is the
    candidate list of the HNSW search, for faiss the index setting ``ef_search`` plays that
    part), a top-level ``min_score`` drops every candidate below the cosine floor inside the
    engine, and ``size`` keeps only ``limit`` (plus the excluded ids) of the rest. So the
    response carries the stored documents of the faces that match and nothing else: with
    Similarity 80 and a realistic collection, none to a handful; the cosine comes from the
    engine's score (:class:`~rekognito.adapters.opensearch.mapping.ScoreMap`), which is exact
    for HNSW on full-precision vectors (both engines). ``rescore=True`` recomputes it in
    numpy from the returned vectors instead (for encodings whose scores are not exact), with
    a small margin below the floor so that rounding cannot drop a match. Shard failures are
    not tolerated (``allow_partial_search_results=false``): a search that could not ask
    every shard fails (and is retried by the client) instead of silently missing faces.
    HNSW is approximate: a true match can be missing from the candidates. The miss rate at
    our thresholds, against ``k``, is measured by ``bench/opensearch_recall.py``.

Consistency and atomicity
    Writes use ``_bulk`` with ``refresh=true`` on the last chunk of a batch: one refresh per
    ``put_faces``/``delete_faces`` call, after which the faces are searchable. Writes leave
    ``wait_for_active_shards`` at its default (1: the primary must be available); a write is
    acknowledged only after the primary *and every in-sync replica* applied it and the
    translog was fsynced (``index.translog.durability: request``, the default), so with one
    replica an acknowledged face survives the loss of any single node (shown by
    ``tests/integration/test_opensearch_cluster.py`` and ``bench/opensearch_cluster.py``).
    OpenSearch has no transactions: ``put_faces`` reads the previous versions of the faces it
    overwrites, writes all faces and, when any item fails, deletes the new faces it wrote and
    restores the previous versions before raising. This is a best effort: a crash of this
    process between the write and the rollback leaves the faces that were written.
    :meth:`FacesPart.bulk_load` relaxes ``refresh_interval`` for large loads (no refresh per
    call; one at the end) and restores it.

Retention
    A face older than its collection's ``retention_days`` is not returned by any read
    (get, list, count, search: a ``created_at`` range filter, inside the k-NN query for
    searches, where lucene applies it while it walks the graph), even before the purge
    deletes it. Each read fetches the collection's policy (one GET of its metadata document).

Deletion
    Deleted faces are gone from every API as soon as ``delete_faces`` returns (the index is
    refreshed). Like any Lucene delete, the bytes stay in segment files until the segments
    are merged; an operator who must erase them at once can run
    ``POST <index>/_forcemerge?only_expunge_deletes=true``.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from rekognito.adapters.opensearch.collections import CollectionsPart, live_since
from rekognito.adapters.opensearch.mapping import IndexLayout, ScoreMap, VectorSpec
from rekognito.adapters.opensearch.transport import PAGE_SIZE, Transport, internal, log, not_found
from rekognito.api._generated import ThrottlingException
from rekognito.domain import BoundingBox, Embedding, FaceMatchCandidate, StoredFace

MAX_RESULT_WINDOW = 10_000
# Below the floor in score space, so float rounding of the engine's score never drops a
# face whose cosine is exactly at the floor; the exact comparison happens here.
SCORE_SLACK = 1e-5
# With rescoring, the engine's floor is lowered by this much cosine.
RESCORE_MARGIN = 1e-3


class FacesPart:
    def __init__(
        self,
        transport: Transport,
        layout: IndexLayout,
        spec: VectorSpec,
        collections: CollectionsPart,
        *,
        rescore: bool = False,
    ) -> None:
        self.transport = transport
        self.layout = layout
        self.spec = spec
        self.collections = collections
        self.rescore = rescore
        self._score_maps: dict[str, ScoreMap] = {}
        self._deferred_refresh: set[str] = set()
        self._lock = threading.Lock()

    # -- documents ---------------------------------------------------------------------------

    def doc(self, face: StoredFace) -> dict[str, Any]:
        vector = np.asarray(face.embedding, dtype=np.float32).reshape(-1)
        if vector.shape[0] != self.spec.dimension:
            raise ValueError(
                f"embedding has dimension {vector.shape[0]}, the store expects {self.spec.dimension}"
            )
        return {
            "face_id": face.face_id,
            "image_id": face.image_id,
            "external_image_id": face.external_image_id,
            "user_id": face.user_id,
            "source": face.source,
            "confidence": face.confidence,
            "created_at": face.created_at,
            "bounding_box": face.bounding_box.to_api(),
            "face_detail": face.face_detail,
            "embedding": vector.tolist(),
        }

    @staticmethod
    def face(collection_id: str, source: dict[str, Any]) -> StoredFace:
        return StoredFace(
            face_id=source["face_id"],
            collection_id=collection_id,
            image_id=source["image_id"],
            bounding_box=BoundingBox.from_api(source["bounding_box"]),
            confidence=float(source["confidence"]),
            embedding=np.asarray(source["embedding"], dtype=np.float32),
            created_at=float(source["created_at"]),
            external_image_id=source.get("external_image_id"),
            user_id=source.get("user_id"),
            source=source.get("source"),
            face_detail=dict(source.get("face_detail") or {}),
        )

    def sources(self, index: str, face_ids: list[str], collection_id: str) -> dict[str, dict[str, Any]]:
        """``_source`` by face id of those that exist (realtime ``_mget``)."""
        found: dict[str, dict[str, Any]] = {}
        client = self.transport.client
        for start in range(0, len(face_ids), PAGE_SIZE):
            chunk = face_ids[start : start + PAGE_SIZE]
            response = self.transport.call(
                "mget", functools.partial(client.mget, index=index, body={"ids": chunk}), collection_id
            )
            for doc in response["docs"]:
                if doc.get("found"):
                    found[doc["_id"]] = doc["_source"]
                elif "error" in doc:
                    error = doc["error"]
                    if isinstance(error, dict) and error.get("type") == "index_not_found_exception":
                        raise not_found(collection_id)
                    log.error("opensearch mget item failed", extra={"collection_id": collection_id})
                    raise internal()
        return found

    # -- writes ------------------------------------------------------------------------------

    def _refresh_now(self, index: str) -> bool:
        with self._lock:
            return index not in self._deferred_refresh

    def put(self, collection_id: str, faces: Sequence[StoredFace]) -> None:
        index = self.collections.require(collection_id)
        if not faces:
            return
        docs = {face.face_id: self.doc(face) for face in faces}
        previous = self.sources(index, list(docs), collection_id)
        actions: list[dict[str, Any]] = []
        for face_id, doc in docs.items():
            actions += [{"index": {"_index": index, "_id": face_id}}, doc]
        refresh = self._refresh_now(index)
        try:
            items = self.transport.bulk("put_faces", actions, collection_id, refresh=refresh)
        except Exception:
            self._rollback(index, collection_id, list(docs), previous)
            raise
        failed = [item for item in items if item.get("status", 500) >= 300]
        if failed:
            statuses = sorted({int(item.get("status", 500)) for item in failed})
            log.error(
                "put_faces partially failed, rolling back",
                extra={
                    "collection_id": collection_id,
                    "failed": len(failed),
                    "faces": len(docs),
                    "statuses": statuses,
                },
            )
            self._rollback(index, collection_id, list(docs), previous)
            if statuses == [429]:
                raise ThrottlingException("Rate exceeded")
            raise internal()
        log.info(
            "faces stored",
            extra={"collection_id": collection_id, "faces": len(docs), "replaced": len(previous)},
        )

    def _rollback(
        self, index: str, collection_id: str, face_ids: list[str], previous: dict[str, dict[str, Any]]
    ) -> None:
        actions: list[dict[str, Any]] = []
        for face_id in face_ids:
            if face_id in previous:
                actions += [{"index": {"_index": index, "_id": face_id}}, previous[face_id]]
            else:
                actions.append({"delete": {"_index": index, "_id": face_id}})
        try:
            self.transport.bulk("put_faces_rollback", actions, collection_id, refresh=True)
        except Exception:
            log.exception("put_faces rollback failed", extra={"collection_id": collection_id})

    def delete(self, collection_id: str, face_ids: Iterable[str]) -> list[str]:
        wanted = list(dict.fromkeys(face_ids))
        index = self.collections.require(collection_id)
        if not wanted:
            return []
        actions: list[dict[str, Any]] = [{"delete": {"_index": index, "_id": face_id}} for face_id in wanted]
        items = self.transport.bulk("delete_faces", actions, collection_id, refresh=True)
        deleted: list[str] = []
        for face_id, item in zip(wanted, items, strict=True):
            if item.get("result") == "deleted":
                deleted.append(face_id)
            elif item.get("status") != 404:
                log.error(
                    "delete_faces item failed",
                    extra={"collection_id": collection_id, "status": item.get("status")},
                )
                raise internal()
        log.info("faces deleted", extra={"collection_id": collection_id, "faces": len(deleted)})
        return deleted

    @contextmanager
    def bulk_load(
        self, collection_id: str, *, refresh_interval: str = "-1", merge_to_segments: int | None = None
    ) -> Iterator[None]:
        """Load many faces: no refresh per ``put_faces``, ``refresh_interval`` relaxed meanwhile.

        Faces written inside the block are readable by id at once but searchable only at the
        next periodic refresh (``refresh_interval``, e.g. "30s"; "-1": none) or when the block
        ends (one refresh then); the index's previous ``refresh_interval`` is restored even
        if the block raises. Meant for one loader per collection (imports, benchmarks).
        ``merge_to_segments``: afterwards, force-merge the index down to that many segments
        (each segment is searched with its own HNSW graph; minutes per 100k faces on 2 cores).
        """
        index = self.collections.require(collection_id)
        client, call = self.transport.client, self.transport.call
        current = call(
            "get_refresh_interval",
            lambda: client.indices.get_settings(index=index, name="index.refresh_interval"),
            collection_id,
        )
        previous = current.get(index, {}).get("settings", {}).get("index", {}).get("refresh_interval")
        call(
            "relax_refresh_interval",
            lambda: client.indices.put_settings(
                index=index, body={"index": {"refresh_interval": refresh_interval}}
            ),
            collection_id,
        )
        with self._lock:
            self._deferred_refresh.add(index)
        try:
            yield
        finally:
            with self._lock:
                self._deferred_refresh.discard(index)
            call(
                "restore_refresh_interval",
                lambda: client.indices.put_settings(
                    index=index, body={"index": {"refresh_interval": previous}}
                ),
                collection_id,
            )
            self.transport.refresh(index, collection_id)
        if merge_to_segments is not None:
            call(
                "force_merge",
                lambda: client.indices.forcemerge(
                    index=index, max_num_segments=merge_to_segments, request_timeout=6 * 3600
                ),
                collection_id,
            )
            self.transport.refresh(index, collection_id)

    # -- reads -------------------------------------------------------------------------------

    def get(self, collection_id: str, face_ids: Iterable[str]) -> list[StoredFace]:
        wanted = list(dict.fromkeys(face_ids))
        index = self.layout.face_index(collection_id)
        if not wanted:
            self.collections.count_faces(collection_id)  # raises for an unknown collection
            return []
        cutoff = self.collections.cutoff(collection_id)
        found = self.sources(index, wanted, collection_id)
        return [
            self.face(collection_id, found[face_id])
            for face_id in wanted
            if face_id in found and (cutoff is None or float(found[face_id]["created_at"]) >= cutoff)
        ]

    def list_page(
        self,
        collection_id: str,
        *,
        after: str | None,
        limit: int,
        face_ids: Sequence[str] | None,
        user_id: str | None,
    ) -> list[StoredFace]:
        index = self.layout.face_index(collection_id)
        cutoff = self.collections.cutoff(collection_id)
        filters: list[dict[str, Any]] = [live_since(cutoff)] if cutoff is not None else []
        if face_ids is not None:
            if not face_ids:
                self.collections.count_faces(collection_id)
                return []
            filters.append({"ids": {"values": list(face_ids)}})
        if user_id is not None:
            filters.append({"term": {"user_id": user_id}})
        if limit <= 0:
            self.collections.count_faces(collection_id)
            return []
        query: dict[str, Any] = {"bool": {"filter": filters}} if filters else {"match_all": {}}
        hits = self.transport.scan(index, query, collection_id, after=after, limit=limit)
        return [self.face(collection_id, hit["_source"]) for hit in hits]

    def find_by_source(self, collection_id: str, source_prefix: str) -> list[StoredFace]:
        index = self.layout.face_index(collection_id)
        query = {"prefix": {"source": {"value": source_prefix}}}
        hits = self.transport.scan(index, query, collection_id)
        return [self.face(collection_id, hit["_source"]) for hit in hits]

    def find_created_before(self, collection_id: str, created_before: float) -> list[str]:
        index = self.layout.face_index(collection_id)
        query = {"range": {"created_at": {"lt": created_before}}}
        return [str(hit["_id"]) for hit in self.transport.scan(index, query, collection_id, source=False)]

    # -- search ------------------------------------------------------------------------------

    def score_map(self, index: str, collection_id: str) -> ScoreMap:
        """How the index's scores map to cosines, read from its mapping once per process."""
        with self._lock:
            cached = self._score_maps.get(index)
        if cached is not None:
            return cached
        client = self.transport.client
        response = self.transport.call(
            "get_face_mapping", lambda: client.indices.get_mapping(index=index), collection_id
        )
        score_map = ScoreMap.from_mapping(response[index]["mappings"])
        with self._lock:
            self._score_maps[index] = score_map
        return score_map

    def forget_index(self, index: str) -> None:
        with self._lock:
            self._score_maps.pop(index, None)
            self._deferred_refresh.discard(index)

    def search_body(
        self, query: Embedding, *, size: int, k: int, min_score: float, cutoff: float | None = None
    ) -> dict[str, Any]:
        """The k-NN request: explore ``k`` candidates, return at most ``size`` above ``min_score``.

        With ``cutoff``, only faces created at or after it (retention) are candidates.
        """
        vector = np.asarray(query, dtype=np.float32).reshape(-1).tolist()
        knn: dict[str, Any] = {"vector": vector, "k": k}
        if cutoff is not None:
            knn["filter"] = live_since(cutoff)
        return {"size": size, "min_score": min_score, "query": {"knn": {"embedding": knn}}}

    def k_for(self, size: int) -> int:
        return min(max(size, self.spec.ef_search), MAX_RESULT_WINDOW)

    def search(
        self,
        collection_id: str,
        query: Embedding,
        *,
        limit: int,
        min_cosine: float,
        exclude_face_ids: Iterable[str] = (),
    ) -> list[FaceMatchCandidate]:
        index = self.layout.face_index(collection_id)
        excluded = set(exclude_face_ids)
        vector = np.asarray(query, dtype=np.float32).reshape(-1)
        if limit <= 0 or vector.shape[0] != self.spec.dimension:
            self.collections.count_faces(collection_id)
            return []
        cutoff = self.collections.cutoff(collection_id)
        scores = self.score_map(index, collection_id)
        floor = max(-1.0, min_cosine - RESCORE_MARGIN) if self.rescore else min_cosine
        size = min(limit + len(excluded), MAX_RESULT_WINDOW)
        body = self.search_body(
            vector,
            size=size,
            k=self.k_for(size),
            min_score=scores.to_score(floor) - SCORE_SLACK,
            cutoff=cutoff,
        )
        client = self.transport.client
        started = time.perf_counter()
        response = self.transport.call(
            "search",
            lambda: client.search(index=index, body=body, allow_partial_search_results=False),
            collection_id,
        )
        ranked: list[tuple[float, StoredFace]] = []
        for hit in response["hits"]["hits"]:
            if hit["_id"] in excluded:
                continue
            face = self.face(collection_id, hit["_source"])
            if cutoff is not None and face.created_at < cutoff:
                continue
            if self.rescore:
                cosine = float(np.dot(face.embedding.astype(np.float64), vector.astype(np.float64)))
            else:
                cosine = scores.to_cosine(float(hit["_score"]))
            if cosine >= min_cosine:
                ranked.append((cosine, face))
        ranked.sort(key=lambda pair: (-pair[0], pair[1].face_id))
        log.debug(
            "knn search",
            extra={
                "collection_id": collection_id,
                "k": body["query"]["knn"]["embedding"]["k"],
                "hits": len(ranked),
                "took_ms": response.get("took"),
                "ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        return [FaceMatchCandidate(face=face, cosine=cosine) for cosine, face in ranked[:limit]]

    # -- users -------------------------------------------------------------------------------

    def set_user(self, index: str, collection_id: str, face_ids: list[str], user_id: str | None) -> None:
        if not face_ids:
            return
        actions: list[dict[str, Any]] = []
        for face_id in face_ids:
            actions += [
                {"update": {"_index": index, "_id": face_id, "retry_on_conflict": 3}},
                {"doc": {"user_id": user_id}},
            ]
        items = self.transport.bulk("set_faces_user", actions, collection_id, refresh=True)
        failed = [item for item in items if item.get("status", 500) >= 300 and item.get("status") != 404]
        if failed:
            log.error("set_faces_user failed", extra={"collection_id": collection_id, "failed": len(failed)})
            raise internal()

    def ids_of_user(self, index: str, collection_id: str, user_id: str) -> list[str]:
        hits = self.transport.scan(index, {"term": {"user_id": user_id}}, collection_id, source=False)
        return [str(hit["_id"]) for hit in hits]
