"""Issue 3 end to end: a photo uploaded to the local drop bucket becomes searchable over HTTP."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from rekognito.api.protocol import handle_event
from rekognito.inference.pipeline import FaceAnalyzer
from rekognito.local_aws import LocalAws, start_local_aws
from rekognito.server import LocalEndpoint
from rekognito.services import Services
from rekognito.settings import Settings
from tests.support.endpoint import rekognition_client

DEADLINE_S = 15.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], bool], what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < DEADLINE_S:
        if condition():
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"not within {DEADLINE_S} s: {what}")


@pytest.fixture
def stack(tmp_path: Path, face_analyzer: FaceAnalyzer) -> Iterator[tuple[Any, Any, LocalAws]]:
    port = free_port()
    settings = Settings(
        data_dir=tmp_path / "data", auth_mode="none", s3_endpoint_url=f"http://127.0.0.1:{port}"
    )
    services = Services(settings, face_analyzer=face_analyzer)
    said: list[str] = []
    local = start_local_aws(services, host="127.0.0.1", port=port, say=said.append)
    endpoint = LocalEndpoint("127.0.0.1", 0, lambda e, c: handle_event(e, c, services)).start()
    assert any("aws s3 cp alice.jpg s3://rekognito-drop/family/alice.jpg" in line for line in said)
    # A user's S3 client: any credentials work against the local S3
    s3 = boto3.client(
        "s3",
        endpoint_url=local.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="anything",
        aws_secret_access_key="anything",
        config=Config(s3={"addressing_style": "path"}),
    )
    try:
        yield rekognition_client(endpoint.url), s3, local
    finally:
        endpoint.stop()
        local.stop()
        services.close()


def face_ids(client: Any) -> list[str]:
    return [face["FaceId"] for face in client.list_faces(CollectionId="family")["Faces"]]


def test_upload_then_search_then_delete(
    stack: tuple[Any, Any, LocalAws], photo: Callable[[str], bytes]
) -> None:
    client, s3, local = stack
    client.create_collection(CollectionId="family")
    # When Obama's photo is copied into the drop folder
    s3.put_object(Bucket=local.bucket, Key="family/Barack Obama.jpg", Body=photo("obama.jpg"))
    # Then within 15 s ListFaces shows it, named after the file
    wait_for(lambda: len(face_ids(client)) == 1, "the uploaded face is listed")
    (face,) = client.list_faces(CollectionId="family")["Faces"]
    assert face["ExternalImageId"] == "Barack_Obama"
    # And another photo of him finds it
    found = client.search_faces_by_image(CollectionId="family", Image={"Bytes": photo("obama2.jpg")})
    assert [match["Face"]["FaceId"] for match in found["FaceMatches"]] == [face["FaceId"]]
    # And S3Object images are read from the local S3 too
    by_s3 = client.search_faces_by_image(
        CollectionId="family", Image={"S3Object": {"Bucket": local.bucket, "Name": "family/Barack Obama.jpg"}}
    )
    assert by_s3["FaceMatches"][0]["Face"]["FaceId"] == face["FaceId"]
    # When the object is deleted, its faces go
    s3.delete_object(Bucket=local.bucket, Key="family/Barack Obama.jpg")
    wait_for(lambda: face_ids(client) == [], "the deleted photo's face is removed")


@pytest.mark.slow
def test_a_corrupt_upload_ends_in_the_dead_letter_queue(
    stack: tuple[Any, Any, LocalAws], photo: Callable[[str], bytes]
) -> None:
    client, s3, local = stack
    client.create_collection(CollectionId="family")
    s3.put_object(Bucket=local.bucket, Key="family/broken.jpg", Body=b"\xff\xd8 not a jpeg")
    s3.put_object(Bucket=local.bucket, Key="family/biden.jpg", Body=photo("biden.jpg"))
    wait_for(lambda: len(face_ids(client)) == 1, "the good photo is indexed despite the broken one")

    def dead_lettered() -> bool:
        messages = local.sqs.receive_message(QueueUrl=local.dead_letter_queue_url, VisibilityTimeout=0)
        return any("broken.jpg" in m["Body"] for m in messages.get("Messages", []))

    # 3 receives, 5 s visibility timeout apart
    started = time.monotonic()
    while time.monotonic() - started < 30 and not dead_lettered():
        time.sleep(0.5)
    assert dead_lettered()
