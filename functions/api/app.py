"""API Gateway -> Rekognition-compatible API. All logic lives in the rekognito layer."""

from typing import Any

from rekognito.api.protocol import handle_event


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle_event(event, context)
