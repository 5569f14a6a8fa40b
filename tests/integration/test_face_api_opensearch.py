"""Issue 4: the core API acceptance tests again, with the OpenSearch backend selected.

The same test functions as tests/integration/test_face_api.py and test_bad_input.py run
against services whose store is ``OpenSearchFaceStore`` on the real node of
``tests/support/opensearch_node.py``, with the default engine and space type (lucene,
innerproduct: the node from Maven Central has no faiss native libraries, see
docs/benchmarks.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from rekognito.inference.pipeline import FaceAnalyzer
from rekognito.services import Services
from rekognito.settings import Settings
from tests.integration.test_bad_input import seeded, test_each_bad_input_gets_its_code_and_changes_nothing
from tests.integration.test_face_api import (
    test_detect_faces_reports_geometry_and_quality,
    test_index_faces_max_faces_and_quality_reasons,
    test_index_group_photo_then_find_one_person_from_another_photo,
    test_list_faces_paginates_and_filters,
    test_search_faces_by_face_id_and_compare,
)

pytestmark = pytest.mark.opensearch

__all__ = [
    "seeded",
    "test_detect_faces_reports_geometry_and_quality",
    "test_each_bad_input_gets_its_code_and_changes_nothing",
    "test_index_faces_max_faces_and_quality_reasons",
    "test_index_group_photo_then_find_one_person_from_another_photo",
    "test_list_faces_paginates_and_filters",
    "test_search_faces_by_face_id_and_compare",
]


@pytest.fixture
def services(tmp_path: Path, face_analyzer: FaceAnalyzer, opensearch_url: str) -> Iterator[Services]:
    prefix = f"api-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        data_dir=tmp_path / "data",
        auth_mode="none",
        store_backend="opensearch",
        opensearch_url=opensearch_url,
        opensearch_index_prefix=prefix,
    )
    svc = Services(settings, face_analyzer=face_analyzer)
    assert svc.store.backend_name == "opensearch"
    yield svc
    from opensearchpy import OpenSearch

    OpenSearch(hosts=[opensearch_url], timeout=30).indices.delete(
        index=f"{prefix}-*", ignore_unavailable=True
    )
    svc.close()
