"""S3 event notifications as they arrive in SQS messages."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from rekognito.ingest.keys import decode_event_key

ChangeKind = Literal["created", "removed"]


class MalformedMessage(ValueError):
    """The SQS message body is not an S3 event notification."""

    code = "MalformedMessage"


@dataclass(frozen=True)
class ObjectChange:
    """One S3 ``ObjectCreated:*`` or ``ObjectRemoved:*`` event, its key decoded."""

    kind: ChangeKind
    event_name: str
    bucket: str
    key: str
    version_id: str | None
    etag: str | None
    sequencer: str | None
    # Who put or deleted the object: the record's ``userIdentity.principalId`` (an IAM
    # principal id on AWS, the principal's name from the local S3 of ``rekognito serve``).
    principal_id: str | None = None

    @property
    def source(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def revision(self) -> str | None:
        """What identifies this content of the key: the version id, else the ETag."""
        return self.version_id or self.etag


def parse_message_body(body: str) -> list[ObjectChange]:
    """The object changes in one message; ``[]`` for ``s3:TestEvent`` and other event types."""
    try:
        document = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise MalformedMessage("message body is not JSON") from exc
    if not isinstance(document, dict):
        raise MalformedMessage("message body is not a JSON object")
    if document.get("Event") == "s3:TestEvent":
        return []
    records = document.get("Records")
    if not isinstance(records, list):
        raise MalformedMessage("message body has no Records")
    return [change for record in records if (change := _change(record)) is not None]


def _change(record: Any) -> ObjectChange | None:
    if not isinstance(record, dict):
        raise MalformedMessage("a record is not a JSON object")
    name = str(record.get("eventName", ""))
    if name.startswith("ObjectCreated:"):
        kind: ChangeKind = "created"
    elif name.startswith("ObjectRemoved:"):
        kind = "removed"
    else:
        return None
    try:
        s3 = record["s3"]
        bucket = str(s3["bucket"]["name"])
        obj = s3["object"]
        key = decode_event_key(str(obj["key"]))
    except (KeyError, TypeError, UnicodeDecodeError) as exc:
        raise MalformedMessage("record lacks s3.bucket.name or s3.object.key") from exc
    etag = obj.get("eTag")
    identity = record.get("userIdentity")
    principal_id = identity.get("principalId") if isinstance(identity, dict) else None
    return ObjectChange(
        kind=kind,
        event_name=name,
        bucket=bucket,
        key=key,
        version_id=obj.get("versionId") or None,
        etag=str(etag).strip('"') if etag else None,
        sequencer=obj.get("sequencer"),
        principal_id=str(principal_id) if principal_id else None,
    )
