"""rekognito's test helpers side by side with moto's ``mock_aws``: moto answers S3, rekognito
answers Rekognition, and ``S3Object`` images are read from moto's S3."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from rekognito.testing import Mode, SharedModels, local_rekognition
from tests.support.test_data import image_path
from tests.support.video import SCENE, render

SCENE_BY_NAME = {appearance.name: appearance for appearance in SCENE}

BUCKET = "family-uploads"
COLLECTION = "family"
both_modes = pytest.mark.parametrize("mode", ["http", "inprocess"])


@pytest.fixture(autouse=True)
def no_aws_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    yield


def _upload(name: str, key: str) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.put_object(Bucket=BUCKET, Key=key, Body=image_path(name).read_bytes())


def _index_and_search(rekognition: Any) -> None:
    rekognition.create_collection(CollectionId=COLLECTION)
    indexed = rekognition.index_faces(
        CollectionId=COLLECTION,
        Image={"S3Object": {"Bucket": BUCKET, "Name": "people/barack.jpg"}},
        ExternalImageId="barack",
    )
    assert len(indexed["FaceRecords"]) == 1

    found = rekognition.search_faces_by_image(
        CollectionId=COLLECTION, Image={"S3Object": {"Bucket": BUCKET, "Name": "inbox/new.jpg"}}
    )
    assert [match["Face"]["ExternalImageId"] for match in found["FaceMatches"]] == ["barack"]
    assert found["FaceMatches"][0]["Similarity"] > 90

    missing = rekognition.exceptions.InvalidS3ObjectException
    with pytest.raises(missing):
        rekognition.detect_faces(Image={"S3Object": {"Bucket": BUCKET, "Name": "no/such.jpg"}})


@both_modes
def test_mock_aws_inside_local_rekognition(mode: Mode, rekognito_models: SharedModels) -> None:
    with local_rekognition(mode=mode, analyzer=rekognito_models), mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        _upload("obama.jpg", "people/barack.jpg")
        _upload("obama2.jpg", "inbox/new.jpg")
        _index_and_search(boto3.client("rekognition"))


@both_modes
def test_local_rekognition_inside_mock_aws(mode: Mode, rekognito_models: SharedModels) -> None:
    # An S3 endpoint that nothing listens on: under mock_aws the reader must ignore it.
    @mock_aws
    @local_rekognition(mode=mode, analyzer=rekognito_models, s3_endpoint_url="http://127.0.0.1:9")
    def scenario() -> None:
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        _upload("obama.jpg", "people/barack.jpg")
        _upload("obama2.jpg", "inbox/new.jpg")
        _index_and_search(boto3.client("rekognition"))

    scenario()


@pytest.mark.parametrize("rekognito_mode", ["http", "inprocess"])
def test_rekognition_fixture_with_moto(rekognition_client: Any) -> None:
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        _upload("obama.jpg", "people/barack.jpg")
        _upload("obama2.jpg", "inbox/new.jpg")
        _index_and_search(rekognition_client)


@pytest.mark.parametrize("rekognito_mode", ["inprocess"])
def test_stored_video_jobs_finish_under_the_fixture(rekognition_client: Any, tmp_path: Path) -> None:
    # Given a short video of one person in moto's S3
    scene = (SCENE_BY_NAME["obama"],)
    video = render(tmp_path / "clip.mp4", fps=10, duration_s=4.0, scene=scene)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="videos/clip.mp4", Body=video.read_bytes())
        # When a face detection job is started and polled, as against Rekognition
        job = rekognition_client.start_face_detection(
            Video={"S3Object": {"Bucket": BUCKET, "Name": "videos/clip.mp4"}}
        )
        deadline = time.monotonic() + 120
        result = rekognition_client.get_face_detection(JobId=job["JobId"])
        while result["JobStatus"] == "IN_PROGRESS" and time.monotonic() < deadline:
            time.sleep(0.2)
            result = rekognition_client.get_face_detection(JobId=job["JobId"])
    # Then the fixture's worker ran it: the face is there from when the person appears
    assert result["JobStatus"] == "SUCCEEDED", result.get("StatusMessage")
    timestamps = [face["Timestamp"] for face in result["Faces"]]
    assert timestamps and min(timestamps) >= 1500
