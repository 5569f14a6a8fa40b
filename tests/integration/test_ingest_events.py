"""Issue 3: the ingest handler on the sample SQS events, moto S3, the real models and store."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.metrics import EphemeralMetrics
from moto import mock_aws

from rekognito.ingest.processor import handle_sqs_event
from rekognito.ingest.s3 import DropBucket
from rekognito.operations.collections import create_collection
from rekognito.request import RequestContext
from rekognito.services import Services
from tests.support.events import load_event

BUCKET = "rekognito-dev-ingest-123456789012-us-east-1"  # the bucket of the sample events
SOURCE = f"s3://{BUCKET}/family/alice.jpg"


class Drop:
    """A versioned moto bucket, the handler wired to it, and the EMF lines it wrote."""

    def __init__(self, services: Services, s3: Any) -> None:
        self.services = services
        self.s3 = s3
        self.metrics: list[dict[str, Any]] = []
        services.drop_bucket = DropBucket(s3)
        services.metrics_sink = self._collect

    def _collect(self, document: EphemeralMetrics) -> None:
        self.metrics.append(document.serialize_metric_set())
        document.clear_metrics()

    def put(self, key: str, data: bytes) -> dict[str, Any]:
        return dict(self.s3.put_object(Bucket=BUCKET, Key=key, Body=data))

    def event(self, name: str, put: dict[str, Any] | None = None, key: str | None = None) -> dict[str, Any]:
        """Sample event ``name``, its object fields set to what the moto ``put`` returned."""
        event = load_event(name)
        for record in event["Records"]:
            body = json.loads(record["body"])
            for s3_record in body.get("Records", []):
                obj = s3_record["s3"]["object"]
                if key is not None:
                    obj["key"] = key
                if put is not None:
                    obj["eTag"] = put["ETag"].strip('"')
                    obj["versionId"] = put["VersionId"]
            record["body"] = json.dumps(body)
        return event

    def handle(self, event: dict[str, Any]) -> list[str]:
        result = handle_sqs_event(event, None, self.services)
        return [item["itemIdentifier"] for item in result["batchItemFailures"]]

    def faces(self, collection: str = "family") -> list[Any]:
        return self.services.store.list_faces(collection)

    def failure_reasons(self) -> list[str]:
        return [line["Reason"] for line in self.metrics if "Reason" in line]


@pytest.fixture
def drop(services: Services) -> Iterator[Drop]:
    services.settings = services.settings.with_overrides(ingest_bucket=BUCKET)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        create_collection(RequestContext(services, "test", "CreateCollection"), {"CollectionId": "family"})
        yield Drop(services, s3)


def message_id(event: dict[str, Any], index: int = 0) -> str:
    return str(event["Records"][index]["messageId"])


def batch(*events: dict[str, Any]) -> dict[str, Any]:
    return {"Records": [record for event in events for record in event["Records"]]}


def test_put_indexes_the_faces_under_the_name(drop: Drop, photo: Callable[[str], bytes]) -> None:
    # Given obama.jpg put as family/alice.jpg
    put = drop.put("family/alice.jpg", photo("obama.jpg"))
    # When its notification is handled
    failures = drop.handle(drop.event("ingest/s3_put", put))
    # Then its one face is in "family", named after the file, with the object as source
    assert failures == []
    (face,) = drop.faces()
    assert face.external_image_id == "alice"
    assert face.source == SOURCE
    assert any(line.get("FacesIndexed") == [1.0] for line in drop.metrics)


def test_duplicate_delivery_indexes_once(drop: Drop, photo: Callable[[str], bytes]) -> None:
    put = drop.put("family/alice.jpg", photo("group6.jpg"))
    assert drop.handle(drop.event("ingest/s3_put_duplicate", put)) == []
    first = sorted(face.face_id for face in drop.faces())
    assert len(first) > 1
    # Delivered once more, later: still the same faces, not twice as many
    assert drop.handle(drop.event("ingest/s3_put", put)) == []
    assert sorted(face.face_id for face in drop.faces()) == first


def test_overwrite_replaces_the_old_faces(drop: Drop, photo: Callable[[str], bytes]) -> None:
    old_put = drop.put("family/alice.jpg", photo("group6.jpg"))
    old_event = drop.event("ingest/s3_put", old_put)
    assert drop.handle(old_event) == []
    old_ids = {face.face_id for face in drop.faces()}
    # When the key is overwritten with a one-person photo
    new_put = drop.put("family/alice.jpg", photo("obama.jpg"))
    assert drop.handle(drop.event("ingest/s3_overwrite", new_put)) == []
    # Then only the new face remains
    (face,) = drop.faces()
    assert face.face_id not in old_ids
    # And a late redelivery of the old version's event changes nothing (stale)
    assert drop.handle(old_event) == []
    assert [f.face_id for f in drop.faces()] == [face.face_id]


def test_delete_removes_the_faces(drop: Drop, photo: Callable[[str], bytes]) -> None:
    put = drop.put("family/alice.jpg", photo("group6.jpg"))
    create = drop.event("ingest/s3_put", put)
    assert drop.handle(create) == []
    assert len(drop.faces()) > 1
    drop.s3.delete_object(Bucket=BUCKET, Key="family/alice.jpg")
    assert drop.handle(drop.event("ingest/s3_delete")) == []
    assert drop.faces() == []
    # An ObjectCreated delivered after the removal finds no object: skipped, not re-indexed
    assert drop.handle(create) == []
    assert drop.faces() == []


def test_removal_only_touches_the_exact_key(drop: Drop, photo: Callable[[str], bytes]) -> None:
    # family/alice.jpg is a prefix of family/alice.jpg/bob.jpg: the latter must survive
    nested = "family/alice.jpg/bob.jpg"
    assert drop.handle(drop.event("ingest/s3_put", drop.put(nested, photo("biden.jpg")), key=nested)) == []
    assert drop.handle(drop.event("ingest/s3_delete")) == []
    (face,) = drop.faces()
    assert face.external_image_id == "alice.jpg:bob"


def test_corrupt_file_fails_alone(drop: Drop, photo: Callable[[str], bytes]) -> None:
    broken = drop.event(
        "ingest/s3_put", drop.put("family/broken.jpg", b"\xff\xd8 not a jpeg"), key="family/broken.jpg"
    )
    good = drop.event("ingest/s3_overwrite", drop.put("family/alice.jpg", photo("obama.jpg")))
    # When both arrive in one batch, the corrupt one first
    failures = drop.handle(batch(broken, good))
    # Then only the corrupt message is reported for retry (and the DLQ), the other is indexed
    assert failures == [message_id(broken)]
    assert [face.external_image_id for face in drop.faces()] == ["alice"]
    assert drop.failure_reasons() == ["InvalidImageFormatException"]


def test_unknown_collection_fails(drop: Drop, photo: Callable[[str], bytes]) -> None:
    key = "strangers/bob.jpg"
    event = drop.event("ingest/s3_put", drop.put(key, photo("biden.jpg")), key=key)
    assert drop.handle(event) == [message_id(event)]
    assert drop.failure_reasons() == ["ResourceNotFoundException"]


def test_key_outside_the_convention_fails(drop: Drop, photo: Callable[[str], bytes]) -> None:
    key = "alice.jpg"
    event = drop.event("ingest/s3_put", drop.put(key, photo("biden.jpg")), key=key)
    assert drop.handle(event) == [message_id(event)]
    assert drop.failure_reasons() == ["KeyOutsideConvention"]


def test_an_event_for_another_bucket_is_refused(drop: Drop, photo: Callable[[str], bytes]) -> None:
    # Issue 15 row 5: a hand-made message naming a bucket the ingest function may also read
    drop.s3.create_bucket(Bucket="private-hr-photos")
    drop.s3.put_object(Bucket="private-hr-photos", Key="secret/ceo.jpg", Body=photo("obama.jpg"))
    create_collection(RequestContext(drop.services, "t", "CreateCollection"), {"CollectionId": "secret"})
    event = load_event("ingest/s3_put")
    body = json.loads(event["Records"][0]["body"])
    body["Records"][0]["s3"]["bucket"]["name"] = "private-hr-photos"
    body["Records"][0]["s3"]["object"]["key"] = "secret/ceo.jpg"
    del body["Records"][0]["s3"]["object"]["versionId"]
    del body["Records"][0]["s3"]["object"]["eTag"]
    event["Records"][0]["body"] = json.dumps(body)
    # Then it fails permanently (to the DLQ) and nothing is read or indexed
    assert drop.handle(event) == [message_id(event)]
    assert drop.failure_reasons() == ["ForeignBucket"]
    assert drop.faces("secret") == []


def test_key_with_spaces_and_unicode(drop: Drop, photo: Callable[[str], bytes]) -> None:
    put = drop.put("family/Renée Dupont.jpg", photo("biden.jpg"))
    assert drop.handle(drop.event("ingest/s3_put_unicode_key", put)) == []
    (face,) = drop.faces()
    assert face.external_image_id == "Renee_Dupont"
    assert face.source == f"s3://{BUCKET}/family/Renée Dupont.jpg"


def test_s3_test_event_is_acknowledged(drop: Drop) -> None:
    assert drop.handle(load_event("ingest/s3_test_event")) == []
    assert drop.faces() == []


def test_drop_folder_changes_are_audited(drop: Drop, photo: Callable[[str], bytes]) -> None:
    put = drop.put("family/alice.jpg", photo("group6.jpg"))
    assert drop.handle(drop.event("ingest/s3_put", put)) == []
    indexed = sorted(face.face_id for face in drop.faces())
    drop.s3.delete_object(Bucket=BUCKET, Key="family/alice.jpg")
    assert drop.handle(drop.event("ingest/s3_delete")) == []
    ingest = [e for e in drop.services.audit.entries() if e["operation"].startswith("Ingest")]
    # the store's write-ahead entries (before each change) and the outcome entries (after)
    intents = [e for e in ingest if e.get("phase") == "intent"]
    entries = [e for e in ingest if "phase" not in e]
    assert [e["operation"] for e in entries] == ["IngestIndexFaces", "IngestDeleteFaces"]
    assert {e["operation"] for e in intents} == {"IngestIndexFaces", "IngestDeleteFaces"}
    # named after the uploader of the sample events (their userIdentity.principalId)
    assert all(e["collection"] == "family" for e in entries)
    assert {e["principal"] for e in ingest} == {"AWS:AROA3X7EXAMPLEID5ALI:alice"}
    assert sorted(entries[0]["face_ids"]) == indexed
    assert sorted(entries[1]["face_ids"]) == indexed
