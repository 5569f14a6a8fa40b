"""Drop-folder ingestion: photos put into ``s3://<bucket>/<CollectionId>/...`` are indexed.

See ``docs/ingestion.md``. :func:`handle_sqs_event` is the ingest Lambda's entry and is also
what the local poller of ``rekognito serve`` calls.
"""

from rekognito.ingest.processor import handle_sqs_event

__all__ = ["handle_sqs_event"]
