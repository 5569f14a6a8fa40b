"""DB text detection (PP-OCR): probability map -> rotated line boxes.

Post-processing follows the DB paper and PaddleOCR's defaults, in numpy: threshold the map,
dilate by one pixel, label connected regions, fit a minimum-area rectangle to each region,
drop regions whose mean probability is low, grow each rectangle by DB's unclip offset (the
network predicts shrunk text kernels) and scale it back to the image. Then pieces of one
line that DB cut apart are joined (:func:`merge_line_pieces`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
from PIL import Image

from rekognito.inference.text.components import label_runs, run_sums
from rekognito.inference.text.geometry import (
    Quad,
    expand_rect,
    min_area_rect,
    unclip_distance,
    upright_order,
)

FloatArray = npt.NDArray[np.float32]

# The detector's input: the image scaled so that its shorter side is at least MIN_SIDE and
# its longer side at most MAX_SIDE (the cap wins), both rounded to multiples of 32.
DET_MIN_SIDE = 736
DET_MAX_SIDE = 1280
DET_THRESHOLD = 0.3  # pixel probability that counts as text
DET_BOX_THRESHOLD = 0.5  # mean probability of a region to keep it
DET_UNCLIP_RATIO = 1.6
DET_MIN_SIZE = 3  # pixels of the map, shorter side of a region's rectangle
DET_MAX_CANDIDATES = 300  # regions turned into boxes, best scores first
# Joining pieces of one line (see merge_line_pieces); lengths relative to the boxes' height.
MERGE_MAX_ANGLE = math.radians(10)
MERGE_MAX_HEIGHT_RATIO = 1.6
MERGE_MAX_OFFSET = 0.35  # centres' distance across the line
MERGE_MAX_GAP = 0.8  # space between the boxes along the line (negative: overlap)
MERGE_MIN_ASPECT = 0.4  # length / thickness of the shorter piece (a single narrow letter)
MERGE_MIN_LINE_ASPECT = 1.2  # length / thickness of the longer piece
MERGE_ABSORB_RATIO = 1.5  # a box this many times lower than one it sits in is dropped
_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class OnnxSession(Protocol):
    """The part of ``onnxruntime.InferenceSession`` the text models use."""

    def get_inputs(self) -> list[object]: ...

    def run(self, output_names: None, input_feed: dict[str, FloatArray]) -> list[FloatArray]: ...


def input_name(session: OnnxSession) -> str:
    return str(getattr(session.get_inputs()[0], "name", "x"))


@dataclass(frozen=True)
class DetectedBox:
    """A text region: its rectangle in image pixels (upright corner order) and mean score."""

    quad: Quad
    score: float


def detector_size(width: int, height: int) -> tuple[int, int]:
    """The detector's input size for an image (multiples of 32)."""
    scale = 1.0
    if min(width, height) < DET_MIN_SIDE:
        scale = DET_MIN_SIDE / min(width, height)
    if max(width, height) * scale > DET_MAX_SIDE:
        scale = DET_MAX_SIDE / max(width, height)
    return max(32, round(width * scale / 32) * 32), max(32, round(height * scale / 32) * 32)


class TextDetector:
    """PP-OCR DB text detection (mobile).

    Input ``x``: 1x3xHxW float32, NCHW, channels in BGR order, ``(x/255 - mean) / std`` with
    ImageNet's mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225) applied in that
    order to B, G, R (as PaddleOCR's cv2-based pipeline does); H and W multiples of 32 (see
    :func:`detector_size`). Output: 1x1xHxW probability that a pixel is inside a (shrunk)
    text region.
    """

    def __init__(self, session: OnnxSession) -> None:
        self.session = session
        self.input_name = input_name(session)

    @staticmethod
    def prepare(image: Image.Image) -> FloatArray:
        size = detector_size(image.width, image.height)
        resized = image.convert("RGB").resize(size, Image.Resampling.BILINEAR)
        array = np.asarray(resized, dtype=np.float32)[:, :, ::-1] / np.float32(255.0)
        array = (array - _IMAGENET_MEAN) / _IMAGENET_STD
        return np.ascontiguousarray(array.transpose(2, 0, 1)[None], dtype=np.float32)

    def probability_map(self, image: Image.Image) -> FloatArray:
        tensor = self.prepare(image)
        out: FloatArray = np.asarray(self.session.run(None, {self.input_name: tensor})[0], dtype=np.float32)
        prob: FloatArray = out[0, 0]
        return prob

    def detect(self, image: Image.Image) -> list[DetectedBox]:
        """Text regions of ``image``, largest score first."""
        prob = self.probability_map(image)
        return boxes_from_map(prob, image.width / prob.shape[1], image.height / prob.shape[0], image.size)


def boxes_from_map(
    prob: FloatArray,
    scale_x: float,
    scale_y: float,
    image_size: tuple[int, int],
    *,
    threshold: float = DET_THRESHOLD,
    box_threshold: float = DET_BOX_THRESHOLD,
    unclip_ratio: float = DET_UNCLIP_RATIO,
) -> list[DetectedBox]:
    """DB post-processing of a probability map into rectangles in image pixels."""
    mask = prob > threshold
    # Dilation with a 2x2 kernel joins characters split by one pixel (PaddleOCR's use_dilation).
    dilated = mask.copy()
    dilated[1:, :] |= mask[:-1, :]
    dilated[:, 1:] |= mask[:, :-1]
    dilated[1:, 1:] |= mask[:-1, :-1]
    runs = label_runs(dilated)
    if runs.count == 0:
        return []
    pixels = runs.pixels()
    scores = run_sums(prob, runs) / np.maximum(pixels, 1)
    keep = np.flatnonzero((pixels >= DET_MIN_SIZE * DET_MIN_SIZE) & (scores >= box_threshold))
    # The best-scoring regions first, at most DET_MAX_CANDIDATES of them (a noisy image can
    # have thousands).
    candidates = keep[np.argsort(-scores[keep], kind="stable")][:DET_MAX_CANDIDATES].tolist()
    boxes: list[DetectedBox] = []
    for label, group in zip(candidates, runs.groups(candidates), strict=True):
        rows, starts, ends = runs.row[group], runs.start[group], runs.end[group]
        # Centres of every run's first and last pixel: the region's outline, measured between
        # pixel centres as PaddleOCR's contours are (a region n pixels high is n-1 high).
        xs = np.concatenate([starts, ends - 1]).astype(np.float64) + 0.5
        ys = np.concatenate([rows, rows]).astype(np.float64) + 0.5
        rect = min_area_rect(np.stack([xs, ys], axis=1))
        side_a = float(np.linalg.norm(rect[1] - rect[0]))
        side_b = float(np.linalg.norm(rect[3] - rect[0]))
        if min(side_a, side_b) < DET_MIN_SIZE:
            continue
        grown = expand_rect(rect, unclip_distance(side_a, side_b, unclip_ratio))
        if min(side_a, side_b) + 2 * unclip_distance(side_a, side_b, unclip_ratio) < DET_MIN_SIZE + 2:
            continue
        quad = Quad.from_array(upright_order(grown)).scaled(scale_x, scale_y)
        boxes.append(
            DetectedBox(quad.clipped(float(image_size[0]), float(image_size[1])), float(scores[label]))
        )
    return merge_line_pieces(boxes)


def _reading_frame(quad: Quad) -> Quad:
    """The box with its long side as the width (tall boxes hold vertical text)."""
    return quad.turned(1) if quad.height > quad.width else quad


def _joinable(a: Quad, b: Quad) -> bool:
    """Whether two boxes are pieces of one line (horizontal or vertical): the longer one's
    long side gives the line's direction; the other must be aligned with it (or square),
    as thick, centred on the same line and touching or overlapping it along the line."""
    a, b = _reading_frame(a), _reading_frame(b)
    line, other = (a, b) if a.width >= b.width else (b, a)
    if line.width < line.height * MERGE_MIN_LINE_ASPECT:
        return False  # two near-square boxes: no direction to join them along
    ux, uy = math.cos(line.angle), math.sin(line.angle)
    # A short box's direction is less certain: the shorter, the more it may differ.
    turn = abs(math.remainder(other.angle - line.angle, math.pi / 2))
    if turn > MERGE_MAX_ANGLE + math.atan2(other.height, other.width) / 2:
        return False
    # The other box's extent along and across the line.
    corners = other.array()
    along = corners @ np.array([ux, uy])
    across = corners @ np.array([-uy, ux])
    thickness = float(across.max() - across.min())
    length = float(along.max() - along.min())
    if max(thickness, line.height) > MERGE_MAX_HEIGHT_RATIO * min(thickness, line.height):
        return False
    if length < MERGE_MIN_ASPECT * thickness:
        return False
    (lx, ly), (ox, oy) = line.centre, other.centre
    if abs(-(ox - lx) * uy + (oy - ly) * ux) > MERGE_MAX_OFFSET * min(thickness, line.height):
        return False
    line_along = line.array() @ np.array([ux, uy])
    gap = max(along.min() - line_along.max(), line_along.min() - along.max())
    return bool(gap <= MERGE_MAX_GAP * min(thickness, line.height))


def merge_line_pieces(boxes: list[DetectedBox]) -> list[DetectedBox]:
    """Join boxes that DB split inside one line (at a wide letter gap or a word space): each
    group of joinable boxes becomes the minimum-area rectangle around them all."""
    count = len(boxes)
    if count < 2:
        return boxes
    parent = list(range(count))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # Only boxes whose circumscribed circles come close can be pieces of one line.
    centres = np.array([box.quad.centre for box in boxes])
    radii = np.array([math.hypot(box.quad.width, box.quad.height) / 2 for box in boxes])
    heights = np.array([min(box.quad.width, box.quad.height) for box in boxes])
    distance = np.linalg.norm(centres[:, None, :] - centres[None, :, :], axis=2)
    reach = radii[:, None] + radii[None, :] + MERGE_MAX_GAP * np.maximum(heights[:, None], heights[None, :])
    for i, j in zip(*np.nonzero(np.triu(distance <= reach, k=1)), strict=True):
        if root(int(i)) != root(int(j)) and _joinable(boxes[i].quad, boxes[j].quad):
            parent[root(int(j))] = root(int(i))
    groups: dict[int, list[DetectedBox]] = {}
    for i, box in enumerate(boxes):
        groups.setdefault(root(i), []).append(box)
    merged = []
    for group in groups.values():
        if len(group) == 1:
            merged.append(group[0])
            continue
        corners = np.vstack([box.quad.array() for box in group])
        quad = Quad.from_array(upright_order(min_area_rect(corners)))
        merged.append(DetectedBox(quad, max(box.score for box in group)))
    # A much lower box centred inside another one is a fragment of it (a dot, a cut letter).
    kept = [
        box
        for box in merged
        if not any(
            other is not box
            and other.quad.height >= MERGE_ABSORB_RATIO * box.quad.height
            and _contains(other.quad, box.quad.centre)
            for other in merged
        )
    ]
    kept.sort(key=lambda b: -b.score)
    return kept


def _contains(quad: Quad, point: tuple[float, float]) -> bool:
    a = quad.array()
    edges = np.roll(a, -1, axis=0) - a
    rel = np.asarray(point) - a
    cross = edges[:, 0] * rel[:, 1] - edges[:, 1] * rel[:, 0]
    return bool((cross >= 0).all() or (cross <= 0).all())
