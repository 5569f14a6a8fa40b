"""The audit trail: one hash-chained entry per request, and one before every change.

* :mod:`.entries`: what an entry records (never image bytes, embeddings or S3 keys in clear);
* :mod:`.chain`: hashes, the authenticated head, checkpoints, verification;
* :mod:`.keys`: the audit key (head HMAC, S3 object pseudonyms);
* :mod:`.sinks`: the file and DynamoDB sinks;
* :mod:`.write_ahead` and :mod:`.store`: no change without a durable entry first.

This module keeps the names the rest of the code imports, and who runs a CLI command.
"""

from __future__ import annotations

import getpass

from rekognito.identity import Principal
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
