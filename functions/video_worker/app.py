"""SQS (pieces of stored-video jobs) -> the video worker. All logic lives in the rekognito package."""

from typing import Any

from rekognito.video.lambda_worker import handle_sqs_event


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle_sqs_event(event, context)
