"""The hash-chained audit trail: what goes in, and that tampering is found."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from rekognito.identity import Principal
from rekognito.request import RequestContext
from rekognito.security.audit import (
    GENESIS,
    AuditKey,
    Checkpoint,
    DynamoDBAuditSink,
    FileAuditSink,
    describe_request,
    entry_hash,
    parse_since,
    select,
    verify_lines,
)
from rekognito.security.audit.keys import AuditKeyError
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


def test_failures_are_recorded_with_their_code_and_s3_sources_by_pseudonym(tmp_path: Path) -> None:
    params = {"CollectionId": "family", "Image": {"S3Object": {"Bucket": "b", "Name": "people/jane-doe.jpg"}}}
    key = AuditKey(tmp_path / "audit.key")
    entry = describe_request(context(tmp_path), params, None, "AccessDeniedException", 0.0, key.s3_name)
    assert entry["error"] == "AccessDeniedException"
    assert entry["images"]["Image"].startswith("s3-key-hmac:b:")
    assert entry["images"]["Image"] == key.s3_name("b", "people/jane-doe.jpg")
    assert entry["images"]["Image"] != key.s3_name("b", "people/john-doe.jpg")
    assert "jane" not in json.dumps(entry)
    assert "face_ids" not in entry
    # Without a key the name is withheld, never written in clear
    withheld = describe_request(context(tmp_path), params, None, None, 0.0)
    assert withheld["images"] == {"Image": "s3-key-withheld:b"}


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


def truncate(sink: FileAuditSink, keep: int) -> None:
    lines = sink.path.read_text().splitlines()
    sink.path.write_text("\n".join(lines[:keep]) + "\n")


def test_dropping_the_tail_and_rewriting_the_head_is_found(tmp_path: Path) -> None:
    """Issue 15 row 7: delete the last line and rewrite audit.head to match it."""
    sink = filled(tmp_path, 5)
    assert json.loads(sink.head_path.read_text())["mac"]
    lines = sink.path.read_text().splitlines()
    truncate(sink, 4)
    last = json.loads(lines[3])
    # A head rewritten without the key
    sink.head_path.write_text(json.dumps({"seq": last["seq"], "hash": last["hash"]}))
    result = sink.verify()
    assert not result.ok
    assert "not authenticated" in str(result.reason)
    # nor can the HMAC of another head be reused
    dropped = json.loads(lines[4])
    mac = AuditKey(tmp_path / "security" / "audit.key").head_mac(5, dropped["hash"])
    sink.head_path.write_text(json.dumps({"seq": 4, "hash": last["hash"], "mac": mac}))
    assert "not authenticated" in str(sink.verify().reason)


def test_deleting_the_trail_and_its_head_is_found(tmp_path: Path) -> None:
    """Issue 15 row 8: delete audit.jsonl and audit.head."""
    sink = filled(tmp_path, 3)
    checkpoint = Checkpoint(3, sink.verify().head)
    sink.path.unlink()
    sink.head_path.unlink()
    result = FileAuditSink(tmp_path).verify()
    assert not result.ok
    assert "head is missing" in str(result.reason)
    # With the key deleted too, only a checkpoint kept elsewhere still tells
    (tmp_path / "security" / "audit.key").unlink()
    assert FileAuditSink(tmp_path).verify().ok
    anchored = FileAuditSink(tmp_path).verify(expect=checkpoint)
    assert not anchored.ok
    assert "entries were removed" in str(anchored.reason)


def test_a_checkpoint_catches_truncation_by_someone_who_holds_the_key(tmp_path: Path) -> None:
    sink = filled(tmp_path, 5)
    checkpoint = Checkpoint.parse(f"5:{sink.verify().head}")
    for i in range(2):
        sink.append({"operation": "later", "n": i})
    assert sink.verify(expect=checkpoint).ok
    # Truncated to 4 entries with a correctly authenticated head (the key holder did it)
    truncate(sink, 4)
    fourth = list(sink.entries())[-1]
    key = AuditKey(tmp_path / "security" / "audit.key")
    mac = key.head_mac(4, fourth["hash"])
    sink.head_path.write_text(json.dumps({"seq": 4, "hash": fourth["hash"], "mac": mac}))
    assert sink.verify().ok
    assert not sink.verify(expect=checkpoint).ok
    with pytest.raises(ValueError, match="checkpoint"):
        Checkpoint.parse("5:not-a-hash")


def test_entries_appended_behind_the_writers_back_are_found(tmp_path: Path) -> None:
    sink = filled(tmp_path, 3)
    head = sink.head_path.read_text()
    sink.append({"operation": "forged-1"})
    sink.append({"operation": "forged-2"})
    sink.head_path.write_text(head)  # as if written without moving the authenticated head
    result = sink.verify()
    assert not result.ok
    assert result.broken_line == 5


def test_non_finite_values_are_recorded_as_text(tmp_path: Path) -> None:
    sink = FileAuditSink(tmp_path)
    entry = sink.append({"policy_old": {"retention_days": float("nan")}, "policy_new": {"x": float("inf")}})
    assert entry["policy_old"] == {"retention_days": "nan"}
    assert entry["policy_new"] == {"x": "inf"}
    assert sink.verify().ok


def test_the_audit_key_is_private_and_shared_by_concurrent_writers(tmp_path: Path) -> None:
    keys = [AuditKey(tmp_path / "security" / "audit.key") for _ in range(8)]
    threads = [threading.Thread(target=key.load, kwargs={"create": True}) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({key.load(create=False) for key in keys}) == 1
    assert oct((tmp_path / "security" / "audit.key").stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "security").stat().st_mode & 0o777) == "0o700"


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


@mock_aws
def test_dynamodb_head_is_authenticated_and_required(tmp_path: Path) -> None:
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
    key = AuditKey(tmp_path / "audit.key")
    sink = DynamoDBAuditSink("audit", "us-east-1", client=client, key=key)
    for name in "ABCD":
        sink.append({"operation": name})
    checkpoint = Checkpoint(4, sink.verify().head)
    head = client.get_item(TableName="audit", Key={"stream": {"S": "audit-head"}, "seq": {"N": "0"}})["Item"]
    assert head["head_seq"]["N"] == "4" and head["mac"]["S"]
    assert sink.verify(expect=checkpoint).ok
    # Drop the last entry and point the head at the one before, without the key
    client.delete_item(TableName="audit", Key={"stream": {"S": "audit"}, "seq": {"N": "4"}})
    third = json.loads(
        client.get_item(TableName="audit", Key={"stream": {"S": "audit"}, "seq": {"N": "3"}})["Item"][
            "entry"
        ]["S"]
    )
    client.put_item(
        TableName="audit",
        Item={
            "stream": {"S": "audit-head"},
            "seq": {"N": "0"},
            "head_seq": {"N": "3"},
            "hash": {"S": third["hash"]},
        },
    )
    assert "not authenticated" in str(sink.verify().reason)
    # Deleting the head item is found too; the checkpoint names the missing entry
    client.delete_item(TableName="audit", Key={"stream": {"S": "audit-head"}, "seq": {"N": "0"}})
    assert "head is missing" in str(sink.verify().reason)
    assert not DynamoDBAuditSink("audit", "us-east-1", client=client).verify(expect=checkpoint).ok


def test_a_damaged_audit_key_fails_verification_and_refuses_writes(tmp_path: Path) -> None:
    sink = filled(tmp_path, 2)
    (tmp_path / "security" / "audit.key").write_text("not a key\n")
    fresh = FileAuditSink(tmp_path)
    result = fresh.verify()
    assert not result.ok
    assert "is not an audit key" in str(result.reason)
    with pytest.raises(AuditKeyError):
        fresh.append({"operation": "X"})
    assert len(list(sink.entries())) == 2
