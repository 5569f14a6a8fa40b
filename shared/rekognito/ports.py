"""Ports: the interfaces the operations need from the outside world.

Adapters (``rekognito.adapters``) implement them: the embedded SQLite/numpy store and the
OpenSearch k-NN store implement :class:`FaceStore`; both are checked by the same contract
tests in ``tests/contract``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from rekognito.domain import Collection, Embedding, FaceMatchCandidate, StoredFace, User


class FaceStore(Protocol):
    """Persistent collections, faces and users.

    Contract (checked by ``tests/contract/test_face_store.py``):

    * Collection ids are unique; ``create_collection`` raises
      ``ResourceAlreadyExistsException`` for an existing one, and every method that takes a
      collection id raises ``ResourceNotFoundException`` for an unknown one.
    * ``put_faces`` is atomic (all faces or none) and idempotent by ``face_id``: putting a
      face id again replaces that face. A face is searchable as soon as it returns.
    * ``search`` is exact or has a documented miss rate; it returns at most ``limit``
      candidates with cosine >= ``min_cosine``, best first, excluding ``exclude_face_ids``.
    * Deleting removes vectors and metadata for good; nothing of a deleted face can be
      read back by any method.
    """

    backend_name: str

    # Collections
    def create_collection(self, collection: Collection) -> None: ...
    def get_collection(self, collection_id: str) -> Collection: ...
    def list_collections(self) -> list[Collection]: ...
    def delete_collection(self, collection_id: str) -> None: ...
    def update_collection(self, collection: Collection) -> None: ...
    def count_faces(self, collection_id: str) -> int: ...

    # Faces
    def put_faces(self, collection_id: str, faces: Sequence[StoredFace]) -> None: ...
    def get_faces(self, collection_id: str, face_ids: Iterable[str]) -> list[StoredFace]: ...
    def list_faces(
        self,
        collection_id: str,
        *,
        after: str | None = None,
        limit: int = 1000,
        face_ids: Sequence[str] | None = None,
        user_id: str | None = None,
    ) -> list[StoredFace]:
        """Faces ordered by face id, starting after ``after``."""
        ...

    def delete_faces(self, collection_id: str, face_ids: Iterable[str]) -> list[str]:
        """Delete and return the ids that existed."""
        ...

    def find_faces_by_source(self, collection_id: str, source_prefix: str) -> list[StoredFace]: ...
    def find_faces_created_before(self, collection_id: str, created_before: float) -> list[str]: ...
    def search(
        self,
        collection_id: str,
        query: Embedding,
        *,
        limit: int,
        min_cosine: float,
        exclude_face_ids: Iterable[str] = (),
    ) -> list[FaceMatchCandidate]: ...

    # Users
    def create_user(self, user: User) -> None: ...
    def get_user(self, collection_id: str, user_id: str) -> User | None: ...
    def list_users(self, collection_id: str, *, after: str | None = None, limit: int = 500) -> list[User]: ...
    def delete_user(self, collection_id: str, user_id: str) -> None:
        """Delete the user and disassociate all its faces."""
        ...

    def count_users(self, collection_id: str) -> int: ...
    def set_faces_user(self, collection_id: str, face_ids: Sequence[str], user_id: str | None) -> None: ...

    # Idempotency tokens (ClientRequestToken of CreateUser, DeleteUser, AssociateFaces,
    # DisassociateFaces), keyed by (operation, token), not by collection.
    def get_request_token(self, operation: str, token: str, now: float) -> tuple[str, str] | None:
        """The ``(fingerprint, response JSON)`` stored for the token, unless it expired by ``now``."""
        ...

    def put_request_token(
        self, operation: str, token: str, fingerprint: str, response_json: str, expires_at: float, now: float
    ) -> tuple[str, str] | None:
        """Store the record unless a live one exists for the token; return that live one if so.

        Records with ``expires_at <= now`` count as absent and may be purged.
        """
        ...

    def close(self) -> None: ...


class ObjectReader(Protocol):
    """Reads image bytes from S3 (or a local S3) for ``S3Object`` images."""

    def read_object(self, bucket: str, key: str, version: str | None, max_bytes: int) -> bytes: ...
