"""Engine scores map back to the exact cosine, per space type, on the real node.

The store derives the cosine from the engine's ``_score`` (``ScoreMap``) instead of rescoring
returned vectors; this checks that mapping against numpy for both space types lucene offers,
including an index created with ``cosinesimil`` (as earlier versions of the store did).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from opensearchpy import OpenSearch

from rekognito.adapters.opensearch import OpenSearchFaceStore
from rekognito.domain import BoundingBox, Collection, StoredFace

pytestmark = pytest.mark.opensearch


@pytest.fixture
def client(opensearch_url: str) -> Iterator[OpenSearch]:
    client = OpenSearch(hosts=[opensearch_url], timeout=30)
    yield client
    client.close()


@pytest.mark.parametrize("space_type", ["innerproduct", "cosinesimil"])
def test_cosines_from_engine_scores_equal_numpy(client: OpenSearch, space_type: str) -> None:
    prefix = f"scores-{uuid.uuid4().hex[:8]}"
    store = OpenSearchFaceStore(client, index_prefix=prefix, space_type=space_type, number_of_replicas=0)  # type: ignore[arg-type]
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((300, 512)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    box = BoundingBox(1, 1, 0, 0)
    try:
        store.create_collection(Collection("c", "arn", "m", 1.0))
        store.put_faces(
            "c", [StoredFace(f"f{i:03d}", "c", "img", box, 99.0, v, 1.0) for i, v in enumerate(vectors)]
        )
        for raw in (vectors[5], 0.6 * vectors[7] + 0.8 * vectors[9], -vectors[11]):
            query = (raw / np.linalg.norm(raw)).astype(np.float32)

            matches = store.search("c", query, limit=10, min_cosine=-1.0)

            assert len(matches) == 10
            for match in matches:
                exact = float(
                    vectors[int(match.face.face_id[1:])].astype(np.float64) @ query.astype(np.float64)
                )
                assert match.cosine == pytest.approx(exact, abs=2e-6)
            floor = sorted(m.cosine for m in matches)[5]
            above = store.search("c", query, limit=10, min_cosine=floor)
            assert [m.face.face_id for m in above] == [m.face.face_id for m in matches if m.cosine >= floor]
    finally:
        client.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
