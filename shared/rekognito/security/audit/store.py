"""The face store as the operations see it: every change audited before it is made.

:class:`AuditedStore` wraps a :class:`rekognito.ports.FaceStore` (embedded or OpenSearch);
``Services.store`` hands it out, so IndexFaces, DeleteFaces, the user operations,
collections and tags, the drop folder, ``rekognito import``, the retention purge and
``rekognito collection configure`` all write through it. Each mutating method runs inside
:func:`.write_ahead.audited_change`; reads go straight to the store.

``update_collection`` also validates the policy values it changes (:mod:`rekognito.policy`)
and records the old and new values of every policy key that changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rekognito.api._generated import InvalidParameterException
from rekognito.domain import Collection, Embedding, FaceMatchCandidate, StoredFace, User
from rekognito.policy import PolicyError, check_change
from rekognito.ports import FaceStore
from rekognito.security.audit.write_ahead import AppendOnly, audited_change


class AuditedStore:
    """A FaceStore whose changes are preceded by a durable audit entry."""

    def __init__(self, inner: FaceStore, sink: Callable[[], AppendOnly]) -> None:
        self.inner = inner
        self._sink = sink
        self.backend_name = inner.backend_name

    def __getattr__(self, name: str) -> Any:
        # Backend specifics (the embedded store's path, ...) for tests and tools.
        return getattr(self.inner, name)

    # -- changes --------------------------------------------------------------------------

    def create_collection(self, collection: Collection) -> None:
        try:
            check_change({}, collection.policy)
        except PolicyError as error:
            raise InvalidParameterException(str(error)) from error
        with audited_change(
            self._sink(),
            "create_collection",
            collection.collection_id,
            tag_keys=sorted(collection.tags),
            policy=dict(collection.policy),
        ):
            self.inner.create_collection(collection)

    def update_collection(self, collection: Collection) -> None:
        old = self.inner.get_collection(collection.collection_id)
        try:
            check_change(old.policy, collection.policy)
        except PolicyError as error:
            raise InvalidParameterException(str(error)) from error
        changed = sorted(
            key
            for key in set(old.policy) | set(collection.policy)
            if repr(old.policy.get(key)) != repr(collection.policy.get(key))
        )
        tags_changed = sorted(
            key
            for key in set(old.tags) | set(collection.tags)
            if old.tags.get(key) != collection.tags.get(key)
        )
        details: dict[str, Any] = {}
        if changed:
            details["policy_old"] = {key: old.policy.get(key) for key in changed}
            details["policy_new"] = {key: collection.policy.get(key) for key in changed}
        if tags_changed:
            details["tag_keys"] = tags_changed
        with audited_change(self._sink(), "update_collection", collection.collection_id, **details):
            self.inner.update_collection(collection)

    def delete_collection(self, collection_id: str) -> None:
        with audited_change(self._sink(), "delete_collection", collection_id):
            self.inner.delete_collection(collection_id)

    def put_faces(self, collection_id: str, faces: Sequence[StoredFace]) -> None:
        if not faces:
            self.inner.put_faces(collection_id, faces)
            return
        with audited_change(
            self._sink(), "put_faces", collection_id, face_ids=[face.face_id for face in faces]
        ):
            self.inner.put_faces(collection_id, faces)

    def delete_faces(self, collection_id: str, face_ids: Iterable[str]) -> list[str]:
        wanted = list(dict.fromkeys(face_ids))
        if not wanted:
            return self.inner.delete_faces(collection_id, wanted)
        with audited_change(self._sink(), "delete_faces", collection_id, face_ids=wanted):
            return self.inner.delete_faces(collection_id, wanted)

    def create_user(self, user: User) -> None:
        with audited_change(self._sink(), "create_user", user.collection_id, user_ids=[user.user_id]):
            self.inner.create_user(user)

    def delete_user(self, collection_id: str, user_id: str) -> None:
        with audited_change(self._sink(), "delete_user", collection_id, user_ids=[user_id]):
            self.inner.delete_user(collection_id, user_id)

    def set_faces_user(self, collection_id: str, face_ids: Sequence[str], user_id: str | None) -> None:
        with audited_change(
            self._sink(),
            "set_faces_user",
            collection_id,
            face_ids=list(face_ids),
            user_ids=[user_id] if user_id is not None else [],
        ):
            self.inner.set_faces_user(collection_id, face_ids, user_id)

    # -- reads and bookkeeping ------------------------------------------------------------

    def get_collection(self, collection_id: str) -> Collection:
        return self.inner.get_collection(collection_id)

    def list_collections(self) -> list[Collection]:
        return self.inner.list_collections()

    def count_faces(self, collection_id: str) -> int:
        return self.inner.count_faces(collection_id)

    def get_faces(self, collection_id: str, face_ids: Iterable[str]) -> list[StoredFace]:
        return self.inner.get_faces(collection_id, face_ids)

    def list_faces(
        self,
        collection_id: str,
        *,
        after: str | None = None,
        limit: int = 1000,
        face_ids: Sequence[str] | None = None,
        user_id: str | None = None,
    ) -> list[StoredFace]:
        return self.inner.list_faces(
            collection_id, after=after, limit=limit, face_ids=face_ids, user_id=user_id
        )

    def find_faces_by_source(self, collection_id: str, source_prefix: str) -> list[StoredFace]:
        return self.inner.find_faces_by_source(collection_id, source_prefix)

    def find_faces_created_before(self, collection_id: str, created_before: float) -> list[str]:
        return self.inner.find_faces_created_before(collection_id, created_before)

    def search(
        self,
        collection_id: str,
        query: Embedding,
        *,
        limit: int,
        min_cosine: float,
        exclude_face_ids: Iterable[str] = (),
    ) -> list[FaceMatchCandidate]:
        return self.inner.search(
            collection_id, query, limit=limit, min_cosine=min_cosine, exclude_face_ids=exclude_face_ids
        )

    def get_user(self, collection_id: str, user_id: str) -> User | None:
        return self.inner.get_user(collection_id, user_id)

    def list_users(self, collection_id: str, *, after: str | None = None, limit: int = 500) -> list[User]:
        return self.inner.list_users(collection_id, after=after, limit=limit)

    def count_users(self, collection_id: str) -> int:
        return self.inner.count_users(collection_id)

    def get_request_token(self, operation: str, token: str, now: float) -> tuple[str, str] | None:
        return self.inner.get_request_token(operation, token, now)

    def put_request_token(
        self, operation: str, token: str, fingerprint: str, response_json: str, expires_at: float, now: float
    ) -> tuple[str, str] | None:
        return self.inner.put_request_token(operation, token, fingerprint, response_json, expires_at, now)

    def close(self) -> None:
        """Nothing: the wrapped store belongs to whoever created it (``Services`` closes it)."""
