"""The SAM app's video path with moto's DynamoDB, S3, SQS and SNS: Start in the API function
writes the job and queues its plan; the worker function's handler, fed the SQS events Lambda
would send, plans, fans the segments out as messages, analyses them and merges."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from rekognito.identity import Principal
from rekognito.inference.pipeline import FaceAnalyzer
from rekognito.local_aws import sqs_lambda_event
from rekognito.operations.collections import create_collection
from rekognito.operations.faces import index_faces
from rekognito.operations.video import get_face_search, start_face_detection, start_face_search
from rekognito.request import RequestContext
from rekognito.services import Services
from rekognito.settings import Settings
from rekognito.video.lambda_worker import handle_sqs_event
from tests.support.video import corrupt_copy, render

REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    from moto import mock_aws

    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", REGION),
    ):
        monkeypatch.setenv(name, value)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName="video-jobs",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
                {"AttributeName": "collection_id", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "collection",
                    "KeySchema": [{"AttributeName": "collection_id", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="video-results")
        s3.create_bucket(Bucket="videos")
        sqs = boto3.client("sqs", region_name=REGION)
        dlq = sqs.create_queue(QueueName="video-work-dlq")["QueueUrl"]
        work = sqs.create_queue(QueueName="video-work")["QueueUrl"]
        done = sqs.create_queue(QueueName="video-done")["QueueUrl"]
        sns = boto3.client("sns", region_name=REGION)
        topic = sns.create_topic(Name="AmazonRekognitionVideo")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=_arn(sqs, done))
        yield {"s3": s3, "sqs": sqs, "work": work, "dlq": dlq, "done": done, "topic": topic, "ddb": dynamodb}


def _arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


@pytest.fixture
def services(aws: dict[str, Any], tmp_path: Path, face_analyzer: FaceAnalyzer) -> Iterator[Services]:
    settings = Settings(
        data_dir=tmp_path / "data",
        auth_mode="none",
        audit_enabled=False,
        video_sample_ms=500,
        video_segment_seconds=8,
        video_jobs_table="video-jobs",
        video_results_bucket="video-results",
        video_queue_url=aws["work"],
        video_dead_letter_queue_arn=_arn(aws["sqs"], aws["dlq"]),
    )
    svc = Services(settings, face_analyzer=face_analyzer)
    yield svc
    svc.close()


def _ctx(services: Services, operation: str) -> RequestContext:
    return RequestContext(
        services=services, request_id="r", operation=operation, principal=Principal("anonymous")
    )


def _drain(services: Services, aws: dict[str, Any]) -> list[dict[str, Any]]:
    """Deliver the work queue to the handler, as Lambda's event source would; the bodies seen."""
    sqs, queue = aws["sqs"], aws["work"]
    seen = []
    for _ in range(100):
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1).get("Messages", [])
        if not messages:
            return seen
        seen.append(json.loads(messages[0]["Body"]))
        result = handle_sqs_event(sqs_lambda_event(messages, _arn(sqs, queue), REGION), None, services)
        assert result == {"batchItemFailures": []}
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=messages[0]["ReceiptHandle"])
    raise AssertionError("the work queue never drained")


def test_face_search_through_dynamodb_sqs_and_the_worker_handler(
    services: Services, aws: dict[str, Any], tmp_path: Path, photo: Callable[[str], bytes]
) -> None:
    create_collection(_ctx(services, "CreateCollection"), {"CollectionId": "family"})
    for name, file in (("obama", "obama2.jpg"), ("biden", "biden.jpg")):
        index_faces(
            _ctx(services, "IndexFaces"),
            {"CollectionId": "family", "Image": {"Bytes": photo(file)}, "ExternalImageId": name},
        )
    aws["s3"].upload_file(str(render(tmp_path / "scene.mp4")), "videos", "scene.mp4")
    channel = {"SNSTopicArn": aws["topic"], "RoleArn": "arn:aws:iam::123456789012:role/rekognition"}
    job_id = start_face_search(
        _ctx(services, "StartFaceSearch"),
        {
            "Video": {"S3Object": {"Bucket": "videos", "Name": "scene.mp4"}},
            "CollectionId": "family",
            "NotificationChannel": channel,
        },
    )["JobId"]
    assert get_face_search(_ctx(services, "GetFaceSearch"), {"JobId": job_id})["JobStatus"] == "IN_PROGRESS"
    kinds = [(m["Kind"], m.get("Segment")) for m in _drain(services, aws)]
    assert kinds == [("plan", None), ("segment", 0), ("segment", 1), ("segment", 2), ("finish", None)]
    result = get_face_search(_ctx(services, "GetFaceSearch"), {"JobId": job_id})
    assert result["JobStatus"] == "SUCCEEDED", result.get("StatusMessage")
    people = {
        (p["Person"]["Index"], m["Face"]["ExternalImageId"])
        for p in result["Persons"]
        for m in p["FaceMatches"]
    }
    assert sorted(name for _, name in people) == ["biden", "obama"] and len(people) == 2
    first = {
        name: min(
            p["Timestamp"]
            for p in result["Persons"]
            if p["FaceMatches"][0]["Face"]["ExternalImageId"] == name
        )
        for _, name in people
    }
    assert first == {"obama": 2000, "biden": 6000}
    # Segment results (with embeddings) are gone; the result is in the bucket; no slot is held.
    listed = aws["s3"].list_objects_v2(Bucket="video-results").get("Contents", [])
    assert [o["Key"] for o in listed] == [f"results/{job_id}.json.gz"]
    items = aws["ddb"].scan(TableName="video-jobs")["Items"]
    assert not [i for i in items if i["sk"]["S"].startswith("seg#")]
    counter = [i for i in items if i["pk"]["S"] == "counter"]
    assert counter[0]["slots"]["N"] == "0"
    notes = aws["sqs"].receive_message(QueueUrl=aws["done"], MaxNumberOfMessages=10).get("Messages", [])
    (note,) = [json.loads(json.loads(m["Body"])["Message"]) for m in notes]
    assert note["JobId"] == job_id and note["Status"] == "SUCCEEDED" and note["API"] == "FACE_SEARCH"


def test_corrupt_video_and_dead_letters_fail_the_job(
    services: Services, aws: dict[str, Any], tmp_path: Path
) -> None:
    good = render(tmp_path / "short.mp4", duration_s=3.0)
    aws["s3"].upload_file(str(corrupt_copy(good, tmp_path / "bad.mp4")), "videos", "bad.mp4")
    aws["s3"].upload_file(str(good), "videos", "short.mp4")
    bad = start_face_detection(
        _ctx(services, "StartFaceDetection"), {"Video": {"S3Object": {"Bucket": "videos", "Name": "bad.mp4"}}}
    )["JobId"]
    _drain(services, aws)
    from rekognito.operations.video import get_face_detection

    failed = get_face_detection(_ctx(services, "GetFaceDetection"), {"JobId": bad})
    assert failed["JobStatus"] == "FAILED" and "corrupt" in failed["StatusMessage"].lower()
    stuck = start_face_detection(
        _ctx(services, "StartFaceDetection"),
        {"Video": {"S3Object": {"Bucket": "videos", "Name": "short.mp4"}}},
    )["JobId"]
    # Its plan message failed on every delivery and reached the dead-letter queue.
    dlq_event = sqs_lambda_event(
        [{"MessageId": "m1", "ReceiptHandle": "h", "Body": json.dumps({"JobId": stuck, "Kind": "plan"})}],
        _arn(aws["sqs"], aws["dlq"]),
        REGION,
    )
    assert handle_sqs_event(dlq_event, None, services) == {"batchItemFailures": []}
    gave_up = get_face_detection(_ctx(services, "GetFaceDetection"), {"JobId": stuck})
    assert gave_up["JobStatus"] == "FAILED" and "failed 3 times" in gave_up["StatusMessage"]
    # The plan message still in the work queue finds its job finished and does nothing.
    _drain(services, aws)
    assert get_face_detection(_ctx(services, "GetFaceDetection"), {"JobId": stuck})["JobStatus"] == "FAILED"
