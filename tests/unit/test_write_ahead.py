"""Issue 15: no change without its audit entry first; one SDK call, one change; policy values checked.

These run the protocol (``handle_event``) and the real embedded store without models; the
same guarantees over real HTTP with boto3 are in ``tests/integration/test_audit_hardening.py``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rekognito.adapters.embedded_store import EmbeddedFaceStore
from rekognito.api._generated import InvalidParameterException, ThrottlingException
from rekognito.api.protocol import changes_something, handle_event
from rekognito.api.replay import ReplayCache, replay_key
from rekognito.domain import BoundingBox, Collection, StoredFace
from rekognito.identity import Principal
from rekognito.policy import PolicyError, check_change, check_value, problems, retention_cutoff
from rekognito.security.audit import (
    AuditUnavailableError,
    FileAuditSink,
    audit_scope,
)
from rekognito.security.audit.store import AuditedStore
from rekognito.services import Services
from rekognito.settings import Settings


class FlakySink(FileAuditSink):
    """A real file sink that fails on demand: every append, or only request entries."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.fail_appends = False
        self.fail_records = 0

    def append(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        if self.fail_appends:
            raise OSError("disk full")
        return super().append(fields)

    def record(self, ctx: Any, params: Any, result: Any, error: Any) -> None:
        if self.fail_records:
            self.fail_records -= 1
            raise OSError("disk full")
        super().record(ctx, params, result, error)


def face(face_id: str) -> StoredFace:
    vector = np.zeros(512, np.float32)
    vector[0] = 1.0
    return StoredFace(
        face_id=face_id,
        collection_id="family",
        image_id="img",
        bounding_box=BoundingBox(0.5, 0.5, 0.1, 0.1),
        confidence=99.0,
        embedding=vector,
        created_at=time.time(),
    )


@pytest.fixture
def services(tmp_path: Path) -> Any:
    svc = Services(Settings(data_dir=tmp_path / "data", auth_mode="none"))
    sink = FlakySink(tmp_path / "data")
    svc.audit = sink
    yield svc
    svc.close()


def sink_of(services: Services) -> FlakySink:
    sink: FlakySink = services.audit
    return sink


def event(operation: str, body: dict[str, Any], invocation_id: str | None = None) -> dict[str, Any]:
    headers = {"X-Amz-Target": f"RekognitionService.{operation}"}
    if invocation_id:
        headers["amz-sdk-invocation-id"] = invocation_id
    return {"httpMethod": "POST", "headers": headers, "body": json.dumps(body)}


def answer(response: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return int(response["statusCode"]), json.loads(response["body"])


def test_a_change_whose_entry_cannot_be_written_is_not_made(services: Services) -> None:
    store = services.store
    store.create_collection(Collection("family", "arn", "edgeface-s", 1.0))
    sink_of(services).fail_appends = True
    # When the audit cannot be written, put_faces refuses and the store is unchanged
    with pytest.raises(AuditUnavailableError, match="nothing was changed"):
        store.put_faces("family", [face("f1")])
    sink_of(services).fail_appends = False
    assert store.count_faces("family") == 0
    # A change that fails after its intent gets a "failed" follow-up entry
    with pytest.raises(InvalidParameterException):
        store.update_collection(Collection("family", "arn", "edgeface-s", 1.0, policy={"retention_days": -1}))
    with audit_scope(Principal("alice"), "req-9", "DeleteUser"), pytest.raises(Exception, match="nope"):
        store.delete_user("nope", "u1")
    entries = list(sink_of(services).entries())
    assert [(e["phase"], e["change"], e["error"]) for e in entries[-2:]] == [
        ("intent", "delete_user", None),
        ("failed", "delete_user", "ResourceNotFoundException"),
    ]
    assert {e["principal"] for e in entries[-2:]} == {"alice"}
    assert {e["request_id"] for e in entries[-2:]} == {"req-9"}
    assert sink_of(services).verify().ok


def test_api_change_refused_when_the_trail_is_down_then_retried_once_only(services: Services) -> None:
    body = {"CollectionId": "family"}
    # Given an audit trail that cannot be written: 500, nothing created, retry runs afresh
    sink_of(services).fail_appends = True
    status, error = answer(handle_event(event("CreateCollection", body, "inv-1"), None, services))
    assert (status, error["__type"]) == (500, "InternalServerError")
    assert "nothing was changed" in error["Message"]
    assert services.store.list_collections() == []
    sink_of(services).fail_appends = False
    # When the write-ahead entry works but the request's own entry fails after the change
    sink_of(services).fail_records = 1
    status, _ = answer(handle_event(event("CreateCollection", body, "inv-1"), None, services))
    assert status == 500
    assert [c.collection_id for c in services.store.list_collections()] == ["family"]
    # Then the SDK's retry (same invocation id) gets the first attempt's result, not a conflict
    status, replayed = answer(handle_event(event("CreateCollection", body, "inv-1"), None, services))
    assert status == 200
    assert replayed["CollectionArn"].endswith(":collection/family")
    # And another call (new invocation id) is a new request
    status, conflict = answer(handle_event(event("CreateCollection", body, "inv-2"), None, services))
    assert (status, conflict["__type"]) == (400, "ResourceAlreadyExistsException")
    entries = list(sink_of(services).entries())
    intents = [e for e in entries if e.get("phase") == "intent" and e["change"] == "create_collection"]
    assert len(intents) == 2  # the first real attempt and the conflicting new call
    replays = [e for e in entries if (e.get("details") or {}).get("replay_of")]
    assert len(replays) == 1 and replays[0]["error"] is None


def test_reads_are_never_replayed() -> None:
    assert not changes_something("SearchFacesByImage")
    assert not changes_something("ListFaces")
    assert not changes_something("DetectFaces")
    assert not changes_something("ListCollections")
    for name in (
        "IndexFaces",
        "DeleteFaces",
        "CreateUser",
        "AssociateFaces",
        "TagResource",
        "DeleteCollection",
    ):
        assert changes_something(name)
    assert changes_something("SomeFutureOperation")  # unknown: assumed to change


def test_replay_cache_waits_for_a_live_attempt_and_takes_over_a_dead_one(tmp_path: Path) -> None:
    cache = ReplayCache(tmp_path / "replay.sqlite3", pending_wait_s=0.2)
    key = replay_key("alice", "inv", b"{}")
    assert key != replay_key("bob", "inv", b"{}") != replay_key("alice", "inv", b"{ }")
    assert cache.claim(key, "r1") is None
    # A second attempt while the first runs: waits, then is throttled (the SDK retries)
    with pytest.raises(ThrottlingException):
        cache.claim(key, "r2")
    cache.finish(key, 200, '{"ok":1}')
    reply = cache.claim(key, "r3")
    assert reply is not None and (reply.status, reply.body, reply.request_id) == (200, '{"ok":1}', "r1")
    # A claim left by a process that is gone is taken over
    other = replay_key("alice", "inv-2", b"{}")
    cache._db.execute(
        "INSERT INTO replies (key, state, owner, request_id, created) VALUES (?, 'pending', ?, 'dead', ?)",
        (other, "999999999:x", time.time()),
    )
    assert cache.claim(other, "r4") is None
    # Released claims (nothing changed) let the retry run again
    cache.release(other)
    assert cache.claim(other, "r5") is None
    assert oct(os.stat(tmp_path / "replay.sqlite3").st_mode & 0o777) == "0o600"
    cache.close()


def test_replay_cache_is_bounded(tmp_path: Path) -> None:
    cache = ReplayCache(tmp_path / "replay.sqlite3", max_rows=5, ttl_s=60)
    for i in range(12):
        key = replay_key("p", f"inv-{i}", b"")
        assert cache.claim(key, f"r{i}") is None
        cache.finish(key, 200, "{}")
    (count,) = cache._db.execute("SELECT COUNT(*) FROM replies").fetchone()
    assert count <= 5
    cache.close()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("retention_days", float("nan")),
        ("retention_days", float("inf")),
        ("retention_days", -1.0),
        ("retention_days", 0.0),
        ("retention_days", 1e9),
        ("retention_days", "30"),
        ("retention_days", True),
        ("min_match_threshold", float("nan")),
        ("min_match_threshold", 101.0),
        ("review_below", float("-inf")),
        ("threshold_mode", "maybe"),
        ("require_consent_tag", ""),
        ("no_such_key", 1),
    ],
)
def test_policy_values_are_checked(key: str, value: Any) -> None:
    with pytest.raises(PolicyError):
        check_value(key, value)


def test_stored_bad_values_are_reported_not_fatal() -> None:
    stored = {"retention_days": float("nan"), "min_match_threshold": 90.0}
    assert retention_cutoff(stored, 1000.0) is None
    assert len(problems(stored)) == 1
    # Re-configuring another key keeps the bad value as it is; replacing it is checked
    check_change(stored, {**stored, "review_below": 95.0})
    with pytest.raises(PolicyError):
        check_change(stored, {**stored, "retention_days": float("inf")})
    assert retention_cutoff({"retention_days": 1.0}, 86400.0 * 3) == 86400.0 * 2


def test_policy_changes_are_audited_with_old_and_new_values(tmp_path: Path) -> None:
    sink = FileAuditSink(tmp_path)
    store = AuditedStore(EmbeddedFaceStore(tmp_path / "store"), lambda: sink)
    store.create_collection(Collection("family", "arn", "edgeface-s", 1.0))
    store.update_collection(Collection("family", "arn", "edgeface-s", 1.0, policy={"retention_days": 30.0}))
    store.update_collection(
        Collection(
            "family", "arn", "edgeface-s", 1.0, tags={"consent": "yes"}, policy={"retention_days": 7.0}
        )
    )
    *_, first, second = sink.entries()
    assert (first["policy_old"], first["policy_new"]) == ({"retention_days": None}, {"retention_days": 30.0})
    assert (second["policy_old"], second["policy_new"]) == ({"retention_days": 30.0}, {"retention_days": 7.0})
    assert second["tag_keys"] == ["consent"]
    store.inner.close()
