"""Stored video through the real wire: boto3 -> local endpoint -> job store -> worker thread.

The video lives in a real (moto) S3 served over HTTP, as under ``rekognito serve``; the
completion notification goes through moto's SNS to a subscribed SQS queue. Videos are
rendered by the tests from the pinned photos (tests/support/video.py).
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from rekognito.inference.pipeline import FaceAnalyzer
from rekognito.local_aws import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY, local_clients
from rekognito.services import Services
from rekognito.settings import Settings
from rekognito.video.notify import SnsNotifier
from rekognito.video.source import S3VideoSource
from rekognito.video.worker import WorkerThreads
from tests.support.endpoint import rekognition_client, running_endpoint
from tests.support.video import SCENE, corrupt_copy, first_frame_ms, render

FPS = 15
INTERVAL_MS = 500
FRAME_MS = 1000 / FPS
APPEARANCES = {a.name: a for a in SCENE}


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("videos")
    mp4 = render(folder / "scene.mp4", fps=FPS)
    return {
        "mp4": mp4,
        "mov": render(folder / "scene.mov", fps=FPS, duration_s=6.0),
        "corrupt": corrupt_copy(mp4, folder / "corrupt.mp4"),
    }


class Lab:
    """A local endpoint with a video worker, its S3/SNS/SQS, and a boto3 client."""

    def __init__(self, moto_url: str, services: Services) -> None:
        import boto3

        self.s3, self.sqs = local_clients(moto_url, "us-east-1")
        self.sns = boto3.session.Session(
            aws_access_key_id=DUMMY_ACCESS_KEY,
            aws_secret_access_key=DUMMY_SECRET_KEY,
            region_name="us-east-1",
        ).client("sns", endpoint_url=moto_url)
        self.services = services
        self.bucket = f"videos-{uuid.uuid4().hex[:12]}"
        self.s3.create_bucket(Bucket=self.bucket)
        services.video_source = S3VideoSource(self.s3)
        services.video_notifier = SnsNotifier(self.sns)
        self.client: Any = None

    def upload(self, path: Path, key: str | None = None) -> dict[str, Any]:
        key = key or path.name
        self.s3.upload_file(str(path), self.bucket, key)
        return {"S3Object": {"Bucket": self.bucket, "Name": key}}

    def wait(self, get: Callable[..., dict[str, Any]], job_id: str, timeout: float = 180.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = get(JobId=job_id)
            if response["JobStatus"] != "IN_PROGRESS":
                return response
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} still IN_PROGRESS after {timeout}s")


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    base = Settings(
        data_dir=tmp_path / "data",
        auth_mode="none",
        video_sample_ms=INTERVAL_MS,
        video_segment_seconds=8,
        video_lease_seconds=10,
    )
    return base.with_overrides(**overrides)


@pytest.fixture
def lab(tmp_path: Path, moto_url: str, face_analyzer: FaceAnalyzer) -> Iterator[Lab]:
    services = Services(_settings(tmp_path), face_analyzer=face_analyzer)
    lab = Lab(moto_url, services)
    workers = WorkerThreads(services, 1).start()
    with running_endpoint(services) as endpoint:
        lab.client = rekognition_client(endpoint.url)
        yield lab
    workers.stop()
    services.close()


def _index(lab: Lab, photo: Callable[[str], bytes], collection: str) -> dict[str, str]:
    lab.client.create_collection(CollectionId=collection)
    ids = {}
    for name, file in (("obama", "obama2.jpg"), ("biden", "biden.jpg")):
        record = lab.client.index_faces(
            CollectionId=collection, Image={"Bytes": photo(file)}, ExternalImageId=name, MaxFaces=1
        )["FaceRecords"][0]
        ids[record["Face"]["FaceId"]] = name
    return ids


def _all_pages(call: Callable[..., dict[str, Any]], key: str, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = None
    while True:
        page = call(**kwargs, **({"NextToken": token} if token else {}))
        items.extend(page[key])
        token = page.get("NextToken")
        if not token:
            return items


def test_face_search_finds_both_people_when_they_appear_and_nobody_else(
    lab: Lab, videos: dict[str, Path], photo: Callable[[str], bytes]
) -> None:
    face_names = _index(lab, photo, "family")
    job_id = lab.client.start_face_search(
        Video=lab.upload(videos["mp4"]), CollectionId="family", JobTag="acceptance"
    )["JobId"]
    done = lab.wait(lab.client.get_face_search, job_id)
    assert done["JobStatus"] == "SUCCEEDED", done.get("StatusMessage")
    assert done["JobTag"] == "acceptance"
    meta = done["VideoMetadata"]
    assert (meta["Codec"], meta["FrameWidth"], meta["FrameHeight"]) == ("h264", 640, 360)
    assert meta["DurationMillis"] == 20000 and meta["FrameRate"] == pytest.approx(15.0)
    persons = _all_pages(lab.client.get_face_search, "Persons", JobId=job_id, MaxResults=7)
    assert persons == done["Persons"]  # one page of 1000 holds them all; pages add up to it
    index_of: dict[str, set[int]] = {}
    times: dict[str, list[int]] = {}
    for entry in persons:
        names = {face_names[m["Face"]["FaceId"]] for m in entry["FaceMatches"]}
        assert len(names) == 1, entry
        (name,) = names
        index_of.setdefault(name, set()).add(entry["Person"]["Index"])
        times.setdefault(name, []).append(entry["Timestamp"])
        assert all(m["Similarity"] >= 80 for m in entry["FaceMatches"])
        assert {"BoundingBox", "Landmarks", "Pose", "Quality", "Confidence"} <= set(entry["Person"]["Face"])
    assert set(index_of) == {"obama", "biden"}, "somebody else was matched"
    assert all(len(indexes) == 1 for indexes in index_of.values()), index_of
    assert index_of["obama"] != index_of["biden"]
    for name, stamps in times.items():
        shown = first_frame_ms(APPEARANCES[name], FPS)
        assert 0 <= min(stamps) - shown <= INTERVAL_MS + FRAME_MS, (name, min(stamps), shown)
        assert max(stamps) < APPEARANCES[name].end_s * 1000
        assert max(stamps) >= APPEARANCES[name].end_s * 1000 - 2 * INTERVAL_MS - FRAME_MS, (name, max(stamps))
    stamps = [p["Timestamp"] for p in persons]
    assert stamps == sorted(stamps)
    by_index = lab.client.get_face_search(JobId=job_id, SortBy="INDEX")["Persons"]
    keys = [(p["Person"]["Index"], p["Timestamp"]) for p in by_index]
    assert keys == sorted(keys) and len(by_index) == len(persons)
    # Audited: the Start (video, threshold), the worker's result, each Get (the FaceIds shown).
    audit = [json.loads(line) for line in (lab.services.settings.data_dir / "audit" / "audit.jsonl").open()]
    (start,) = [e for e in audit if e["operation"] == "StartFaceSearch"]
    assert start["collection"] == "family" and start["details"]["video"].endswith("/scene.mp4")
    assert start["details"]["effective_threshold"] == 80
    (found,) = [e for e in audit if e["operation"] == "VideoFaceSearchResult"]
    assert found["collection"] == "family" and found["principal"] == "anonymous"
    assert sorted(found["face_ids"]) == sorted(face_names)
    assert sorted(found["details"]["first_seen_ms"]) == [2000, 6000]
    assert found["thresholds"] == {"FaceMatchThreshold": 80.0}
    gets = [e for e in audit if e["operation"] == "GetFaceSearch" and e["error"] is None]
    assert gets and all(e["collection"] == "family" for e in gets)
    assert set(gets[-1]["face_ids"]) == set(face_names)


def test_notification_through_sns_to_sqs(
    lab: Lab, videos: dict[str, Path], photo: Callable[[str], bytes]
) -> None:
    face_names = _index(lab, photo, "notified")
    topic = lab.sns.create_topic(Name=f"AmazonRekognition-{uuid.uuid4().hex[:8]}")["TopicArn"]
    queue_url = lab.sqs.create_queue(QueueName=f"video-done-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = lab.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    lab.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    video = lab.upload(videos["mp4"])
    job_id = lab.client.start_face_search(
        Video=video,
        CollectionId="notified",
        JobTag="by-sns",
        NotificationChannel={
            "SNSTopicArn": topic,
            "RoleArn": "arn:aws:iam::123456789012:role/rekognition-sns",
        },
    )["JobId"]
    message = None
    deadline = time.monotonic() + 180
    while message is None and time.monotonic() < deadline:
        for received in lab.sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", []):
            message = json.loads(json.loads(received["Body"])["Message"])
    assert message is not None, "no completion notification"
    assert message["JobId"] == job_id and message["Status"] == "SUCCEEDED" and message["API"] == "FACE_SEARCH"
    assert message["JobTag"] == "by-sns"
    assert message["Video"] == {"S3ObjectName": video["S3Object"]["Name"], "S3Bucket": lab.bucket}
    result = lab.client.get_face_search(JobId=job_id)
    assert result["JobStatus"] == "SUCCEEDED"
    assert {face_names[m["Face"]["FaceId"]] for p in result["Persons"] for m in p["FaceMatches"]} == {
        "obama",
        "biden",
    }


def test_face_and_label_detection_per_timestamp_with_paging_and_sorting(
    lab: Lab, videos: dict[str, Path]
) -> None:
    video = lab.upload(videos["mp4"])
    faces_job = lab.client.start_face_detection(Video=video)["JobId"]
    labels_job = lab.client.start_label_detection(Video=video, MinConfidence=50)["JobId"]
    faces = lab.wait(lab.client.get_face_detection, faces_job)
    assert faces["JobStatus"] == "SUCCEEDED", faces.get("StatusMessage")
    stamps = [f["Timestamp"] for f in faces["Faces"]]
    assert stamps == sorted(stamps)
    # Nobody on screen before 2 s; someone at every sample between 2 and 18 s.
    assert min(stamps) >= 2000
    sampled = sorted(set(stamps))
    assert all(b - a <= INTERVAL_MS + FRAME_MS for a, b in itertools.pairwise(sampled) if b < 13000)
    assert all(0 <= f["Face"]["BoundingBox"]["Left"] <= 1 for f in faces["Faces"])
    paged = _all_pages(lab.client.get_face_detection, "Faces", JobId=faces_job, MaxResults=5)
    assert paged == faces["Faces"]
    with pytest.raises(ClientError) as bad_token:
        lab.client.get_face_detection(JobId=faces_job, NextToken="not-a-token")
    assert bad_token.value.response["Error"]["Code"] == "InvalidPaginationTokenException"

    labels = lab.wait(lab.client.get_label_detection, labels_job)
    assert labels["JobStatus"] == "SUCCEEDED", labels.get("StatusMessage")
    assert labels["LabelModelVersion"] and labels["Labels"]
    assert labels["GetRequestMetadata"] == {"SortBy": "TIMESTAMP", "AggregateBy": "TIMESTAMPS"}
    assert all(item["Label"]["Confidence"] >= 50 for item in labels["Labels"])
    by_time = [(i["Timestamp"], i["Label"]["Name"]) for i in labels["Labels"]]
    assert by_time == sorted(by_time)
    names = {i["Label"]["Name"] for i in labels["Labels"]}
    assert "Person" in names, names
    by_name = lab.client.get_label_detection(JobId=labels_job, SortBy="NAME")["Labels"]
    keys = [(i["Label"]["Name"], i["Timestamp"]) for i in by_name]
    assert keys == sorted(keys) and len(keys) == len(by_time)
    segments = lab.client.get_label_detection(JobId=labels_job, AggregateBy="SEGMENTS")["Labels"]
    person = [s for s in segments if s["Label"]["Name"] == "Person"]
    assert person and all(
        s["DurationMillis"] == s["EndTimestampMillis"] - s["StartTimestampMillis"] for s in person
    )
    assert sum(s["DurationMillis"] for s in person) >= 10000


def test_start_errors_and_idempotency(
    lab: Lab, videos: dict[str, Path], photo: Callable[[str], bytes]
) -> None:
    video = lab.upload(videos["mov"], "clip.mov")
    first = lab.client.start_face_detection(Video=video, ClientRequestToken="same-token")["JobId"]
    again = lab.client.start_face_detection(Video=video, ClientRequestToken="same-token")["JobId"]
    assert first == again
    with pytest.raises(ClientError) as mismatch:
        lab.client.start_face_detection(Video=video, ClientRequestToken="same-token", JobTag="other")
    assert mismatch.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    with pytest.raises(ClientError) as missing:
        lab.client.start_face_detection(Video={"S3Object": {"Bucket": lab.bucket, "Name": "nope.mp4"}})
    assert missing.value.response["Error"]["Code"] == "InvalidS3ObjectException"
    with pytest.raises(ClientError) as no_collection:
        lab.client.start_face_search(Video=video, CollectionId="absent")
    assert no_collection.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as unknown_job:
        lab.client.get_face_detection(JobId="f" * 32)
    assert unknown_job.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as wrong_api:
        lab.client.get_label_detection(JobId=first)
    assert wrong_api.value.response["Error"]["Code"] == "ResourceNotFoundException"
    mov = lab.wait(lab.client.get_face_detection, first)
    assert mov["JobStatus"] == "SUCCEEDED" and mov["VideoMetadata"]["DurationMillis"] == 6000
    assert {f["Timestamp"] for f in mov["Faces"]} >= {2000, 3000, 4000, 5000}


def test_corrupt_video_fails_with_a_message(lab: Lab, videos: dict[str, Path]) -> None:
    job_id = lab.client.start_face_detection(Video=lab.upload(videos["corrupt"]))["JobId"]
    done = lab.wait(lab.client.get_face_detection, job_id, timeout=60)
    assert done["JobStatus"] == "FAILED"
    assert "corrupt" in done["StatusMessage"].lower()
    assert done["Faces"] == [] and "VideoMetadata" not in done


def test_governance_policy_threshold_limit_and_deletion(
    tmp_path: Path,
    moto_url: str,
    face_analyzer: FaceAnalyzer,
    videos: dict[str, Path],
    photo: Callable[[str], bytes],
) -> None:
    from dataclasses import replace

    # No worker: jobs stay in progress, which is what the in-flight limit counts.
    services = Services(_settings(tmp_path, video_max_jobs=2), face_analyzer=face_analyzer)
    lab = Lab(moto_url, services)
    with running_endpoint(services) as endpoint:
        lab.client = rekognition_client(endpoint.url)
        _index(lab, photo, "guarded")
        store = services.store
        collection = store.get_collection("guarded")
        store.update_collection(
            replace(collection, policy={"min_match_threshold": 95, "video_search": "deny"})
        )
        video = lab.upload(videos["mov"])
        with pytest.raises(ClientError) as denied:
            lab.client.start_face_search(Video=video, CollectionId="guarded")
        assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
        store.update_collection(replace(collection, policy={"min_match_threshold": 95}))
        with pytest.raises(ClientError) as low:
            lab.client.start_face_search(Video=video, CollectionId="guarded", FaceMatchThreshold=80)
        assert low.value.response["Error"]["Code"] == "InvalidParameterException"
        job_id = lab.client.start_face_search(Video=video, CollectionId="guarded", FaceMatchThreshold=96)[
            "JobId"
        ]
        lab.client.start_label_detection(Video=video)
        with pytest.raises(ClientError) as limit:
            lab.client.start_face_detection(Video=video)
        assert limit.value.response["Error"]["Code"] == "LimitExceededException"
        assert lab.client.get_face_search(JobId=job_id)["JobStatus"] == "IN_PROGRESS"
        lab.client.delete_collection(CollectionId="guarded")
        with pytest.raises(ClientError) as gone:
            lab.client.get_face_search(JobId=job_id)
        assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
    services.close()


def test_text_and_moderation_jobs(lab: Lab, tmp_path: Path) -> None:
    from tests.support.video import render_text

    video = lab.upload(render_text(tmp_path / "sign.mp4", "OPEN SESAME", start_s=1.0, end_s=3.0))
    text_job = lab.client.start_text_detection(Video=video, Filters={"WordFilter": {"MinConfidence": 80}})[
        "JobId"
    ]
    moderation_job = lab.client.start_content_moderation(Video=video, MinConfidence=0)["JobId"]
    text = lab.wait(lab.client.get_text_detection, text_job)
    assert text["JobStatus"] == "SUCCEEDED", text.get("StatusMessage")
    assert text["TextModelVersion"]
    lines = [t for t in text["TextDetections"] if t["TextDetection"]["Type"] == "LINE"]
    # The recogniser sometimes drops the space between the words: compare without spaces.
    assert {t["TextDetection"]["DetectedText"].replace(" ", "") for t in lines} == {"OPENSESAME"}
    assert sorted(t["Timestamp"] for t in lines) == [1000, 1500, 2000, 2500]
    words = [t for t in text["TextDetections"] if t["TextDetection"]["Type"] == "WORD"]
    for line in lines:
        own = [w for w in words if w["TextDetection"]["ParentId"] == line["TextDetection"]["Id"]]
        own = [w for w in own if w["Timestamp"] == line["Timestamp"]]
        assert "".join(w["TextDetection"]["DetectedText"] for w in own) == "OPENSESAME"
    moderation = lab.wait(lab.client.get_content_moderation, moderation_job)
    assert moderation["JobStatus"] == "SUCCEEDED", moderation.get("StatusMessage")
    assert moderation["ModerationModelVersion"]
    stamps = {m["Timestamp"] for m in moderation["ModerationLabels"]}
    assert stamps == set(range(0, 4000, 500))  # MinConfidence 0: every analysed frame
    segments = lab.client.get_content_moderation(JobId=moderation_job, AggregateBy="SEGMENTS", SortBy="NAME")
    names = [s["ModerationLabel"]["Name"] for s in segments["ModerationLabels"]]
    assert names == sorted(names) and len(names) == len(set(names))
    assert all(s["DurationMillis"] == 4000 for s in segments["ModerationLabels"])


def test_sampling_grid_and_frame_width(videos: dict[str, Path]) -> None:
    from rekognito.video.decode import probe, sample_frames

    assert probe(videos["mov"]).format == "QuickTime / MOV"
    full = list(sample_frames(videos["mov"], 1000))
    assert [f.timestamp_ms for f in full] == [0, 1000, 2000, 3000, 4000, 5000]
    assert full[0].image.size == (640, 360)
    small = list(sample_frames(videos["mov"], 1000, 2000, 4000, max_width=320))
    assert [(f.timestamp_ms, f.image.size) for f in small] == [(2000, (320, 180)), (3000, (320, 180))]
