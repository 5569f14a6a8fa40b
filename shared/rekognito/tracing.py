"""X-Ray subsegments around inference and the store, for the Lambda handlers (Powertools Tracer).

Where active tracing is on (``Tracing: Active`` in the template, and Powertools' Tracer
enabled: inside Lambda, ``POWERTOOLS_TRACE_DISABLED`` unset), :func:`edge_services` gives
the handlers a container whose models (``rekognito.inference``) and adapters (the store,
the S3 reader) record every public method call as a subsegment ``## <component>.<method>``.
Arguments and results are never recorded (they hold images and embeddings); an exception
is, by the X-Ray SDK. Where tracing is off nothing is wrapped: the container is the plain
one and the X-Ray SDK is never touched.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from rekognito.services import Kind, Services, get_services, set_services
from rekognito.settings import Settings

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

T = TypeVar("T")

# The components traced: the models (rekognito.inference) and the adapters (store, S3 reader).
TRACED_KINDS = ("model", "adapter")
# What the X-Ray SDK patches (Powertools would patch every library it knows, sqlite3
# included): AWS calls (S3, DynamoDB) and OpenSearch's HTTP requests.
PATCHED_MODULES = ("botocore", "requests")

_lock = threading.Lock()
_installed: Services | None = None


class Traced:
    """``target`` with each public method call inside a subsegment ``## <name>.<method>``."""

    def __init__(self, target: object, name: str, tracer: Tracer) -> None:
        self._target = target
        self._name = name
        self._tracer = tracer

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(self._target, attribute)
        if attribute.startswith("_") or not callable(value):
            return value
        provider = self._tracer.provider
        segment_name = f"## {self._name}.{attribute}"

        @functools.wraps(value)
        def traced(*args: Any, **kwargs: Any) -> Any:
            with provider.in_subsegment(name=segment_name):
                return value(*args, **kwargs)

        return traced


class TracedServices(Services):
    """A container whose models and adapters are :class:`Traced`."""

    def __init__(self, settings: Settings, tracer: Tracer) -> None:
        super().__init__(settings)
        self._tracer = tracer

    def _component(self, name: str, kind: Kind, factory: Callable[[Settings], T]) -> T:
        if kind not in TRACED_KINDS:
            return super()._component(name, kind, factory)

        def traced(settings: Settings) -> T:
            return cast(T, Traced(factory(settings), name, self._tracer))

        return super()._component(name, kind, traced)


def edge_services(tracer: Tracer) -> Services:
    """The process's container for a Lambda handler: traced when ``tracer`` is enabled."""
    global _installed  # noqa: PLW0603
    if tracer.disabled:
        return get_services()
    with _lock:
        if _installed is None:
            _installed = TracedServices(Settings.from_env(), tracer)
            set_services(_installed)
        return _installed
