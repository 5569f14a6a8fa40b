"""The FaceStore contract (``rekognito.ports.FaceStore``), run against every backend."""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pytest

from rekognito.api._generated import ResourceAlreadyExistsException, ResourceNotFoundException
from rekognito.domain import BoundingBox, Collection, Embedding, StoredFace, User
from rekognito.ports import FaceStore

DIMENSION = 512
RNG_SEED = 20240601


def unit_vectors(count: int, seed: int = RNG_SEED) -> list[Embedding]:
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((count, DIMENSION)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return list(matrix)


def near(vector: Embedding, cosine: float, seed: int) -> Embedding:
    """A unit vector whose cosine with ``vector`` is exactly ``cosine``."""
    other = unit_vectors(1, seed)[0]
    orthogonal = other - float(other @ vector) * vector
    orthogonal /= np.linalg.norm(orthogonal)
    result: Embedding = (cosine * vector + math.sqrt(1.0 - cosine**2) * orthogonal).astype(np.float32)
    return result / np.float32(np.linalg.norm(result))


def collection(collection_id: str = "family") -> Collection:
    return Collection(
        collection_id=collection_id,
        arn=f"aws:rekognition:us-east-1:000000000000:collection/{collection_id}",
        face_model_version="edgeface-s",
        created_at=1_700_000_000.5,
        tags={"team": "photos"},
        policy={"min_threshold": 80},
    )


def face(
    face_id: str,
    embedding: Embedding,
    *,
    collection_id: str = "family",
    user_id: str | None = None,
    source: str | None = None,
    created_at: float = 1_700_000_100.0,
) -> StoredFace:
    return StoredFace(
        face_id=face_id,
        collection_id=collection_id,
        image_id=f"img-{face_id}",
        bounding_box=BoundingBox(width=0.25, height=0.5, left=0.125, top=0.0625),
        confidence=99.875,
        embedding=embedding,
        created_at=created_at,
        external_image_id=f"ext-{face_id}",
        user_id=user_id,
        source=source,
        face_detail={"Pose": {"Yaw": 1.5}, "Quality": {"Sharpness": 80.0}},
    )


def ids(faces: list[StoredFace]) -> list[str]:
    return [f.face_id for f in faces]


@pytest.fixture
def family(store: FaceStore) -> FaceStore:
    store.create_collection(collection("family"))
    return store


# -- collections --------------------------------------------------------------------------


def test_create_get_list_delete_collection(store: FaceStore) -> None:
    store.create_collection(collection("b-coll"))
    store.create_collection(collection("A.Coll_1"))

    assert store.get_collection("b-coll") == collection("b-coll")
    assert [c.collection_id for c in store.list_collections()] == ["A.Coll_1", "b-coll"]
    assert store.count_faces("A.Coll_1") == 0

    store.delete_collection("b-coll")

    assert [c.collection_id for c in store.list_collections()] == ["A.Coll_1"]
    with pytest.raises(ResourceNotFoundException, match="The collection id: b-coll does not exist"):
        store.get_collection("b-coll")


def test_collection_ids_differing_only_in_case_are_distinct(store: FaceStore) -> None:
    store.create_collection(collection("Case"))
    store.create_collection(collection("case"))
    store.put_faces("Case", [face("f1", unit_vectors(1)[0], collection_id="Case")])

    assert store.count_faces("Case") == 1
    assert store.count_faces("case") == 0


def test_duplicate_collection_is_rejected(family: FaceStore) -> None:
    with pytest.raises(ResourceAlreadyExistsException, match="The collection id: family already exists"):
        family.create_collection(collection("family"))


def test_update_collection(family: FaceStore) -> None:
    updated = Collection(
        collection_id="family",
        arn=collection().arn,
        face_model_version="edgeface-s",
        created_at=collection().created_at,
        tags={"team": "other"},
        policy={"retention_days": 30},
    )
    family.update_collection(updated)
    assert family.get_collection("family") == updated


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.get_collection("nope"),
        lambda s: s.delete_collection("nope"),
        lambda s: s.update_collection(collection("nope")),
        lambda s: s.count_faces("nope"),
        lambda s: s.put_faces("nope", [face("f1", unit_vectors(1)[0], collection_id="nope")]),
        lambda s: s.get_faces("nope", ["f1"]),
        lambda s: s.list_faces("nope"),
        lambda s: s.delete_faces("nope", ["f1"]),
        lambda s: s.find_faces_by_source("nope", "s3://"),
        lambda s: s.find_faces_created_before("nope", 1e12),
        lambda s: s.search("nope", unit_vectors(1)[0], limit=1, min_cosine=0.0),
        lambda s: s.create_user(User("nope", "u1", "ACTIVE", 1.0)),
        lambda s: s.get_user("nope", "u1"),
        lambda s: s.list_users("nope"),
        lambda s: s.delete_user("nope", "u1"),
        lambda s: s.count_users("nope"),
        lambda s: s.set_faces_user("nope", ["f1"], "u1"),
    ],
    ids=lambda call: "",
)
def test_unknown_collection_is_not_found(store: FaceStore, call: object) -> None:
    assert callable(call)
    with pytest.raises(ResourceNotFoundException, match="The collection id: nope does not exist"):
        call(store)


# -- faces --------------------------------------------------------------------------------


def test_put_then_get_round_trips_every_field(family: FaceStore) -> None:
    vector = unit_vectors(1)[0]
    original = face("f1", vector, user_id=None, source="s3://bucket/a.jpg#v1")
    family.put_faces("family", [original])

    [stored] = family.get_faces("family", ["f1"])

    assert stored.embedding.dtype == np.float32
    np.testing.assert_array_equal(stored.embedding, vector)
    assert stored.face_id == original.face_id
    assert stored.collection_id == "family"
    assert (stored.image_id, stored.external_image_id, stored.source) == ("img-f1", "ext-f1", original.source)
    assert stored.bounding_box == original.bounding_box
    assert stored.confidence == original.confidence
    assert stored.created_at == original.created_at
    assert stored.face_detail == original.face_detail
    assert stored.user_id is None


def test_get_faces_keeps_the_requested_order_and_skips_unknown_ids(family: FaceStore) -> None:
    vectors = unit_vectors(3)
    family.put_faces("family", [face(f"f{i}", v) for i, v in enumerate(vectors)])

    assert ids(family.get_faces("family", ["f2", "missing", "f0", "f2"])) == ["f2", "f0"]
    assert family.get_faces("family", []) == []


def test_put_is_idempotent_by_face_id(family: FaceStore) -> None:
    first, second = unit_vectors(2)
    family.put_faces("family", [face("f1", first)])
    family.put_faces("family", [face("f1", second, source="s3://b/new.jpg")])

    [stored] = family.get_faces("family", ["f1"])
    assert family.count_faces("family") == 1
    assert stored.source == "s3://b/new.jpg"
    np.testing.assert_array_equal(stored.embedding, second)
    [best] = family.search("family", second, limit=1, min_cosine=0.0)
    assert best.face.face_id == "f1"
    assert best.cosine == pytest.approx(1.0, abs=1e-4)


def test_list_faces_is_ordered_and_paginated(family: FaceStore) -> None:
    vectors = unit_vectors(7)
    face_ids = [f"face-{i:02d}" for i in (5, 1, 3, 0, 6, 2, 4)]
    family.put_faces("family", [face(fid, v) for fid, v in zip(face_ids, vectors, strict=True)])

    everything = ids(family.list_faces("family"))
    page1 = ids(family.list_faces("family", limit=3))
    page2 = ids(family.list_faces("family", after=page1[-1], limit=3))
    page3 = ids(family.list_faces("family", after=page2[-1], limit=3))

    assert everything == sorted(face_ids)
    assert page1 + page2 + page3 == sorted(face_ids)
    assert len(page3) == 1
    assert family.list_faces("family", after="face-06") == []


def test_list_faces_filters_by_ids_and_user(family: FaceStore) -> None:
    vectors = unit_vectors(4)
    family.create_user(User("family", "alice", "ACTIVE", 1.0))
    family.put_faces(
        "family",
        [
            face("f0", vectors[0], user_id="alice"),
            face("f1", vectors[1]),
            face("f2", vectors[2], user_id="alice"),
            face("f3", vectors[3]),
        ],
    )

    assert ids(family.list_faces("family", face_ids=["f3", "f1", "unknown"])) == ["f1", "f3"]
    assert ids(family.list_faces("family", user_id="alice")) == ["f0", "f2"]
    assert ids(family.list_faces("family", user_id="alice", face_ids=["f2", "f3"])) == ["f2"]
    assert family.list_faces("family", face_ids=[]) == []


def test_delete_faces_returns_only_existing_ids(family: FaceStore) -> None:
    vectors = unit_vectors(3)
    family.put_faces("family", [face(f"f{i}", v) for i, v in enumerate(vectors)])

    deleted = family.delete_faces("family", ["f0", "missing", "f2"])

    assert sorted(deleted) == ["f0", "f2"]
    assert ids(family.list_faces("family")) == ["f1"]
    assert family.count_faces("family") == 1
    assert family.delete_faces("family", ["f0"]) == []


def test_nothing_of_a_deleted_face_can_be_read_back(family: FaceStore) -> None:
    vectors = unit_vectors(3)
    family.create_user(User("family", "alice", "ACTIVE", 1.0))
    family.put_faces(
        "family",
        [
            face(f"f{i}", v, user_id="alice", source=f"s3://b/{i}.jpg", created_at=10.0)
            for i, v in enumerate(vectors)
        ],
    )

    family.delete_faces("family", ["f1"])

    assert family.get_faces("family", ["f1"]) == []
    assert "f1" not in ids(family.list_faces("family"))
    assert family.list_faces("family", face_ids=["f1"]) == []
    assert "f1" not in ids(family.list_faces("family", user_id="alice"))
    assert family.find_faces_by_source("family", "s3://b/1.jpg") == []
    assert "f1" not in family.find_faces_created_before("family", 1e12)
    matches = family.search("family", vectors[1], limit=10, min_cosine=-1.0)
    assert "f1" not in [m.face.face_id for m in matches]


def test_find_faces_by_source_prefix(family: FaceStore) -> None:
    vectors = unit_vectors(4)
    family.put_faces(
        "family",
        [
            face("f0", vectors[0], source="s3://photos/2024/a.jpg#v1"),
            face("f1", vectors[1], source="s3://photos/2024/a.jpg#v1"),
            face("f2", vectors[2], source="s3://photos/2025/b.jpg#v1"),
            face("f3", vectors[3]),
        ],
    )

    assert ids(family.find_faces_by_source("family", "s3://photos/2024/")) == ["f0", "f1"]
    assert ids(family.find_faces_by_source("family", "s3://photos/")) == ["f0", "f1", "f2"]
    assert family.find_faces_by_source("family", "s3://other/") == []
    # Characters that are wildcards in SQL LIKE or OpenSearch queries match only themselves.
    assert family.find_faces_by_source("family", "s3://photos/202_/") == []
    assert family.find_faces_by_source("family", "s3://photos/%") == []


def test_find_faces_created_before(family: FaceStore) -> None:
    vectors = unit_vectors(3)
    family.put_faces(
        "family",
        [
            face("old", vectors[0], created_at=100.0),
            face("edge", vectors[1], created_at=200.0),
            face("new", vectors[2], created_at=300.0),
        ],
    )

    assert family.find_faces_created_before("family", 200.0) == ["old"]
    assert sorted(family.find_faces_created_before("family", 1000.0)) == ["edge", "new", "old"]


# -- search -------------------------------------------------------------------------------


@pytest.fixture
def populated(family: FaceStore) -> tuple[FaceStore, list[Embedding]]:
    vectors = unit_vectors(50)
    family.put_faces("family", [face(f"f{i:02d}", v) for i, v in enumerate(vectors)])
    return family, vectors


def test_search_finds_the_exact_vector_first(populated: tuple[FaceStore, list[Embedding]]) -> None:
    store, vectors = populated

    matches = store.search("family", vectors[17], limit=5, min_cosine=-1.0)

    assert matches[0].face.face_id == "f17"
    assert matches[0].cosine == pytest.approx(1.0, abs=1e-4)
    np.testing.assert_array_equal(matches[0].face.embedding, vectors[17])
    cosines = [m.cosine for m in matches]
    assert cosines == sorted(cosines, reverse=True)
    assert len(matches) == 5


def test_search_reports_the_cosine_and_applies_min_cosine(family: FaceStore) -> None:
    query = unit_vectors(1, seed=1)[0]
    family.put_faces(
        "family",
        [
            face("c95", near(query, 0.95, 2)),
            face("c80", near(query, 0.80, 3)),
            face("c40", near(query, 0.40, 4)),
        ],
    )

    matches = family.search("family", query, limit=10, min_cosine=0.5)

    assert [m.face.face_id for m in matches] == ["c95", "c80"]
    assert [m.cosine for m in matches] == pytest.approx([0.95, 0.80], abs=1e-3)


def test_search_limit_and_exclusions(populated: tuple[FaceStore, list[Embedding]]) -> None:
    store, vectors = populated

    assert len(store.search("family", vectors[3], limit=2, min_cosine=-1.0)) == 2
    matches = store.search("family", vectors[3], limit=3, min_cosine=-1.0, exclude_face_ids=["f03"])
    assert "f03" not in [m.face.face_id for m in matches]
    assert len(matches) == 3
    assert store.search("family", vectors[3], limit=5, min_cosine=0.99, exclude_face_ids=["f03"]) == []


def test_collections_are_isolated(store: FaceStore) -> None:
    store.create_collection(collection("one"))
    store.create_collection(collection("two"))
    vector = unit_vectors(1)[0]
    store.put_faces("one", [face("shared-id", vector, collection_id="one", source="s3://b/x.jpg")])

    assert store.search("two", vector, limit=5, min_cosine=-1.0) == []
    assert store.get_faces("two", ["shared-id"]) == []
    assert store.find_faces_by_source("two", "s3://") == []
    assert store.count_faces("two") == 0
    assert store.delete_faces("two", ["shared-id"]) == []
    assert store.count_faces("one") == 1

    store.delete_collection("one")
    store.create_collection(collection("one"))
    assert store.count_faces("one") == 0
    assert store.search("one", vector, limit=5, min_cosine=-1.0) == []


# -- users --------------------------------------------------------------------------------


def test_users_create_get_list_delete(family: FaceStore) -> None:
    for user_id in ("carol", "alice", "bob"):
        family.create_user(User("family", user_id, "ACTIVE", 5.0))

    assert family.get_user("family", "alice") == User("family", "alice", "ACTIVE", 5.0)
    assert family.get_user("family", "nobody") is None
    assert [u.user_id for u in family.list_users("family")] == ["alice", "bob", "carol"]
    assert [u.user_id for u in family.list_users("family", limit=2)] == ["alice", "bob"]
    assert [u.user_id for u in family.list_users("family", after="bob")] == ["carol"]
    assert family.count_users("family") == 3
    with pytest.raises(ResourceAlreadyExistsException):
        family.create_user(User("family", "alice", "ACTIVE", 6.0))

    family.delete_user("family", "bob")

    assert family.get_user("family", "bob") is None
    assert family.count_users("family") == 2


def test_users_belong_to_their_collection(store: FaceStore) -> None:
    store.create_collection(collection("one"))
    store.create_collection(collection("two"))
    store.create_user(User("one", "alice", "ACTIVE", 1.0))

    assert store.get_user("two", "alice") is None
    assert store.count_users("two") == 0

    store.delete_collection("one")
    store.create_collection(collection("one"))
    assert store.count_users("one") == 0


def test_set_faces_user_and_delete_user_disassociates(family: FaceStore) -> None:
    vectors = unit_vectors(3)
    family.put_faces("family", [face(f"f{i}", v) for i, v in enumerate(vectors)])
    family.create_user(User("family", "alice", "ACTIVE", 1.0))

    family.set_faces_user("family", ["f0", "f2", "missing"], "alice")
    assert ids(family.list_faces("family", user_id="alice")) == ["f0", "f2"]

    family.set_faces_user("family", ["f2"], None)
    assert ids(family.list_faces("family", user_id="alice")) == ["f0"]
    assert family.get_faces("family", ["f2"])[0].user_id is None

    family.delete_user("family", "alice")
    assert family.list_faces("family", user_id="alice") == []
    assert [f.user_id for f in family.list_faces("family")] == [None, None, None]


def test_put_faces_is_all_or_nothing(family: FaceStore) -> None:
    good = unit_vectors(1)[0]
    bad = unit_vectors(1, seed=5)[0][:256]
    family.put_faces("family", [face("keep", unit_vectors(1, seed=6)[0])])

    with pytest.raises(ValueError, match="dimension"):
        family.put_faces("family", [face("f-good", good), face("f-bad", bad)])

    assert ids(family.list_faces("family")) == ["keep"]
    assert family.search("family", good, limit=5, min_cosine=0.99) == []


# -- idempotency tokens -------------------------------------------------------------------


def test_request_tokens_store_once_until_expiry(store: FaceStore) -> None:
    assert store.get_request_token("CreateUser", "tok-1", now=100.0) is None

    assert (
        store.put_request_token("CreateUser", "tok-1", "fp-a", '{"a": 1}', expires_at=200.0, now=100.0)
        is None
    )
    again = store.put_request_token("CreateUser", "tok-1", "fp-b", '{"b": 2}', expires_at=300.0, now=150.0)

    assert again == ("fp-a", '{"a": 1}')
    assert store.get_request_token("CreateUser", "tok-1", now=199.0) == ("fp-a", '{"a": 1}')
    assert store.get_request_token("DeleteUser", "tok-1", now=150.0) is None
    assert store.get_request_token("CreateUser", "tok-1", now=200.0) is None


def test_expired_request_token_is_replaced(store: FaceStore) -> None:
    store.put_request_token("AssociateFaces", "tok", "old", "{}", expires_at=10.0, now=1.0)

    assert (
        store.put_request_token("AssociateFaces", "tok", "new", '{"n": 1}', expires_at=99.0, now=10.0) is None
    )
    assert store.get_request_token("AssociateFaces", "tok", now=50.0) == ("new", '{"n": 1}')


# -- retention on read (issue 15) ---------------------------------------------------------


def test_faces_past_retention_are_never_returned_even_before_the_purge(family: FaceStore) -> None:
    now = time.time()
    vectors = unit_vectors(3)
    family.put_faces(
        "family",
        [
            face("old", vectors[0], user_id="u1", created_at=now - 3 * 86400),
            face("new", vectors[1], user_id="u1", created_at=now - 3600),
            face("older", vectors[2], created_at=now - 10 * 86400),
        ],
    )
    policy = {"retention_days": 2.0}
    family.update_collection(dataclasses.replace(family.get_collection("family"), policy=policy))

    # Every read path leaves out the two faces older than two days
    assert ids(family.list_faces("family")) == ["new"]
    assert ids(family.list_faces("family", user_id="u1")) == ["new"]
    assert ids(family.list_faces("family", face_ids=["old", "new"])) == ["new"]
    assert ids(family.get_faces("family", ["old", "new", "older"])) == ["new"]
    assert family.count_faces("family") == 1
    found = family.search("family", vectors[0], limit=3, min_cosine=-1.0)
    assert [m.face.face_id for m in found] == ["new"]
    # The purge still finds them, and deleting them works
    assert sorted(family.find_faces_created_before("family", now - 2 * 86400)) == ["old", "older"]
    assert sorted(family.delete_faces("family", ["old", "older"])) == ["old", "older"]

    # A stored value that is not valid does not hide faces (nor crash a read)
    family.update_collection(
        dataclasses.replace(family.get_collection("family"), policy={"retention_days": "soon"})
    )
    assert ids(family.list_faces("family")) == ["new"]
    # Without retention, old faces are returned
    family.put_faces("family", [face("ancient", vectors[2], created_at=1.0)])
    family.update_collection(dataclasses.replace(family.get_collection("family"), policy={}))
    assert ids(family.list_faces("family")) == ["ancient", "new"]
