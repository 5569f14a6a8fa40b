"""Structured logs: JSON lines written by Powertools' Logger, on Lambda and locally alike.

The code logs through standard loggers named ``rekognito.<module>`` (``log.info("msg",
extra={...})``); they are children of the Powertools Logger of service ``rekognito``
(:func:`service_logger`), so their records go through its JSON formatter and carry its
keys: ``level``, ``location``, ``message``, ``timestamp``, ``service``, ``name`` (the
logger's), the ``extra`` keys, ``correlation_id`` where one is set, and on Lambda the
function context (``function_name``, ``function_request_id``, ``cold_start``,
``xray_trace_id``). Records carry keys, never image
bytes or embeddings; handlers never log the event.

On Lambda the handlers (``functions/*/app.py``) decorate themselves with the Logger and it
writes to stdout. ``rekognito serve`` and the CLI call :func:`configure_logging`, which sends
the same lines to stderr, other libraries' records included.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities import jmespath_utils

SERVICE = "rekognito"
CORRELATION_KEY = "correlation_id"

_lock = threading.Lock()
_logger: Logger | None = None


def service_logger() -> Logger:
    """The Powertools Logger of the service, created on first use (stdout, level from
    ``POWERTOOLS_LOG_LEVEL``, RFC 3339 timestamps in UTC)."""
    global _logger  # noqa: PLW0603
    with _lock:
        if _logger is None:
            _logger = Logger(service=SERVICE, utc=True, use_rfc3339=True, name="%(name)s")
            # Its handler writes every rekognito.* record; the root's handlers must not
            # write them a second time.
            logging.getLogger(SERVICE).propagate = False
        return _logger


def configure_logging(level: str = "INFO", stream: IO[str] | None = None) -> Logger:
    """Local mode: the service's JSON lines, and every other library's, on ``stream`` (stderr)."""
    logger = service_logger()
    # A new handler with the Logger's formatter (which holds its keys), rather than a new
    # stream for the old one: the old stream may be closed already (a test's capture).
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logger.registered_handler.formatter)
    service = logging.getLogger(SERVICE)
    service.handlers[:] = [handler]  # Powertools finds its handler there
    service.propagate = False  # the root's handler is the same one
    logger.setLevel(level)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    return logger


@contextmanager
def correlation(correlation_id: str | None) -> Iterator[None]:
    """The lines this thread logs meanwhile carry ``correlation_id`` (when logs are configured).

    Thread-local, as the local endpoint serves requests on a pool of threads; on Lambda the
    handler's ``inject_lambda_context(correlation_id_path=...)`` sets the same id for the
    whole invocation.
    """
    logger = _logger
    if logger is None or not correlation_id:
        yield
        return
    logger.thread_safe_append_keys(**{CORRELATION_KEY: correlation_id})
    try:
        yield
    finally:
        logger.thread_safe_remove_keys([CORRELATION_KEY])


def correlation_of(event: Mapping[str, Any], path: str) -> str | None:
    """The correlation id at the JMESPath ``path`` of ``event`` (Powertools' ``correlation_paths``)."""
    found = jmespath_utils.query(envelope=path, data=dict(event))
    return str(found) if found else None
