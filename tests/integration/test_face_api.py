"""Issue 2 acceptance: the face collection API with real models, boto3 and HTTP on loopback."""

from __future__ import annotations

import io
import json
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError
from PIL import Image

from tests.support.shapes import assert_output_shape


def error_code(call: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return str(caught.value.response["Error"]["Code"])


def raw_post(url: str, operation: str, body: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "X-Amz-Target": f"RekognitionService.{operation}",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_index_group_photo_then_find_one_person_from_another_photo(client: Any, photo: Any) -> None:
    # Given a collection holding a group photo and a photo of Obama
    client.create_collection(CollectionId="people")
    group = client.index_faces(
        CollectionId="people",
        Image={"Bytes": photo("group6.jpg")},
        ExternalImageId="group",
        QualityFilter="NONE",
    )
    assert len(group["FaceRecords"]) == 6
    obama = client.index_faces(
        CollectionId="people", Image={"Bytes": photo("obama.jpg")}, ExternalImageId="obama"
    )
    assert len(obama["FaceRecords"]) == 1
    obama_face_id = obama["FaceRecords"][0]["Face"]["FaceId"]

    # When searching with a different photo of him
    result = client.search_faces_by_image(CollectionId="people", Image={"Bytes": photo("obama2.jpg")})

    # Then he is the top match at >= 90 and nobody else reaches 80
    matches = result["FaceMatches"]
    assert matches[0]["Face"]["FaceId"] == obama_face_id
    assert matches[0]["Similarity"] >= 90
    assert all(m["Similarity"] < 80 for m in matches[1:])
    assert len(matches) == 1
    assert 0 < result["SearchedFaceBoundingBox"]["Width"] <= 1
    assert result["SearchedFaceConfidence"] > 50

    # And with FaceMatchThreshold 0 every face comes back, ranked, Obama first
    everyone = client.search_faces_by_image(
        CollectionId="people", Image={"Bytes": photo("obama3.jpg")}, FaceMatchThreshold=0, MaxFaces=100
    )
    similarities = [m["Similarity"] for m in everyone["FaceMatches"]]
    assert len(similarities) == 7
    assert similarities == sorted(similarities, reverse=True)
    assert everyone["FaceMatches"][0]["Face"]["ExternalImageId"] == "obama"
    assert max(similarities[1:]) < 80

    # When his face is deleted, search no longer finds him
    deleted = client.delete_faces(CollectionId="people", FaceIds=[obama_face_id])
    assert deleted["DeletedFaces"] == [obama_face_id]
    after = client.search_faces_by_image(CollectionId="people", Image={"Bytes": photo("obama2.jpg")})
    assert after["FaceMatches"] == []

    # When the collection is deleted, it is unknown
    client.delete_collection(CollectionId="people")
    assert (
        error_code(lambda: client.describe_collection(CollectionId="people")) == "ResourceNotFoundException"
    )


def test_search_faces_by_face_id_and_compare(client: Any, photo: Any) -> None:
    client.create_collection(CollectionId="pair")
    first = client.index_faces(CollectionId="pair", Image={"Bytes": photo("obama.jpg")})["FaceRecords"][0]
    client.index_faces(CollectionId="pair", Image={"Bytes": photo("obama3.jpg")})
    client.index_faces(CollectionId="pair", Image={"Bytes": photo("biden.jpg")})
    found = client.search_faces(CollectionId="pair", FaceId=first["Face"]["FaceId"])
    assert found["SearchedFaceId"] == first["Face"]["FaceId"]
    assert len(found["FaceMatches"]) == 1
    assert found["FaceMatches"][0]["Similarity"] >= 90

    compared = client.compare_faces(
        SourceImage={"Bytes": photo("obama.jpg")}, TargetImage={"Bytes": photo("group6.jpg")}
    )
    assert compared["FaceMatches"] == []
    assert len(compared["UnmatchedFaces"]) == 6
    same = client.compare_faces(
        SourceImage={"Bytes": photo("obama2.jpg")}, TargetImage={"Bytes": photo("obama3.jpg")}
    )
    assert len(same["FaceMatches"]) == 1 and same["FaceMatches"][0]["Similarity"] >= 90
    other = client.compare_faces(
        SourceImage={"Bytes": photo("obama.jpg")},
        TargetImage={"Bytes": photo("biden.jpg")},
        SimilarityThreshold=0,
    )
    assert other["FaceMatches"][0]["Similarity"] < 80


def test_detect_faces_reports_geometry_and_quality(client: Any, photo: Any) -> None:
    details = client.detect_faces(Image={"Bytes": photo("group6.jpg")})["FaceDetails"]
    assert len(details) == 6
    for face in details:
        box = face["BoundingBox"]
        assert 0 <= box["Left"] <= 1 and 0 <= box["Top"] <= 1 and 0 < box["Width"] < 0.5
        assert {lm["Type"] for lm in face["Landmarks"]} == {
            "eyeLeft",
            "eyeRight",
            "nose",
            "mouthLeft",
            "mouthRight",
        }
        eye_left = next(lm for lm in face["Landmarks"] if lm["Type"] == "eyeLeft")
        assert box["Left"] <= eye_left["X"] <= box["Left"] + box["Width"]
        assert 0 <= face["Quality"]["Brightness"] <= 100 and 0 <= face["Quality"]["Sharpness"] <= 100
        assert set(face["Pose"]) == {"Roll", "Yaw", "Pitch"}
        assert face["Confidence"] > 50


def test_list_faces_paginates_and_filters(client: Any, photo: Any) -> None:
    client.create_collection(CollectionId="pages")
    client.index_faces(CollectionId="pages", Image={"Bytes": photo("group6.jpg")}, QualityFilter="NONE")
    seen: list[str] = []
    token = None
    while True:
        kwargs: dict[str, Any] = {"CollectionId": "pages", "MaxResults": 4}
        if token:
            kwargs["NextToken"] = token
        page = client.list_faces(**kwargs)
        seen += [face["FaceId"] for face in page["Faces"]]
        token = page.get("NextToken")
        if not token:
            break
    assert len(seen) == len(set(seen)) == 6
    picked = client.list_faces(CollectionId="pages", FaceIds=seen[:2])["Faces"]
    assert sorted(face["FaceId"] for face in picked) == sorted(seen[:2])
    paginator = client.get_paginator("list_faces")
    assert (
        sum(
            len(p["Faces"])
            for p in paginator.paginate(CollectionId="pages", PaginationConfig={"PageSize": 5})
        )
        == 6
    )
    assert (
        error_code(lambda: client.list_faces(CollectionId="pages", NextToken="bogus"))
        == "InvalidPaginationTokenException"
    )
    description = client.describe_collection(CollectionId="pages")
    assert description["FaceCount"] == 6
    assert description["FaceModelVersion"] == "edgeface-s"


def test_index_faces_max_faces_and_quality_reasons(client: Any, photo: Any) -> None:
    client.create_collection(CollectionId="limits")
    result = client.index_faces(
        CollectionId="limits", Image={"Bytes": photo("group6.jpg")}, MaxFaces=2, QualityFilter="NONE"
    )
    assert len(result["FaceRecords"]) == 2
    reasons = [face["Reasons"] for face in result["UnindexedFaces"]]
    assert reasons == [["EXCEEDS_MAX_FACES"]] * 4
    kept = [r["FaceDetail"]["BoundingBox"]["Width"] for r in result["FaceRecords"]]
    dropped = [u["FaceDetail"]["BoundingBox"]["Width"] for u in result["UnindexedFaces"]]
    assert min(kept) >= max(dropped)

    tiny = Image.open(io.BytesIO(photo("obama.jpg"))).convert("RGB").resize((60, 75))
    buffer = io.BytesIO()
    tiny.save(buffer, format="JPEG")
    small = client.index_faces(
        CollectionId="limits", Image={"Bytes": buffer.getvalue()}, QualityFilter="HIGH"
    )
    assert small["FaceRecords"] == []
    assert "SMALL_BOUNDING_BOX" in small["UnindexedFaces"][0]["Reasons"]


def test_responses_match_the_output_shapes(endpoint: Any, client: Any, photo: Any) -> None:
    import base64

    client.create_collection(CollectionId="shapes")
    image = base64.b64encode(photo("obama.jpg")).decode()
    calls = {
        "IndexFaces": {"CollectionId": "shapes", "Image": {"Bytes": image}, "ExternalImageId": "o"},
        "SearchFacesByImage": {"CollectionId": "shapes", "Image": {"Bytes": image}},
        "DetectFaces": {"Image": {"Bytes": image}, "Attributes": ["ALL"]},
        "CompareFaces": {"SourceImage": {"Bytes": image}, "TargetImage": {"Bytes": image}},
        "ListFaces": {"CollectionId": "shapes"},
        "DescribeCollection": {"CollectionId": "shapes"},
        "ListCollections": {},
    }
    for operation, body in calls.items():
        status, headers, payload = raw_post(endpoint.url, operation, json.dumps(body).encode())
        assert status == 200, payload
        assert headers["Content-Type"] == "application/x-amz-json-1.1"
        assert headers["x-amzn-RequestId"]
        assert_output_shape(operation, payload)
