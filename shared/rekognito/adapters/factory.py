"""Builds the configured face store."""

from __future__ import annotations

from rekognito.ports import FaceStore
from rekognito.settings import Settings, SettingsError


def create_store(settings: Settings) -> FaceStore:
    if settings.store_backend == "opensearch":
        if not settings.opensearch_url:
            raise SettingsError("REKOGNITO_STORE_BACKEND=opensearch needs REKOGNITO_OPENSEARCH_URL")
        from rekognito.adapters.opensearch_store import OpenSearchFaceStore

        return OpenSearchFaceStore.from_settings(settings)
    from rekognito.adapters.embedded_store import EmbeddedFaceStore

    return EmbeddedFaceStore(settings.data_dir, index=settings.embedded_index)
