"""The hash-chained audit trail: what goes in, and that tampering is found."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from rekognito.operations.context import Principal, RequestContext
from rekognito.security.audit import (
    GENESIS,
    DynamoDBAuditSink,
    FileAuditSink,
    describe_request,
    entry_hash,
    parse_since,
    select,
    verify_lines,
)
from rekognito.services import Services
from rekognito.settings import Settings


def context(tmp_path: Path, operation: str = "SearchFacesByImage") -> RequestContext:
    return RequestContext(
        services=Services(Settings(data_dir=tmp_path)),
        request_id="req-1",
        operation=operation,
        principal=Principal(name="alice", access_key_id="AKRKALICE"),
    )


def filled(tmp_path: Path, count: int = 5) -> FileAuditSink:
    sink = FileAuditSink(tmp_path)
    for i in range(count):
        sink.append({"operation": "IndexFaces", "collection": "family", "n": i})
    return sink


def rewrite(sink: FileAuditSink, change: Any) -> None:
    lines = sink.path.read_text().splitlines()
    sink.path.write_text("\n".join(change(lines)) + "\n")


def test_entries_record_who_what_and_which_ids_but_no_image_bytes(tmp_path: Path) -> None:
    params = {
        "CollectionId": "family",
        "Image": {"Bytes": b"\xff\xd8 jpeg bytes"},
        "FaceMatchThreshold": 95.0,
        "MaxFaces": 3,
    }
    result = {
        "FaceMatches": [
            {"Similarity": 99.0, "Face": {"FaceId": "f-1", "UserId": "u-1", "BoundingBox": {"Width": 0.1}}},
            {"Similarity": 97.0, "Face": {"FaceId": "f-2"}},
        ]
    }
    entry = describe_request(context(tmp_path), params, result, None, 0.0)
    assert entry["time"] == "1970-01-01T00:00:00.000Z"
    assert entry["principal"] == "alice"
    assert entry["access_key_id"] == "AKRKALICE"
    assert entry["collection"] == "family"
    assert entry["thresholds"] == {"FaceMatchThreshold": 95.0, "MaxFaces": 3}
    assert entry["images"] == {"Image": "bytes"}
    assert entry["face_ids"] == ["f-1", "f-2"]
    assert entry["user_ids"] == ["u-1"]
    assert entry["results"] == 2
    assert "jpeg" not in json.dumps(entry)


def test_failures_are_recorded_with_their_code_and_s3_sources(tmp_path: Path) -> None:
    params = {"CollectionId": "family", "Image": {"S3Object": {"Bucket": "b", "Name": "k.jpg"}}}
    entry = describe_request(context(tmp_path), params, None, "AccessDeniedException", 0.0)
    assert entry["error"] == "AccessDeniedException"
    assert entry["images"] == {"Image": "s3://b/k.jpg"}
    assert "face_ids" not in entry


def test_deleted_face_ids_are_listed(tmp_path: Path) -> None:
    params = {"CollectionId": "family", "FaceIds": ["f-1", "f-9"]}
    result = {"DeletedFaces": ["f-1"], "UnsuccessfulFaceDeletions": [{"FaceId": "f-9", "Reasons": ["X"]}]}
    entry = describe_request(context(tmp_path, "DeleteFaces"), params, result, None, 0.0)
    assert entry["requested_ids"] == ["f-1", "f-9"]
    assert set(entry["face_ids"]) == {"f-1", "f-9"}
    assert entry["results"] == 1


def test_entries_chain_from_genesis(tmp_path: Path) -> None:
    sink = filled(tmp_path, 3)
    entries = list(sink.entries())
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert entries[0]["prev"] == GENESIS
    assert entries[1]["prev"] == entries[0]["hash"] == entry_hash(entries[0])
    assert sink.verify().ok
    assert sink.verify().entries == 3
    assert oct(sink.path.stat().st_mode & 0o777) == "0o600"


def test_record_through_the_sink_interface(tmp_path: Path) -> None:
    sink = FileAuditSink(tmp_path, clock=lambda: 0.0)
    sink.record(context(tmp_path), {"CollectionId": "c"}, {"Faces": []}, None)
    (entry,) = sink.entries()
    assert entry["operation"] == "SearchFacesByImage"
    assert entry["results"] == 0


@pytest.mark.parametrize(
    ("tamper", "broken_line"),
    [
        (lambda lines: [lines[0], lines[1].replace('"family"', '"other"'), *lines[2:]], 2),
        (lambda lines: [lines[0], *lines[2:]], 2),
        (lambda lines: [lines[0], lines[2], lines[1], *lines[3:]], 2),
        (lambda lines: [*lines[:3], lines[1], *lines[3:]], 4),
        (lambda lines: lines[:-1], 5),
        (lambda lines: [lines[0], "not json", *lines[1:]], 2),
    ],
    ids=["edited", "deleted", "swapped", "inserted", "last-dropped", "garbage"],
)
def test_tampering_is_found_at_the_first_broken_line(tmp_path: Path, tamper: Any, broken_line: int) -> None:
    sink = filled(tmp_path, 5)
    rewrite(sink, tamper)
    result = sink.verify()
    assert not result.ok
    assert result.broken_line == broken_line


def test_edit_with_recomputed_hash_still_breaks_the_next_link(tmp_path: Path) -> None:
    sink = filled(tmp_path, 3)

    def forge(lines: list[str]) -> list[str]:
        entry = json.loads(lines[0])
        entry["collection"] = "forged"
        entry["hash"] = entry_hash(entry)
        return [json.dumps(entry), *lines[1:]]

    rewrite(sink, forge)
    assert sink.verify().broken_line == 2


def test_concurrent_appends_keep_one_chain(tmp_path: Path) -> None:
    sinks = [FileAuditSink(tmp_path) for _ in range(4)]

    def write(sink: FileAuditSink) -> None:
        for i in range(25):
            sink.append({"operation": "X", "n": i})

    threads = [threading.Thread(target=write, args=(s,)) for s in sinks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = sinks[0].verify()
    assert result.ok, result
    assert result.entries == 100


def test_verify_lines_of_an_empty_trail() -> None:
    assert verify_lines([]).ok


def test_export_filters_by_collection_and_time(tmp_path: Path) -> None:
    entries = [
        {"collection": "a", "time": "2024-01-01T00:00:00.000Z"},
        {"collection": "b", "time": "2024-01-02T00:00:00.000Z"},
        {"collection": "a", "time": "2024-01-03T00:00:00.000Z"},
    ]
    since = parse_since("2024-01-02")
    assert list(select(entries, collection="a", since=since)) == [entries[2]]
    assert parse_since("7d", now=1_000_000.0) == 1_000_000.0 - 7 * 86400
    with pytest.raises(ValueError, match="since"):
        parse_since("last week")


@mock_aws
def test_dynamodb_sink_chains_and_never_forks() -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(
        TableName="audit",
        KeySchema=[
            {"AttributeName": "stream", "KeyType": "HASH"},
            {"AttributeName": "seq", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "stream", "AttributeType": "S"},
            {"AttributeName": "seq", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    first = DynamoDBAuditSink("audit", "us-east-1", client=client)
    second = DynamoDBAuditSink("audit", "us-east-1", client=client)
    first.append({"operation": "A"})
    # A writer that read a stale head loses the conditional put and retries on the new head.
    real_last = second._last
    stale = iter([(0, GENESIS)])
    second._last = lambda: next(stale, None) or real_last()  # type: ignore[method-assign]
    entry = second.append({"operation": "B"})
    assert entry["seq"] == 2
    first.append({"operation": "C"})
    result = first.verify()
    assert result.ok and result.entries == 3
    assert [e["operation"] for e in first.entries()] == ["A", "B", "C"]

    # Tampering with a stored entry is found.
    item = client.get_item(TableName="audit", Key={"stream": {"S": "audit"}, "seq": {"N": "2"}})["Item"]
    forged = json.loads(item["entry"]["S"])
    forged["operation"] = "Z"
    client.put_item(TableName="audit", Item={**item, "entry": {"S": json.dumps(forged)}})
    assert first.verify().broken_line == 2
