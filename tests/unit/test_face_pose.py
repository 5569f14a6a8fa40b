"""The mesh pose fit recovers known rotations of the reference face; crops map back exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rekognito.inference.landmarks import Crop
from rekognito.inference.quality import fit_pose, reference_face


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Camera-frame rotation (x right, y down, z away): roll about z after yaw and pitch."""
    y, p, r = (math.radians(v) for v in (yaw, pitch, roll))
    # Turning the face towards the image's right moves its normal (-z) towards +x.
    ry = np.array([[math.cos(y), 0, -math.sin(y)], [0, 1, 0], [math.sin(y), 0, math.cos(y)]])
    # Looking up moves the normal towards -y (up in the image).
    rx = np.array([[1, 0, 0], [0, math.cos(p), math.sin(p)], [0, -math.sin(p), math.cos(p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


@pytest.mark.parametrize(
    ("yaw", "pitch", "roll"),
    [(0, 0, 0), (35, 0, 0), (-50, 0, 0), (0, 20, 0), (0, -25, 0), (0, 0, 15), (30, -10, 8), (-70, 5, -5)],
)
def test_fit_pose_recovers_a_rotated_reference(yaw: float, pitch: float, roll: float) -> None:
    # Given the reference face turned by a known pose, scaled and moved into image pixels
    points = reference_face().points @ rotation(yaw, pitch, roll).T * 80.0 + np.array([300.0, 200.0, 0.0])

    # When the pose is fitted
    pose = fit_pose(points)

    # Then each angle comes back within a degree
    assert pose.yaw == pytest.approx(yaw, abs=1.0)
    assert pose.pitch == pytest.approx(pitch, abs=1.0)
    assert pose.roll == pytest.approx(roll, abs=1.0)


def test_reference_is_mirror_symmetric() -> None:
    reference = reference_face()
    mirrored = reference.points[reference.mirror] * np.array([-1.0, 1.0, 1.0])
    assert np.abs(mirrored - reference.points).max() < 1e-4
    assert np.array_equal(reference.mirror[reference.mirror], np.arange(len(reference.mirror)))


def test_crop_maps_its_own_corners_and_centre() -> None:
    crop = Crop(centre=(120.0, 80.0), scale=2.0, angle=math.radians(30), size=192)
    centre = crop.to_image(np.array([[96.0, 96.0, 5.0]]))
    assert centre[0, :2] == pytest.approx([120.0, 80.0])
    assert centre[0, 2] == pytest.approx(10.0)
    corner = crop.to_image(np.array([[192.0, 96.0]]))
    angle = math.radians(30)
    assert corner[0] == pytest.approx([120.0 + 192 * math.cos(angle), 80.0 + 192 * math.sin(angle)])
