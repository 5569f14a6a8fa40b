"""Write-ahead auditing: no change is made unless its audit entry is durable first.

Every change to faces, users, collections, collection policy and principals goes through
:func:`audited_change`:

1. an entry with ``"phase": "intent"`` is appended: who (the current :class:`AuditScope`),
   which change (``put_faces``, ``delete_faces``, ``update_collection``, ``create_principal``,
   ...), the collection and the ids about to be written (face ids are generated before the
   store write, so they are known);
2. only then is the change made. If the entry cannot be written the change is not attempted
   and the caller gets :class:`AuditUnavailableError` (``InternalServerError``, "nothing was
   changed");
3. if the change itself fails, an entry with ``"phase": "failed"`` and the error code
   follows (best effort: the intent is already durable).

So an intent with no ``failed`` entry after it is a change that was made, except when the
process died between the two steps; then the ids it names do not exist in the store.
An API request also gets its usual entry (with the results) once the operation returns.

The scope (who is changing what) is a context variable set by the protocol for each
request, by the retention purge and by CLI commands; changes made outside any scope are
still audited, with ``"principal": null``.
"""

from __future__ import annotations

import contextvars
import logging
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from rekognito.api._generated import InternalServerError
from rekognito.identity import Principal
from rekognito.security.audit.entries import iso_time

log = logging.getLogger("rekognito.security.audit")


class AppendOnly(Protocol):
    def append(self, fields: Mapping[str, Any]) -> Any: ...


class AuditUnavailableError(InternalServerError):
    """The audit trail cannot be written, so the change was not made."""

    def __init__(self, message: str = "The audit trail cannot be written; nothing was changed") -> None:
        super().__init__(message)


@dataclass
class AuditScope:
    """Who is making changes, as part of which request."""

    principal: Principal | None
    request_id: str
    operation: str
    # Set once an intent entry was written: a change may have been made in this scope.
    changed: bool = False
    changes: list[str] = field(default_factory=list)


_scope: contextvars.ContextVar[AuditScope | None] = contextvars.ContextVar(
    "rekognito_audit_scope", default=None
)


def current_scope() -> AuditScope | None:
    return _scope.get()


@contextmanager
def audit_scope(
    principal: Principal | None, request_id: str | None = None, operation: str = "-"
) -> Iterator[AuditScope]:
    """Attribute the changes made inside the block to ``principal`` and ``operation``."""
    scope = AuditScope(principal, request_id or str(uuid.uuid4()), operation)
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


def _fields(scope: AuditScope | None, change: str, collection: str | None, phase: str) -> dict[str, Any]:
    principal = scope.principal if scope else None
    fields: dict[str, Any] = {
        "time": iso_time(time.time()),
        "request_id": scope.request_id if scope else str(uuid.uuid4()),
        "principal": principal.name if principal else None,
        "operation": scope.operation if scope else change,
        "phase": phase,
        "change": change,
        "collection": collection,
        "error": None,
    }
    if principal is not None and principal.access_key_id:
        fields["access_key_id"] = principal.access_key_id
    return fields


@contextmanager
def audited_change(
    sink: AppendOnly, change: str, collection: str | None = None, **details: Any
) -> Iterator[None]:
    """Append the intent entry of ``change``, run the block, record its failure if it fails."""
    scope = current_scope()
    intent = {**_fields(scope, change, collection, "intent"), **details}
    try:
        sink.append(intent)
    except Exception as exc:
        log.error(
            "audit entry could not be written; change refused",
            extra={
                "change": change,
                "request_id": intent["request_id"],
                "error": f"{type(exc).__name__}: {exc}",
            },
        )
        raise AuditUnavailableError() from exc
    if scope is not None:
        scope.changed = True
        scope.changes.append(change)
    try:
        yield
    except BaseException as exc:
        failed = {**_fields(scope, change, collection, "failed"), "request_id": intent["request_id"]}
        failed["error"] = getattr(exc, "code", None) or type(exc).__name__
        try:
            sink.append(failed)
        except Exception:
            log.exception("audit follow-up entry could not be written", extra={"change": change})
        raise
