"""The requests OpenSearchFaceStore sends, checked through a fake transport connection.

The real client (opensearch-py) serialises the requests; only the HTTP connection is fake.
Behaviour against a real node is covered by ``tests/contract``.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from opensearchpy import OpenSearch
from opensearchpy.connection import Connection
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError

from rekognito.adapters.opensearch import Engine, OpenSearchFaceStore, transport
from rekognito.adapters.opensearch.mapping import ScoreMap
from rekognito.api._generated import InternalServerError, ResourceNotFoundException, ThrottlingException
from rekognito.domain import BoundingBox, Collection, StoredFace
from rekognito.settings import Settings


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, Any]
    body: Any


Handler = Callable[[Request], tuple[int, Any]]


@dataclass
class Recorder:
    requests: list[Request] = field(default_factory=list)
    handlers: list[tuple[str, str, Handler]] = field(default_factory=list)

    def on(self, method: str, path_contains: str, handler: Handler) -> None:
        self.handlers.insert(0, (method, path_contains, handler))

    def answer(self, request: Request) -> tuple[int, Any]:
        for method, fragment, handler in self.handlers:
            if request.method == method and fragment in request.path:
                return handler(request)
        return 200, {"acknowledged": True}


RECORDER = Recorder()


class FakeConnection(Connection):
    def perform_request(
        self,
        method: str,
        url: str,
        params: Any = None,
        body: Any = None,
        timeout: Any = None,
        ignore: Any = (),
        headers: Any = None,
    ) -> Any:
        if isinstance(body, bytes):
            body = body.decode()
        parsed: Any = None
        if body:
            lines = [line for line in body.split("\n") if line]
            parsed = [json.loads(line) for line in lines] if url.endswith("/_bulk") else json.loads(body)
        decoded = {k: v.decode() if isinstance(v, bytes) else v for k, v in (params or {}).items()}
        request = Request(method, urllib.parse.unquote(url), decoded, parsed)
        RECORDER.requests.append(request)
        status, answer = RECORDER.answer(request)
        if status == -1:
            raise OpenSearchConnectionError("N/A", "connection refused", OSError("refused"))
        raw = json.dumps(answer)
        if not 200 <= status < 300 and status not in ignore:
            self._raise_error(status, raw, "application/json")
        return status, {}, raw


@pytest.fixture
def recorder() -> Recorder:
    RECORDER.requests.clear()
    RECORDER.handlers.clear()
    RECORDER.on("HEAD", "", lambda r: (404, {}))
    RECORDER.on(
        "GET",
        "/rk-meta/_doc/collection::family",
        lambda r: (
            200,
            {
                "_id": "collection::family",
                "found": True,
                "_source": {
                    "kind": "collection",
                    "collection_id": "family",
                    "arn": "arn",
                    "face_model_version": "m",
                    "created_at": 1.0,
                    "tags": {},
                    "policy": {},
                    "face_index": "x",
                },
            },
        ),
    )
    return RECORDER


def answer_mapping(recorder: Recorder, engine: str, space_type: str) -> None:
    def mapping(request: Request) -> tuple[int, Any]:
        index = request.path.strip("/").split("/")[0]
        method = {"name": "hnsw", "engine": engine, "space_type": space_type}
        return 200, {
            index: {"mappings": {"properties": {"embedding": {"type": "knn_vector", "method": method}}}}
        }

    recorder.on("GET", "/_mapping", mapping)


def make_store(engine: Engine, **kwargs: Any) -> OpenSearchFaceStore:
    client = OpenSearch(hosts=["http://fake:9200"], connection_class=FakeConnection, max_retries=0)
    return OpenSearchFaceStore(
        client, index_prefix="rk", engine=engine, ef_search=300, ef_construction=200, m=24, **kwargs
    )


def stored_face(face_id: str = "f1", dimension: int = 4) -> StoredFace:
    vector = np.zeros(dimension, dtype=np.float32)
    vector[0] = 1.0
    return StoredFace(
        face_id=face_id,
        collection_id="family",
        image_id="img",
        bounding_box=BoundingBox(0.5, 0.5, 0.25, 0.25),
        confidence=99.0,
        embedding=vector,
        created_at=2.0,
        source="s3://b/k",
    )


def face_index_request(recorder: Recorder) -> Request:
    [request] = [r for r in recorder.requests if r.method == "PUT" and "-faces-" in r.path]
    return request


def test_faiss_index_mapping(recorder: Recorder) -> None:
    store = make_store("faiss", dimension=512, number_of_replicas=0)

    store.create_collection(Collection("Family.Photos_1", "arn", "m", 1.0))

    request = face_index_request(recorder)
    assert (
        request.path == "/rk-faces-family.photos_1-" + store.face_index("Family.Photos_1").rsplit("-", 1)[1]
    )
    assert request.body == {
        "settings": {"index": {"knn": True, "knn.algo_param.ef_search": 300, "number_of_replicas": 0}},
        "mappings": {
            "dynamic": "strict",
            "properties": {
                "face_id": {"type": "keyword"},
                "image_id": {"type": "keyword"},
                "external_image_id": {"type": "keyword"},
                "user_id": {"type": "keyword"},
                "source": {"type": "keyword"},
                "confidence": {"type": "double"},
                "created_at": {"type": "double"},
                "bounding_box": {"type": "object", "enabled": False},
                "face_detail": {"type": "object", "enabled": False},
                "embedding": {
                    "type": "knn_vector",
                    "dimension": 512,
                    "method": {
                        "name": "hnsw",
                        "engine": "faiss",
                        "space_type": "innerproduct",
                        "parameters": {"m": 24, "ef_construction": 200},
                    },
                },
            },
        },
    }


@pytest.mark.parametrize("space_type", ["innerproduct", "cosinesimil"])
def test_lucene_index_mapping_has_no_ef_search_setting(recorder: Recorder, space_type: str) -> None:
    store = make_store("lucene", dimension=128, space_type=space_type, number_of_shards=3)

    store.create_collection(Collection("family", "arn", "m", 1.0))

    body = face_index_request(recorder).body
    assert body["settings"] == {"index": {"knn": True, "number_of_shards": 3}}
    assert body["mappings"]["properties"]["embedding"] == {
        "type": "knn_vector",
        "dimension": 128,
        "method": {
            "name": "hnsw",
            "engine": "lucene",
            "space_type": space_type,
            "parameters": {"m": 24, "ef_construction": 200},
        },
    }


def test_the_default_is_lucene_innerproduct() -> None:
    store = OpenSearchFaceStore(OpenSearch(hosts=["http://fake:9200"], connection_class=FakeConnection))

    assert (store.spec.engine, store.spec.space_type, store.rescore) == ("lucene", "innerproduct", False)


def test_create_collection_writes_metadata_with_op_type_create_first(recorder: Recorder) -> None:
    store = make_store("faiss")

    store.create_collection(Collection("family", "arn:x", "edgeface-s", 1.5, {"a": "b"}, {"p": 1}))

    writes = [(r.method, r.path) for r in recorder.requests if r.method in ("PUT", "POST")]
    assert writes[0] == ("PUT", "/rk-meta")
    assert writes[1] == ("PUT", "/rk-meta/_doc/collection::family")
    assert writes[2][1].startswith("/rk-faces-family-")
    meta_doc = recorder.requests[
        [r.path for r in recorder.requests].index("/rk-meta/_doc/collection::family")
    ]
    assert meta_doc.params["refresh"] == "true"
    assert meta_doc.params["op_type"] == "create"
    assert meta_doc.body == {
        "kind": "collection",
        "collection_id": "family",
        "arn": "arn:x",
        "face_model_version": "edgeface-s",
        "created_at": 1.5,
        "tags": {"a": "b"},
        "policy": {"p": 1},
        "face_index": store.face_index("family"),
    }


@pytest.mark.parametrize(("limit", "k"), [(200, 300), (400, 402)])
def test_search_asks_for_ids_above_the_floor_only(recorder: Recorder, limit: int, k: int) -> None:
    store = make_store("lucene", dimension=4)
    answer_mapping(recorder, "lucene", "innerproduct")
    recorder.on("POST", "/_search", lambda r: (200, {"hits": {"hits": []}}))

    store.search(
        "family",
        np.array([1, 0, 0, 0], dtype=np.float32),
        limit=limit,
        min_cosine=0.5,
        exclude_face_ids=["a", "b"],
    )

    [request] = [r for r in recorder.requests if r.path.endswith("/_search")]
    assert request.path == f"/{store.face_index('family')}/_search"
    assert request.params["allow_partial_search_results"] == "false"
    assert request.body == {
        "size": limit + 2,
        "min_score": pytest.approx(1.5 - 1e-5),
        "query": {"knn": {"embedding": {"vector": [1.0, 0.0, 0.0, 0.0], "k": k}}},
    }
    # The index's mapping is read once per process, not per search.
    store.search("family", np.array([1, 0, 0, 0], dtype=np.float32), limit=1, min_cosine=0.5)
    assert len([r for r in recorder.requests if r.path.endswith("/_mapping")]) == 1


@pytest.mark.parametrize(
    ("engine", "space_type", "score", "cosine"),
    [
        ("lucene", "innerproduct", 1.8, 0.8),
        ("lucene", "innerproduct", 0.5, -1.0),
        ("lucene", "cosinesimil", 0.9, 0.8),
        ("faiss", "innerproduct", 1.8, 0.8),
        ("faiss", "cosinesimil", 1 / 1.2, 0.8),
        ("faiss", "innerproduct", 0.5, -1.0),
    ],
)
def test_scores_convert_to_cosine_per_engine_and_space(
    recorder: Recorder, engine: Engine, space_type: str, score: float, cosine: float
) -> None:
    store = make_store(engine, dimension=4, rescore=False)
    answer_mapping(recorder, engine, space_type)
    source = {
        "face_id": "f1",
        "image_id": "i",
        "bounding_box": BoundingBox(1, 1, 0, 0).to_api(),
        "confidence": 1.0,
        "embedding": [0.0, 1.0, 0.0, 0.0],
        "created_at": 1.0,
    }
    recorder.on(
        "POST",
        "/_search",
        lambda r: (200, {"hits": {"hits": [{"_id": "f1", "_score": score, "_source": source}]}}),
    )

    [match] = store.search("family", np.array([1, 0, 0, 0], dtype=np.float32), limit=1, min_cosine=-1.0)

    assert match.cosine == pytest.approx(cosine)


@pytest.mark.parametrize(
    ("engine", "space_type"),
    [
        ("lucene", "innerproduct"),
        ("lucene", "cosinesimil"),
        ("faiss", "innerproduct"),
        ("faiss", "cosinesimil"),
    ],
)
def test_score_map_round_trips_and_is_monotonic(engine: str, space_type: str) -> None:
    scores = ScoreMap(engine, space_type)
    cosines = np.linspace(-1.0, 1.0, 41)

    mapped = [scores.to_score(float(c)) for c in cosines]

    assert mapped == sorted(mapped)
    assert [scores.to_cosine(s) for s in mapped] == pytest.approx(list(cosines), abs=1e-12)


def test_rescoring_uses_the_stored_vectors(recorder: Recorder) -> None:
    store = make_store("faiss", dimension=4, rescore=True)
    answer_mapping(recorder, "faiss", "innerproduct")
    source = {
        "face_id": "f1",
        "image_id": "i",
        "bounding_box": BoundingBox(1, 1, 0, 0).to_api(),
        "confidence": 1.0,
        "embedding": [0.6, 0.8, 0.0, 0.0],
        "created_at": 1.0,
    }
    recorder.on(
        "POST",
        "/_search",
        lambda r: (200, {"hits": {"hits": [{"_id": "f1", "_score": 1.99, "_source": source}]}}),
    )

    [match] = store.search("family", np.array([1, 0, 0, 0], dtype=np.float32), limit=1, min_cosine=0.5)

    assert match.cosine == pytest.approx(0.6)
    [request] = [r for r in recorder.requests if r.path.endswith("/_search")]
    assert request.body["min_score"] == pytest.approx(1.499 - 1e-5)


def test_put_faces_bulk_then_refresh(recorder: Recorder) -> None:
    store = make_store("faiss", dimension=4)
    recorder.on("POST", "/_mget", lambda r: (200, {"docs": [{"_id": "f1", "found": False}]}))
    recorder.on(
        "POST",
        "/_bulk",
        lambda r: (
            200,
            {"errors": False, "items": [{"index": {"_id": "f1", "status": 201, "result": "created"}}]},
        ),
    )

    store.put_faces("family", [stored_face()])

    bulk = next(r for r in recorder.requests if r.path == "/_bulk")
    assert bulk.body[0] == {"index": {"_index": store.face_index("family"), "_id": "f1"}}
    assert bulk.body[1]["embedding"] == [1.0, 0.0, 0.0, 0.0]
    assert bulk.body[1]["bounding_box"] == {"Width": 0.5, "Height": 0.5, "Left": 0.25, "Top": 0.25}
    # One request: the bulk refreshes the shards it wrote to (refresh=true), no separate call.
    assert bulk.params == {"refresh": "true"}
    assert recorder.requests[-1] is bulk


def bulk_ok(request: Request) -> tuple[int, Any]:
    items = []
    for line in request.body:
        kind = next(iter(line))
        if kind in ("index", "delete", "update"):
            items.append({kind: {"_id": line[kind]["_id"], "status": 200, "result": "updated"}})
    return 200, {"errors": False, "items": items}


def test_large_batches_go_in_parallel_chunks_and_refresh_once(recorder: Recorder) -> None:
    store = make_store("faiss", dimension=4)
    recorder.on("POST", "/_mget", lambda r: (200, {"docs": []}))
    recorder.on("POST", "/_bulk", bulk_ok)
    faces = [stored_face(f"f{i:04d}") for i in range(transport.BULK_CHUNK_DOCS * 3 + 7)]

    store.put_faces("family", faces)

    bulks = [r for r in recorder.requests if r.path == "/_bulk"]
    assert [len(b.body) // 2 for b in bulks] == [500, 500, 500, 7]
    assert [b.params.get("refresh") for b in bulks] == [None, None, None, "true"]
    assert recorder.requests[-1] is bulks[-1]
    sent = sorted(line["index"]["_id"] for b in bulks for line in b.body if "index" in line)
    assert sent == [f.face_id for f in faces]


def test_a_bulk_load_sends_every_chunk_in_parallel(recorder: Recorder) -> None:
    """Without a refresh to order, the last chunk does not wait for the others.

    Each bulk request waits at a barrier for a second one: with the last chunk held back the
    two-chunk load never has two requests in flight and the barrier breaks.
    """
    store = make_store("faiss", dimension=4)
    index = store.face_index("family")
    recorder.on(
        "GET", "/_settings", lambda r: (200, {index: {"settings": {"index": {"refresh_interval": "1s"}}}})
    )
    recorder.on("POST", "/_mget", lambda r: (200, {"docs": []}))
    together = threading.Barrier(2, timeout=5)

    def bulk_in_pairs(request: Request) -> tuple[int, Any]:
        together.wait()
        return bulk_ok(request)

    recorder.on("POST", "/_bulk", bulk_in_pairs)
    faces = [stored_face(f"f{i:04d}") for i in range(transport.BULK_CHUNK_DOCS * 2)]

    with store.bulk_load("family"):
        store.put_faces("family", faces)

    bulks = [r for r in recorder.requests if r.path == "/_bulk"]
    assert [len(b.body) // 2 for b in bulks] == [500, 500]
    assert [b.params.get("refresh") for b in bulks] == [None, None]


def test_bulk_chunks_never_split_an_action_from_its_document() -> None:
    actions: list[dict[str, Any]] = []
    for i in range(7):
        actions += [{"index": {"_id": f"i{i}"}}, {"doc": i}]
        actions.append({"delete": {"_id": f"d{i}"}})

    chunks = list(transport._chunks(actions, 3))

    assert [line for chunk in chunks for line in chunk] == actions
    for chunk in chunks:
        kinds = [next(iter(line)) for line in chunk]
        for position, kind in enumerate(kinds):
            if kind == "index":
                assert kinds[position + 1] == "doc"


def test_bulk_load_relaxes_the_refresh_interval_and_restores_it(recorder: Recorder) -> None:
    store = make_store("faiss", dimension=4)
    index = store.face_index("family")
    recorder.on(
        "GET",
        "/_settings",
        lambda r: (200, {index: {"settings": {"index": {"refresh_interval": "5s"}}}}),
    )
    recorder.on("POST", "/_mget", lambda r: (200, {"docs": []}))
    recorder.on("POST", "/_bulk", bulk_ok)

    with store.bulk_load("family"):
        store.put_faces("family", [stored_face("f1")])
        store.put_faces("family", [stored_face("f2")])

    writes = [(r.method, r.path, r.body, r.params.get("refresh")) for r in recorder.requests]
    settings = [w[2] for w in writes if w[1].endswith("/_settings") and w[0] == "PUT"]
    assert settings == [{"index": {"refresh_interval": "-1"}}, {"index": {"refresh_interval": "5s"}}]
    assert [w[3] for w in writes if w[1] == "/_bulk"] == [None, None]
    assert writes[-1][:2] == ("POST", f"/{index}/_refresh")


def test_put_faces_rolls_back_a_partial_bulk_failure(recorder: Recorder) -> None:
    store = make_store("faiss", dimension=4)
    previous = {"face_id": "f1", "image_id": "old"}
    recorder.on(
        "POST",
        "/_mget",
        lambda r: (
            200,
            {"docs": [{"_id": "f1", "found": True, "_source": previous}, {"_id": "f2", "found": False}]},
        ),
    )
    recorder.on(
        "POST",
        "/_bulk",
        lambda r: (
            200,
            {
                "errors": True,
                "items": [
                    {"index": {"_id": "f1", "status": 200, "result": "updated"}},
                    {"index": {"_id": "f2", "status": 400, "error": {"type": "mapper_parsing_exception"}}},
                ],
            },
        ),
    )

    with pytest.raises(InternalServerError) as caught:
        store.put_faces("family", [stored_face("f1"), stored_face("f2")])

    assert "mapper" not in caught.value.message
    rollback = [r for r in recorder.requests if r.path == "/_bulk"][-1]
    index = store.face_index("family")
    assert rollback.body == [
        {"index": {"_index": index, "_id": "f1"}},
        previous,
        {"delete": {"_index": index, "_id": "f2"}},
    ]


def test_throttling_is_retried_then_raised(recorder: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "THROTTLE_BASE_DELAY_S", 0.0)
    store = make_store("faiss", dimension=4)
    recorder.on("POST", "/_count", lambda r: (429, {"error": {"type": "too_many_requests"}}))

    with pytest.raises(ThrottlingException):
        store.count_faces("family")

    assert len([r for r in recorder.requests if r.path.endswith("/_count")]) == transport.THROTTLE_RETRIES + 1


def test_connection_errors_become_a_generic_internal_error(recorder: Recorder) -> None:
    store = make_store("faiss", dimension=4)
    recorder.on("POST", "/_count", lambda r: (-1, None))

    with pytest.raises(InternalServerError) as caught:
        store.count_faces("family")

    assert caught.value.message == "Internal server error: the face store is unavailable"


def test_missing_face_index_is_resource_not_found(recorder: Recorder) -> None:
    store = make_store("faiss", dimension=4)
    recorder.on(
        "POST", "/_count", lambda r: (404, {"error": {"type": "index_not_found_exception"}, "status": 404})
    )

    with pytest.raises(ResourceNotFoundException, match="The collection id: family does not exist"):
        store.count_faces("family")


def test_index_names_are_lowercase_and_distinct_per_case() -> None:
    store = make_store("lucene")

    upper, lower = store.face_index("Family"), store.face_index("family")

    assert upper != lower
    assert upper == upper.lower()
    assert upper.startswith("rk-faces-family-")


def test_from_settings_builds_signed_and_basic_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    signed = OpenSearchFaceStore.from_settings(
        Settings(
            opensearch_url="https://search.example:443",
            opensearch_auth="es",
            region="eu-west-1",
            opensearch_engine="lucene",
            opensearch_ef_search=128,
            opensearch_rescore=False,
        )
    )
    auth = signed._client.transport.kwargs["http_auth"]
    assert type(auth).__name__ == "AWSV4SignerAuth"
    assert (auth.signer.region, auth.service) == ("eu-west-1", "es")
    assert (signed.engine, signed.ef_search, signed.rescore) == ("lucene", 128, False)
    assert signed._client.transport.retry_on_status == (502, 503, 504)
    assert signed._client.transport.retry_on_timeout is True
    [connection] = signed._client.transport.connection_pool.connections
    assert connection.http_compress is False
    assert connection.pool.pool.maxsize == transport.POOL_MAXSIZE

    basic = OpenSearchFaceStore.from_settings(
        Settings(
            opensearch_url="http://localhost:9200",
            opensearch_auth="basic",
            opensearch_username="u",
            opensearch_password="p",
        )
    )
    assert basic._client.transport.kwargs["http_auth"] == ("u", "p")


def test_a_url_list_names_every_node_of_a_cluster() -> None:
    store = OpenSearchFaceStore.from_settings(
        Settings(opensearch_url="http://127.0.0.1:9200, http://127.0.0.1:9201,", opensearch_replicas=1)
    )

    hosts = sorted(c.host for c in store._client.transport.connection_pool.connections)
    assert hosts == ["http://127.0.0.1:9200", "http://127.0.0.1:9201"]
    assert store.spec.number_of_replicas == 1


def test_bulk_load_can_merge_the_segments_at_the_end(recorder: Recorder) -> None:
    store = make_store("lucene", dimension=4)
    index = store.face_index("family")
    recorder.on("GET", "/_settings", lambda r: (200, {index: {"settings": {"index": {}}}}))

    with store.bulk_load("family", merge_to_segments=1):
        pass

    [merge] = [r for r in recorder.requests if r.path.endswith("/_forcemerge")]
    assert merge.path == f"/{index}/_forcemerge"
    assert merge.params["max_num_segments"] == "1"
    restore = [r for r in recorder.requests if r.method == "PUT" and r.path.endswith("/_settings")][-1]
    assert restore.body == {"index": {"refresh_interval": None}}
    assert recorder.requests[-1].path == f"/{index}/_refresh"
