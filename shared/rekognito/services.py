"""The per-process service container.

Everything expensive (model sessions, store connections, S3 clients) is created lazily, once
per process, under a lock, and can be injected by tests through :func:`set_services` or by
passing objects to :class:`Services`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from rekognito.settings import Settings

if TYPE_CHECKING:
    from rekognito.inference.pipeline import FaceAnalyzer
    from rekognito.ports import FaceStore, ObjectReader

T = TypeVar("T")


class Services:
    def __init__(
        self,
        settings: Settings,
        *,
        store: FaceStore | None = None,
        face_analyzer: FaceAnalyzer | None = None,
        object_reader: ObjectReader | None = None,
    ) -> None:
        self.settings = settings
        self._lock = threading.RLock()
        self._components: dict[str, Any] = {}
        if store is not None:
            self._components["store"] = store
        if face_analyzer is not None:
            self._components["face_analyzer"] = face_analyzer
        if object_reader is not None:
            self._components["object_reader"] = object_reader

    def component(self, name: str, factory: Callable[[Settings], T]) -> T:
        """The component ``name``, created by ``factory(settings)`` on first use."""
        found = self._components.get(name)
        if found is not None:
            return found  # type: ignore[no-any-return]
        with self._lock:
            found = self._components.get(name)
            if found is None:
                found = factory(self.settings)
                self._components[name] = found
            return found  # type: ignore[no-any-return]

    def provide(self, name: str, value: object) -> None:
        with self._lock:
            self._components[name] = value

    @property
    def store(self) -> FaceStore:
        """The store, with every change audited before it is made (``security/audit/store.py``)."""
        return self.component("audited_store", self._audited_store)

    def _audited_store(self, settings: Settings) -> FaceStore:
        from rekognito.adapters.factory import create_store
        from rekognito.security.audit.store import AuditedStore

        return AuditedStore(self.component("store", create_store), lambda: self.audit)

    @property
    def face_analyzer(self) -> FaceAnalyzer:
        from rekognito.inference.pipeline import FaceAnalyzer

        return self.component("face_analyzer", FaceAnalyzer.from_settings)

    @property
    def object_reader(self) -> ObjectReader:
        from rekognito.adapters.s3 import S3ObjectReader

        return self.component("object_reader", S3ObjectReader.from_settings)

    @property
    def security(self) -> Any:
        """Authenticator + authorizer (see ``rekognito.security.hooks``)."""
        from rekognito.security.factory import create_security

        return self.component("security", create_security)

    @property
    def audit(self) -> Any:
        """The audit sink (see ``rekognito.security.hooks.AuditSink``)."""
        from rekognito.security.factory import create_audit

        return self.component("audit", create_audit)

    @property
    def limiter(self) -> Any:
        from rekognito.api.protocol import InflightLimiter

        return self.component("limiter", lambda s: InflightLimiter(s.max_inflight_requests))

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
