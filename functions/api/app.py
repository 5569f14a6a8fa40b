"""API Gateway -> Rekognition-compatible API. All logic lives in the rekognito layer.

Powertools at the edge: JSON logs with the Lambda context and the API Gateway request id as
correlation id (the event is never logged: it holds image bytes), and X-Ray subsegments
around the store and the models where active tracing is on.
"""

from typing import Any

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from rekognito.api.protocol import handle_event
from rekognito.logs import SERVICE, service_logger
from rekognito.tracing import PATCHED_MODULES, edge_services

logger = service_logger()
tracer = Tracer(service=SERVICE, patch_modules=PATCHED_MODULES)


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False, clear_state=True
)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_event(event, context, edge_services(tracer))
