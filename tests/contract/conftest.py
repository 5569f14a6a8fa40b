"""Backends for the FaceStore contract: the embedded store and OpenSearch on a real node.

The OpenSearch node is started once per test session (``tests/support/opensearch_node.py``)
unless ``REKOGNITO_TEST_OPENSEARCH_URL`` names a running one. If it cannot be fetched or
started, the OpenSearch tests fail; ``REKOGNITO_SKIP_OPENSEARCH=1`` skips them instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from rekognito.ports import FaceStore

BACKENDS = ("embedded", "embedded-hnsw", pytest.param("opensearch", marks=pytest.mark.opensearch))


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FaceStore]:
    if request.param.startswith("embedded"):
        from rekognito.adapters.embedded_store import EmbeddedFaceStore

        embedded = EmbeddedFaceStore(
            tmp_path / "store", index="hnsw" if request.param == "embedded-hnsw" else "exact"
        )
        yield embedded
        embedded.close()
        return
    from opensearchpy import OpenSearch

    from rekognito.adapters.opensearch import OpenSearchFaceStore

    url: str = request.getfixturevalue("opensearch_url")
    prefix = f"contract-{uuid.uuid4().hex[:8]}"
    client = OpenSearch(hosts=[url], timeout=30)
    # The production defaults (lucene, innerproduct), on a single node: no replicas.
    opensearch = OpenSearchFaceStore(client, index_prefix=prefix, number_of_replicas=0)
    yield opensearch
    client.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
    opensearch.close()
