"""Stored video on the stack of ``rekognito serve`` with SigV4 on: the local S3 + SQS + SNS
behind the gate, the video worker thread, principals with grants, real boto3 clients.

The acceptance path: a client uploads an MP4 to the local S3, starts a face search with an
SNS notification channel, receives the completion through an SQS queue subscribed to the
topic, and reads both people; and the doors: S3 read grants, job ownership, the gate's
SNS/SQS rules.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from rekognito.inference.pipeline import FaceAnalyzer
from rekognito.local_aws import LocalAws, start_local_aws
from rekognito.security.principals import PrincipalRegistry
from rekognito.services import Services
from rekognito.settings import Settings
from rekognito.video.service import start_local_video
from tests.support.endpoint import rekognition_client, running_endpoint
from tests.support.video import render

GRANTS = {
    "admin": ["*:*"],
    "searcher": ["search:family", "s3read:videos/*"],
    "viewer": ["search:family"],
    "detector": ["detect", "s3read:videos/*"],
}


@dataclass
class Stack:
    services: Services
    api_url: str
    local: LocalAws
    keys: dict[str, tuple[str, str]]

    def rekognition(self, name: str) -> Any:
        return rekognition_client(self.api_url, *self.keys[name])

    def client(self, service: str, name: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.local.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=self.keys[name][0],
            aws_secret_access_key=self.keys[name][1],
            config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
        )


@pytest.fixture
def stack(tmp_path: Path, face_analyzer: FaceAnalyzer) -> Iterator[Stack]:
    data_dir = tmp_path / "data"
    registry = PrincipalRegistry(data_dir)
    keys = {}
    for name, grants in GRANTS.items():
        principal, secret = registry.create(name, grants)
        keys[name] = (principal.access_key_id, secret)
    settings = Settings(data_dir=data_dir, auth_mode="sigv4", video_sample_ms=500, audit_enabled=False)
    services = Services(settings, face_analyzer=face_analyzer)
    local = start_local_aws(services, host="127.0.0.1", port=0, say=lambda _line: None)
    workers = start_local_video(services, local)
    try:
        with running_endpoint(services) as endpoint:
            yield Stack(services, endpoint.url, local, keys)
    finally:
        if workers is not None:
            workers.stop()
        local.stop()
        services.close()


def _code(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return str(caught.value.response["Error"]["Code"])


def test_face_search_notified_through_the_local_sns_and_sqs(
    stack: Stack, tmp_path: Path, photo: Callable[[str], bytes]
) -> None:
    admin = stack.rekognition("admin")
    admin.create_collection(CollectionId="family")
    for name, file in (("obama", "obama2.jpg"), ("biden", "biden.jpg")):
        admin.index_faces(CollectionId="family", Image={"Bytes": photo(file)}, ExternalImageId=name)
    s3 = stack.client("s3", "admin")
    s3.create_bucket(Bucket="videos")
    s3.upload_file(str(render(tmp_path / "scene.mp4")), "videos", "party/scene.mp4")
    sns, sqs = stack.client("sns", "admin"), stack.client("sqs", "admin")
    topic = sns.create_topic(Name="AmazonRekognitionVideo")["TopicArn"]
    queue = sqs.create_queue(QueueName="video-done")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)

    searcher = stack.rekognition("searcher")
    video = {"S3Object": {"Bucket": "videos", "Name": "party/scene.mp4"}}
    job_id = searcher.start_face_search(
        Video=video,
        CollectionId="family",
        NotificationChannel={"SNSTopicArn": topic, "RoleArn": "arn:aws:iam::123456789012:role/video"},
    )["JobId"]
    message = None
    deadline = time.monotonic() + 120
    while message is None and time.monotonic() < deadline:
        for received in sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", []):
            message = json.loads(json.loads(received["Body"])["Message"])
    assert message is not None, "no notification"
    assert (message["JobId"], message["Status"], message["API"]) == (job_id, "SUCCEEDED", "FACE_SEARCH")
    result = searcher.get_face_search(JobId=job_id)
    names = {m["Face"]["ExternalImageId"] for p in result["Persons"] for m in p["FaceMatches"]}
    assert names == {"obama", "biden"}
    assert admin.get_face_search(JobId=job_id)["JobStatus"] == "SUCCEEDED"  # full rights read all jobs
    # Search rights on the collection, but not the job's owner.
    assert _code(lambda: stack.rekognition("viewer").get_face_search(JobId=job_id)) == "AccessDeniedException"
    # The server reads the video only where the caller may read.
    assert (
        _code(lambda: stack.rekognition("viewer").start_face_search(Video=video, CollectionId="family"))
        == "InvalidS3ObjectException"
    )
    assert (
        _code(lambda: stack.rekognition("detector").start_face_search(Video=video, CollectionId="family"))
        == "AccessDeniedException"
    )
    detection = stack.rekognition("detector").start_face_detection(Video=video)["JobId"]
    assert stack.rekognition("detector").get_face_detection(JobId=detection)["JobStatus"] in (
        "IN_PROGRESS",
        "SUCCEEDED",
    )
    # The gate: SNS and notification queues for full rights only; the ingest queues never.
    assert _code(lambda: stack.client("sns", "searcher").list_topics()) == "AccessDenied"
    assert _code(lambda: stack.client("sqs", "searcher").receive_message(QueueUrl=queue)) == "AccessDenied"
    assert _code(lambda: sqs.receive_message(QueueUrl=stack.local.queue_url)) == "AccessDenied"
