"""SQS (S3 notifications of the ingest bucket) -> face indexing. All logic lives in the rekognito layer."""

from typing import Any

from rekognito.ingest import handle_sqs_event


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle_sqs_event(event, context)
