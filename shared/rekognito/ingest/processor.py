"""The SQS batch handler of the drop folder: S3 notifications -> IndexFaces / face removal.

Each message is handled on its own by Powertools' ``BatchProcessor``
(``process_partial_response``): the ids of the messages that failed are returned as
``batchItemFailures``, so SQS redelivers only those (and moves them to the dead-letter queue
after ``maxReceiveCount`` receives). Events are reconciled against the key's *current*
state rather than ordered by ``sequencer``: a create whose object is gone or was overwritten
since, or a removal of a key that exists again, is stale and skipped (the newer event does
the work).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from rekognito.api._generated import (
    ImageTooLargeException,
    InvalidImageFormatException,
    InvalidParameterException,
    ResourceNotFoundException,
)
from rekognito.identity import Principal
from rekognito.images import INDEXING_MIN_SIDE, MAX_S3_IMAGE_BYTES, decode_image
from rekognito.ingest.events import MalformedMessage, ObjectChange, parse_message_body
from rekognito.ingest.indexing import index_revision, record_face_changes, remove_source, revision_namespace
from rekognito.ingest.keys import KeyOutsideConvention, is_folder_marker, parse_drop_key
from rekognito.logs import correlation
from rekognito.metrics import BatchMetrics, MetricsSink
from rekognito.redact import key_digest, without_key
from rekognito.security.audit import audit_scope
from rekognito.services import Services, get_services

log = logging.getLogger("rekognito.ingest")


class ForeignBucket(ValueError):
    """The event names a bucket that is not the configured drop bucket (``REKOGNITO_INGEST_BUCKET``)."""

    code = "ForeignBucket"


# Retrying cannot fix these: after maxReceiveCount receives the message lands in the DLQ.
PERMANENT_ERRORS: tuple[type[Exception], ...] = (
    ForeignBucket,
    KeyOutsideConvention,
    MalformedMessage,
    InvalidImageFormatException,
    ImageTooLargeException,
    ResourceNotFoundException,
    InvalidParameterException,
)


@dataclass(frozen=True)
class ChangeResult:
    action: str  # indexed | already-indexed | removed | stale | ignored
    faces_indexed: int = 0
    faces_removed: int = 0
    collection_id: str | None = None
    indexed_face_ids: tuple[str, ...] = ()
    removed_face_ids: tuple[str, ...] = ()


def reason_of(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code:
        return code
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error_code = response.get("Error", {}).get("Code")
        if error_code:
            return f"S3.{error_code}"
    return type(exc).__name__


class Ingestor:
    """Handles SQS batches; ``metrics_sink`` says where the EMF documents go (by default the
    container's: stdout on Lambda, the debug log under ``rekognito serve``)."""

    def __init__(self, services: Services, metrics_sink: MetricsSink | None = None) -> None:
        self.services = services
        self.metrics_sink = metrics_sink or services.metrics_sink
        self.bucket = services.drop_bucket

    def handle_batch(self, event: dict[str, Any], context: Any = None) -> PartialItemFailureResponse:
        # One processor and one metrics set per batch: batches may run on several threads.
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        metrics = BatchMetrics(self.services.settings.metrics_namespace, self.metrics_sink)
        try:
            return process_partial_response(
                event=event,
                record_handler=lambda record: self.handle_record(record, metrics),
                processor=processor,
                context=context,
            )
        finally:
            metrics.flush()

    def handle_record(self, record: SQSRecord, metrics: BatchMetrics) -> None:
        """Process one SQS message; raises when it must be retried (the processor reports it)."""
        message_id = record.message_id
        attempt = int((record.get("attributes") or {}).get("ApproximateReceiveCount") or 1)
        change: ObjectChange | None = None
        with correlation(message_id):
            try:
                changes = parse_message_body(record.body)
                if not changes:
                    log.info("ignored message without object events", extra={"message_id": message_id})
                for change in changes:
                    self._handle_change(message_id, change, metrics)
            except Exception as exc:  # every failure is reported, then retried or dead-lettered
                permanent = isinstance(exc, PERMANENT_ERRORS)
                reason = reason_of(exc)
                metrics.failure(reason, permanent=permanent)
                log.log(
                    logging.ERROR if permanent else logging.WARNING,
                    "ingest failed",
                    exc_info=not permanent,
                    extra={
                        "message_id": message_id,
                        "attempt": attempt,
                        "reason": reason,
                        "permanent": permanent,
                        "detail": without_key(str(exc), change.key) if change else str(exc),
                        "event_name": change.event_name if change else None,
                        "bucket": change.bucket if change else None,
                        "key_sha256": key_digest(change.key) if change else None,
                    },
                )
                raise

    def _handle_change(self, message_id: str, change: ObjectChange, metrics: BatchMetrics) -> None:
        started = time.perf_counter()
        if change.bucket != self.services.settings.ingest_bucket:
            # A hand-made or misrouted message must not make us read another bucket.
            raise ForeignBucket(f"events of bucket {change.bucket!r} are not ingested")
        operation = "IngestIndexFaces" if change.kind == "created" else "IngestDeleteFaces"
        # The store's write-ahead entries name the uploader (or deleter) as the API's name the caller.
        with audit_scope(Principal(name=self._principal(change)), message_id, operation):
            if is_folder_marker(change.key):
                result = ChangeResult("ignored")
            elif change.kind == "created":
                result = self._created(change)
            else:
                result = self._removed(change)
            self._audit(message_id, change, result)
        metrics.add(f"Objects{result.action.title().replace('-', '')}")
        if result.faces_indexed:
            metrics.add("FacesIndexed", result.faces_indexed)
        if result.faces_removed:
            metrics.add("FacesRemoved", result.faces_removed)
        log.info(
            "object event handled",
            extra={
                "message_id": message_id,
                "event_name": change.event_name,
                "bucket": change.bucket,
                "key_sha256": key_digest(change.key),
                "principal": change.principal_id,
                "version_id": change.version_id,
                "etag": change.etag,
                "action": result.action,
                "faces_indexed": result.faces_indexed,
                "faces_removed": result.faces_removed,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )

    @staticmethod
    def _principal(change: ObjectChange) -> str:
        """The uploader (or deleter) named by the event; "ingest:" + the bucket when the event
        does not say (a notification without userIdentity)."""
        return change.principal_id or f"ingest:s3://{change.bucket}"

    def _audit(self, message_id: str, change: ObjectChange, result: ChangeResult) -> None:
        """Drop-folder changes touch faces as IndexFaces/DeleteFaces do: they are audited."""
        if result.collection_id is None:
            return
        record_face_changes(
            self.services,
            operation="IngestIndexFaces" if change.kind == "created" else "IngestDeleteFaces",
            principal=self._principal(change),
            request_id=message_id,
            collection_id=result.collection_id,
            indexed=result.indexed_face_ids,
            removed=result.removed_face_ids,
            image={"S3Object": {"Bucket": change.bucket, "Name": change.key}},
        )

    def _created(self, change: ObjectChange) -> ChangeResult:
        drop = parse_drop_key(change.key)
        current = self.bucket.current(change.bucket, change.key, MAX_S3_IMAGE_BYTES)
        if current is None:
            return ChangeResult("stale")
        if change.version_id and current.version_id and change.version_id != current.version_id:
            return ChangeResult("stale")
        if not change.version_id and change.etag and change.etag != current.etag:
            return ChangeResult("stale")
        revision = current.version_id or current.etag
        max_pixels = self.services.settings.max_image_pixels
        result = index_revision(
            self.services,
            drop.collection_id,
            source=change.source,
            namespace=revision_namespace(f"{change.bucket}/{change.key}#{revision}"),
            external_image_id=drop.external_image_id,
            load=lambda: decode_image(
                current.data, max_pixels=max_pixels, max_bytes=MAX_S3_IMAGE_BYTES, min_side=INDEXING_MIN_SIDE
            ),
        )
        action = "already-indexed" if result.already_indexed else "indexed"
        return ChangeResult(
            action,
            result.faces_indexed,
            result.faces_removed,
            drop.collection_id,
            result.indexed_face_ids,
            result.removed_face_ids,
        )

    def _removed(self, change: ObjectChange) -> ChangeResult:
        try:
            drop = parse_drop_key(change.key)
        except KeyOutsideConvention:
            return ChangeResult("ignored")  # nothing can have been indexed from it
        if self.bucket.exists(change.bucket, change.key):
            return ChangeResult("stale")  # put again since: that put's event owns the faces
        try:
            removed = remove_source(self.services, drop.collection_id, change.source)
        except ResourceNotFoundException:
            return ChangeResult("ignored")  # the collection, and its faces, are gone
        return ChangeResult(
            "removed",
            faces_removed=len(removed),
            collection_id=drop.collection_id,
            removed_face_ids=tuple(removed),
        )


def handle_sqs_event(
    event: dict[str, Any], context: Any = None, services: Services | None = None
) -> PartialItemFailureResponse:
    """The ingest function's entry: an SQS batch of S3 notifications -> ``batchItemFailures``."""
    return Ingestor(services or get_services()).handle_batch(event, context)
