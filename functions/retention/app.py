"""Scheduled retention purge: deletes faces past their collection's retention_days.

Powertools at the edge: JSON logs with the Lambda context (the EventBridge event id as
correlation id), a ``FacesPurged`` EMF metric, X-Ray subsegments around the store.
"""

from typing import Any

from aws_lambda_powertools import Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from rekognito.logs import SERVICE, service_logger
from rekognito.security.retention import purge_expired
from rekognito.settings import Settings
from rekognito.tracing import PATCHED_MODULES, edge_services

logger = service_logger()
tracer = Tracer(service=SERVICE, patch_modules=PATCHED_MODULES)
metrics = Metrics(namespace=Settings.from_env().metrics_namespace, service=SERVICE)


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.EVENT_BRIDGE, log_event=False, clear_state=True
)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    purged = {collection: len(ids) for collection, ids in purge_expired(edge_services(tracer)).items()}
    metrics.add_metric(name="FacesPurged", unit=MetricUnit.Count, value=sum(purged.values()))
    return purged
