"""The durable drop bucket's journal: what is pending, what is replayed, file modes, the middleware."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from rekognito.drop_journal import CurrentObject, DropJournal, DurableS3App
from rekognito.ingest.events import ObjectChange, parse_message_body

BUCKET = "rekognito-drop"


def created(key: str, etag: str) -> ObjectChange:
    return ObjectChange("created", "ObjectCreated:Put", BUCKET, key, None, etag, None)


def removed(key: str) -> ObjectChange:
    return ObjectChange("removed", "ObjectRemoved:Delete", BUCKET, key, None, None, None)


def replay(journal: DropJournal) -> tuple[dict[str, bytes], list[ObjectChange]]:
    restored: dict[str, bytes] = {}
    events: list[ObjectChange] = []
    journal.restore(
        lambda key, data, etag, content_type: restored.__setitem__(key, data),
        lambda event: events.extend(parse_message_body(json.dumps(event))),
        bucket=BUCKET,
        region="us-east-1",
    )
    return restored, events


@pytest.fixture
def journal(tmp_path: Path) -> DropJournal:
    return DropJournal.for_bucket(tmp_path / "data", BUCKET)


def test_a_written_object_is_restored_and_replayed_until_processed(journal: DropJournal) -> None:
    journal.object_written("family/Renée 1.jpg", b"jpeg", "e1", "image/jpeg", "alice")
    restored, events = replay(journal)
    assert restored == {"family/Renée 1.jpg": b"jpeg"}
    (event,) = events
    assert (event.kind, event.key, event.etag, event.principal_id) == (
        "created",
        "family/Renée 1.jpg",
        "e1",
        "alice",
    )
    journal.processed(created("family/Renée 1.jpg", "e1"))
    restored, events = replay(journal)
    assert restored == {"family/Renée 1.jpg": b"jpeg"}
    assert events == []


def test_processing_an_older_revision_leaves_the_newer_pending(journal: DropJournal) -> None:
    journal.object_written("family/a.jpg", b"one", "e1", "image/jpeg", None)
    journal.object_written("family/a.jpg", b"two", "e2", "image/jpeg", None)
    journal.processed(created("family/a.jpg", "e1"))
    restored, events = replay(journal)
    assert restored == {"family/a.jpg": b"two"}
    assert [(e.kind, e.etag) for e in events] == [("created", "e2")]


def test_a_delete_is_replayed_until_processed(journal: DropJournal) -> None:
    journal.object_written("family/a.jpg", b"one", "e1", "image/jpeg", None)
    journal.processed(created("family/a.jpg", "e1"))
    journal.object_deleted("family/a.jpg", "bob")
    restored, events = replay(journal)
    assert restored == {}
    assert [(e.kind, e.key, e.principal_id) for e in events] == [("removed", "family/a.jpg", "bob")]
    journal.processed(removed("family/a.jpg"))
    assert replay(journal) == ({}, [])


def test_a_put_after_a_delete_supersedes_it(journal: DropJournal) -> None:
    journal.object_written("family/a.jpg", b"one", "e1", "image/jpeg", None)
    journal.processed(created("family/a.jpg", "e1"))
    journal.object_deleted("family/a.jpg", None)
    journal.object_written("family/a.jpg", b"one", "e1", "image/jpeg", None)
    _, events = replay(journal)
    # the same content again: indexed again, since the delete may have removed its faces
    assert [(e.kind, e.etag) for e in events] == [("created", "e1")]


def test_files_are_private_and_partial_writes_are_dropped(tmp_path: Path) -> None:
    journal = DropJournal.for_bucket(tmp_path / "data", BUCKET)
    journal.object_written("family/a.jpg", b"one", "e1", "image/jpeg", None)
    journal.object_deleted("family/b.jpg", None)
    for directory in (
        journal.root,
        journal.root / "objects",
        journal.root / "deleted",
        tmp_path / "data" / "drop",
    ):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for path in journal.root.rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    leftover = journal.root / "objects" / ".abc.1.2.tmp"
    leftover.write_bytes(b"half")
    DropJournal.for_bucket(tmp_path / "data", BUCKET)
    assert not leftover.exists()


def _call(app: Any, method: str, path: str, body: bytes = b"") -> tuple[str, bytes]:
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        answer["status"] = status

    environ = {
        "REQUEST_METHOD": method,
        "REQUEST_URI": path,
        "PATH_INFO": path,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    chunks = b"".join(app(environ, start_response))
    return answer["status"], chunks


class FakeS3:
    """A stand-in for moto's S3 app: stores PUT bodies, forgets DELETEd keys."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        key = environ["PATH_INFO"].split("/", 2)[2]
        if environ["REQUEST_METHOD"] == "PUT":
            self.objects[key] = environ["wsgi.input"].read()
        else:
            self.objects.pop(key, None)
        start_response("200 OK", [])
        return [b""]

    def lookup(self, bucket: str, key: str) -> CurrentObject | None:
        data = self.objects.get(key)
        return CurrentObject(f"etag-{len(data)}", "image/jpeg", lambda: data) if data is not None else None


def test_the_middleware_records_before_answering(journal: DropJournal) -> None:
    s3 = FakeS3()
    app = DurableS3App(s3, journal, BUCKET, s3.lookup)
    assert _call(app, "PUT", f"/{BUCKET}/family/a.jpg", b"jpeg")[0] == "200 OK"
    assert journal.etag_of("family/a.jpg") == "etag-4"
    assert _call(app, "PUT", "/other-bucket/family/a.jpg", b"jpeg")[0] == "200 OK"
    assert _call(app, "DELETE", f"/{BUCKET}/family/a.jpg")[0] == "200 OK"
    assert journal.etag_of("family/a.jpg") is None
    assert [e.kind for e in replay(journal)[1]] == ["removed"]


def test_the_middleware_answers_500_when_it_cannot_record(journal: DropJournal) -> None:
    s3 = FakeS3()
    app = DurableS3App(s3, journal, BUCKET, s3.lookup)
    # A disk that refuses the write (a file where the objects' folder should be; permissions
    # would not stop root)
    (journal.root / "objects").rmdir()
    (journal.root / "objects").write_bytes(b"")
    status, body = _call(app, "PUT", f"/{BUCKET}/family/a.jpg", b"jpeg")
    assert status.startswith("500")
    assert b"<Code>InternalError</Code>" in body
