"""The OpenSearch k-NN face store.

Layout
    * ``<prefix>-meta``: one document per collection (``collection::<id>``) and per user
      (``user::<collection id>::<user id>``), told apart by ``kind``.
    * ``<prefix>-faces-<sanitised collection id>-<hash>``: one index per collection, one
      document per face with ``_id`` = face id. OpenSearch index names must be lowercase and
      cannot hold every character a collection id may have, so the name is the lowercased id
      with other characters replaced, plus 10 hex digits of the id's sha256 to keep distinct
      ids apart. An index per collection makes ``delete_collection`` a single index deletion
      (vectors and metadata gone together) and keeps k-NN graphs per collection small; the
      cost is one index (one shard) per collection, which suits a few hundred collections,
      not tens of thousands.

Vectors
    ``knn_vector`` with method ``hnsw`` and the engine set explicitly: ``faiss`` with
    ``innerproduct`` (embeddings are L2-normalised, so the inner product is the cosine) or
    ``lucene`` with ``cosinesimil``. For faiss, ``ef_search`` is the index setting
    ``index.knn.algo_param.ef_search``; lucene has no such setting and explores ``k``
    candidates, so the query asks for ``k = max(2 * limit, ef_search)`` with either engine.

Search
    The k-NN query explores ``k`` candidates and returns the best ``limit`` (plus the number
    of excluded ids) with their stored vectors: returning all ``k`` would put ``k`` x 512
    floats of JSON on the wire for every search. With ``rescore`` the cosine is computed
    exactly in numpy from the returned vectors, otherwise it is derived from the engine's
    score (exact for the candidates found, up to float rounding). Candidates are then
    filtered by ``min_cosine`` and ``exclude_face_ids`` and sorted best first (ties by face
    id). HNSW is approximate: a true match can be missing from the
    candidates; rescoring fixes scores and order, not misses. ``bench/opensearch_recall.py``
    measures the miss rate above a threshold for given parameters.

Consistency and atomicity
    Writes are followed by an index refresh, so a face is searchable when ``put_faces``
    returns. OpenSearch has no transactions: ``put_faces`` reads the previous versions of
    the faces it overwrites, writes all faces with bulk requests and, when any item fails,
    deletes the new faces it wrote and restores the previous versions before raising. This
    is a best effort: a crash of this process between the bulk write and the rollback
    leaves the faces that were written. Collections are created by writing the metadata
    document with ``op_type=create`` (a cluster-wide uniqueness check) and then the face
    index; they are deleted index first, then metadata.

Errors
    Unknown collections raise ``ResourceNotFoundException``, existing ones
    ``ResourceAlreadyExistsException``; HTTP 429 from OpenSearch is retried with exponential
    backoff and then raised as ``ThrottlingException``; everything else the cluster or the
    connection does wrong becomes ``InternalServerError`` with a generic message (details
    are logged, never sent to the client). The client's transport retries timeouts and
    502/503/504 itself.

Retention
    A face older than its collection's ``retention_days`` is not returned by any read
    (get, list, count, search: a ``created_at`` range filter, inside the k-NN query for
    searches), even before the purge deletes it. Each read fetches the collection's
    policy (one GET of the metadata document).

Deletion
    Deleted faces are gone from every API as soon as ``delete_faces`` returns (the index is
    refreshed). Like any Lucene delete, the bytes stay in segment files until the segments
    are merged; an operator who must erase them at once can run
    ``POST <index>/_forcemerge?only_expunge_deletes=true``. ``delete_collection`` deletes the
    whole index and its files.

Amazon OpenSearch Serverless (``aoss``) does not support the refresh API or custom
document ids in vector collections; this store targets OpenSearch and Amazon OpenSearch
Service domains, and ``aoss`` signing is provided for experiments only.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Literal, TypeVar

import numpy as np
from opensearchpy import OpenSearch
from opensearchpy.exceptions import (
    ConflictError,
    NotFoundError,
    OpenSearchException,
    TransportError,
)
from opensearchpy.exceptions import (
    ConnectionError as OpenSearchConnectionError,
)

from rekognito.api._generated import (
    InternalServerError,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    ThrottlingException,
)
from rekognito.domain import BoundingBox, Collection, Embedding, FaceMatchCandidate, StoredFace, User
from rekognito.policy import retention_cutoff
from rekognito.settings import Settings

log = logging.getLogger(__name__)

Engine = Literal["faiss", "lucene"]
T = TypeVar("T")

PAGE_SIZE = 1000
BULK_CHUNK = 500
MAX_RESULT_WINDOW = 10_000
THROTTLE_RETRIES = 4
THROTTLE_BASE_DELAY_S = 0.2
TRANSPORT_RETRY_STATUSES = (502, 503, 504)
TOKEN_PURGE_INTERVAL_S = 3600.0
_INDEX_NAME_UNSAFE = re.compile(r"[^a-z0-9._-]+")
_PREFIX_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")

META_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "kind": {"type": "keyword"},
        "collection_id": {"type": "keyword"},
        "user_id": {"type": "keyword"},
        "status": {"type": "keyword"},
        "created_at": {"type": "double"},
        "arn": {"type": "keyword", "index": False},
        "face_model_version": {"type": "keyword"},
        "face_index": {"type": "keyword", "index": False},
        "tags": {"type": "object", "enabled": False},
        "policy": {"type": "object", "enabled": False},
        "operation": {"type": "keyword"},
        "fingerprint": {"type": "keyword", "index": False, "doc_values": False},
        "response": {"type": "text", "index": False},
        "expires_at": {"type": "double"},
    },
}


def _not_found(collection_id: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"The collection id: {collection_id} does not exist")


def _internal() -> InternalServerError:
    return InternalServerError("Internal server error: the face store is unavailable")


class _Conflict(Exception):
    """A write with ``op_type=create`` found the document already there."""


class OpenSearchFaceStore:
    """:class:`rekognito.ports.FaceStore` on OpenSearch's k-NN plugin (see the module docstring)."""

    backend_name = "opensearch"

    def __init__(
        self,
        client: OpenSearch,
        *,
        index_prefix: str = "rekognito",
        engine: Engine = "faiss",
        ef_search: int = 512,
        ef_construction: int = 256,
        m: int = 16,
        rescore: bool = True,
        dimension: int = 512,
        number_of_replicas: int | None = None,
    ) -> None:
        prefix = index_prefix.lower()
        if not _PREFIX_RE.match(prefix):
            raise ValueError(f"index prefix {index_prefix!r}: use lowercase letters, digits, '.', '_' or '-'")
        if engine not in ("faiss", "lucene"):
            raise ValueError(f"engine {engine!r}: expected 'faiss' or 'lucene'")
        self._client = client
        self.index_prefix = prefix
        self.engine: Engine = engine
        self.ef_search = ef_search
        self.ef_construction = ef_construction
        self.m = m
        self.rescore = rescore
        self.dimension = dimension
        self.number_of_replicas = number_of_replicas
        self.meta_index = f"{prefix}-meta"
        self._meta_ready = False
        self._tokens_purged_at = float("-inf")

    @classmethod
    def from_settings(
        cls, settings: Settings, *, timeout_s: float = 10.0, max_retries: int = 3
    ) -> OpenSearchFaceStore:
        if not settings.opensearch_url:
            raise ValueError("opensearch_url is not set")
        auth: Any = None
        if settings.opensearch_auth == "basic":
            if not settings.opensearch_username or settings.opensearch_password is None:
                raise ValueError("basic auth needs opensearch_username and opensearch_password")
            auth = (settings.opensearch_username, settings.opensearch_password)
        elif settings.opensearch_auth in ("es", "aoss"):
            import boto3
            from opensearchpy import AWSV4SignerAuth

            credentials = boto3.Session().get_credentials()
            if credentials is None:
                raise ValueError("SigV4 signing for OpenSearch needs AWS credentials")
            auth = AWSV4SignerAuth(credentials, settings.region, settings.opensearch_auth)
        client = OpenSearch(
            hosts=[settings.opensearch_url],
            http_auth=auth,
            use_ssl=settings.opensearch_url.startswith("https://"),
            verify_certs=True,
            timeout=timeout_s,
            max_retries=max_retries,
            retry_on_timeout=True,
            retry_on_status=TRANSPORT_RETRY_STATUSES,
            http_compress=True,
        )
        return cls(
            client,
            index_prefix=settings.opensearch_index_prefix,
            engine=settings.opensearch_engine,
            ef_search=settings.opensearch_ef_search,
            rescore=settings.opensearch_rescore,
        )

    # -- plumbing ---------------------------------------------------------------------------

    def face_index(self, collection_id: str) -> str:
        digest = hashlib.sha256(collection_id.encode()).hexdigest()[:10]
        safe = _INDEX_NAME_UNSAFE.sub("-", collection_id.lower())[:100]
        return f"{self.index_prefix}-faces-{safe}-{digest}"

    def _call(self, operation: str, request: Callable[[], T], collection_id: str | None = None) -> T:
        """Run one request, retrying 429 with backoff and mapping errors to API errors."""
        for attempt in range(THROTTLE_RETRIES + 1):
            try:
                return request()
            except ConflictError as exc:
                raise _Conflict() from exc
            except NotFoundError as exc:
                if collection_id is not None and exc.error == "index_not_found_exception":
                    raise _not_found(collection_id) from None
                log.error("opensearch not found", extra={"operation": operation, "error": str(exc.error)})
                raise _internal() from None
            except TransportError as exc:
                if exc.status_code == 429:
                    if attempt < THROTTLE_RETRIES:
                        time.sleep(THROTTLE_BASE_DELAY_S * 2**attempt * (1 + random.random()))
                        continue
                    log.warning("opensearch throttled", extra={"operation": operation})
                    raise ThrottlingException("Rate exceeded") from None
                level = logging.ERROR
                if isinstance(exc, OpenSearchConnectionError):
                    level = logging.WARNING
                log.log(
                    level,
                    "opensearch request failed",
                    extra={
                        "operation": operation,
                        "status": str(exc.status_code),
                        "error": str(exc.error)[:200],
                    },
                )
                raise _internal() from None
            except OpenSearchException as exc:
                log.error(
                    "opensearch client error", extra={"operation": operation, "error": type(exc).__name__}
                )
                raise _internal() from None
        raise _internal()

    def _ensure_meta(self) -> None:
        if self._meta_ready:
            return
        exists = self._call("meta_exists", lambda: bool(self._client.indices.exists(index=self.meta_index)))
        if not exists:
            body: dict[str, Any] = {"mappings": META_MAPPING}
            if self.number_of_replicas is not None:
                body["settings"] = {"index": {"number_of_replicas": self.number_of_replicas}}
            try:
                self._call(
                    "create_meta_index", lambda: self._client.indices.create(index=self.meta_index, body=body)
                )
            except InternalServerError:
                # Another process may have created it meanwhile.
                if not self._call(
                    "meta_exists", lambda: bool(self._client.indices.exists(index=self.meta_index))
                ):
                    raise
        else:
            # Adds fields that newer versions of this module map (no-op when up to date).
            self._call(
                "update_meta_mapping",
                lambda: self._client.indices.put_mapping(index=self.meta_index, body=META_MAPPING),
            )
        self._meta_ready = True

    def _get_source(self, operation: str, index: str, doc_id: str) -> dict[str, Any] | None:
        def request() -> dict[str, Any] | None:
            try:
                response: dict[str, Any] = self._client.get(index=index, id=doc_id)
            except NotFoundError as exc:
                if exc.error == "index_not_found_exception":
                    raise
                return None
            source: dict[str, Any] = response["_source"]
            return source

        return self._call(operation, request)

    def face_index_body(self) -> dict[str, Any]:
        """Settings and mappings of a collection's face index."""
        space = "innerproduct" if self.engine == "faiss" else "cosinesimil"
        index_settings: dict[str, Any] = {"knn": True}
        if self.engine == "faiss":
            index_settings["knn.algo_param.ef_search"] = self.ef_search
        if self.number_of_replicas is not None:
            index_settings["number_of_replicas"] = self.number_of_replicas
        return {
            "settings": {"index": index_settings},
            "mappings": {
                "dynamic": "strict",
                "properties": {
                    "face_id": {"type": "keyword"},
                    "image_id": {"type": "keyword"},
                    "external_image_id": {"type": "keyword"},
                    "user_id": {"type": "keyword"},
                    "source": {"type": "keyword"},
                    "confidence": {"type": "double"},
                    "created_at": {"type": "double"},
                    "bounding_box": {"type": "object", "enabled": False},
                    "face_detail": {"type": "object", "enabled": False},
                    "embedding": {
                        "type": "knn_vector",
                        "dimension": self.dimension,
                        "method": {
                            "name": "hnsw",
                            "engine": self.engine,
                            "space_type": space,
                            "parameters": {"m": self.m, "ef_construction": self.ef_construction},
                        },
                    },
                },
            },
        }

    def _require_collection(self, collection_id: str) -> str:
        self.get_collection(collection_id)
        return self.face_index(collection_id)

    def _refresh(self, index: str, collection_id: str) -> None:
        self._call("refresh", lambda: self._client.indices.refresh(index=index), collection_id)

    def _bulk(
        self, operation: str, actions: list[dict[str, Any]], collection_id: str
    ) -> list[dict[str, Any]]:
        """Send bulk actions in chunks; return the per-item results in order."""
        items: list[dict[str, Any]] = []
        step = BULK_CHUNK * 2
        for start in range(0, len(actions), step):
            chunk = actions[start : start + step]
            response = self._call(operation, functools.partial(self._client.bulk, body=chunk), collection_id)
            items.extend(next(iter(item.values())) for item in response["items"])
        return items

    def _scan(
        self,
        index: str,
        query: dict[str, Any],
        collection_id: str | None,
        *,
        sort_field: str = "face_id",
        after: str | None = None,
        limit: int | None = None,
        source: bool | dict[str, Any] = True,
    ) -> Iterator[dict[str, Any]]:
        """Hits sorted by ``sort_field``, paged with ``search_after``."""
        returned = 0
        cursor = after
        while limit is None or returned < limit:
            size = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - returned)
            body: dict[str, Any] = {
                "size": size,
                "query": query,
                "sort": [{sort_field: "asc"}],
                "_source": source,
            }
            if cursor is not None:
                body["search_after"] = [cursor]
            response = self._call(
                "scan", functools.partial(self._client.search, index=index, body=body), collection_id
            )
            hits: list[dict[str, Any]] = response["hits"]["hits"]
            yield from hits
            returned += len(hits)
            if len(hits) < size:
                return
            cursor = str(hits[-1]["sort"][0])

    # -- collections ------------------------------------------------------------------------

    @staticmethod
    def _collection_doc_id(collection_id: str) -> str:
        return f"collection::{collection_id}"

    @staticmethod
    def _user_doc_id(collection_id: str, user_id: str) -> str:
        return f"user::{collection_id}::{user_id}"

    def _collection_doc(self, collection: Collection) -> dict[str, Any]:
        return {
            "kind": "collection",
            "collection_id": collection.collection_id,
            "arn": collection.arn,
            "face_model_version": collection.face_model_version,
            "created_at": collection.created_at,
            "tags": dict(collection.tags),
            "policy": dict(collection.policy),
            "face_index": self.face_index(collection.collection_id),
        }

    def create_collection(self, collection: Collection) -> None:
        self._ensure_meta()
        cid = collection.collection_id
        index = self.face_index(cid)
        doc = self._collection_doc(collection)
        try:
            self._call(
                "create_collection",
                lambda: self._client.index(
                    index=self.meta_index,
                    id=self._collection_doc_id(cid),
                    body=doc,
                    op_type="create",
                    refresh="true",
                ),
            )
        except _Conflict:
            raise ResourceAlreadyExistsException(f"The collection id: {cid} already exists") from None
        try:
            if self._call("face_index_exists", lambda: bool(self._client.indices.exists(index=index))):
                # Left over by a deletion that stopped half way: it belongs to no collection.
                self._call("drop_orphan_index", lambda: self._client.indices.delete(index=index))
            body = self.face_index_body()
            self._call("create_face_index", lambda: self._client.indices.create(index=index, body=body))
        except Exception:
            self._call(
                "rollback_collection",
                lambda: self._client.delete(
                    index=self.meta_index,
                    id=self._collection_doc_id(cid),
                    refresh="true",
                ),
            )
            raise
        log.info("collection created", extra={"collection_id": cid, "index": index, "engine": self.engine})

    @staticmethod
    def _to_collection(source: dict[str, Any]) -> Collection:
        return Collection(
            collection_id=source["collection_id"],
            arn=source["arn"],
            face_model_version=source["face_model_version"],
            created_at=float(source["created_at"]),
            tags=dict(source.get("tags") or {}),
            policy=dict(source.get("policy") or {}),
        )

    def get_collection(self, collection_id: str) -> Collection:
        self._ensure_meta()
        source = self._get_source("get_collection", self.meta_index, self._collection_doc_id(collection_id))
        if source is None:
            raise _not_found(collection_id)
        return self._to_collection(source)

    def list_collections(self) -> list[Collection]:
        self._ensure_meta()
        query = {"term": {"kind": "collection"}}
        return [
            self._to_collection(hit["_source"])
            for hit in self._scan(self.meta_index, query, None, sort_field="collection_id")
        ]

    def update_collection(self, collection: Collection) -> None:
        """Replace the tags and the policy; the rest of a collection never changes."""
        current = self.get_collection(collection.collection_id)
        doc = self._collection_doc(
            dataclasses.replace(current, tags=dict(collection.tags), policy=dict(collection.policy))
        )
        self._call(
            "update_collection",
            lambda: self._client.index(
                index=self.meta_index,
                id=self._collection_doc_id(collection.collection_id),
                body=doc,
                refresh="true",
            ),
        )

    def delete_collection(self, collection_id: str) -> None:
        index = self._require_collection(collection_id)
        self._call(
            "delete_face_index",
            lambda: self._client.indices.delete(
                index=index,
                ignore_unavailable=True,
            ),
        )
        user_ids = [
            hit["_id"]
            for hit in self._scan(
                self.meta_index,
                self._users_query(collection_id),
                collection_id,
                sort_field="user_id",
                source=False,
            )
        ]
        actions: list[dict[str, Any]] = [
            {"delete": {"_index": self.meta_index, "_id": doc_id}} for doc_id in user_ids
        ]
        actions.append({"delete": {"_index": self.meta_index, "_id": self._collection_doc_id(collection_id)}})
        self._bulk("delete_collection", actions, collection_id)
        self._call("refresh_meta", lambda: self._client.indices.refresh(index=self.meta_index))
        log.info("collection deleted", extra={"collection_id": collection_id, "users": len(user_ids)})

    def _cutoff(self, collection_id: str) -> float | None:
        """Faces created before this are past retention (raises for an unknown collection)."""
        return retention_cutoff(self.get_collection(collection_id).policy, time.time())

    @staticmethod
    def _live(cutoff: float) -> dict[str, Any]:
        return {"range": {"created_at": {"gte": cutoff}}}

    def count_faces(self, collection_id: str) -> int:
        index = self.face_index(collection_id)
        cutoff = self._cutoff(collection_id)
        body = {"query": self._live(cutoff)} if cutoff is not None else None
        response = self._call(
            "count_faces", lambda: self._client.count(index=index, body=body), collection_id
        )
        return int(response["count"])

    # -- faces ------------------------------------------------------------------------------

    def _face_doc(self, face: StoredFace) -> dict[str, Any]:
        vector = np.asarray(face.embedding, dtype=np.float32).reshape(-1)
        if vector.shape[0] != self.dimension:
            raise ValueError(f"embedding has dimension {vector.shape[0]}, the store expects {self.dimension}")
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
    def _to_face(collection_id: str, source: dict[str, Any]) -> StoredFace:
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

    def _get_sources(self, index: str, face_ids: list[str], collection_id: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(face_ids), PAGE_SIZE):
            chunk = face_ids[start : start + PAGE_SIZE]
            response = self._call(
                "mget", functools.partial(self._client.mget, index=index, body={"ids": chunk}), collection_id
            )
            for doc in response["docs"]:
                if doc.get("found"):
                    found[doc["_id"]] = doc["_source"]
                elif "error" in doc:
                    error = doc["error"]
                    if isinstance(error, dict) and error.get("type") == "index_not_found_exception":
                        raise _not_found(collection_id)
                    log.error("opensearch mget item failed", extra={"collection_id": collection_id})
                    raise _internal()
        return found

    def put_faces(self, collection_id: str, faces: Sequence[StoredFace]) -> None:
        index = self._require_collection(collection_id)
        if not faces:
            return
        docs = {face.face_id: self._face_doc(face) for face in faces}
        previous = self._get_sources(index, list(docs), collection_id)
        actions: list[dict[str, Any]] = []
        for face_id, doc in docs.items():
            actions += [{"index": {"_index": index, "_id": face_id}}, doc]
        try:
            items = self._bulk("put_faces", actions, collection_id)
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
            raise _internal()
        self._refresh(index, collection_id)
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
            self._bulk("put_faces_rollback", actions, collection_id)
            self._refresh(index, collection_id)
        except Exception:
            log.exception("put_faces rollback failed", extra={"collection_id": collection_id})

    def get_faces(self, collection_id: str, face_ids: Iterable[str]) -> list[StoredFace]:
        wanted = list(dict.fromkeys(face_ids))
        index = self.face_index(collection_id)
        if not wanted:
            self.count_faces(collection_id)  # raises for an unknown collection
            return []
        cutoff = self._cutoff(collection_id)
        found = self._get_sources(index, wanted, collection_id)
        return [
            self._to_face(collection_id, found[face_id])
            for face_id in wanted
            if face_id in found and (cutoff is None or float(found[face_id]["created_at"]) >= cutoff)
        ]

    def list_faces(
        self,
        collection_id: str,
        *,
        after: str | None = None,
        limit: int = 1000,
        face_ids: Sequence[str] | None = None,
        user_id: str | None = None,
    ) -> list[StoredFace]:
        index = self.face_index(collection_id)
        cutoff = self._cutoff(collection_id)
        filters: list[dict[str, Any]] = [self._live(cutoff)] if cutoff is not None else []
        if face_ids is not None:
            if not face_ids:
                self.count_faces(collection_id)
                return []
            filters.append({"ids": {"values": list(face_ids)}})
        if user_id is not None:
            filters.append({"term": {"user_id": user_id}})
        if limit <= 0:
            self.count_faces(collection_id)
            return []
        query: dict[str, Any] = {"bool": {"filter": filters}} if filters else {"match_all": {}}
        hits = self._scan(index, query, collection_id, after=after, limit=limit)
        return [self._to_face(collection_id, hit["_source"]) for hit in hits]

    def delete_faces(self, collection_id: str, face_ids: Iterable[str]) -> list[str]:
        wanted = list(dict.fromkeys(face_ids))
        index = self._require_collection(collection_id)
        if not wanted:
            return []
        actions: list[dict[str, Any]] = [{"delete": {"_index": index, "_id": face_id}} for face_id in wanted]
        items = self._bulk("delete_faces", actions, collection_id)
        deleted: list[str] = []
        for face_id, item in zip(wanted, items, strict=True):
            if item.get("result") == "deleted":
                deleted.append(face_id)
            elif item.get("status") != 404:
                log.error(
                    "delete_faces item failed",
                    extra={"collection_id": collection_id, "status": item.get("status")},
                )
                raise _internal()
        self._refresh(index, collection_id)
        log.info("faces deleted", extra={"collection_id": collection_id, "faces": len(deleted)})
        return deleted

    def find_faces_by_source(self, collection_id: str, source_prefix: str) -> list[StoredFace]:
        index = self.face_index(collection_id)
        query = {"prefix": {"source": {"value": source_prefix}}}
        return [
            self._to_face(collection_id, hit["_source"]) for hit in self._scan(index, query, collection_id)
        ]

    def find_faces_created_before(self, collection_id: str, created_before: float) -> list[str]:
        index = self.face_index(collection_id)
        query = {"range": {"created_at": {"lt": created_before}}}
        return [str(hit["_id"]) for hit in self._scan(index, query, collection_id, source=False)]

    def search_body(self, query: Embedding, k: int, size: int, cutoff: float | None = None) -> dict[str, Any]:
        """The k-NN request: explore ``k`` candidates, return the best ``size`` with their vectors.

        With ``cutoff``, only faces created at or after it (retention) are candidates.
        """
        vector = np.asarray(query, dtype=np.float32).reshape(-1).tolist()
        knn: dict[str, Any] = {"vector": vector, "k": k}
        if cutoff is not None:
            knn["filter"] = self._live(cutoff)
        return {"size": size, "query": {"knn": {"embedding": knn}}}

    def _score_to_cosine(self, score: float) -> float:
        if self.engine == "lucene":
            # cosinesimil: score = (1 + cosine) / 2
            return 2.0 * score - 1.0
        # innerproduct: score = 1 + ip for ip >= 0, 1 / (1 - ip) otherwise
        return score - 1.0 if score >= 1.0 else 1.0 - 1.0 / score

    def search(
        self,
        collection_id: str,
        query: Embedding,
        *,
        limit: int,
        min_cosine: float,
        exclude_face_ids: Iterable[str] = (),
    ) -> list[FaceMatchCandidate]:
        index = self.face_index(collection_id)
        excluded = set(exclude_face_ids)
        if limit <= 0:
            self.count_faces(collection_id)
            return []
        vector = np.asarray(query, dtype=np.float32).reshape(-1)
        if vector.shape[0] != self.dimension:
            self.count_faces(collection_id)
            return []
        cutoff = self._cutoff(collection_id)
        size = min(limit + len(excluded), MAX_RESULT_WINDOW)
        k = min(max(2 * limit, self.ef_search) + len(excluded), MAX_RESULT_WINDOW)
        body = self.search_body(vector, k, size, cutoff)
        started = time.perf_counter()
        response = self._call("search", lambda: self._client.search(index=index, body=body), collection_id)
        ranked: list[tuple[float, StoredFace]] = []
        for hit in response["hits"]["hits"]:
            if hit["_id"] in excluded:
                continue
            face = self._to_face(collection_id, hit["_source"])
            if cutoff is not None and face.created_at < cutoff:
                continue
            cosine = (
                float(face.embedding @ vector)
                if self.rescore
                else self._score_to_cosine(float(hit["_score"]))
            )
            if cosine >= min_cosine:
                ranked.append((cosine, face))
        ranked.sort(key=lambda pair: (-pair[0], pair[1].face_id))
        log.debug(
            "knn search",
            extra={
                "collection_id": collection_id,
                "k": k,
                "hits": len(ranked),
                "ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        return [FaceMatchCandidate(face=face, cosine=cosine) for cosine, face in ranked[:limit]]

    # -- users ------------------------------------------------------------------------------

    @staticmethod
    def _users_query(collection_id: str) -> dict[str, Any]:
        return {"bool": {"filter": [{"term": {"kind": "user"}}, {"term": {"collection_id": collection_id}}]}}

    def create_user(self, user: User) -> None:
        self._require_collection(user.collection_id)
        doc = {
            "kind": "user",
            "collection_id": user.collection_id,
            "user_id": user.user_id,
            "status": user.status,
            "created_at": user.created_at,
        }
        try:
            self._call(
                "create_user",
                lambda: self._client.index(
                    index=self.meta_index,
                    id=self._user_doc_id(user.collection_id, user.user_id),
                    body=doc,
                    op_type="create",
                    refresh="true",
                ),
            )
        except _Conflict:
            raise ResourceAlreadyExistsException(f"The user id: {user.user_id} already exists") from None

    def get_user(self, collection_id: str, user_id: str) -> User | None:
        self._require_collection(collection_id)
        source = self._get_source("get_user", self.meta_index, self._user_doc_id(collection_id, user_id))
        if source is None:
            return None
        return User(collection_id, source["user_id"], source["status"], float(source["created_at"]))

    def list_users(self, collection_id: str, *, after: str | None = None, limit: int = 500) -> list[User]:
        self._require_collection(collection_id)
        if limit <= 0:
            return []
        hits = self._scan(
            self.meta_index,
            self._users_query(collection_id),
            collection_id,
            sort_field="user_id",
            after=after,
            limit=limit,
        )
        return [
            User(
                collection_id,
                hit["_source"]["user_id"],
                hit["_source"]["status"],
                float(hit["_source"]["created_at"]),
            )
            for hit in hits
        ]

    def delete_user(self, collection_id: str, user_id: str) -> None:
        index = self._require_collection(collection_id)
        face_ids = [
            str(hit["_id"])
            for hit in self._scan(
                index,
                {"term": {"user_id": user_id}},
                collection_id,
                source=False,
            )
        ]
        self._set_user(index, collection_id, face_ids, None)
        try:
            self._call(
                "delete_user",
                lambda: self._client.delete(
                    index=self.meta_index,
                    id=self._user_doc_id(collection_id, user_id),
                    refresh="true",
                ),
            )
        except InternalServerError:
            if (
                self._get_source("get_user", self.meta_index, self._user_doc_id(collection_id, user_id))
                is not None
            ):
                raise

    def count_users(self, collection_id: str) -> int:
        self._require_collection(collection_id)
        response = self._call(
            "count_users",
            lambda: self._client.count(
                index=self.meta_index,
                body={"query": self._users_query(collection_id)},
            ),
        )
        return int(response["count"])

    def set_faces_user(self, collection_id: str, face_ids: Sequence[str], user_id: str | None) -> None:
        index = self._require_collection(collection_id)
        self._set_user(index, collection_id, list(dict.fromkeys(face_ids)), user_id)

    def _set_user(self, index: str, collection_id: str, face_ids: list[str], user_id: str | None) -> None:
        if not face_ids:
            return
        actions: list[dict[str, Any]] = []
        for face_id in face_ids:
            actions += [
                {"update": {"_index": index, "_id": face_id, "retry_on_conflict": 3}},
                {"doc": {"user_id": user_id}},
            ]
        items = self._bulk("set_faces_user", actions, collection_id)
        failed = [item for item in items if item.get("status", 500) >= 300 and item.get("status") != 404]
        if failed:
            log.error("set_faces_user failed", extra={"collection_id": collection_id, "failed": len(failed)})
            raise _internal()
        self._refresh(index, collection_id)

    # -- idempotency tokens -----------------------------------------------------------------

    @staticmethod
    def _token_doc_id(operation: str, token: str) -> str:
        return f"token::{operation}::{token}"

    def _get_token(self, operation: str, token: str) -> tuple[dict[str, Any], int, int] | None:
        doc_id = self._token_doc_id(operation, token)

        def request() -> tuple[dict[str, Any], int, int] | None:
            try:
                response: dict[str, Any] = self._client.get(index=self.meta_index, id=doc_id)
            except NotFoundError as exc:
                if exc.error == "index_not_found_exception":
                    raise
                return None
            return response["_source"], int(response["_seq_no"]), int(response["_primary_term"])

        return self._call("get_request_token", request)

    def get_request_token(self, operation: str, token: str, now: float) -> tuple[str, str] | None:
        self._ensure_meta()
        found = self._get_token(operation, token)
        if found is None or float(found[0]["expires_at"]) <= now:
            return None
        return str(found[0]["fingerprint"]), str(found[0]["response"])

    def put_request_token(
        self, operation: str, token: str, fingerprint: str, response_json: str, expires_at: float, now: float
    ) -> tuple[str, str] | None:
        """Store the record unless a live one exists; concurrent writers are ordered by OpenSearch.

        A new token is written with ``op_type=create``; an expired one is replaced only if it
        was not changed since it was read (``if_seq_no``/``if_primary_term``). Whoever loses
        either race reads and returns the winner's record.
        """
        self._ensure_meta()
        self._purge_tokens(now)
        doc_id = self._token_doc_id(operation, token)
        doc = {
            "kind": "token",
            "operation": operation,
            "fingerprint": fingerprint,
            "response": response_json,
            "expires_at": expires_at,
        }
        for _ in range(3):
            found = self._get_token(operation, token)
            if found is not None and float(found[0]["expires_at"]) > now:
                return str(found[0]["fingerprint"]), str(found[0]["response"])
            kwargs: dict[str, Any] = {"op_type": "create"}
            if found is not None:
                kwargs = {"if_seq_no": found[1], "if_primary_term": found[2]}
            try:
                self._call(
                    "put_request_token",
                    functools.partial(
                        self._client.index,
                        index=self.meta_index,
                        id=doc_id,
                        body=doc,
                        refresh="true",
                        **kwargs,
                    ),
                )
            except _Conflict:
                continue
            return None
        log.error("request token kept changing", extra={"operation": operation})
        raise _internal()

    def _purge_tokens(self, now: float) -> None:
        """Delete expired tokens, at most once an hour per store instance; failures only log."""
        if now - self._tokens_purged_at < TOKEN_PURGE_INTERVAL_S:
            return
        self._tokens_purged_at = now
        query = {"bool": {"filter": [{"term": {"kind": "token"}}, {"range": {"expires_at": {"lte": now}}}]}}
        try:
            self._call(
                "purge_request_tokens",
                lambda: self._client.delete_by_query(
                    index=self.meta_index,
                    body={"query": query},
                    conflicts="proceed",
                    wait_for_completion=False,
                ),
            )
        except (InternalServerError, ThrottlingException):
            log.warning("purging expired request tokens failed", extra={"index": self.meta_index})

    def close(self) -> None:
        self._client.close()
