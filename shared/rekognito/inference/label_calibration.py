"""Confidence calibration of DetectLabels' evidence (model score -> probability of being right).

Each source of evidence for a label (the ImageNet classifier's probability mass, a COCO
detection's peak score, a YuNet face score) is mapped to a probability by its own logistic
curve (Platt scaling): ``p = sigmoid(slope * logit(score) + offset + grey)``, where ``grey``
applies only to greyscale photos (ImageNet classifiers are much less reliable on them).
Evidence from several sources for one label is combined by noisy-OR, so a weak detection
that the classifier agrees with ends up above either alone.

The curves are fitted by ``bench/labels_quality.py --fit`` on the labelled photos of
``tests/data/labels_expected.json`` ("fit" split; the "holdout" photos are kept out) and
pasted into :data:`CURVES`. With about 30 photos this is a small-sample fit: the numbers are
an honest best effort, not a guarantee for other photos.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

_EPS = 1e-4


def logit(score: float) -> float:
    clipped = min(1.0 - _EPS, max(_EPS, float(score)))
    return math.log(clipped / (1.0 - clipped))


def sigmoid(value: float) -> float:
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    exp = math.exp(value)
    return exp / (1.0 + exp)


@dataclass(frozen=True)
class Curve:
    """A logistic map from a model score in 0..1 to the probability that the label is right."""

    slope: float
    offset: float
    grey: float = 0.0

    def __call__(self, score: float, greyscale: bool = False) -> float:
        return sigmoid(self.slope * logit(score) + self.offset + (self.grey if greyscale else 0.0))


# Sources of evidence (keys of CURVES).
CLASSIFIER_GENERAL = "classifier-general"  # mass summed into a general label (Cat, Rocket, Book)
CLASSIFIER_SPECIFIC = "classifier-specific"  # one ImageNet class's own name (Egyptian Cat)
DETECTOR_PERSON = "detector-person"  # COCO person boxes
DETECTOR_OTHER = "detector-other"  # the other 79 COCO classes
FACE = "face"  # YuNet face score, evidence for Face and Person

SOURCES = (CLASSIFIER_GENERAL, CLASSIFIER_SPECIFIC, DETECTOR_PERSON, DETECTOR_OTHER, FACE)

# Fitted by `bench/labels_quality.py --fit` (see the module docstring).
CURVES: dict[str, Curve] = {
    CLASSIFIER_GENERAL: Curve(slope=0.573, offset=0.486, grey=-2.152),
    CLASSIFIER_SPECIFIC: Curve(slope=0.669, offset=-0.474, grey=-1.512),
    DETECTOR_PERSON: Curve(slope=2.266, offset=0.479, grey=0.000),
    DETECTOR_OTHER: Curve(slope=2.786, offset=0.753, grey=0.000),
    FACE: Curve(slope=1.429, offset=0.202, grey=0.000),
}


def noisy_or(probabilities: Iterable[float]) -> float:
    """The probability that at least one of several independent pieces of evidence is right."""
    miss = 1.0
    for p in probabilities:
        miss *= 1.0 - min(1.0, max(0.0, p))
    return 1.0 - miss


def fit_curve(
    scores: Sequence[float],
    right: Sequence[bool],
    greyscale: Sequence[bool] | None = None,
    prior: float = 1.0,
    iterations: int = 50,
) -> Curve:
    """Fit a :class:`Curve` by logistic regression (Newton steps) with an L2 prior.

    The prior pulls the slope towards 1 and the offset and grey term towards 0, which keeps
    the fit sensible with a handful of samples (``prior`` is its weight, in samples).
    """
    if len(scores) != len(right):
        raise ValueError("scores and right differ in length")
    grey = list(greyscale) if greyscale is not None else [False] * len(scores)
    x = np.array([[logit(s), 1.0, 1.0 if g else 0.0] for s, g in zip(scores, grey, strict=True)])
    y = np.array([1.0 if r else 0.0 for r in right])
    centre = np.array([1.0, 0.0, 0.0])
    use_grey = any(grey)
    weights = centre.copy()
    penalty = np.diag([prior, prior, prior if use_grey else 1e6])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(x @ weights)))
        gradient = x.T @ (p - y) + penalty @ (weights - centre)
        hessian = (x.T * (p * (1.0 - p))) @ x + penalty
        step = np.linalg.solve(hessian, gradient)
        weights = weights - step
        if float(np.abs(step).max()) < 1e-8:
            break
    return Curve(slope=float(weights[0]), offset=float(weights[1]), grey=float(weights[2]))
