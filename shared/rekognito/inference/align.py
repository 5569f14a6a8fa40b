"""Five-point face alignment onto the ArcFace 112x112 template, with Pillow only."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from PIL import Image

ALIGNED_SIZE = 112
# The standard ArcFace 5-point template for 112x112 crops (eyes, nose tip, mouth corners).
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)


def similarity_to_image(landmarks: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """Least-squares similarity (rotation, uniform scale, shift) from template to image.

    Returns (a, b, tx, ty) with image_x = a*u - b*v + tx and image_y = b*u + a*v + ty for a
    template point (u, v).
    """
    src = ARCFACE_TEMPLATE
    dst = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    rows = []
    rhs = []
    for (u, v), (x, y) in zip(src, dst, strict=True):
        rows.append([u, -v, 1.0, 0.0])
        rhs.append(x)
        rows.append([v, u, 0.0, 1.0])
        rhs.append(y)
    solution, *_ = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)
    result: npt.NDArray[np.float64] = np.asarray(solution, dtype=np.float64)
    return result


def align_face(
    image: Image.Image, landmarks: npt.NDArray[np.floating], size: int = ALIGNED_SIZE
) -> Image.Image:
    """Warp the face with these landmarks to an aligned ``size`` x ``size`` RGB crop.

    When the face is much larger than the crop, the region is first shrunk with a box filter
    so that the warp does not alias.
    """
    a, b, tx, ty = similarity_to_image(landmarks) * np.array([ALIGNED_SIZE / size, ALIGNED_SIZE / size, 1, 1])
    scale = math.hypot(a, b)
    factor = int(scale) if scale >= 2.0 else 1
    source = image
    if factor > 1:
        corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], dtype=np.float64)
        xs = a * corners[:, 0] - b * corners[:, 1] + tx
        ys = b * corners[:, 0] + a * corners[:, 1] + ty
        left = max(0, math.floor(xs.min()) - factor)
        top = max(0, math.floor(ys.min()) - factor)
        right = min(image.width, math.ceil(xs.max()) + factor)
        bottom = min(image.height, math.ceil(ys.max()) + factor)
        if right - left >= factor and bottom - top >= factor:
            source = image.crop((left, top, right, bottom)).reduce(factor)
            a, b = a / factor, b / factor
            tx, ty = (tx - left) / factor, (ty - top) / factor
    return source.transform(
        (size, size),
        Image.Transform.AFFINE,
        data=(float(a), float(-b), float(tx), float(b), float(a), float(ty)),
        resample=Image.Resampling.BILINEAR,
    )
