"""The per-process service container: the composition root.

It decides what implements each port of ``rekognito.ports`` (the store the settings name,
the models, S3, the security components, the video job store...) and builds each one
lazily, once per process, under a lock. Only the entry points import it: the Lambda
functions (``functions/``, through ``rekognito.tracing``), ``rekognito.commands``,
``rekognito.testing``, the local serving of ``rekognito serve`` and the protocol handlers;
everything below them sees a :class:`rekognito.ports.Runtime`.

Tests and the serve command inject components by passing them to :class:`Services` or by
assigning them (``services.video_source = S3VideoSource(s3)``); subclasses change how
models and adapters are built through :meth:`Services._component` (``rekognito.tracing``
wraps them in X-Ray subsegments, ``rekognito.testing`` shares loaded models).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, Literal, TypeVar, cast, overload

from rekognito.settings import Settings

if TYPE_CHECKING:
    from rekognito.api.limiter import InflightLimiter
    from rekognito.api.replay import ReplayCache
    from rekognito.ingest.s3 import DropBucket
    from rekognito.metrics import MetricsSink
    from rekognito.ports import (
        AuditSink,
        FaceModel,
        FaceStore,
        LabelModel,
        ModerationModel,
        Notifier,
        ObjectReader,
        Security,
        TextModel,
        VideoJobStore,
        VideoSource,
        WorkQueue,
    )

T = TypeVar("T")

# What a component is, for the subclasses that treat some specially: a ``model`` (built by
# rekognito.inference from the settings alone), an ``adapter`` (talks to a store or to S3)
# or any other ``service``.
Kind = Literal["model", "adapter", "service"]


class Component(Generic[T]):
    """A typed slot of the container: built by ``build`` on first read, or assigned.

    ``key`` names it inside the container (and in X-Ray subsegments, ``## <key>.<method>``);
    by default, the attribute's name.
    """

    def __init__(
        self, kind: Kind, build: Callable[[Services], Callable[[Settings], T]], key: str | None = None
    ) -> None:
        self.kind = kind
        self._build = build
        self.name = key or ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = self.name or name

    @overload
    def __get__(self, services: None, owner: type) -> Component[T]: ...
    @overload
    def __get__(self, services: Services, owner: type) -> T: ...
    def __get__(self, services: Services | None, owner: type) -> Component[T] | T:
        if services is None:
            return self
        return services._component(self.name, self.kind, self._build(services))

    def __set__(self, services: Services, value: T) -> None:
        services._provide(self.name, value)


def model(from_settings: Callable[[Settings], T], key: str | None = None) -> Component[T]:
    return Component("model", lambda _services: from_settings, key)


def adapter(from_settings: Callable[[Settings], T], key: str | None = None) -> Component[T]:
    return Component("adapter", lambda _services: from_settings, key)


def service(build: Callable[[Services], T], key: str | None = None) -> Component[T]:
    return Component("service", lambda services: lambda _settings: build(services), key)


# -- how each component is built (imports are lazy: a cold start loads only what it uses) --


def _face_store(settings: Settings) -> FaceStore:
    from rekognito.adapters.factory import create_store

    return create_store(settings)


def _audited_store(services: Services) -> FaceStore:
    from rekognito.security.audit.store import AuditedStore

    return AuditedStore(services.face_store, lambda: services.audit)


def _object_reader(settings: Settings) -> ObjectReader:
    from rekognito.adapters.s3 import S3ObjectReader

    return S3ObjectReader.from_settings(settings)


def _face_analyzer(settings: Settings) -> FaceModel:
    from rekognito.inference.pipeline import FaceAnalyzer

    return FaceAnalyzer.from_settings(settings)


def _label_detector(settings: Settings) -> LabelModel:
    from rekognito.inference.labels import LabelDetector

    return LabelDetector.from_settings(settings)


def _text_reader(settings: Settings) -> TextModel:
    from rekognito.inference.text import TextReader

    return TextReader.from_settings(settings)


def _moderation_classifier(settings: Settings) -> ModerationModel:
    from rekognito.inference.moderation import NsfwClassifier

    return NsfwClassifier.from_settings(settings)


def _security(services: Services) -> Security:
    from rekognito.security.factory import create_security

    return create_security(services.settings)


def _audit(services: Services) -> AuditSink:
    from rekognito.security.factory import create_audit

    return create_audit(services.settings)


def _limiter(services: Services) -> InflightLimiter:
    from rekognito.api.limiter import InflightLimiter

    return InflightLimiter(services.settings.max_inflight_requests)


def _replay_cache(services: Services) -> ReplayCache:
    from rekognito.api.replay import ReplayCache

    return ReplayCache.from_settings(services.settings)


def _drop_bucket(services: Services) -> DropBucket:
    from rekognito.aws_clients import s3_client
    from rekognito.ingest.s3 import DropBucket

    return DropBucket(s3_client(services.settings))


def _metrics_sink(services: Services) -> MetricsSink:
    from rekognito.metrics import to_stdout

    return to_stdout


def _video_jobs(services: Services) -> VideoJobStore:
    """SQLite under the data dir, or DynamoDB + S3 when ``REKOGNITO_VIDEO_JOBS_TABLE`` is set."""
    settings = services.settings
    if settings.video_jobs_table:
        from rekognito.video.dynamo_jobs import DynamoJobStore

        return DynamoJobStore.from_settings(settings)
    from rekognito.video.sqlite_jobs import JobStore

    return JobStore(
        settings.data_dir,
        max_attempts=settings.video_max_attempts,
        retention_s=settings.video_retention_days * 86400.0,
    )


def _video_queue(services: Services) -> WorkQueue:
    from rekognito.video.queue import PollingQueue, SqsWorkQueue

    settings = services.settings
    if not settings.video_queue_url:
        return PollingQueue()
    import boto3

    return SqsWorkQueue(boto3.client("sqs", region_name=settings.region), settings.video_queue_url)


def _video_source(services: Services) -> VideoSource:
    from rekognito.video.source import S3VideoSource

    return S3VideoSource.from_settings(services.settings)


def _video_notifier(services: Services) -> Notifier:
    from rekognito.video.notify import SnsNotifier

    return SnsNotifier.from_settings(services.settings)


class Services:
    """Every component of the process, each built on first use (see the module's docstring)."""

    # Storage: the store as the settings configure it (traced as ``store``), and the same
    # store with every change audited before it is made (``security/audit/store.py``), which
    # is what everyone uses.
    face_store: Component[FaceStore] = adapter(_face_store, key="store")
    store: Component[FaceStore] = service(_audited_store, key="audited_store")
    object_reader: Component[ObjectReader] = adapter(_object_reader)
    # Models.
    face_analyzer: Component[FaceModel] = model(_face_analyzer)
    label_detector: Component[LabelModel] = model(_label_detector)
    text_reader: Component[TextModel] = model(_text_reader)
    moderation_classifier: Component[ModerationModel] = model(_moderation_classifier, key="nsfw_classifier")
    # Who may do what, and the record of it.
    security: Component[Security] = service(_security)
    audit: Component[AuditSink] = service(_audit)
    # The API's own: concurrency bound and the replay cache of SDK retries.
    limiter: Component[InflightLimiter] = service(_limiter)
    replay_cache: Component[ReplayCache] = service(_replay_cache)
    # The drop folder's reads and where its EMF metrics go (stdout, for CloudWatch).
    drop_bucket: Component[DropBucket] = service(_drop_bucket)
    metrics_sink: Component[MetricsSink] = service(_metrics_sink)
    # Stored video.
    video_jobs: Component[VideoJobStore] = service(_video_jobs)
    video_queue: Component[WorkQueue] = service(_video_queue)
    video_source: Component[VideoSource] = service(_video_source)
    video_notifier: Component[Notifier] = service(_video_notifier)

    def __init__(
        self,
        settings: Settings,
        *,
        store: FaceStore | None = None,
        face_analyzer: FaceModel | None = None,
        object_reader: ObjectReader | None = None,
    ) -> None:
        self.settings = settings
        self._lock = threading.RLock()
        self._components: dict[str, object] = {}
        if store is not None:
            self.face_store = store
        if face_analyzer is not None:
            self.face_analyzer = face_analyzer
        if object_reader is not None:
            self.object_reader = object_reader

    def _component(self, name: str, kind: Kind, factory: Callable[[Settings], T]) -> T:
        """The component ``name``, created by ``factory(settings)`` on first use."""
        found = self._components.get(name)
        if found is None:
            with self._lock:
                found = self._components.get(name)
                if found is None:
                    found = self._components[name] = factory(self.settings)
        return cast(T, found)

    def _provide(self, name: str, value: object) -> None:
        with self._lock:
            self._components[name] = value

    def close(self) -> None:
        with self._lock:
            for value in self._components.values():
                close = getattr(value, "close", None)
                if callable(close):
                    close()
            self._components.clear()


_services: Services | None = None
_services_lock = threading.Lock()


def get_services() -> Services:
    """The process-wide container, built from the environment on first use."""
    global _services  # noqa: PLW0603
    if _services is None:
        with _services_lock:
            if _services is None:
                _services = Services(Settings.from_env())
    return _services


def set_services(services: Services | None) -> None:
    """Install (or with None, drop) the process-wide container; for the CLI and tests."""
    global _services  # noqa: PLW0603
    with _services_lock:
        _services = services
