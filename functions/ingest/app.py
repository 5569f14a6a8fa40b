"""SQS (S3 notifications of the ingest bucket) -> face indexing. All logic lives in the rekognito layer.

Powertools at the edge: JSON logs with the Lambda context (each message's lines carry its
SQS message id as correlation id), the batch handled by ``BatchProcessor`` (partial batch
failures), EMF metrics, X-Ray subsegments around the store and the models where active
tracing is on.
"""

from typing import Any

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from rekognito.ingest.processor import handle_sqs_event
from rekognito.logs import SERVICE, service_logger
from rekognito.tracing import PATCHED_MODULES, edge_services

logger = service_logger()
tracer = Tracer(service=SERVICE, patch_modules=PATCHED_MODULES)


@logger.inject_lambda_context(log_event=False, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return handle_sqs_event(event, context, edge_services(tracer))
