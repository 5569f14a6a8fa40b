"""``ClientRequestToken``: a mutation runs once per token, and a retry gets the first response.

CreateUser, DeleteUser, AssociateFaces and DisassociateFaces honour the token (which the AWS
SDKs fill in themselves when the caller does not) for :data:`REQUEST_TOKEN_TTL_SECONDS`: a
retry with the same token and parameters returns the first response and changes nothing;
the same token with other parameters, or against a collection deleted and re-created since,
is refused with ``IdempotentParameterMismatchException``. The store keeps the tokens
(``FaceStore.get_request_token`` / ``put_request_token``), keyed by operation and token.

Within a process, the mutations of one collection run one at a time (a lock per
collection), and so do the requests carrying one token (a lock per operation and token,
taken first, so a token reused against two collections cannot run twice). Across processes
the window between recalling a token and storing it is not locked: two simultaneous first
deliveries of one token may both run, which for CreateUser ends in one ``ConflictException``.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any

from rekognito.api._generated import IdempotentParameterMismatchException
from rekognito.domain import Collection
from rekognito.request import RequestContext

REQUEST_TOKEN_TTL_SECONDS = 8 * 3600

Result = dict[str, Any]


class _Entry:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0  # threads holding or waiting for the lock


class KeyedLocks:
    """One lock per key, created on first use and dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[Hashable, _Entry] = {}

    @contextmanager
    def hold(self, key: Hashable) -> Iterator[None]:
        with self._guard:
            entry = self._locks.get(key)
            if entry is None:
                entry = self._locks[key] = _Entry()
            entry.users += 1
        try:
            with entry.lock:
                yield
        finally:
            with self._guard:
                entry.users -= 1
                if entry.users == 0:
                    del self._locks[key]

    def __len__(self) -> int:
        """How many keys are held or waited for now."""
        with self._guard:
            return len(self._locks)


_collection_locks = KeyedLocks()
_token_locks = KeyedLocks()


def fingerprint(collection: Collection, params: dict[str, Any]) -> str:
    """What makes two requests "the same": every parameter but the token, and the collection's
    incarnation (a collection deleted and re-created is another collection)."""
    material = {
        "params": {key: value for key, value in params.items() if key != "ClientRequestToken"},
        "collection": [collection.arn, collection.created_at],
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def run_once(
    ctx: RequestContext,
    name: str,
    collection: Collection,
    params: dict[str, Any],
    run: Callable[[], Result],
) -> Result:
    """Run the mutation ``name`` of ``collection`` once per ``ClientRequestToken``; a retry gets
    the first response (and ``ctx.audit["idempotent_replay"]``)."""
    token = params.get("ClientRequestToken")
    if token is None:
        with _collection_locks.hold(collection.collection_id):
            return run()
    store = ctx.services.store
    with _token_locks.hold((name, token)), _collection_locks.hold(collection.collection_id):
        digest = fingerprint(collection, params)
        now = time.time()
        stored = store.get_request_token(name, token, now)
        if stored is None:
            result = run()
            stored = store.put_request_token(
                name, token, digest, json.dumps(result), now + REQUEST_TOKEN_TTL_SECONDS, time.time()
            )
            if stored is None:
                return result
        if stored[0] != digest:
            raise IdempotentParameterMismatchException(
                f"ClientRequestToken {token} was already used for a {name} request with other parameters"
            )
        ctx.audit["idempotent_replay"] = True
        replay: Result = json.loads(stored[1])
        return replay
