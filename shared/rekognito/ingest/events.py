"""S3 event notifications as they arrive in SQS messages, read with Powertools' data classes.

Beware of ``S3Event``'s two key accessors: ``S3Event.object_key`` URL-decodes (the first
record only, replacing undecodable bytes), ``record.s3.get_object.key`` returns the key as
sent (``family/Ren%C3%A9e+Dupont.jpg``). Every record's raw key is decoded here, strictly,
by :func:`rekognito.ingest.keys.decode_event_key`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventRecord

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
    event = S3Event(document)
    if event.get("Event") == "s3:TestEvent":
        return []
    if not isinstance(event.get("Records"), list):
        raise MalformedMessage("message body has no Records")
    if not all(isinstance(record, dict) for record in event["Records"]):
        raise MalformedMessage("a record is not a JSON object")
    return [change for record in event.records if (change := _change(record)) is not None]


def _change(record: S3EventRecord) -> ObjectChange | None:
    name = str(record.get("eventName", ""))
    if name.startswith("ObjectCreated:"):
        kind: ChangeKind = "created"
    elif name.startswith("ObjectRemoved:"):
        kind = "removed"
    else:
        return None
    try:
        bucket = str(record.s3.bucket.name)
        obj = record.s3.get_object
        key = decode_event_key(str(obj.key))
        etag, version_id, sequencer = obj.etag, obj.version_id, obj.get("sequencer")
    except (KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise MalformedMessage("record lacks s3.bucket.name or s3.object.key") from exc
    identity = record.get("userIdentity")
    principal_id = record.user_identity.get("principalId") if isinstance(identity, dict) else None
    return ObjectChange(
        kind=kind,
        event_name=name,
        bucket=bucket,
        key=key,
        version_id=str(version_id) if version_id else None,
        etag=str(etag).strip('"') if etag else None,
        sequencer=str(sequencer) if sequencer else None,
        principal_id=str(principal_id) if principal_id else None,
    )
