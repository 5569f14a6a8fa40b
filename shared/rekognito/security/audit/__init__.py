"""The audit trail: one hash-chained entry per request, and one before every change.

* :mod:`.entries`: what an entry records (never image bytes, embeddings or S3 keys in clear);
* :mod:`.chain`: hashes, the authenticated head, checkpoints, verification;
* :mod:`.keys`: the audit key (head HMAC, S3 object pseudonyms);
* :mod:`.sinks`: the file and DynamoDB sinks;
* :mod:`.write_ahead` and :mod:`.store`: no change without a durable entry first.

This module keeps the names the rest of the code imports and the helpers that record
changes made outside an API request.
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rekognito.operations.context import Principal, RequestContext
from rekognito.security.audit.chain import (
    GENESIS,
    Checkpoint,
    Head,
    Verification,
    canonical,
    chain,
    entry_hash,
    verify_lines,
)
from rekognito.security.audit.entries import describe_request, iso_time, mentions, parse_since, select
from rekognito.security.audit.keys import AuditKey
from rekognito.security.audit.sinks import AuditConflictError, DynamoDBAuditSink, FileAuditSink
from rekognito.security.audit.write_ahead import (
    AuditScope,
    AuditUnavailableError,
    audit_scope,
    audited_change,
    current_scope,
)

if TYPE_CHECKING:
    from rekognito.services import Services

__all__ = [
    "GENESIS",
    "AuditConflictError",
    "AuditKey",
    "AuditScope",
    "AuditUnavailableError",
    "Checkpoint",
    "DynamoDBAuditSink",
    "FileAuditSink",
    "Head",
    "Verification",
    "audit_scope",
    "audited_change",
    "canonical",
    "chain",
    "cli_principal",
    "current_scope",
    "describe_request",
    "entry_hash",
    "iso_time",
    "mentions",
    "parse_since",
    "record_face_changes",
    "select",
    "verify_lines",
]


def cli_principal() -> Principal:
    """Who runs a CLI command: ``cli:<user>``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Principal(name=f"cli:{user}")


def record_face_changes(
    services: Services,
    *,
    operation: str,
    principal: str,
    request_id: str,
    collection_id: str,
    indexed: Sequence[str] = (),
    removed: Sequence[str] = (),
    image: Mapping[str, Any] | None = None,
) -> None:
    """Audit faces added or removed outside an API request (drop folder, bulk import).

    The store writes were already preceded by their write-ahead entries; this entry says
    who made them and from which image (an S3 object is named by its keyed pseudonym).
    """
    if not indexed and not removed:
        return
    ctx = RequestContext(
        services=services, request_id=request_id, operation=operation, principal=Principal(name=principal)
    )
    params: dict[str, Any] = {"CollectionId": collection_id}
    if image is not None:
        params["Image"] = dict(image)
    outcome = {
        "FaceRecords": [{"Face": {"FaceId": face_id}} for face_id in indexed],
        "DeletedFaces": list(removed),
    }
    services.audit.record(ctx, params, outcome, None)
