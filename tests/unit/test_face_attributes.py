"""Geometry behind EyesOpen, MouthOpen and EyeDirection, on the reference face (no models)."""

from __future__ import annotations

import numpy as np
import pytest

from rekognito.inference.attributes import EYE_OPEN_RATIO, eye_direction, geometry
from rekognito.inference.landmarks import (
    LANDMARK_ORDER,
    LEFT_EYE_INNER,
    LEFT_EYE_LOWER,
    LEFT_EYE_OUTER,
    LEFT_EYE_UPPER,
    RIGHT_EYE_INNER,
    RIGHT_EYE_LOWER,
    RIGHT_EYE_OUTER,
    RIGHT_EYE_UPPER,
    Crop,
    FaceLandmarks,
    Irises,
    rekognition_landmarks,
)
from rekognito.inference.pipeline import wanted_attributes
from rekognito.inference.quality import Pose, fit_pose, reference_face

FRONTAL = Pose(roll=0.0, yaw=0.0, pitch=0.0)


def reference_landmarks() -> FaceLandmarks:
    points = reference_face().points * 100.0 + np.array([300.0, 300.0, 0.0])
    return FaceLandmarks(points=points, score=1.0, crop=Crop((300.0, 300.0), 1.0, 0.0, 192))


def closed(landmarks: FaceLandmarks) -> FaceLandmarks:
    points = landmarks.points.copy()
    for upper, lower in ((RIGHT_EYE_UPPER, RIGHT_EYE_LOWER), (LEFT_EYE_UPPER, LEFT_EYE_LOWER)):
        middle = (points[upper] + points[lower]) / 2
        points[upper] = points[lower] = middle
    return FaceLandmarks(points=points, score=1.0, crop=landmarks.crop)


def irises_at(landmarks: FaceLandmarks, shift: tuple[float, float]) -> Irises:
    p = landmarks.point
    centres = np.stack(
        [(p(RIGHT_EYE_OUTER) + p(RIGHT_EYE_INNER)) / 2, (p(LEFT_EYE_INNER) + p(LEFT_EYE_OUTER)) / 2]
    ) + np.array(shift)
    return Irises(centres=centres, radii=np.array([4.0, 4.0]), contours=np.zeros((2, 71, 2)))


def test_reference_face_has_open_eyes_and_a_frontal_pose() -> None:
    landmarks = reference_landmarks()
    assert geometry(landmarks, FRONTAL).eye_ratio > EYE_OPEN_RATIO
    assert geometry(closed(landmarks), FRONTAL).eye_ratio < 0.01
    pose = fit_pose(landmarks.points)
    assert abs(pose.yaw) < 0.5 and abs(pose.pitch) < 0.5 and abs(pose.roll) < 0.5


def test_gaze_follows_the_iris_and_adds_the_head_pose() -> None:
    landmarks = reference_landmarks()
    straight = eye_direction(landmarks, irises_at(landmarks, (0.0, 0.0)), FRONTAL)
    assert straight == pytest.approx((0.0, 0.0), abs=1e-6)
    right, _ = eye_direction(landmarks, irises_at(landmarks, (4.0, 0.0)), FRONTAL)
    _, up = eye_direction(landmarks, irises_at(landmarks, (0.0, -3.0)), FRONTAL)
    assert right > 5 and up > 5
    turned, _ = eye_direction(landmarks, irises_at(landmarks, (0.0, 0.0)), Pose(0.0, 20.0, 0.0))
    assert turned == pytest.approx(20.0)


def test_thirty_landmark_types_in_botocore_order() -> None:
    marks = rekognition_landmarks(reference_landmarks())
    assert tuple(marks) == LANDMARK_ORDER and len(marks) == 30
    # "Left" is the image's left: the left eye's corners lie left of the right eye's
    assert marks["leftEyeRight"][0] < marks["rightEyeLeft"][0]
    assert marks["mouthLeft"][0] < marks["mouthRight"][0]
    assert marks["chinBottom"][1] > marks["mouthDown"][1] > marks["nose"][1] > marks["eyeLeft"][1]


def test_wanted_attributes_ignores_default_and_unknown_names() -> None:
    assert wanted_attributes(None) == frozenset()
    assert wanted_attributes(["DEFAULT"]) == frozenset()
    assert wanted_attributes(["DEFAULT", "ALL"]) == frozenset({"ALL"})
    assert wanted_attributes(["SMILE", "EMOTIONS"]) == frozenset({"SMILE", "EMOTIONS"})
