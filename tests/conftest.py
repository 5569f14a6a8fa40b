"""Fixtures shared by all test suites."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rekognito.inference.pipeline import FaceAnalyzer
from rekognito.services import Services
from rekognito.settings import Settings
from tests.support.endpoint import rekognition_client, running_endpoint
from tests.support.opensearch_node import URL_ENV, NodeError, RunningNode, start_node
from tests.support.test_data import image_path


@pytest.fixture(scope="session")
def face_analyzer() -> FaceAnalyzer:
    """The real models, loaded once per test session."""
    return FaceAnalyzer.from_settings(Settings())


@pytest.fixture
def services(tmp_path: Path, face_analyzer: FaceAnalyzer) -> Iterator[Services]:
    svc = Services(Settings(data_dir=tmp_path / "data", auth_mode="none"), face_analyzer=face_analyzer)
    yield svc
    svc.close()


@pytest.fixture
def endpoint(services: Services) -> Iterator[Any]:
    with running_endpoint(services) as running:
        yield running


@pytest.fixture
def client(endpoint: Any) -> Any:
    return rekognition_client(endpoint.url)


@pytest.fixture(scope="session")
def photo() -> Any:
    """``photo('obama.jpg')`` -> the bytes of a real test photo (see tests/data/SOURCES.md)."""

    def read(name: str) -> bytes:
        return image_path(name).read_bytes()

    return read


@pytest.fixture(scope="session")
def opensearch_url() -> Iterator[str]:
    """A real OpenSearch node with the k-NN plugin, started once per test session."""
    if os.environ.get("REKOGNITO_SKIP_OPENSEARCH") == "1":
        pytest.skip("REKOGNITO_SKIP_OPENSEARCH=1")
    existing = os.environ.get(URL_ENV)
    if existing:
        yield existing
        return
    node: RunningNode | None = None
    try:
        node = start_node()
    except (NodeError, OSError) as exc:
        pytest.fail(f"could not start the OpenSearch node (set REKOGNITO_SKIP_OPENSEARCH=1 to skip): {exc}")
    try:
        yield node.url
    finally:
        node.stop()
