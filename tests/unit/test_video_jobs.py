"""The video job store (leases, attempts, idempotency, retention) and the pieces around it."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rekognito.api._generated import AccessDeniedException, InvalidPaginationTokenException
from rekognito.identity import Principal
from rekognito.operations._video import (
    aggregate_segments,
    authorize_read,
    decode_token,
    encode_token,
    paginate,
)
from rekognito.request import RequestContext
from rekognito.security.authz import GrantAuthorizer
from rekognito.security.principals import Grant
from rekognito.services import Services
from rekognito.settings import Settings
from rekognito.video.jobs import FAILED, RUNNING, SUCCEEDED, JobExists
from rekognito.video.sqlite_jobs import JobStore
from rekognito.video.tracking import FaceTracker, Observation, link_tracks
from rekognito.video.worker import segment_bounds


def _create(store: JobStore, job_id: str, now: float = 0.0, **kw: Any) -> Any:
    args: dict[str, Any] = {
        "job_id": job_id,
        "api": "FACE_SEARCH",
        "owner": "alice",
        "collection_id": "family",
        "params": {"Video": {"S3Object": {"Bucket": "b", "Name": "v.mp4"}}, "_interval_ms": 500},
        "fingerprint": "f",
        "client_token": None,
        "max_in_flight": 20,
        "now": now,
    }
    args.update(kw)
    return store.create(**args)


def test_store_file_is_private(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700


def test_client_token_names_one_job_per_owner_and_api(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    _create(store, "a", client_token="t")
    with pytest.raises(JobExists) as exists:
        _create(store, "b", client_token="t", fingerprint="other")
    assert exists.value.job.job_id == "a" and exists.value.job.fingerprint == "f"
    assert _create(store, "c", client_token="t", owner="bob").job_id == "c"
    assert _create(store, "d", client_token="t", api="LABEL_DETECTION").job_id == "d"


def test_jobs_in_flight_are_limited(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    assert _create(store, "a", max_in_flight=2) is not None
    assert _create(store, "b", max_in_flight=2) is not None
    assert _create(store, "c", max_in_flight=2) is None
    store.fail("a", "stop", now=1.0)
    assert _create(store, "c", max_in_flight=2) is not None


def test_expired_lease_is_taken_over_and_finished_segments_stay_done(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    _create(store, "job")
    plan = store.claim("w1", now=0.0, lease_s=10)
    assert plan is not None and plan.kind == "plan"
    assert store.claim("w2", now=5.0, lease_s=10) is None  # leased
    assert store.planned(plan, "w1", {"DurationMillis": 3}, [(0, 1), (1, 2), (2, 3)], now=6.0)
    seg0 = store.claim("w1", now=6.0, lease_s=10)
    seg1 = store.claim("w1", now=6.0, lease_s=10)
    assert seg0 and seg1 and seg0.segment and seg1.segment
    assert store.segment_done(seg0, "w1", ["zero"])
    # w1 dies holding segment 1; its lease runs out at 16.
    assert store.claim("w2", now=7.0, lease_s=10).segment.index == 2  # type: ignore[union-attr]
    taken = store.claim("w2", now=17.0, lease_s=10)
    assert taken is not None and taken.segment is not None and taken.segment.index == 1
    assert taken.segment.attempts == 2
    assert not store.renew(seg1, "w1", until=30.0), "the dead worker's lease must be gone"
    assert not store.segment_done(seg1, "w1", ["late"])
    assert store.segment_done(taken, "w2", ["one"])
    assert store.get("job").state == RUNNING  # type: ignore[union-attr]


def test_a_piece_that_keeps_dying_fails_the_job_with_a_message(tmp_path: Path) -> None:
    store = JobStore(tmp_path, max_attempts=2)
    _create(store, "job")
    for attempt in range(2):
        work = store.claim("w", now=attempt * 100.0, lease_s=10)
        assert work is not None and work.kind == "plan"
    assert store.claim("w", now=500.0, lease_s=10) is None
    job = store.get("job")
    assert job is not None and job.state == FAILED and job.job_status == "FAILED"
    assert "stopped 2 times" in str(job.status_message)
    assert [j.job_id for j in store.unnotified()] == ["job"]
    store.mark_notified("job")
    assert store.unnotified() == []


def test_results_expire_and_go_with_their_collection(tmp_path: Path) -> None:
    store = JobStore(tmp_path, retention_s=100)
    _create(store, "search")
    plan = store.claim("w", now=0.0, lease_s=10)
    assert plan is not None
    store.planned(plan, "w", {}, [(0, 10)], now=1.0)
    seg = store.claim("w", now=1.0, lease_s=10)
    assert seg is not None and seg.job.job_id == "search"
    store.segment_done(seg, "w", {"e": [0.1]})
    _create(store, "labels", now=1.5, api="LABEL_DETECTION", collection_id=None)
    finish = store.claim("w", now=2.0, lease_s=10)
    assert finish is not None and finish.kind == "plan"  # the other job's planning comes first
    finish = store.claim("w", now=2.0, lease_s=10)
    assert finish is not None and finish.kind == "finish"
    assert store.succeed(finish, "w", {"items": [1, 2]}, now=3.0)
    assert store.get("search").state == SUCCEEDED  # type: ignore[union-attr]
    assert store.result("search") == {"items": [1, 2]}
    assert store.segment_results("search") == [], "per-segment results (embeddings) must be dropped"
    assert store.purge_expired(now=50.0) == []
    assert store.purge_expired(now=103.0) == ["search"]
    _create(store, "search2")
    assert store.delete_for_collection("family", "FACE_SEARCH") == ["search2"]
    assert store.get("labels") is not None


def test_segment_bounds_cover_the_video() -> None:
    assert segment_bounds(0, 1000) == [(0, 2**62)]
    assert segment_bounds(2500, 1000) == [(0, 1000), (1000, 2000), (2000, 2**62)]


def _vec(seed: int) -> Any:
    v = np.random.default_rng(seed).normal(size=64).astype(np.float32)
    return v / np.linalg.norm(v)


def test_tracker_follows_overlapping_boxes_and_links_a_returning_face() -> None:
    alice, bob = _vec(1), _vec(2)
    tracker = FaceTracker(500)
    box = (0.1, 0.1, 0.3, 0.4)
    moved = (0.12, 0.1, 0.32, 0.4)
    assert tracker.update([Observation(0, box, alice), Observation(0, (0.6, 0.1, 0.8, 0.4), bob)]) == [0, 1]
    assert tracker.update([Observation(500, (0.6, 0.1, 0.8, 0.4), bob), Observation(500, moved, alice)]) == [
        1,
        0,
    ]
    # Alice leaves; a new face elsewhere much later is her by embedding.
    assert tracker.update([Observation(5000, (0.5, 0.5, 0.7, 0.8), alice)]) == [0]
    # Someone else in Alice's old place is not Alice.
    assert tracker.update([Observation(5500, moved, _vec(3))]) == [2]
    persons = link_tracks(tracker.tracks, 500)
    assert len(persons) == 3


def test_link_never_merges_faces_seen_at_the_same_time() -> None:
    alice = _vec(1)
    first, second = FaceTracker(500), FaceTracker(500)
    first.update([Observation(0, (0.1, 0.1, 0.2, 0.2), alice)])
    second.update([Observation(0, (0.5, 0.5, 0.6, 0.6), alice)])
    third = FaceTracker(500)
    third.update([Observation(1000, (0.1, 0.1, 0.2, 0.2), alice)])
    persons = link_tracks(first.tracks + second.tracks + third.tracks, 500)
    assert len(persons) == 2


def test_page_tokens_are_bound_to_the_job_and_the_order() -> None:
    items = [{"Timestamp": i} for i in range(5)]
    page, token = paginate(items, {"MaxResults": 2}, "job", "TIMESTAMP/")
    assert page == items[:2] and token is not None
    page, token = paginate(items, {"MaxResults": 2, "NextToken": token}, "job", "TIMESTAMP/")
    assert page == items[2:4]
    with pytest.raises(InvalidPaginationTokenException):
        decode_token(encode_token("job", 2, "TIMESTAMP/"), "job", "INDEX/")
    with pytest.raises(InvalidPaginationTokenException):
        decode_token(encode_token("other", 2, "TIMESTAMP/"), "job", "TIMESTAMP/")


def test_segments_join_samples_one_interval_apart() -> None:
    def label(t: int, conf: float) -> dict[str, Any]:
        return {"Timestamp": t, "Label": {"Name": "Person", "Confidence": conf, "Instances": [1]}}

    items = [label(0, 60), label(500, 90), label(1000, 70), label(3000, 80)]
    segments = aggregate_segments(items, "Label", lambda i: i["Label"]["Name"], 500)
    assert [(s["StartTimestampMillis"], s["EndTimestampMillis"], s["DurationMillis"]) for s in segments] == [
        (0, 1500, 1500),
        (3000, 3500, 500),
    ]
    assert segments[0]["Label"] == {"Name": "Person", "Confidence": 90}


class _Security:
    def __init__(self, grants: dict[str, tuple[Grant, ...]]) -> None:
        self.authorizer = GrantAuthorizer(lambda p: grants.get(p.name, ()))

    def authorize(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        self.authorizer.authorize(ctx, params)


def test_only_the_owner_or_an_admin_reads_a_job_and_search_needs_the_collection(tmp_path: Path) -> None:
    services = Services(Settings(data_dir=tmp_path))
    services.security = _Security(
        {
            "alice": (Grant("search", "family"),),
            "bob": (Grant("search", "*"),),
            "root": (Grant("*", "*"),),
            "carol": (Grant("detect", "*"),),
        }
    )
    store = JobStore(tmp_path)
    job = _create(store, "job")

    def ctx(name: str) -> RequestContext:
        return RequestContext(services, "r", "GetFaceSearch", Principal(name))

    authorize_read(ctx("alice"), job)
    authorize_read(ctx("root"), job)
    with pytest.raises(AccessDeniedException):
        authorize_read(ctx("bob"), job)  # may search, but it is not his job
    detection = _create(store, "det", api="FACE_DETECTION", collection_id=None, owner="carol")
    authorize_read(RequestContext(services, "r", "GetFaceDetection", Principal("carol")), detection)
    # Alice's grant on the collection is withdrawn: her own search job is closed to her.
    services.security = _Security({"alice": (Grant("detect", "*"),)})
    with pytest.raises(AccessDeniedException):
        authorize_read(ctx("alice"), job)


def test_collection_configure_sets_the_video_search_policy() -> None:
    from rekognito.cli import build_parser
    from rekognito.commands.collection import policy_changes

    args = build_parser().parse_args(["collection", "configure", "family", "--video-search", "deny"])
    assert policy_changes(args) == {"video_search": "deny"}
    args = build_parser().parse_args(["collection", "configure", "family", "--min-threshold", "90"])
    assert "video_search" not in policy_changes(args)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["collection", "configure", "family", "--video-search", "maybe"])


def test_video_search_is_a_checked_policy_key() -> None:
    from rekognito.policy import PolicyError, check_value

    assert check_value("video_search", "deny") == "deny"
    with pytest.raises(PolicyError):
        check_value("video_search", "maybe")
