"""Plane geometry for text boxes, in numpy: hulls, minimum-area rectangles, quads, clipping.

Coordinates are image pixels, x to the right and y down. A :class:`Quad` is four corners in
reading order: the text's top-left, top-right, bottom-right and bottom-left (clockwise on
screen for upright text), which is also the order of Rekognition's ``Geometry.Polygon``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Point = tuple[float, float]


@dataclass(frozen=True)
class Quad:
    """Four corners: top-left, top-right, bottom-right, bottom-left of the text."""

    points: tuple[Point, Point, Point, Point]

    @classmethod
    def from_array(cls, array: FloatArray) -> Quad:
        p = [(float(x), float(y)) for x, y in np.asarray(array, dtype=np.float64).reshape(4, 2)]
        return cls((p[0], p[1], p[2], p[3]))

    def array(self) -> FloatArray:
        return np.array(self.points, dtype=np.float64)

    @property
    def width(self) -> float:
        """Length along the text (mean of the top and bottom edges)."""
        a = self.array()
        return float((np.linalg.norm(a[1] - a[0]) + np.linalg.norm(a[2] - a[3])) / 2)

    @property
    def height(self) -> float:
        """Length across the text (mean of the left and right edges)."""
        a = self.array()
        return float((np.linalg.norm(a[3] - a[0]) + np.linalg.norm(a[2] - a[1])) / 2)

    @property
    def centre(self) -> Point:
        a = self.array().mean(axis=0)
        return float(a[0]), float(a[1])

    @property
    def angle(self) -> float:
        """Direction of the text (top-left to top-right) in radians, y down."""
        a = self.array()
        d = (a[1] - a[0]) + (a[2] - a[3])
        return math.atan2(float(d[1]), float(d[0]))

    def bounds(self) -> tuple[float, float, float, float]:
        """Axis-aligned (left, top, right, bottom) enclosing the quad."""
        a = self.array()
        return float(a[:, 0].min()), float(a[:, 1].min()), float(a[:, 0].max()), float(a[:, 1].max())

    def span(self, start: float, end: float) -> Quad:
        """The part of the quad between fractions ``start`` and ``end`` of its width."""
        a = self.array()
        top = a[0] + np.array([start, end])[:, None] * (a[1] - a[0])
        bottom = a[3] + np.array([start, end])[:, None] * (a[2] - a[3])
        return Quad.from_array(np.stack([top[0], top[1], bottom[1], bottom[0]]))

    def turned(self, quarter_turns: int) -> Quad:
        """The same region read after turning the crop counter-clockwise ``quarter_turns`` times.

        Turning a crop 90 degrees counter-clockwise makes its old top-right corner the new
        top-left one, so the corners rotate by one position.
        """
        k = quarter_turns % 4
        p = self.points
        return Quad((p[k % 4], p[(k + 1) % 4], p[(k + 2) % 4], p[(k + 3) % 4]))

    def clipped(self, width: float, height: float) -> Quad:
        a = self.array()
        a[:, 0] = np.clip(a[:, 0], 0.0, width)
        a[:, 1] = np.clip(a[:, 1], 0.0, height)
        return Quad.from_array(a)

    def scaled(self, sx: float, sy: float) -> Quad:
        return Quad.from_array(self.array() * np.array([sx, sy]))


def convex_hull(points: FloatArray) -> FloatArray:
    """Convex hull (Andrew's monotone chain), counter-clockwise in x-right/y-up terms.

    Collinear points are dropped; fewer than three distinct points come back as they are.
    """
    pts = np.unique(np.asarray(points, dtype=np.float64).reshape(-1, 2), axis=0)  # sorted by x, then y
    if len(pts) < 3:
        return pts

    def half(sequence: FloatArray) -> list[FloatArray]:
        chain: list[FloatArray] = []
        for p in sequence:
            while len(chain) >= 2:
                o, a = chain[-2], chain[-1]
                if (a[0] - o[0]) * (p[1] - o[1]) - (a[1] - o[1]) * (p[0] - o[0]) > 0:
                    break
                chain.pop()
            chain.append(p)
        return chain

    lower = half(pts)
    upper = half(pts[::-1])
    return np.array(lower[:-1] + upper[:-1], dtype=np.float64)


def min_area_rect(points: FloatArray) -> FloatArray:
    """Corners (4x2) of the smallest-area rectangle around ``points`` (rotating calipers).

    One side of the minimal rectangle lies along a hull edge, so every edge direction is
    tried at once: the hull is projected on each edge's direction and its normal.
    """
    hull = convex_hull(points)
    if len(hull) == 0:
        return np.zeros((4, 2))
    if len(hull) < 3:
        (x0, y0), (x1, y1) = hull.min(axis=0), hull.max(axis=0)
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)
    edges = np.roll(hull, -1, axis=0) - hull
    angles = np.unique(np.mod(np.arctan2(edges[:, 1], edges[:, 0]), np.pi / 2))
    cos, sin = np.cos(angles), np.sin(angles)
    u = hull[:, 0][None, :] * cos[:, None] + hull[:, 1][None, :] * sin[:, None]  # along the edge
    v = -hull[:, 0][None, :] * sin[:, None] + hull[:, 1][None, :] * cos[:, None]  # across it
    areas = (u.max(axis=1) - u.min(axis=1)) * (v.max(axis=1) - v.min(axis=1))
    i = int(np.argmin(areas))
    u0, u1, v0, v1 = u[i].min(), u[i].max(), v[i].min(), v[i].max()
    c, s = cos[i], sin[i]
    corners_uv = np.array([[u0, v0], [u1, v0], [u1, v1], [u0, v1]])
    return np.stack(
        [corners_uv[:, 0] * c - corners_uv[:, 1] * s, corners_uv[:, 0] * s + corners_uv[:, 1] * c], axis=1
    )


def upright_order(rect: FloatArray) -> FloatArray:
    """Reorder a rectangle's corners as top-left, top-right, bottom-right, bottom-left.

    The "top" edge is the one whose direction is closest to the x axis (within 45 degrees);
    text steeper than that gets a tall box, which the reader turns by 90 degrees.
    """
    r = np.asarray(rect, dtype=np.float64).reshape(4, 2)
    centre = r.mean(axis=0)
    # Clockwise on screen (y down) = increasing atan2 angle; start anywhere, then pick the start.
    order = np.argsort(np.arctan2(r[:, 1] - centre[1], r[:, 0] - centre[0]))
    r = r[order]
    best, best_key = 0, (math.inf, math.inf)
    for k in range(4):
        d = r[(k + 1) % 4] - r[k]
        if d[0] <= 0:
            continue  # the top edge runs left to right
        key = (abs(math.atan2(float(d[1]), float(d[0]))), float(r[k][1] + r[(k + 1) % 4][1]))
        if key < best_key:
            best, best_key = k, key
    return np.roll(r, -best, axis=0)


def expand_rect(rect: FloatArray, distance: float) -> FloatArray:
    """Grow a rectangle (corners in order around it) by ``distance`` on every side.

    This is DB's "unclip" for a rectangle: the offset polygon of a rectangle, with its
    rounded corners replaced by the enclosing rectangle.
    """
    r = np.asarray(rect, dtype=np.float64).reshape(4, 2)
    centre = r.mean(axis=0)
    e1 = r[1] - r[0]
    e2 = r[3] - r[0]
    n1 = e1 / max(float(np.linalg.norm(e1)), 1e-9)
    n2 = e2 / max(float(np.linalg.norm(e2)), 1e-9)
    out = []
    for p in r:
        d = p - centre
        out.append(p + np.sign(d @ n1) * distance * n1 + np.sign(d @ n2) * distance * n2)
    return np.array(out)


def unclip_distance(width: float, height: float, ratio: float) -> float:
    """DB's unclip offset for a ``width`` x ``height`` rectangle: area * ratio / perimeter."""
    perimeter = 2.0 * (width + height)
    return width * height * ratio / perimeter if perimeter > 0 else 0.0


def polygon_area(points: FloatArray) -> float:
    """Area of a simple polygon (shoelace formula), always >= 0."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(p) < 3:
        return 0.0
    x, y = p[:, 0], p[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def clip_polygon(subject: FloatArray, convex: FloatArray) -> FloatArray:
    """The part of polygon ``subject`` inside the convex polygon ``convex`` (Sutherland-Hodgman).

    ``subject`` may be concave (a region of interest); ``convex`` must be convex (a text
    box). The area of the result is the area of the intersection.
    """
    out = np.asarray(subject, dtype=np.float64).reshape(-1, 2)
    clip = np.asarray(convex, dtype=np.float64).reshape(-1, 2)
    if polygon_area(clip) == 0.0:
        return np.zeros((0, 2))
    # Orient the clip polygon so that "inside" is on the left of each edge (cross > 0).
    x, y = clip[:, 0], clip[:, 1]
    if np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)) < 0:
        clip = clip[::-1]
    for a, b in zip(clip, np.roll(clip, -1, axis=0), strict=True):
        if len(out) == 0:
            break
        edge = b - a
        side = edge[0] * (out[:, 1] - a[1]) - edge[1] * (out[:, 0] - a[0])
        inside = side >= 0
        kept: list[FloatArray] = []
        for i in range(len(out)):
            j = (i + 1) % len(out)
            if inside[i]:
                kept.append(out[i])
            if inside[i] != inside[j]:
                t = side[i] / (side[i] - side[j])
                kept.append(out[i] + t * (out[j] - out[i]))
        out = np.array(kept).reshape(-1, 2)
    return out


def overlap_fraction(quad: FloatArray, region: FloatArray) -> float:
    """Fraction of the (convex) ``quad``'s area that lies inside the polygon ``region``."""
    area = polygon_area(quad)
    if area == 0.0:
        return 0.0
    return polygon_area(clip_polygon(region, quad)) / area
