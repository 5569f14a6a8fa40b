"""Similarity calibration is monotone and its inverse is consistent."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rekognito.inference.embedder import EMBEDDERS
from rekognito.inference.similarity import to_cosine, to_similarity


@pytest.mark.parametrize("name", sorted(EMBEDDERS))
def test_calibration_is_monotone_and_invertible(name: str) -> None:
    knots = EMBEDDERS[name].calibration
    cosines = np.linspace(-1, 1, 401)
    scores = [to_similarity(float(c), knots) for c in cosines]
    assert all(b >= a for a, b in itertools.pairwise(scores))
    assert scores[0] == 0.0 and scores[-1] == 100.0
    for threshold in (1.0, 50.0, 80.0, 90.0, 99.0):
        cosine = to_cosine(threshold, knots)
        assert to_similarity(cosine + 1e-9, knots) >= threshold - 1e-6
        assert to_similarity(cosine - 1e-3, knots) < threshold


def test_default_threshold_sits_above_the_impostor_tail() -> None:
    # ../shared/notes/models.md: the highest EdgeFace cosine over 300k impostor pairs was ~0.49.
    assert to_similarity(0.49, EMBEDDERS["edgeface-s"].calibration) < 80.0
