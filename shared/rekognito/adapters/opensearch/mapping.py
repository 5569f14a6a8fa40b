"""Index names, settings and mappings of the OpenSearch store, and engine scores <-> cosine.

Layout
    * ``<prefix>-meta``: one document per collection (``collection::<id>``), per user
      (``user::<collection id>::<user id>``) and per idempotency token, told apart by ``kind``.
    * ``<prefix>-faces-<sanitised collection id>-<hash>``: one index per collection, one
      document per face with ``_id`` = face id. Index names must be lowercase and cannot hold
      every character a collection id may have, so the name is the lowercased id with other
      characters replaced, plus 10 hex digits of the id's sha256 to keep distinct ids apart.
      An index per collection makes deleting a collection one index deletion and keeps the
      k-NN graphs per collection small; the cost is one index per collection, which suits a
      few hundred collections, not tens of thousands.

Vectors
    ``knn_vector`` with method ``hnsw`` and the engine and space type set explicitly. The
    default is ``lucene`` with ``innerproduct`` (embeddings are L2-normalised, so the inner
    product is the cosine): lucene runs on every node, including the one the tests start
    from Maven Central, which carries no faiss native libraries; ``innerproduct`` scored
    candidates in about two thirds of the time ``cosinesimil`` took on the same node (it
    skips the norms) and its score maps back to the cosine the same way for both engines.
    Indexes created by older versions with ``cosinesimil`` keep working: the store reads
    each index's space type from its mapping (:func:`score_to_cosine`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Literal

Engine = Literal["faiss", "lucene"]
SpaceType = Literal["innerproduct", "cosinesimil"]

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


@dataclass(frozen=True)
class IndexLayout:
    """Where a store with this prefix keeps its documents."""

    prefix: str

    @classmethod
    def for_prefix(cls, index_prefix: str) -> IndexLayout:
        prefix = index_prefix.lower()
        if not _PREFIX_RE.match(prefix):
            raise ValueError(f"index prefix {index_prefix!r}: use lowercase letters, digits, '.', '_' or '-'")
        return cls(prefix)

    @property
    def meta_index(self) -> str:
        return f"{self.prefix}-meta"

    def face_index(self, collection_id: str) -> str:
        digest = hashlib.sha256(collection_id.encode()).hexdigest()[:10]
        safe = _INDEX_NAME_UNSAFE.sub("-", collection_id.lower())[:100]
        return f"{self.prefix}-faces-{safe}-{digest}"

    @staticmethod
    def collection_doc_id(collection_id: str) -> str:
        return f"collection::{collection_id}"

    @staticmethod
    def user_doc_id(collection_id: str, user_id: str) -> str:
        return f"user::{collection_id}::{user_id}"

    @staticmethod
    def token_doc_id(operation: str, token: str) -> str:
        return f"token::{operation}::{token}"


@dataclass(frozen=True)
class VectorSpec:
    """How new face indexes are built: engine, space type, HNSW parameters, shards."""

    engine: Engine = "lucene"
    space_type: SpaceType = "innerproduct"
    dimension: int = 512
    m: int = 16
    ef_construction: int = 128
    # faiss: the index setting ``knn.algo_param.ef_search``; both engines: the least ``k``
    # of a query (see ``faces.FacesPart.search``).
    ef_search: int = 768
    number_of_replicas: int | None = None
    number_of_shards: int | None = None

    def __post_init__(self) -> None:
        if self.engine not in ("faiss", "lucene"):
            raise ValueError(f"engine {self.engine!r}: expected 'faiss' or 'lucene'")
        if self.space_type not in ("innerproduct", "cosinesimil"):
            raise ValueError(f"space type {self.space_type!r}: expected 'innerproduct' or 'cosinesimil'")

    def face_index_body(self) -> dict[str, Any]:
        """Settings and mappings of a collection's face index."""
        index_settings: dict[str, Any] = {"knn": True}
        if self.engine == "faiss":
            index_settings["knn.algo_param.ef_search"] = self.ef_search
        if self.number_of_shards is not None:
            index_settings["number_of_shards"] = self.number_of_shards
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
                            "space_type": self.space_type,
                            "parameters": {"m": self.m, "ef_construction": self.ef_construction},
                        },
                    },
                },
            },
        }


@dataclass(frozen=True)
class ScoreMap:
    """An index's engine and space type: how its ``_score`` relates to the cosine.

    From the k-NN plugin's documented score translations (checked against a real 2.19 node
    for lucene, ``tests/contract``):

    * ``innerproduct`` (both engines): ``1 + ip`` for ``ip >= 0``, ``1 / (1 - ip)`` below 0;
    * ``cosinesimil`` with lucene: Lucene's own ``(1 + cos) / 2``;
    * ``cosinesimil`` with faiss (and nmslib): ``1 / (1 + d)`` with ``d = 1 - cos``.

    The engines score the candidates they return with the exact (float32) similarity, so
    mapping the score back gives the cosine up to float rounding (about 1e-7).
    """

    engine: str
    space_type: str

    def to_cosine(self, score: float) -> float:
        if self.space_type == "innerproduct":
            return score - 1.0 if score >= 1.0 else 1.0 - 1.0 / score
        if self.space_type == "cosinesimil":
            if self.engine == "lucene":
                return 2.0 * score - 1.0
            return 2.0 - 1.0 / score
        raise ValueError(f"space type {self.space_type!r} has no cosine")

    def to_score(self, cosine: float) -> float:
        """The engine's score for ``cosine`` (monotonic, so a cosine floor is a score floor)."""
        cosine = max(-1.0, min(1.0, cosine))
        if self.space_type == "innerproduct":
            return 1.0 + cosine if cosine >= 0.0 else 1.0 / (1.0 - cosine)
        if self.space_type == "cosinesimil":
            if self.engine == "lucene":
                return (1.0 + cosine) / 2.0
            return 1.0 / (2.0 - cosine)
        raise ValueError(f"space type {self.space_type!r} has no cosine")

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any]) -> ScoreMap:
        """From the ``embedding`` field of a face index's mapping (``GET <index>/_mapping``)."""
        field = mapping["properties"]["embedding"]
        method = field.get("method") or {}
        engine = str(method.get("engine") or "nmslib")
        space = str(method.get("space_type") or field.get("space_type") or "l2")
        return cls(engine, space)
