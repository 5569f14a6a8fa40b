"""User mutations: one at a time per collection (not per process), and per ClientRequestToken."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from rekognito.api._generated import IdempotentParameterMismatchException
from rekognito.domain import Collection
from rekognito.operations import _idempotency
from rekognito.operations._idempotency import KeyedLocks, run_once
from rekognito.request import RequestContext
from rekognito.services import Services
from rekognito.settings import Settings

WAIT_S = 10.0


def _collection(collection_id: str) -> Collection:
    return Collection(collection_id, f"arn:aws:rekognition:us-east-1:0:collection/{collection_id}", "m", 1.0)


@pytest.fixture
def services(tmp_path: Path) -> Any:
    services = Services(Settings(data_dir=tmp_path, audit_enabled=False))
    yield services
    services.close()


def _ctx(services: Services) -> RequestContext:
    return RequestContext(services, "r", "CreateUser")


def _blocked_in(
    services: Services, collection: Collection, params: dict[str, Any], name: str = "CreateUser"
) -> tuple[threading.Thread, threading.Event, threading.Event]:
    """A thread inside a mutation of ``collection`` until ``release`` is set; ``left`` is set
    once it leaves (released, or given up after WAIT_S)."""
    entered, release, left = threading.Event(), threading.Event(), threading.Event()

    def run() -> dict[str, Any]:
        entered.set()
        try:
            release.wait(WAIT_S)
        finally:
            left.set()
        return {}

    thread = threading.Thread(target=run_once, args=(_ctx(services), name, collection, params, run))
    thread.start()
    assert entered.wait(WAIT_S)
    return thread, left, release


def test_mutations_of_other_collections_do_not_wait(services: Services) -> None:
    thread, left, release = _blocked_in(services, _collection("family"), {"UserId": "a"})
    try:
        # Runs on this thread, while the other collection's mutation is still inside (under one
        # process-wide lock it would wait until that one gives up, and fail below).
        result = run_once(
            _ctx(services), "CreateUser", _collection("friends"), {"UserId": "b"}, lambda: {"ok": 1}
        )
        assert result == {"ok": 1}
        assert not left.is_set()
    finally:
        release.set()
        thread.join(WAIT_S)


def test_mutations_of_one_collection_run_one_at_a_time(services: Services) -> None:
    thread, _, release = _blocked_in(services, _collection("family"), {"UserId": "a"})
    second_ran = threading.Event()

    def second() -> dict[str, Any]:
        second_ran.set()
        return {}

    other = threading.Thread(
        target=run_once, args=(_ctx(services), "DeleteUser", _collection("family"), {"UserId": "b"}, second)
    )
    other.start()
    assert not second_ran.wait(0.5), "a second mutation of the collection ran while the first held it"
    release.set()
    thread.join(WAIT_S)
    other.join(WAIT_S)
    assert second_ran.is_set()


def test_one_token_against_two_collections_runs_once_and_is_refused_the_second_time(
    services: Services,
) -> None:
    services.store.create_collection(_collection("family"))
    services.store.create_collection(_collection("friends"))
    token = {"ClientRequestToken": "t-1"}
    thread, _, release = _blocked_in(
        services, _collection("family"), {"CollectionId": "family", "UserId": "a", **token}
    )
    runs: list[str] = []
    errors: list[Exception] = []

    def second() -> dict[str, Any]:
        runs.append("friends")
        return {}

    def call() -> None:
        try:
            run_once(
                _ctx(services),
                "CreateUser",
                _collection("friends"),
                {"CollectionId": "friends", "UserId": "a", **token},
                second,
            )
        except IdempotentParameterMismatchException as exc:
            errors.append(exc)

    other = threading.Thread(target=call)
    other.start()
    other.join(0.5)
    assert other.is_alive(), "the token's second use did not wait for its first"
    release.set()
    thread.join(WAIT_S)
    other.join(WAIT_S)
    assert runs == [], "the second use of the token ran its change"
    assert len(errors) == 1


def test_locks_are_dropped_when_released() -> None:
    locks = KeyedLocks()
    with locks.hold("a"), locks.hold("b"):
        assert len(locks) == 2
    assert len(locks) == 0
    assert len(_idempotency._collection_locks) == 0
    assert len(_idempotency._token_locks) == 0
