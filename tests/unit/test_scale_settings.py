"""The scale settings: OpenSearch engine, k, rescoring and replicas; embedded index; ingest workers."""

from __future__ import annotations

import os

import pytest

from rekognito.settings import Settings, SettingsError


def test_defaults() -> None:
    settings = Settings.from_env({})

    assert settings.opensearch_engine == "lucene"
    assert settings.opensearch_ef_search == 768
    assert settings.opensearch_ef_construction == 128
    assert settings.opensearch_rescore is False
    assert settings.opensearch_replicas is None
    assert settings.embedded_index == "exact"
    assert settings.ingest_workers == len(os.sched_getaffinity(0))


def test_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "REKOGNITO_OPENSEARCH_ENGINE": "faiss",
            "REKOGNITO_OPENSEARCH_EF_SEARCH": "512",
            "REKOGNITO_OPENSEARCH_EF_CONSTRUCTION": "64",
            "REKOGNITO_OPENSEARCH_RESCORE": "true",
            "REKOGNITO_OPENSEARCH_REPLICAS": "0",
            "REKOGNITO_EMBEDDED_INDEX": "hnsw",
            "REKOGNITO_INGEST_WORKERS": "3",
        }
    )

    assert (settings.opensearch_engine, settings.opensearch_ef_search, settings.opensearch_rescore) == (
        "faiss",
        512,
        True,
    )
    assert settings.opensearch_ef_construction == 64
    assert settings.opensearch_replicas == 0
    assert settings.embedded_index == "hnsw"
    assert settings.ingest_workers == 3


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REKOGNITO_OPENSEARCH_REPLICAS", "-1"),
        ("REKOGNITO_EMBEDDED_INDEX", "ivf"),
        ("REKOGNITO_INGEST_WORKERS", "0"),
        ("REKOGNITO_OPENSEARCH_EF_CONSTRUCTION", "1"),
    ],
)
def test_bad_values_are_refused(name: str, value: str) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env({name: value})
