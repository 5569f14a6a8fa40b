"""Collections in the OpenSearch store: the metadata document and the face index.

A collection is created by writing its metadata document with ``op_type=create`` (a
cluster-wide uniqueness check) and then its face index; it is deleted index first, then
metadata, so a deletion that stops half way leaves an index that belongs to no collection
(dropped when the id is created again), never a collection without its index.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from rekognito.adapters.opensearch.mapping import META_MAPPING, IndexLayout, VectorSpec
from rekognito.adapters.opensearch.transport import Conflict, Transport, log, not_found
from rekognito.api._generated import InternalServerError, ResourceAlreadyExistsException
from rekognito.domain import Collection
from rekognito.policy import retention_cutoff


def users_query(collection_id: str) -> dict[str, Any]:
    return {"bool": {"filter": [{"term": {"kind": "user"}}, {"term": {"collection_id": collection_id}}]}}


class CollectionsPart:
    def __init__(self, transport: Transport, layout: IndexLayout, spec: VectorSpec) -> None:
        self.transport = transport
        self.layout = layout
        self.spec = spec
        self._meta_ready = False

    def ensure_meta(self) -> None:
        if self._meta_ready:
            return
        client = self.transport.client
        meta_index = self.layout.meta_index
        call = self.transport.call
        if not call("meta_exists", lambda: bool(client.indices.exists(index=meta_index))):
            body: dict[str, Any] = {"mappings": META_MAPPING}
            if self.spec.number_of_replicas is not None:
                body["settings"] = {"index": {"number_of_replicas": self.spec.number_of_replicas}}
            try:
                call("create_meta_index", lambda: client.indices.create(index=meta_index, body=body))
            except InternalServerError:
                # Another process may have created it meanwhile.
                if not call("meta_exists", lambda: bool(client.indices.exists(index=meta_index))):
                    raise
        else:
            # Adds fields that newer versions of this module map (no-op when up to date).
            call(
                "update_meta_mapping",
                lambda: client.indices.put_mapping(index=meta_index, body=META_MAPPING),
            )
        self._meta_ready = True

    def _doc(self, collection: Collection) -> dict[str, Any]:
        return {
            "kind": "collection",
            "collection_id": collection.collection_id,
            "arn": collection.arn,
            "face_model_version": collection.face_model_version,
            "created_at": collection.created_at,
            "tags": dict(collection.tags),
            "policy": dict(collection.policy),
            "face_index": self.layout.face_index(collection.collection_id),
        }

    @staticmethod
    def _from_doc(source: dict[str, Any]) -> Collection:
        return Collection(
            collection_id=source["collection_id"],
            arn=source["arn"],
            face_model_version=source["face_model_version"],
            created_at=float(source["created_at"]),
            tags=dict(source.get("tags") or {}),
            policy=dict(source.get("policy") or {}),
        )

    def create(self, collection: Collection) -> None:
        self.ensure_meta()
        client, call = self.transport.client, self.transport.call
        cid = collection.collection_id
        index = self.layout.face_index(cid)
        doc_id = self.layout.collection_doc_id(cid)
        doc = self._doc(collection)
        meta_index = self.layout.meta_index
        try:
            call(
                "create_collection",
                lambda: client.index(index=meta_index, id=doc_id, body=doc, op_type="create", refresh="true"),
            )
        except Conflict:
            raise ResourceAlreadyExistsException(f"The collection id: {cid} already exists") from None
        try:
            if call("face_index_exists", lambda: bool(client.indices.exists(index=index))):
                # Left over by a deletion that stopped half way: it belongs to no collection.
                call("drop_orphan_index", lambda: client.indices.delete(index=index))
            body = self.spec.face_index_body()
            call("create_face_index", lambda: client.indices.create(index=index, body=body))
        except Exception:
            call(
                "rollback_collection",
                lambda: client.delete(index=meta_index, id=doc_id, refresh="true"),
            )
            raise
        log.info(
            "collection created",
            extra={"collection_id": cid, "index": index, "engine": self.spec.engine},
        )

    def get(self, collection_id: str) -> Collection:
        self.ensure_meta()
        source = self.transport.get_source(
            "get_collection", self.layout.meta_index, self.layout.collection_doc_id(collection_id)
        )
        if source is None:
            raise not_found(collection_id)
        return self._from_doc(source)

    def require(self, collection_id: str) -> str:
        """The collection's face index; raises ``ResourceNotFoundException`` if it does not exist."""
        self.get(collection_id)
        return self.layout.face_index(collection_id)

    def list_all(self) -> list[Collection]:
        self.ensure_meta()
        query = {"term": {"kind": "collection"}}
        hits = self.transport.scan(self.layout.meta_index, query, None, sort_field="collection_id")
        return [self._from_doc(hit["_source"]) for hit in hits]

    def update(self, collection: Collection) -> None:
        """Replace the tags and the policy; the rest of a collection never changes."""
        current = self.get(collection.collection_id)
        doc = self._doc(
            dataclasses.replace(current, tags=dict(collection.tags), policy=dict(collection.policy))
        )
        client, meta_index = self.transport.client, self.layout.meta_index
        doc_id = self.layout.collection_doc_id(collection.collection_id)
        self.transport.call(
            "update_collection",
            lambda: client.index(index=meta_index, id=doc_id, body=doc, refresh="true"),
        )

    def delete(self, collection_id: str) -> None:
        index = self.require(collection_id)
        client, call, meta_index = self.transport.client, self.transport.call, self.layout.meta_index
        call("delete_face_index", lambda: client.indices.delete(index=index, ignore_unavailable=True))
        user_doc_ids = [
            hit["_id"]
            for hit in self.transport.scan(
                meta_index, users_query(collection_id), collection_id, sort_field="user_id", source=False
            )
        ]
        actions: list[dict[str, Any]] = [{"delete": {"_index": meta_index, "_id": d}} for d in user_doc_ids]
        actions.append(
            {"delete": {"_index": meta_index, "_id": self.layout.collection_doc_id(collection_id)}}
        )
        self.transport.bulk("delete_collection", actions, collection_id, refresh=True)
        log.info("collection deleted", extra={"collection_id": collection_id, "users": len(user_doc_ids)})

    def cutoff(self, collection_id: str) -> float | None:
        """Faces created before this are past retention (raises for an unknown collection).

        One GET of the collection's metadata document per read, so that a policy change
        takes effect at once in every process.
        """
        return retention_cutoff(self.get(collection_id).policy, time.time())

    def count_faces(self, collection_id: str) -> int:
        client, index = self.transport.client, self.layout.face_index(collection_id)
        cutoff = self.cutoff(collection_id)
        body = {"query": live_since(cutoff)} if cutoff is not None else None
        response = self.transport.call(
            "count_faces", lambda: client.count(index=index, body=body), collection_id
        )
        return int(response["count"])


def live_since(cutoff: float) -> dict[str, Any]:
    """Faces not past retention: created at or after ``cutoff``."""
    return {"range": {"created_at": {"gte": cutoff}}}
