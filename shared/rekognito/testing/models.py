"""The model cache of ``rekognito.testing``: loaded models shared between local Rekognitions."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from rekognito.services import Kind, Services
from rekognito.settings import Settings

if TYPE_CHECKING:
    from rekognito.inference.pipeline import FaceAnalyzer

T = TypeVar("T")


class SharedModels:
    """The loaded models, shared by every ``local_rekognition(analyzer=...)`` block given it.

    Each block still gets fresh state (its own data directory, store and settings); only
    components built by ``rekognito.inference`` (the face analyzer, and the label, text and
    moderation models) come from here. Each loads on first use, once, built from
    ``settings`` (default ``Settings()``), except that ``face_analyzer`` (a FaceAnalyzer or
    a callable returning one) supplies the face models. Calling the object returns the
    FaceAnalyzer.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        face_analyzer: FaceAnalyzer | Callable[[], FaceAnalyzer] | None = None,
    ) -> None:
        self._settings = settings or Settings()
        self._lock = threading.RLock()
        self._models: dict[str, Any] = {}
        self._face_analyzer = face_analyzer

    @property
    def loaded(self) -> tuple[str, ...]:
        """The names of the models loaded so far."""
        return tuple(self._models)

    def component(self, name: str, factory: Callable[[Settings], T]) -> T:
        found = self._models.get(name)
        if found is None:
            with self._lock:
                found = self._models.get(name)
                if found is None:
                    found = self._models[name] = self._build(name, factory)
        return found  # type: ignore[no-any-return]

    def _build(self, name: str, factory: Callable[[Settings], Any]) -> Any:
        given = self._face_analyzer
        if name == "face_analyzer" and given is not None:
            return given() if callable(given) else given
        return factory(self._settings)

    def __call__(self) -> FaceAnalyzer:
        from rekognito.inference.pipeline import FaceAnalyzer

        return self.component("face_analyzer", FaceAnalyzer.from_settings)


class _LocalServices(Services):
    """Services whose models come from a :class:`SharedModels` and are never closed with them."""

    def __init__(self, settings: Settings, *, models: SharedModels, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self._models = models

    def _component(self, name: str, kind: Kind, factory: Callable[[Settings], T]) -> T:
        if kind == "model":
            return self._models.component(name, factory)
        return super()._component(name, kind, factory)
