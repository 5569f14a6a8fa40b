"""The embedded store's in-memory vectors: int8 rows, an exact search over them, an optional HNSW.

Memory
    Each collection's embeddings are held as int8 codes with one float32 scale per row
    (``x ~ codes * scale``, ``scale = max|x| / 127``): 516 bytes per 512-d face instead of
    2048, so a million faces take 0.48 GiB. The float32 rows stay in SQLite, the store's
    source of truth.

Exact search (the default)
    1. Score every row approximately: the int8 dot product of the row's codes with the
       query's codes (``numkong``, SIMD), times both scales.
    2. The approximation is off by at most ``bound`` (:meth:`QuantizedMatrix.error_bound`,
       derived from the rounding errors of both vectors), so every row whose exact cosine
       could reach the answer is among the rows with the best approximate scores.
    3. Rescore those candidates exactly from their float32 rows (read from SQLite).
    4. The answer is complete once the best approximate score left out, plus ``bound``, is
       below both ``min_cosine`` and the ``limit``-th exact score; otherwise take four times
       as many candidates and repeat. So results equal float32 exact search: same faces,
       same cosines (a rare tie within float rounding can order two faces differently).

Approximate index (optional, ``REKOGNITO_EMBEDDED_INDEX=hnsw``)
    An HNSW graph (``usearch``, int8, cosine) over the same rows gives candidates in about
    a millisecond instead of a full scan; they are rescored exactly like above, but a true
    match the graph does not reach is missed (``bench/embedded_scale.py`` measures how often).
    Deletes remove the row from the graph. The graph is a cache: it is saved beside the
    database with the collection's generation and rebuilt from SQLite whenever the saved
    generation is not the current one (a crash, another process's writes), so nothing a
    crash interrupts can make it disagree with the database. A deletion removes the saved
    file at once, and a graph that held a deleted face is not saved again (its file could
    keep the vector): deleted faces do not survive on disk.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Float32Array = npt.NDArray[np.float32]
Int8Array = npt.NDArray[np.int8]

# Candidates taken in the first round of the exact search, beyond limit + excluded.
FIRST_ROUND_EXTRA = 32
FIRST_ROUND_MIN = 64
GROWTH = 1.125


def quantize(vectors: Float32Array) -> tuple[Int8Array, Float32Array]:
    """int8 codes and per-row scales of float32 rows (2-d), ``x ~ codes * scale``."""
    rows = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    peaks = np.abs(rows).max(axis=1)
    scales = np.where(peaks > 0, peaks / 127.0, 1.0).astype(np.float32)
    codes = np.rint(rows / scales[:, None]).clip(-127, 127).astype(np.int8)
    return codes, scales


def stack_rows(vectors: Sequence[Float32Array]) -> Float32Array:
    """One float32 row per vector; ``ValueError`` if their dimensions differ."""
    rows = [np.asarray(v, dtype=np.float32).reshape(-1) for v in vectors]
    if len({row.shape[0] for row in rows}) > 1:
        raise ValueError("embedding dimension differs between the faces of one call")
    return np.stack(rows)


def _dot(query_codes: Int8Array, codes: Int8Array) -> npt.NDArray[np.float64]:
    """Exact integer dot products of one int8 query with every row (float64 results)."""
    import numkong

    scores: npt.NDArray[np.float64] = np.asarray(
        numkong.cdist(query_codes[None, :], codes, metric="dot"), dtype=np.float64
    )[0]
    return scores


@dataclass
class QuantizedMatrix:
    """One collection's vectors: ``codes[:count]`` / ``scales[:count]`` match ``ids[:count]``."""

    generation: int
    dimension: int
    ids: list[str] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    codes: Int8Array = field(default_factory=lambda: np.zeros((0, 0), np.int8))
    scales: Float32Array = field(default_factory=lambda: np.zeros(0, np.float32))
    count: int = 0
    # The largest row scale ever held (deletions do not lower it): bounds every row's error.
    max_scale: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    graph: HnswGraph | None = None

    @classmethod
    def empty(cls, generation: int, dimension: int, capacity: int = 64) -> QuantizedMatrix:
        return cls(
            generation,
            dimension,
            codes=np.zeros((capacity, dimension), np.int8),
            scales=np.zeros(capacity, np.float32),
        )

    @property
    def nbytes(self) -> int:
        """Bytes of vector data held (codes and scales, the allocated capacity)."""
        return int(self.codes.nbytes + self.scales.nbytes)

    def _reserve(self, rows: int) -> None:
        if rows <= self.codes.shape[0]:
            return
        capacity = max(64, rows, int(self.codes.shape[0] * GROWTH))
        codes = np.zeros((capacity, self.dimension), np.int8)
        scales = np.zeros(capacity, np.float32)
        codes[: self.count] = self.codes[: self.count]
        scales[: self.count] = self.scales[: self.count]
        self.codes, self.scales = codes, scales

    def upsert(self, face_ids: Sequence[str], vectors: Float32Array) -> None:
        """Add or replace rows (``vectors`` is 2-d float32, one row per id)."""
        if not face_ids:
            return
        rows = np.asarray(vectors, dtype=np.float32).reshape(len(face_ids), -1)
        if rows.shape[1] != self.dimension:
            if self.count:
                raise ValueError("embedding dimension differs from the collection's")
            self.dimension = rows.shape[1]
            self.codes = np.zeros((0, self.dimension), np.int8)
            self.scales = np.zeros(0, np.float32)
        codes, scales = quantize(rows)
        self.max_scale = max(self.max_scale, float(scales.max()))
        self._reserve(self.count + len(face_ids))
        for face_id, code, scale in zip(face_ids, codes, scales, strict=True):
            row = self.index.get(face_id)
            if row is None:
                row = self.count
                self.ids.append(face_id)
                self.index[face_id] = row
                self.count += 1
            self.codes[row] = code
            self.scales[row] = scale
        if self.graph is not None:
            self.graph.upsert(face_ids, codes)

    def remove(self, face_ids: Sequence[str]) -> None:
        for face_id in face_ids:
            row = self.index.pop(face_id, None)
            if row is None:
                continue
            last = self.count - 1
            if row != last:
                moved = self.ids[last]
                self.codes[row] = self.codes[last]
                self.scales[row] = self.scales[last]
                self.ids[row] = moved
                self.index[moved] = row
            self.codes[last] = 0
            self.scales[last] = 0.0
            self.ids.pop()
            self.count -= 1
        if self.graph is not None:
            self.graph.remove(face_ids)

    def error_bound(self, query_scale: float) -> float:
        """The largest possible |approximate - exact| cosine for a query with this scale.

        With ``x = codes * s + e`` (``|e_j| <= s / 2``) and likewise for the query,
        ``x.q - approx = x_hat.f + e.q_hat + e.f``; each term is bounded with
        ``||v||_1 <= sqrt(d) ||v||_2`` and ``||x_hat||_2 <= 1 + sqrt(d) s / 2``.
        """
        d = self.dimension
        s, t = self.max_scale, query_scale
        norm_x = 1.0 + math.sqrt(d) * s / 2
        norm_q = 1.0 + math.sqrt(d) * t / 2
        return math.sqrt(d) * (norm_x * t + norm_q * s) / 2 + d * s * t / 4 + 1e-6

    def approximate(self, query: Float32Array) -> tuple[npt.NDArray[np.float64], float]:
        """Approximate cosines of every row with ``query`` and their error bound."""
        codes, scales = quantize(query)
        raw = _dot(codes[0], self.codes[: self.count])
        raw *= self.scales[: self.count]
        raw *= float(scales[0])
        return raw, self.error_bound(float(scales[0]))


ExactScores = Callable[[list[str]], dict[str, float]]


def exact_search(
    matrix: QuantizedMatrix,
    query: Float32Array,
    *,
    limit: int,
    min_cosine: float,
    excluded: set[str],
    exact: ExactScores,
) -> list[tuple[float, str]]:
    """The ``limit`` best ``(cosine, face id)`` with cosine >= ``min_cosine``, as float32 exact search.

    ``exact(face_ids)`` returns the exact cosines of the faces that still exist. See the
    module docstring for why the candidates found this way are complete.
    """
    while True:
        found = _exact_round_trip(
            matrix, query, limit=limit, min_cosine=min_cosine, excluded=excluded, exact=exact
        )
        if found is not None:
            return found


def _exact_round_trip(
    matrix: QuantizedMatrix,
    query: Float32Array,
    *,
    limit: int,
    min_cosine: float,
    excluded: set[str],
    exact: ExactScores,
) -> list[tuple[float, str]] | None:
    """One attempt; None when the matrix changed between rounds (the caller starts again)."""
    with matrix.lock:
        if matrix.count == 0 or limit <= 0 or query.shape[0] != matrix.dimension:
            return []
        approx, bound = matrix.approximate(query)
        generation = matrix.generation
    eligible = np.nonzero(approx >= min_cosine - bound)[0]
    take = max(FIRST_ROUND_MIN, limit + len(excluded) + FIRST_ROUND_EXTRA)
    scored: dict[str, float] = {}
    while True:
        if eligible.size > take:
            order = np.argpartition(-approx[eligible], take)
            chosen, left_out = eligible[order[:take]], float(approx[eligible[order[take]]])
        else:
            chosen, left_out = eligible, -math.inf
        with matrix.lock:
            if matrix.generation != generation:
                return None
            wanted = [face_id for row in chosen.tolist() if (face_id := matrix.ids[row]) not in scored]
        scored.update(exact(wanted))
        ranked = sorted(
            ((cosine, face_id) for face_id, cosine in scored.items() if face_id not in excluded),
            key=lambda pair: (-pair[0], pair[1]),
        )
        ranked = [pair for pair in ranked if pair[0] >= min_cosine]
        cutoff = ranked[limit - 1][0] if len(ranked) >= limit else min_cosine
        if left_out + bound < cutoff or eligible.size <= take:
            return ranked[:limit]
        take *= 4


def graph_search(
    matrix: QuantizedMatrix,
    query: Float32Array,
    *,
    limit: int,
    min_cosine: float,
    excluded: set[str],
    exact: ExactScores,
    expansion: int,
) -> list[tuple[float, str]]:
    """Candidates from the HNSW graph, rescored exactly; approximate (may miss a true match)."""
    with matrix.lock:
        if matrix.graph is None or matrix.count == 0 or limit <= 0 or query.shape[0] != matrix.dimension:
            return []
        codes, _ = quantize(query)
        candidates = matrix.graph.search(codes[0], max(expansion, limit + len(excluded)))
    scored = exact([c for c in candidates if c not in excluded])
    ranked = sorted(
        ((cosine, face_id) for face_id, cosine in scored.items() if cosine >= min_cosine),
        key=lambda pair: (-pair[0], pair[1]),
    )
    return ranked[:limit]


class HnswGraph:
    """A usearch HNSW index over int8 codes, keyed by small integers mapped to face ids."""

    def __init__(self, dimension: int, *, connectivity: int = 16, expansion_add: int = 128) -> None:
        from usearch.index import Index

        self.dimension = dimension
        self.expansion_search = 256
        self._index: Any = Index(
            ndim=dimension,
            metric="cos",
            dtype="i8",
            connectivity=connectivity,
            expansion_add=expansion_add,
            expansion_search=self.expansion_search,
        )
        self._key_of: dict[str, int] = {}
        self._id_of: dict[int, str] = {}
        self._next_key = 0
        # usearch marks removed entries but may keep their bytes: a graph that ever held a
        # deleted face is never written to disk (see ``save``).
        self.had_removals = False

    def __len__(self) -> int:
        return len(self._key_of)

    def upsert(self, face_ids: Sequence[str], codes: Int8Array) -> None:
        self.remove([face_id for face_id in face_ids if face_id in self._key_of])
        keys = np.arange(self._next_key, self._next_key + len(face_ids), dtype=np.uint64)
        self._next_key += len(face_ids)
        self._index.add(keys, np.ascontiguousarray(codes, dtype=np.int8), threads=1)
        for key, face_id in zip(keys.tolist(), face_ids, strict=True):
            self._key_of[face_id] = key
            self._id_of[key] = face_id

    def remove(self, face_ids: Sequence[str]) -> None:
        keys = [self._key_of.pop(face_id) for face_id in face_ids if face_id in self._key_of]
        for key in keys:
            self._id_of.pop(key, None)
        if keys:
            self._index.remove(np.array(keys, dtype=np.uint64))
            self.had_removals = True

    def search(self, query_codes: Int8Array, count: int) -> list[str]:
        self._index.expansion_search = max(self.expansion_search, count)
        matches = self._index.search(np.ascontiguousarray(query_codes, dtype=np.int8), count)
        return [self._id_of[key] for key in matches.keys.tolist() if key in self._id_of]

    @staticmethod
    def files(path: Path) -> tuple[Path, Path]:
        return path, path.with_name(path.name + ".keys.npz")

    @classmethod
    def discard(cls, path: Path) -> None:
        """Delete the saved graph (a deletion must not survive in it)."""
        for file in cls.files(path):
            file.unlink(missing_ok=True)

    def save(self, path: Path, generation: int) -> bool:
        """Write the graph and its key map atomically (``path`` and ``path.keys.npz``), owner-only.

        Not done (False) for a graph that ever held a face since deleted: its file could keep
        that face's vector; the next start rebuilds the graph from the database instead.
        """
        if self.had_removals:
            self.discard(path)
            return False
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        self._index.save(str(tmp))
        keys = path.with_name(path.name + ".keys.npz")
        tmp_keys = keys.with_name(keys.name + ".tmp.npz")
        ordered = sorted(self._id_of.items())
        np.savez(
            tmp_keys,
            generation=np.array([generation], np.int64),
            next_key=np.array([self._next_key], np.int64),
            keys=np.array([k for k, _ in ordered], np.uint64),
            ids=np.array([v for _, v in ordered], dtype=str),
        )
        tmp.chmod(0o600)
        tmp_keys.chmod(0o600)
        tmp.replace(path)
        tmp_keys.replace(keys)
        return True

    @classmethod
    def load(cls, path: Path, dimension: int, generation: int) -> HnswGraph | None:
        """The saved graph if it was saved at ``generation``, else None (rebuild it)."""
        keys = path.with_name(path.name + ".keys.npz")
        if not path.is_file() or not keys.is_file():
            return None
        try:
            data = np.load(keys, allow_pickle=False)
            if int(data["generation"][0]) != generation:
                return None
            graph = cls(dimension)
            graph._index.load(str(path))
            graph._next_key = int(data["next_key"][0])
            for key, face_id in zip(data["keys"].tolist(), data["ids"].tolist(), strict=True):
                graph._key_of[str(face_id)] = int(key)
                graph._id_of[int(key)] = str(face_id)
        except (OSError, ValueError, KeyError, RuntimeError):
            return None
        return graph
