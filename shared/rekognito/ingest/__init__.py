"""Drop-folder ingestion: photos put into ``s3://<bucket>/<CollectionId>/...`` are indexed.

See ``docs/ingestion.md``. :func:`rekognito.ingest.processor.handle_sqs_event` is the ingest
Lambda's entry and is also what the local poller of ``rekognito serve`` calls. This package
module imports nothing, so that the event parsing (``events``, ``keys``) can be used without
loading the handler and the service container.
"""
