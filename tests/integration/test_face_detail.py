"""Issue 13: the full FaceDetail, the mesh pose and the quality bars, over boto3 on loopback."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from rekognito.inference.pipeline import FaceAnalyzer
from rekognito.services import Services
from rekognito.settings import Settings
from tests.support.endpoint import rekognition_client, running_endpoint
from tests.support.shapes import assert_output_shape

REKOGNITION = botocore.session.get_session().get_service_model("rekognition")
LANDMARK_TYPES = set(REKOGNITION.shape_for("LandmarkType").enum)
ATTRIBUTE_MEMBERS = ("Smile", "Sunglasses", "EyesOpen", "MouthOpen")
# Never returned (docs/faces.md): no shippable model, or measured near chance.
OMITTED_MEMBERS = ("AgeRange", "Gender", "Eyeglasses", "Beard", "Mustache", "FaceOccluded")


def check_shape(operation: str, result: dict[str, Any]) -> None:
    assert_output_shape(operation, {k: v for k, v in result.items() if k != "ResponseMetadata"})


def astronaut() -> bytes:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("scikit-image not installed (pip install --no-deps -r requirements/test-data.txt)")
    return (Path(next(iter(spec.submodule_search_locations))) / "data" / "astronaut.png").read_bytes()


def test_detect_faces_all_on_the_astronaut(client: Any) -> None:
    # When DetectFaces runs with every attribute on a frontal, smiling portrait
    result = client.detect_faces(Image={"Bytes": astronaut()}, Attributes=["ALL"])

    # Then the one face has all 30 landmark types, a near-frontal pose and plausible attributes
    check_shape("DetectFaces", result)
    (face,) = result["FaceDetails"]
    assert {mark["Type"] for mark in face["Landmarks"]} == LANDMARK_TYPES
    assert len(face["Landmarks"]) == 30
    box = face["BoundingBox"]
    for mark in face["Landmarks"]:
        assert box["Left"] - 0.05 <= mark["X"] <= box["Left"] + box["Width"] + 0.05
        assert box["Top"] - 0.05 <= mark["Y"] <= box["Top"] + box["Height"] + 0.05
    pose = face["Pose"]
    assert abs(pose["Yaw"]) < 10 and abs(pose["Roll"]) < 10 and abs(pose["Pitch"]) < 15
    for member in (*ATTRIBUTE_MEMBERS, "EyeDirection"):
        assert member in face, member
    assert face["Smile"]["Value"] is True
    assert face["EyesOpen"]["Value"] is True
    assert face["Sunglasses"]["Value"] is False
    assert abs(face["EyeDirection"]["Yaw"]) < 20 and abs(face["EyeDirection"]["Pitch"]) < 20
    # Emotions only when the server allows them; unanswerable members never
    for member in ("Emotions", *OMITTED_MEMBERS):
        assert member not in face


def test_single_attribute_adds_only_that_member(client: Any, photo: Any) -> None:
    result = client.detect_faces(Image={"Bytes": photo("obama.jpg")}, Attributes=["SMILE"])
    (face,) = result["FaceDetails"]
    assert face["Smile"]["Value"] is True
    assert "EyesOpen" not in face and "Sunglasses" not in face
    default_types = ["eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight"]
    assert [mark["Type"] for mark in face["Landmarks"]] == default_types
    default = client.detect_faces(Image={"Bytes": photo("obama.jpg")})["FaceDetails"][0]
    assert set(default) == {"BoundingBox", "Landmarks", "Pose", "Quality", "Confidence"}


def test_index_faces_returns_the_requested_attributes(client: Any, photo: Any) -> None:
    client.create_collection(CollectionId="detail")
    result = client.index_faces(
        CollectionId="detail", Image={"Bytes": photo("biden.jpg")}, DetectionAttributes=["ALL"]
    )
    check_shape("IndexFaces", result)
    detail = result["FaceRecords"][0]["FaceDetail"]
    assert len(detail["Landmarks"]) == 30
    for member in ATTRIBUTE_MEMBERS:
        assert member in detail


def test_three_quarter_faces_are_indexed_with_the_default_filter(client: Any, photo: Any) -> None:
    # Given a group photo whose people turn up to about 40 degrees away from the camera
    client.create_collection(CollectionId="group")

    # When it is indexed with the default QualityFilter (AUTO)
    result = client.index_faces(CollectionId="group", Image={"Bytes": photo("group6.jpg")})

    # Then every face is indexed: none is called EXTREME_POSE
    assert len(result["FaceRecords"]) == 6, result["UnindexedFaces"]
    yaws = sorted(abs(record["FaceDetail"]["Pose"]["Yaw"]) for record in result["FaceRecords"])
    assert yaws[-1] > 30  # the turned face really is turned


@pytest.fixture
def sensitive_client(tmp_path: Path, face_analyzer: FaceAnalyzer) -> Iterator[Any]:
    analyzer = FaceAnalyzer(
        face_analyzer.detector,
        face_analyzer.embedder,
        face_analyzer.mesh,
        face_analyzer.attribute_estimator,
        sensitive_attributes=True,
    )
    services = Services(Settings(data_dir=tmp_path / "data", auth_mode="none"), face_analyzer=analyzer)
    with running_endpoint(services) as running:
        yield rekognition_client(running.url)
    services.close()


def test_emotions_only_when_the_server_allows_them(sensitive_client: Any) -> None:
    result = sensitive_client.detect_faces(Image={"Bytes": astronaut()}, Attributes=["EMOTIONS"])
    check_shape("DetectFaces", result)
    emotions = result["FaceDetails"][0]["Emotions"]
    assert emotions[0]["Type"] == "HAPPY" and emotions[0]["Confidence"] > 80
    assert "Gender" not in result["FaceDetails"][0]  # no shippable model answers it


def test_turned_faces_of_real_people_pass_the_default_quality_filter(client: Any, photo: Any) -> None:
    # Given six photos of groups of people, many of them in three-quarter view
    # (@vladmandic/face-api's demo photos: 23 detections, one of them not a face)
    client.create_collection(CollectionId="turned")
    indexed, extreme = 0, 0

    # When each is indexed with the default QualityFilter (AUTO)
    for number in range(1, 7):
        result = client.index_faces(
            CollectionId="turned", Image={"Bytes": photo(f"faceapi_sample{number}.jpg")}
        )
        indexed += len(result["FaceRecords"])
        extreme += sum("EXTREME_POSE" in face["Reasons"] for face in result["UnindexedFaces"])

    # Then at most the one near-profile face is refused for its pose
    assert extreme <= 1
    assert indexed >= 21
