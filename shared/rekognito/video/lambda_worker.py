"""The video worker function of the SAM app: one SQS message, one piece of a job.

A message names a job and a piece (``plan``, ``segment`` N, ``finish``); the worker leases
that piece in the job store and does it (:meth:`VideoWorker.process`). A message whose
piece is already done, leased by another invocation, or whose job is gone is simply
acknowledged. An unexpected error reports the message as failed, so SQS delivers it again
after its visibility timeout; after ``maxReceiveCount`` deliveries it lands in the
dead-letter queue, whose messages (``REKOGNITO_VIDEO_DEAD_LETTER_QUEUE_ARN``) fail the job
with a message, so no job stays IN_PROGRESS forever.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from rekognito.logs import correlation
from rekognito.services import Services, get_services
from rekognito.video.worker import VideoWorker

log = logging.getLogger(__name__)


def _handle_record(worker: VideoWorker, dead_letters: str | None, record: SQSRecord) -> None:
    """One piece of a job; raises when it must be delivered again (the processor reports it)."""
    with correlation(record.message_id):
        try:
            message = json.loads(record.body)
            job_id, kind = str(message["JobId"]), str(message["Kind"])
            index = message.get("Segment")
            if dead_letters and record.event_source_arn == dead_letters:
                worker.give_up(job_id, kind)
            else:
                worker.process_message(job_id, kind, None if index is None else int(index))
        except Exception:
            log.exception("video message failed", extra={"message_id": record.message_id})
            raise


def handle_sqs_event(
    event: dict[str, Any], context: Any = None, services: Services | None = None
) -> PartialItemFailureResponse:
    services = services or get_services()
    worker = VideoWorker(services)
    dead_letters = services.settings.video_dead_letter_queue_arn
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(
        event=event,
        record_handler=lambda record: _handle_record(worker, dead_letters, record),
        processor=processor,
        context=context,
    )
