"""Cosine similarity of embeddings <-> Rekognition's 0..100 ``Similarity``.

Each embedding model carries its own calibration as piecewise-linear knots (see
``EmbedderSpec.calibration`` and docs/similarity.md for the measurements behind them).
"""

from __future__ import annotations

import numpy as np

Knots = tuple[tuple[float, float], ...]


def to_similarity(cosine: float, knots: Knots) -> float:
    cosines = np.array([k[0] for k in knots])
    scores = np.array([k[1] for k in knots])
    return float(np.clip(np.interp(cosine, cosines, scores), 0.0, 100.0))


def to_cosine(similarity: float, knots: Knots) -> float:
    """The smallest cosine whose similarity is >= ``similarity``."""
    if similarity <= 0.0:
        return -1.0
    cosines = np.array([k[0] for k in knots])
    scores = np.array([k[1] for k in knots])
    # Keep only the last knot of each flat run, so the inverse is the smallest such cosine.
    keep = np.concatenate([np.diff(scores) > 0, [True]])
    return float(np.interp(similarity, scores[keep], cosines[keep]))
