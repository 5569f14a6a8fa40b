"""Issue 8 acceptance: users (CreateUser ... SearchUsersByImage), real models, boto3, HTTP on loopback."""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.model import Shape
from PIL import Image

from rekognito.api.model import operation_model
from rekognito.services import Services

# Keys we add on purpose (see operations/_faces.py mark_review); botocore ignores them.
EXTENSION_KEYS = frozenset({"ReviewRequired"})


def unknown_keys(shape: Shape, value: Any, path: str) -> list[str]:
    """Paths in a raw JSON response that ``shape`` does not define, and enum values it does not allow."""
    if shape.type_name == "structure" and isinstance(value, dict):
        members = shape.members  # type: ignore[attr-defined]
        found: list[str] = []
        for key, item in value.items():
            if key in members:
                found += unknown_keys(members[key], item, f"{path}.{key}")
            elif key not in EXTENSION_KEYS:
                found.append(f"{path}.{key}")
        return found
    if shape.type_name == "list" and isinstance(value, list):
        return [
            bad for i, item in enumerate(value) for bad in unknown_keys(shape.member, item, f"{path}[{i}]")
        ]  # type: ignore[attr-defined]
    if shape.type_name == "string" and shape.enum and value not in shape.enum:
        return [f"{path}={value!r}"]
    return []


@pytest.fixture
def rekognition(client: Any) -> Iterator[Any]:
    """The boto3 client; every successful raw response is checked against its output shape."""
    bodies: list[tuple[str, bytes]] = []

    def keep(http_response: Any, model: Any, **_: Any) -> None:
        if http_response.status_code == 200:
            bodies.append((model.name, http_response.content))

    client.meta.events.register("after-call.rekognition", keep)
    yield client
    assert bodies, "no response was checked"
    for name, content in bodies:
        shape = operation_model(name).output_shape
        assert shape is not None
        assert unknown_keys(shape, json.loads(content or b"{}"), name) == []


def error_of(call: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call()
    return dict(caught.value.response["Error"])


def index_one(client: Any, photo: Any, name: str, collection: str = "people") -> str:
    result = client.index_faces(
        CollectionId=collection, Image={"Bytes": photo(name)}, ExternalImageId=name, MaxFaces=1
    )
    assert len(result["FaceRecords"]) == 1, name
    return str(result["FaceRecords"][0]["Face"]["FaceId"])


def user_face_ids(client: Any, user_id: str, collection: str = "people") -> set[str]:
    faces = client.list_faces(CollectionId=collection, UserId=user_id)["Faces"]
    assert all(face["UserId"] == user_id for face in faces)
    return {face["FaceId"] for face in faces}


def test_a_user_built_from_several_photos_is_found_from_a_new_one(rekognition: Any, photo: Any) -> None:
    # Given a collection with three photos of Obama, one of Biden and a group photo
    client = rekognition
    client.create_collection(CollectionId="people")
    obama = [index_one(client, photo, name) for name in ("obama.jpg", "obama2.jpg", "obama_partial_face.jpg")]
    biden = index_one(client, photo, "biden.jpg")
    group = client.index_faces(
        CollectionId="people", Image={"Bytes": photo("group6.jpg")}, QualityFilter="NONE"
    )
    assert len(group["FaceRecords"]) == 6

    # When a user is created and his three faces associated
    assert client.list_users(CollectionId="people")["Users"] == []
    client.create_user(CollectionId="people", UserId="barack")
    listed = client.list_users(CollectionId="people")["Users"]
    assert listed == [{"UserId": "barack", "UserStatus": "CREATED"}]
    associated = client.associate_faces(CollectionId="people", UserId="barack", FaceIds=obama)

    # Then all three are associated and the user is ACTIVE
    assert sorted(f["FaceId"] for f in associated["AssociatedFaces"]) == sorted(obama)
    assert associated["UnsuccessfulFaceAssociations"] == []
    assert associated["UserStatus"] == "ACTIVE"
    assert user_face_ids(client, "barack") == set(obama)
    assert client.describe_collection(CollectionId="people")["UserCount"] == 1

    # And Biden's face is refused for him, with its low confidence
    refused = client.associate_faces(CollectionId="people", UserId="barack", FaceIds=[biden])
    assert refused["AssociatedFaces"] == []
    [failure] = refused["UnsuccessfulFaceAssociations"]
    assert failure["FaceId"] == biden
    assert failure["Reasons"] == ["LOW_MATCH_CONFIDENCE"]
    assert failure["Confidence"] < 75
    assert user_face_ids(client, "barack") == set(obama)

    # When Biden gets his own user
    client.create_user(CollectionId="people", UserId="joe")
    client.associate_faces(CollectionId="people", UserId="joe", FaceIds=[biden])

    # Then a new photo of Obama finds the user "barack" first, well above the threshold
    found = client.search_users_by_image(CollectionId="people", Image={"Bytes": photo("obama3.jpg")})
    assert found["UserMatches"][0]["User"] == {"UserId": "barack", "UserStatus": "ACTIVE"}
    assert found["UserMatches"][0]["Similarity"] >= 90
    assert [m["User"]["UserId"] for m in found["UserMatches"]] == ["barack"]
    assert 0 < found["SearchedFace"]["FaceDetail"]["BoundingBox"]["Width"] <= 1
    assert found["UnsearchedFaces"] == []
    assert found["FaceModelVersion"]

    # And with threshold 0 every user comes back, ranked
    everyone = client.search_users_by_image(
        CollectionId="people", Image={"Bytes": photo("obama3.jpg")}, UserMatchThreshold=0
    )
    assert [m["User"]["UserId"] for m in everyone["UserMatches"]] == ["barack", "joe"]
    assert everyone["UserMatches"][1]["Similarity"] < 80

    # And SearchUsers by one of his faces finds him (scored on his other faces), by user finds nobody
    by_face = client.search_users(CollectionId="people", FaceId=obama[1])
    assert by_face["SearchedFace"] == {"FaceId": obama[1]}
    assert [m["User"]["UserId"] for m in by_face["UserMatches"]] == ["barack"]
    by_user = client.search_users(CollectionId="people", UserId="barack")
    assert by_user["SearchedUser"] == {"UserId": "barack"}
    assert by_user["UserMatches"] == []
    ranked = client.search_users(CollectionId="people", UserId="barack", UserMatchThreshold=0)
    assert [m["User"]["UserId"] for m in ranked["UserMatches"]] == ["joe"]


def test_search_users_by_image_reports_the_faces_it_did_not_search(rekognition: Any, photo: Any) -> None:
    client = rekognition
    client.create_collection(CollectionId="people")

    result = client.search_users_by_image(CollectionId="people", Image={"Bytes": photo("group6.jpg")})

    assert result["UserMatches"] == []
    assert "SearchedFace" in result
    assert len(result["UnsearchedFaces"]) == 5
    assert all(face["Reasons"][0] == "FACE_NOT_LARGEST" for face in result["UnsearchedFaces"])
    searched = result["SearchedFace"]["FaceDetail"]["BoundingBox"]
    for face in result["UnsearchedFaces"]:
        box = face["FaceDetails"]["BoundingBox"]
        assert box["Width"] * box["Height"] <= searched["Width"] * searched["Height"]


def test_search_users_by_image_without_a_face_returns_no_searched_face(rekognition: Any, photo: Any) -> None:
    client = rekognition
    client.create_collection(CollectionId="people")
    buffer = io.BytesIO()
    Image.new("RGB", (200, 200), (120, 130, 140)).save(buffer, format="PNG")

    result = client.search_users_by_image(CollectionId="people", Image={"Bytes": buffer.getvalue()})

    assert result["UserMatches"] == []
    assert "SearchedFace" not in result
    assert result["UnsearchedFaces"] == []


def test_retried_requests_with_the_same_token_change_nothing(rekognition: Any, photo: Any) -> None:
    client = rekognition
    client.create_collection(CollectionId="people")
    faces = [index_one(client, photo, name) for name in ("obama.jpg", "obama2.jpg")]

    # CreateUser: a retry succeeds again, a new token conflicts, another user id mismatches
    assert client.create_user(CollectionId="people", UserId="barack", ClientRequestToken="create-1")
    client.create_user(CollectionId="people", UserId="barack", ClientRequestToken="create-1")
    assert client.list_users(CollectionId="people")["Users"] == [
        {"UserId": "barack", "UserStatus": "CREATED"}
    ]
    assert error_of(lambda: client.create_user(CollectionId="people", UserId="barack"))["Code"] == (
        "ConflictException"
    )
    mismatch = error_of(
        lambda: client.create_user(CollectionId="people", UserId="other", ClientRequestToken="create-1")
    )
    assert mismatch["Code"] == "IdempotentParameterMismatchException"
    assert [u["UserId"] for u in client.list_users(CollectionId="people")["Users"]] == ["barack"]

    # AssociateFaces: a retry returns the first answer even though the faces are now associated
    first = client.associate_faces(
        CollectionId="people", UserId="barack", FaceIds=faces, ClientRequestToken="assoc-1"
    )
    again = client.associate_faces(
        CollectionId="people", UserId="barack", FaceIds=faces, ClientRequestToken="assoc-1"
    )
    first.pop("ResponseMetadata")
    again.pop("ResponseMetadata")
    assert again == first
    assert len(first["AssociatedFaces"]) == 2
    fresh = client.associate_faces(CollectionId="people", UserId="barack", FaceIds=faces)
    assert fresh["AssociatedFaces"] == []  # already his: ignored, as Rekognition does
    assert fresh["UnsuccessfulFaceAssociations"] == []
    assert (
        error_of(
            lambda: client.associate_faces(
                CollectionId="people",
                UserId="barack",
                FaceIds=faces[:1],
                ClientRequestToken="assoc-1",
            )
        )["Code"]
        == "IdempotentParameterMismatchException"
    )
    assert user_face_ids(client, "barack") == set(faces)

    # DeleteUser: a retry answers like the first call; a new request finds no user
    client.delete_user(CollectionId="people", UserId="barack", ClientRequestToken="delete-1")
    client.delete_user(CollectionId="people", UserId="barack", ClientRequestToken="delete-1")
    assert error_of(lambda: client.delete_user(CollectionId="people", UserId="barack"))["Code"] == (
        "ResourceNotFoundException"
    )

    # And a token from a collection that was deleted and re-created is not replayed
    client.delete_collection(CollectionId="people")
    client.create_collection(CollectionId="people")
    stale = error_of(
        lambda: client.create_user(CollectionId="people", UserId="barack", ClientRequestToken="create-1")
    )
    assert stale["Code"] == "IdempotentParameterMismatchException"


def test_request_tokens_expire_after_eight_hours(services: Services) -> None:
    store = services.store
    now = time.time()
    assert store.put_request_token("CreateUser", "t", "fp", "{}", now + 8 * 3600, now) is None
    assert store.get_request_token("CreateUser", "t", now + 8 * 3600 - 1) == ("fp", "{}")
    assert store.get_request_token("DeleteUser", "t", now) is None
    assert store.put_request_token("CreateUser", "t", "fp2", "{}", now + 9 * 3600, now) == ("fp", "{}")
    assert store.get_request_token("CreateUser", "t", now + 8 * 3600) is None
    later = now + 8 * 3600
    assert store.put_request_token("CreateUser", "t", "fp2", "[]", later + 8 * 3600, later) is None
    assert store.get_request_token("CreateUser", "t", later) == ("fp2", "[]")


def test_faces_of_another_user_or_missing_faces_are_refused(rekognition: Any, photo: Any) -> None:
    client = rekognition
    client.create_collection(CollectionId="people")
    obama = index_one(client, photo, "obama.jpg")
    client.create_user(CollectionId="people", UserId="barack")
    client.create_user(CollectionId="people", UserId="impostor")
    client.associate_faces(CollectionId="people", UserId="barack", FaceIds=[obama])
    missing = str(uuid.uuid4())

    result = client.associate_faces(CollectionId="people", UserId="impostor", FaceIds=[obama, missing])

    assert result["AssociatedFaces"] == []
    assert result["UserStatus"] == "CREATED"
    reasons = {f["FaceId"]: (f["Reasons"], f["UserId"]) for f in result["UnsuccessfulFaceAssociations"]}
    assert reasons == {
        obama: (["ASSOCIATED_TO_A_DIFFERENT_USER"], "barack"),
        missing: (["FACE_NOT_FOUND"], "impostor"),
    }
    assert error_of(lambda: client.associate_faces(CollectionId="people", UserId="nobody", FaceIds=[obama]))[
        "Code"
    ] == ("ResourceNotFoundException")

    # DisassociateFaces has the same reasons, and ignores faces that are nobody's
    loose = index_one(client, photo, "obama2.jpg")
    undone = client.disassociate_faces(
        CollectionId="people", UserId="impostor", FaceIds=[obama, missing, loose]
    )
    assert undone["DisassociatedFaces"] == []
    reasons = {f["FaceId"]: (f["Reasons"], f["UserId"]) for f in undone["UnsuccessfulFaceDisassociations"]}
    assert reasons == {
        obama: (["ASSOCIATED_TO_A_DIFFERENT_USER"], "barack"),
        missing: (["FACE_NOT_FOUND"], "impostor"),
    }
    done = client.disassociate_faces(CollectionId="people", UserId="barack", FaceIds=[obama])
    assert done["DisassociatedFaces"] == [{"FaceId": obama}]
    assert done["UserStatus"] == "CREATED"
    assert user_face_ids(client, "barack") == set()


def test_the_first_request_of_a_user_cannot_mix_two_people(rekognition: Any, photo: Any) -> None:
    client = rekognition
    client.create_collection(CollectionId="people")
    obama, biden = index_one(client, photo, "obama.jpg"), index_one(client, photo, "biden.jpg")
    client.create_user(CollectionId="people", UserId="barack")

    result = client.associate_faces(CollectionId="people", UserId="barack", FaceIds=[obama, biden])

    assert result["AssociatedFaces"] == [{"FaceId": obama}]
    assert result["UnsuccessfulFaceAssociations"][0]["Reasons"] == ["LOW_MATCH_CONFIDENCE"]
    # UserMatchThreshold 0 lets the caller override the gate
    forced = client.associate_faces(
        CollectionId="people", UserId="barack", FaceIds=[biden], UserMatchThreshold=0
    )
    assert forced["AssociatedFaces"] == [{"FaceId": biden}]


def test_deleting_a_user_or_a_face_disassociates(rekognition: Any, photo: Any) -> None:
    client = rekognition
    client.create_collection(CollectionId="people")
    faces = [index_one(client, photo, name) for name in ("obama.jpg", "obama2.jpg", "obama_partial_face.jpg")]
    client.create_user(CollectionId="people", UserId="barack")
    client.associate_faces(CollectionId="people", UserId="barack", FaceIds=faces)

    # When one of his faces is deleted, it disappears from the user
    client.delete_faces(CollectionId="people", FaceIds=[faces[0]])
    assert user_face_ids(client, "barack") == set(faces[1:])

    # When the user is deleted, his faces stay in the collection without a user
    client.delete_user(CollectionId="people", UserId="barack")
    assert client.list_users(CollectionId="people")["Users"] == []
    remaining = client.list_faces(CollectionId="people")["Faces"]
    assert {f["FaceId"] for f in remaining} == set(faces[1:])
    assert all("UserId" not in f for f in remaining)
    assert client.list_faces(CollectionId="people", UserId="barack")["Faces"] == []
    assert (
        client.search_users(CollectionId="people", FaceId=faces[1], UserMatchThreshold=0)["UserMatches"] == []
    )

    # And a new user may take them
    client.create_user(CollectionId="people", UserId="barack")
    again = client.associate_faces(CollectionId="people", UserId="barack", FaceIds=faces[1:])
    assert len(again["AssociatedFaces"]) == 2


def test_a_user_holds_at_most_100_faces(rekognition: Any, services: Services, photo: Any) -> None:
    # Given 102 faces with Obama's real embedding (one indexed, 101 copies written to the store)
    client = rekognition
    client.create_collection(CollectionId="people")
    first = index_one(client, photo, "obama.jpg")
    [indexed] = services.store.get_faces("people", [first])
    copies = [replace(indexed, face_id=str(uuid.uuid4()), image_id=str(uuid.uuid4())) for _ in range(101)]
    services.store.put_faces("people", copies)
    face_ids = [first] + [copy.face_id for copy in copies]
    client.create_user(CollectionId="people", UserId="barack")

    # When 99 are associated, a request for 2 more is refused whole
    client.associate_faces(CollectionId="people", UserId="barack", FaceIds=face_ids[:99])
    too_many = error_of(
        lambda: client.associate_faces(CollectionId="people", UserId="barack", FaceIds=face_ids[99:101])
    )
    assert too_many["Code"] == "ServiceQuotaExceededException"
    assert len(user_face_ids(client, "barack")) == 99

    # Then the 100th is accepted and any more is refused
    done = client.associate_faces(CollectionId="people", UserId="barack", FaceIds=face_ids[99:100])
    assert done["AssociatedFaces"] == [{"FaceId": face_ids[99]}]
    full = error_of(
        lambda: client.associate_faces(CollectionId="people", UserId="barack", FaceIds=face_ids[100:])
    )
    assert full["Code"] == "ServiceQuotaExceededException"
    faces = client.list_faces(CollectionId="people", UserId="barack", MaxResults=1000)["Faces"]
    assert len(faces) == 100


def test_list_users_pages_in_user_id_order(rekognition: Any, photo: Any) -> None:
    client = rekognition
    client.create_collection(CollectionId="people")
    face = index_one(client, photo, "obama.jpg")
    for user_id in ("c", "a", "b"):
        client.create_user(CollectionId="people", UserId=user_id)
    client.associate_faces(CollectionId="people", UserId="b", FaceIds=[face])

    seen = []
    token = None
    while True:
        page = client.list_users(
            CollectionId="people", MaxResults=2, **({"NextToken": token} if token else {})
        )
        seen += page["Users"]
        token = page.get("NextToken")
        if not token:
            break

    assert seen == [
        {"UserId": "a", "UserStatus": "CREATED"},
        {"UserId": "b", "UserStatus": "ACTIVE"},
        {"UserId": "c", "UserStatus": "CREATED"},
    ]
    bad = error_of(lambda: client.list_users(CollectionId="people", NextToken="garbage"))
    assert bad["Code"] == "InvalidPaginationTokenException"


def test_user_operations_refuse_unknown_collections_and_users(rekognition: Any) -> None:
    client = rekognition
    assert error_of(lambda: client.create_user(CollectionId="nope", UserId="u"))["Code"] == (
        "ResourceNotFoundException"
    )
    client.create_collection(CollectionId="people")
    assert error_of(lambda: client.search_users(CollectionId="people", UserId="ghost"))["Code"] == (
        "ResourceNotFoundException"
    )
    assert error_of(lambda: client.search_users(CollectionId="people"))["Code"] == "InvalidParameterException"
    ghost_face = str(uuid.uuid4())
    assert error_of(lambda: client.search_users(CollectionId="people", FaceId=ghost_face))["Code"] == (
        "InvalidParameterException"
    )
    assert error_of(
        lambda: client.disassociate_faces(CollectionId="people", UserId="ghost", FaceIds=[ghost_face])
    )["Code"] == ("ResourceNotFoundException")
