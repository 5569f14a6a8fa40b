"""Users in the OpenSearch store: one metadata document per user; faces carry ``user_id``."""

from __future__ import annotations

from collections.abc import Sequence

from rekognito.adapters.opensearch.collections import CollectionsPart, users_query
from rekognito.adapters.opensearch.faces import FacesPart
from rekognito.adapters.opensearch.mapping import IndexLayout
from rekognito.adapters.opensearch.transport import Conflict, Transport
from rekognito.api._generated import InternalServerError, ResourceAlreadyExistsException
from rekognito.domain import User


class UsersPart:
    def __init__(
        self, transport: Transport, layout: IndexLayout, collections: CollectionsPart, faces: FacesPart
    ) -> None:
        self.transport = transport
        self.layout = layout
        self.collections = collections
        self.faces = faces

    def create(self, user: User) -> None:
        self.collections.require(user.collection_id)
        doc = {
            "kind": "user",
            "collection_id": user.collection_id,
            "user_id": user.user_id,
            "status": user.status,
            "created_at": user.created_at,
        }
        client, meta_index = self.transport.client, self.layout.meta_index
        doc_id = self.layout.user_doc_id(user.collection_id, user.user_id)
        try:
            self.transport.call(
                "create_user",
                lambda: client.index(index=meta_index, id=doc_id, body=doc, op_type="create", refresh="true"),
            )
        except Conflict:
            raise ResourceAlreadyExistsException(f"The user id: {user.user_id} already exists") from None

    def get(self, collection_id: str, user_id: str) -> User | None:
        self.collections.require(collection_id)
        source = self.transport.get_source(
            "get_user", self.layout.meta_index, self.layout.user_doc_id(collection_id, user_id)
        )
        if source is None:
            return None
        return User(collection_id, source["user_id"], source["status"], float(source["created_at"]))

    def list_page(self, collection_id: str, *, after: str | None, limit: int) -> list[User]:
        self.collections.require(collection_id)
        if limit <= 0:
            return []
        hits = self.transport.scan(
            self.layout.meta_index,
            users_query(collection_id),
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

    def delete(self, collection_id: str, user_id: str) -> None:
        index = self.collections.require(collection_id)
        self.faces.set_user(index, collection_id, self.faces.ids_of_user(index, collection_id, user_id), None)
        client, meta_index = self.transport.client, self.layout.meta_index
        doc_id = self.layout.user_doc_id(collection_id, user_id)
        try:
            self.transport.call(
                "delete_user", lambda: client.delete(index=meta_index, id=doc_id, refresh="true")
            )
        except InternalServerError:
            if self.transport.get_source("get_user", meta_index, doc_id) is not None:
                raise

    def count(self, collection_id: str) -> int:
        self.collections.require(collection_id)
        client, meta_index = self.transport.client, self.layout.meta_index
        response = self.transport.call(
            "count_users",
            lambda: client.count(index=meta_index, body={"query": users_query(collection_id)}),
        )
        return int(response["count"])

    def set_faces(self, collection_id: str, face_ids: Sequence[str], user_id: str | None) -> None:
        index = self.collections.require(collection_id)
        self.faces.set_user(index, collection_id, list(dict.fromkeys(face_ids)), user_id)
