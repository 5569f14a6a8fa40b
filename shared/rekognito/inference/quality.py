"""Face pose and quality estimates from landmarks and the aligned crop.

Pose is estimated geometrically from the five landmarks (roll from the eye line, yaw from
the nose's offset from the eye midpoint, pitch from where the nose sits between the eyes and
the mouth), so it is approximate: good to about 10 degrees near frontal and saturating for
strong profiles. Brightness is the mean luma of the aligned crop; sharpness maps the
variance of its Laplacian onto 0..100.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from rekognito.inference.align import ARCFACE_TEMPLATE

# Ratio (nose - eye line) / (mouth line - eye line) on the frontal template.
_FRONTAL_NOSE_RATIO = float(
    (ARCFACE_TEMPLATE[2, 1] - ARCFACE_TEMPLATE[:2, 1].mean())
    / (ARCFACE_TEMPLATE[3:, 1].mean() - ARCFACE_TEMPLATE[:2, 1].mean())
)
# Laplacian variance at which sharpness reads 50 (a slightly soft but usable face crop).
_SHARPNESS_HALF_POINT = 60.0


@dataclass(frozen=True)
class Pose:
    roll: float
    yaw: float
    pitch: float


@dataclass(frozen=True)
class Quality:
    brightness: float
    sharpness: float


def estimate_pose(landmarks: npt.NDArray[np.floating]) -> Pose:
    points = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    left_eye, right_eye, nose, mouth_left, mouth_right = points
    eye_vector = right_eye - left_eye
    eye_distance = float(np.hypot(*eye_vector)) or 1.0
    roll = math.degrees(math.atan2(eye_vector[1], eye_vector[0]))
    # Work in a frame rotated so that the eye line is horizontal.
    cos_r, sin_r = eye_vector / eye_distance
    rotate = np.array([[cos_r, sin_r], [-sin_r, cos_r]])
    eyes_mid = (left_eye + right_eye) / 2
    mouth_mid = (mouth_left + mouth_right) / 2
    nose_local = rotate @ (nose - eyes_mid)
    mouth_local = rotate @ (mouth_mid - eyes_mid)
    yaw_ratio = float(np.clip(nose_local[0] / (0.6 * eye_distance), -1.0, 1.0))
    yaw = math.degrees(math.asin(yaw_ratio))
    vertical = float(mouth_local[1]) or 1.0
    pitch_ratio = float(np.clip((nose_local[1] / vertical - _FRONTAL_NOSE_RATIO) / 0.5, -1.0, 1.0))
    pitch = -math.degrees(math.asin(pitch_ratio))
    return Pose(roll=roll, yaw=yaw, pitch=pitch)


def estimate_quality(aligned: Image.Image) -> Quality:
    gray = np.asarray(aligned.convert("L"), dtype=np.float32)
    # Only the central face region: the aligned crop's corners are background.
    core = gray[20:100, 16:96]
    brightness = float(core.mean() / 255.0 * 100.0)
    laplacian = -4 * core[1:-1, 1:-1] + core[:-2, 1:-1] + core[2:, 1:-1] + core[1:-1, :-2] + core[1:-1, 2:]
    variance = float(laplacian.var())
    sharpness = 100.0 * variance / (variance + _SHARPNESS_HALF_POINT)
    return Quality(brightness=brightness, sharpness=sharpness)
