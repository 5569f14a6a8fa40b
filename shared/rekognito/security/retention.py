"""Retention: faces older than their collection's ``retention_days`` are deleted for good.

``rekognito collection configure <id> --retention-days N`` sets the policy. Both stores
stop returning a face the moment it is past retention (every read filters on it, see
``rekognito.policy.retention_cutoff``); the purge then deletes it. The purge runs from
``rekognito retention run``, from the scheduled Lambda (``functions/retention``) and, under
``rekognito serve``, from a background thread once an hour. Each collection purged is one
``RetentionPurge`` entry in the audit trail, listing the deleted face ids (after the
write-ahead entries of its deletions). A stored retention value that is not valid (from an
older version or a hand-edited store) is logged as an error on every run, not ignored.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

from rekognito.api._generated import ResourceNotFoundException
from rekognito.identity import Principal
from rekognito.policy import DAY_SECONDS, problems
from rekognito.policy import retention_days as policy_retention_days
from rekognito.ports import Runtime
from rekognito.request import RequestContext
from rekognito.security.audit.write_ahead import audit_scope

log = logging.getLogger(__name__)


PURGE_INTERVAL_SECONDS = 3600
DELETE_BATCH = 500
RETENTION_PRINCIPAL = Principal(name="system:retention")


def retention_days(policy: dict[str, Any]) -> float | None:
    """The retention in days, or None (no retention, or a stored value that is not valid)."""
    return policy_retention_days(policy)


def purge_expired(services: Runtime, now: float | None = None) -> dict[str, list[str]]:
    """Delete the faces past their collection's retention; ``{collection id: deleted face ids}``."""
    now = time.time() if now is None else now
    store = services.store
    purged: dict[str, list[str]] = {}
    for collection in store.list_collections():
        days = retention_days(collection.policy)
        if days is None:
            if "retention_days" in collection.policy:
                log.error(
                    "retention not applied: the stored value is not valid",
                    extra={
                        "collection_id": collection.collection_id,
                        "problems": "; ".join(
                            problems({"retention_days": collection.policy["retention_days"]})
                        ),
                        "fix": "rekognito collection configure ID --retention-days N",
                    },
                )
            continue
        cutoff = now - days * DAY_SECONDS
        ctx = RequestContext(
            services=services,
            request_id=str(uuid.uuid4()),
            operation="RetentionPurge",
            principal=RETENTION_PRINCIPAL,
            audit={"retention_days": days, "cutoff": cutoff},
        )
        params = {"CollectionId": collection.collection_id}
        try:
            expired = store.find_faces_created_before(collection.collection_id, cutoff)
            deleted: list[str] = []
            with audit_scope(RETENTION_PRINCIPAL, ctx.request_id, "RetentionPurge"):
                for start in range(0, len(expired), DELETE_BATCH):
                    deleted.extend(
                        store.delete_faces(collection.collection_id, expired[start : start + DELETE_BATCH])
                    )
        except ResourceNotFoundException:
            continue
        except Exception:
            log.exception("retention purge failed", extra={"collection_id": collection.collection_id})
            services.audit.record(ctx, params, None, "InternalServerError")
            continue
        if deleted:
            services.audit.record(ctx, params, {"DeletedFaces": deleted}, None)
            log.info(
                "retention purge",
                extra={
                    "collection_id": collection.collection_id,
                    "deleted": len(deleted),
                    "retention_days": days,
                },
            )
        purged[collection.collection_id] = deleted
    return purged


class RetentionThread:
    """Runs :func:`purge_expired` now and then every ``interval`` seconds until stopped."""

    def __init__(self, services: Runtime, interval: float = PURGE_INTERVAL_SECONDS) -> None:
        self._services = services
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rekognito-retention", daemon=True)

    def start(self) -> RetentionThread:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                purge_expired(self._services)
            except Exception:
                log.exception("retention run failed")
            self._stop.wait(self._interval)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)


def start_retention_thread(services: Runtime, interval: float = PURGE_INTERVAL_SECONDS) -> RetentionThread:
    return RetentionThread(services, interval).start()
