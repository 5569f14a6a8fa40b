"""Issue 6: a deleted face is gone from the embedded store's files, not just hidden.

Faces are indexed with the real models through boto3; after DeleteFaces, DeleteCollection
or a retention purge, the SQLite file and its WAL must not contain the face's embedding
(its float32 bytes, or any 64-byte slice of them) nor its face id, and no store method may
return anything of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rekognito.api._generated import ResourceNotFoundException
from rekognito.domain import StoredFace
from rekognito.security.retention import purge_expired
from rekognito.services import Services


def store_files(services: Services) -> list[Path]:
    path = Path(services.store.path)  # type: ignore[attr-defined]
    return [
        p
        for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-journal"))
        if p.exists()
    ]


def embedding_slices(face: StoredFace) -> list[bytes]:
    raw = np.ascontiguousarray(face.embedding, dtype=np.float32).tobytes()
    return [raw] + [raw[start : start + 64] for start in range(0, len(raw), 256)]


def assert_not_in_files(services: Services, face: StoredFace) -> None:
    needles = [*embedding_slices(face), face.face_id.encode()]
    for path in store_files(services):
        content = path.read_bytes()
        for needle in needles:
            assert needle not in content, f"{path.name} still holds bytes of deleted face {face.face_id}"


def assert_no_method_returns(services: Services, collection_id: str, face: StoredFace) -> None:
    store = services.store
    assert store.get_faces(collection_id, [face.face_id]) == []
    assert face.face_id not in {f.face_id for f in store.list_faces(collection_id, limit=10_000)}
    assert store.list_faces(collection_id, face_ids=[face.face_id]) == []
    assert face.face_id not in store.find_faces_created_before(collection_id, time.time() + 10**9)
    assert face.face_id not in {f.face_id for f in store.find_faces_by_source(collection_id, "")}
    hits = store.search(collection_id, face.embedding, limit=100, min_cosine=-1.0)
    assert face.face_id not in {hit.face.face_id for hit in hits}


@pytest.fixture
def indexed(client: Any, services: Services, photo: Any) -> Callable[[str], tuple[StoredFace, StoredFace]]:
    """Index Obama and Biden into a new collection; return both stored faces (with embeddings)."""

    def index(collection_id: str) -> tuple[StoredFace, StoredFace]:
        client.create_collection(CollectionId=collection_id)
        ids = [
            client.index_faces(CollectionId=collection_id, Image={"Bytes": photo(name)})["FaceRecords"][0][
                "Face"
            ]["FaceId"]
            for name in ("obama.jpg", "biden.jpg")
        ]
        obama, biden = services.store.get_faces(collection_id, ids)
        for face in (obama, biden):  # the needles are really there before deletion
            contents = [p.read_bytes() for p in store_files(services)]
            assert any(face.face_id.encode() in content for content in contents)
            assert any(embedding_slices(face)[0] in content for content in contents)
        return obama, biden

    return index


def test_delete_faces_removes_the_vector_and_id_from_the_files(
    client: Any, services: Services, indexed: Callable[[str], tuple[StoredFace, StoredFace]]
) -> None:
    obama, biden = indexed("people")
    assert client.delete_faces(CollectionId="people", FaceIds=[obama.face_id])["DeletedFaces"] == [
        obama.face_id
    ]
    assert_not_in_files(services, obama)
    assert_no_method_returns(services, "people", obama)
    assert services.store.count_faces("people") == 1
    assert [f.face_id for f in services.store.get_faces("people", [biden.face_id])] == [biden.face_id]


def test_delete_collection_removes_every_face_from_the_files(
    client: Any, services: Services, indexed: Callable[[str], tuple[StoredFace, StoredFace]]
) -> None:
    faces = indexed("people")
    client.delete_collection(CollectionId="people")
    for face in faces:
        assert_not_in_files(services, face)
    with pytest.raises(ResourceNotFoundException):
        services.store.get_faces("people", [faces[0].face_id])
    # A new collection with the same id starts empty
    client.create_collection(CollectionId="people")
    for face in faces:
        assert_no_method_returns(services, "people", face)
    assert services.store.count_faces("people") == 0


def test_retention_purge_removes_expired_faces_from_the_files(
    services: Services, indexed: Callable[[str], tuple[StoredFace, StoredFace]]
) -> None:
    faces = indexed("people")
    collection = services.store.get_collection("people")
    services.store.update_collection(replace(collection, policy={"retention_days": 1}))
    purged = purge_expired(services, now=time.time() + 2 * 86400)
    assert sorted(purged["people"]) == sorted(f.face_id for f in faces)
    for face in faces:
        assert_not_in_files(services, face)
        assert_no_method_returns(services, "people", face)
