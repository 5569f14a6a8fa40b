"""The embedded store's int8 vectors: the error bound holds and the search equals float32 exact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rekognito.adapters.embedded_store import EmbeddedFaceStore
from rekognito.adapters.embedded_vectors import HnswGraph, QuantizedMatrix, exact_search, quantize
from rekognito.domain import BoundingBox, Collection, StoredFace


def unit_rows(count: int, seed: int, dimension: int = 512) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((count, dimension)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def skewed_rows(count: int, seed: int) -> np.ndarray:
    """Unit rows with a few large components, so the per-row scales (and errors) vary a lot."""
    rows = unit_rows(count, seed)
    rows[:, :3] *= np.random.default_rng(seed + 1).uniform(1, 40, size=(count, 1)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def matrix_of(rows: np.ndarray) -> QuantizedMatrix:
    matrix = QuantizedMatrix.empty(0, rows.shape[1])
    matrix.upsert([f"f{i:05d}" for i in range(len(rows))], rows)
    return matrix


def true_scores(rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """One float64 computation shared by the rescoring callback and the expected answer.

    Computing them apart (a float32 row-by-row dot against a float32 matrix product) can order two
    matches 1e-7 apart differently, which says nothing about the search.
    """
    return rows.astype(np.float64) @ query.astype(np.float64)


def exact_from(rows: np.ndarray, query: np.ndarray):  # type: ignore[no-untyped-def]
    scores = true_scores(rows, query)

    def exact(face_ids: list[str]) -> dict[str, float]:
        return {face_id: float(scores[int(face_id[1:])]) for face_id in face_ids}

    return exact


def numpy_answer(rows: np.ndarray, query: np.ndarray, limit: int, min_cosine: float, excluded: set[str]):  # type: ignore[no-untyped-def]
    scores = true_scores(rows, query)
    pairs = [
        (float(s), f"f{i:05d}")
        for i, s in enumerate(scores)
        if s >= min_cosine and f"f{i:05d}" not in excluded
    ]
    return sorted(pairs, key=lambda p: (-p[0], p[1]))[:limit]


@pytest.mark.parametrize("make", [unit_rows, skewed_rows])
def test_the_approximation_stays_within_its_bound(make) -> None:  # type: ignore[no-untyped-def]
    rows = make(3000, 1)
    matrix = matrix_of(rows)
    for query in make(20, 2):
        approx, bound = matrix.approximate(query)
        error = np.abs(approx - rows.astype(np.float64) @ query.astype(np.float64)).max()
        assert error <= bound
        assert bound < (0.08 if make is unit_rows else 0.2)


def test_int8_rows_take_a_quarter_of_float32() -> None:
    codes, scales = quantize(unit_rows(1000, 3))

    assert codes.dtype == np.int8
    assert codes.nbytes + scales.nbytes == 1000 * (512 + 4)


@settings(max_examples=40, deadline=None)
@given(
    limit=st.integers(1, 120),
    min_cosine=st.sampled_from([-1.0, 0.0, 0.05, 0.1, 0.5, 0.99]),
    excluded_count=st.integers(0, 5),
    seed=st.integers(0, 1000),
)
def test_search_equals_float32_exact_search(
    limit: int, min_cosine: float, excluded_count: int, seed: int
) -> None:
    rows = skewed_rows(800, seed)
    # Near duplicates of the query, so that some matches sit close together above any floor.
    query = unit_rows(1, seed + 7)[0]
    rows[:40] = (query + 0.3 * unit_rows(40, seed + 9)) / 1.05
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    matrix = matrix_of(rows)
    excluded = {f"f{i:05d}" for i in range(excluded_count)}

    got = exact_search(
        matrix, query, limit=limit, min_cosine=min_cosine, excluded=excluded, exact=exact_from(rows, query)
    )

    expected = numpy_answer(rows, query, limit, min_cosine, excluded)
    assert [face_id for _, face_id in got] == [face_id for _, face_id in expected]
    assert [cosine for cosine, _ in got] == pytest.approx([cosine for cosine, _ in expected], abs=1e-6)


def test_replace_and_remove_keep_rows_and_ids_together() -> None:
    rows = unit_rows(10, 4)
    matrix = matrix_of(rows)

    matrix.remove(["f00002", "f00009", "missing"])
    matrix.upsert(["f00003"], rows[7:8])

    assert matrix.count == 8
    assert sorted(matrix.ids) == sorted(f"f{i:05d}" for i in range(10) if i not in (2, 9))
    codes, _ = quantize(rows[7:8])
    assert np.array_equal(matrix.codes[matrix.index["f00003"]], codes[0])
    for face_id, row in matrix.index.items():
        assert matrix.ids[row] == face_id


def face(face_id: str, vector: np.ndarray) -> StoredFace:
    return StoredFace(face_id, "c", "img", BoundingBox(1, 1, 0, 0), 99.0, vector, 1.0)


def test_hnsw_graph_is_saved_with_its_generation_and_rebuilt_when_stale(tmp_path: Path) -> None:
    rows = unit_rows(300, 5)
    store = EmbeddedFaceStore(tmp_path, index="hnsw")
    store.create_collection(Collection("c", "arn", "m", 1.0))
    store.put_faces("c", [face(f"f{i:05d}", v) for i, v in enumerate(rows)])
    assert store.search("c", rows[17], limit=1, min_cosine=0.9)[0].face.face_id == "f00017"
    store.close()
    [saved] = list((tmp_path / "hnsw").glob("*.usearch"))
    generation = int(np.load(saved.with_name(saved.name + ".keys.npz"))["generation"][0])

    assert HnswGraph.load(saved, 512, generation) is not None
    assert HnswGraph.load(saved, 512, generation + 1) is None

    # A deletion by a store that then crashes (never closes): the saved graph, which holds the
    # deleted face's vector, is gone at once; the next store rebuilds from the database.
    crashed = EmbeddedFaceStore(tmp_path, index="hnsw")
    crashed.search("c", rows[1], limit=1, min_cosine=0.9)  # loads the saved graph
    crashed.delete_faces("c", ["f00017"])
    assert not saved.exists()
    reopened = EmbeddedFaceStore(tmp_path, index="hnsw")
    assert [m.face.face_id for m in reopened.search("c", rows[17], limit=1, min_cosine=0.9)] == []
    assert reopened.search("c", rows[18], limit=1, min_cosine=0.9)[0].face.face_id == "f00018"
    reopened.close()
    keys = np.load(saved.with_name(saved.name + ".keys.npz"))
    assert "f00017" not in keys["ids"].tolist()
    assert len(keys["ids"]) == 299
    assert oct(saved.stat().st_mode & 0o777) == "0o600"
    # A store whose graph had a removal does not write it back (it discards the file instead).
    crashed.close()
    assert not saved.exists()


def test_reads_by_face_id_use_the_primary_key_not_a_scan(tmp_path: Path) -> None:
    # The retention filter (created_at >= cutoff) once made SQLite pick the created_at index and
    # scan the whole collection for every lookup by id (200+ ms per search at 100k faces).
    store = EmbeddedFaceStore(tmp_path)
    store.create_collection(Collection("c", "arn", "m", 1.0))
    rows = unit_rows(20, 6)
    store.put_faces("c", [face(f"f{i:05d}", v) for i, v in enumerate(rows)])
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)

    store.get_faces("c", ["f00001", "f00002"])
    store.list_faces("c", limit=5)
    store.search("c", rows[3], limit=3, min_cosine=0.5)

    store._db.set_trace_callback(None)
    lookups = [s for s in statements if s.startswith("SELECT") and "FROM faces" in s and "COUNT" not in s]
    assert lookups
    for sql in lookups:
        explain = "EXPLAIN QUERY PLAN " + sql.replace("-Inf", "-1e999")  # the trace's spelling of -inf
        plan = " ".join(str(row[3]) for row in store._db.execute(explain).fetchall())
        assert "faces_created" not in plan, (sql, plan)
        assert "TEMP B-TREE" not in plan, (sql, plan)
    store.close()
