"""Geometry and post-processing of the OCR pipeline, without models."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rekognito.inference.text.components import label_runs, run_sums
from rekognito.inference.text.detection import DetectedBox, boxes_from_map, merge_line_pieces
from rekognito.inference.text.geometry import (
    Quad,
    clip_polygon,
    convex_hull,
    expand_rect,
    min_area_rect,
    overlap_fraction,
    polygon_area,
    unclip_distance,
    upright_order,
)


def _rect(cx: float, cy: float, w: float, h: float, degrees: float) -> np.ndarray:
    a = math.radians(degrees)
    u, v = np.array([math.cos(a), math.sin(a)]), np.array([-math.sin(a), math.cos(a)])
    c = np.array([cx, cy])
    return np.array(
        [
            c - u * w / 2 - v * h / 2,
            c + u * w / 2 - v * h / 2,
            c + u * w / 2 + v * h / 2,
            c - u * w / 2 + v * h / 2,
        ]
    )


def test_convex_hull_drops_inner_and_collinear_points() -> None:
    points = np.array([[0, 0], [2, 0], [4, 0], [4, 3], [0, 3], [1, 1], [2, 2]], dtype=float)
    hull = convex_hull(points)
    assert {tuple(p) for p in hull} == {(0, 0), (4, 0), (4, 3), (0, 3)}


@pytest.mark.parametrize("degrees", [0, 10, -20, 35, 60, 90, 137])
def test_min_area_rect_recovers_a_rotated_rectangle(degrees: float) -> None:
    corners = _rect(100, 80, 120, 30, degrees)
    rng = np.random.default_rng(1)
    inside = (
        corners[0]
        + rng.random((200, 1)) * (corners[1] - corners[0])
        + rng.random((200, 1)) * (corners[3] - corners[0])
    )
    rect = min_area_rect(np.vstack([corners, inside]))
    assert polygon_area(rect) == pytest.approx(120 * 30, rel=1e-6)
    assert sorted(map(tuple, np.round(rect, 6))) == sorted(map(tuple, np.round(corners, 6)))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-50, 50), st.floats(-50, 50)), min_size=3, max_size=40))
def test_min_area_rect_encloses_the_points_and_is_no_bigger_than_the_upright_box(
    points: list[tuple[float, float]],
) -> None:
    array = np.array(points)
    rect = min_area_rect(array)
    upright = (array[:, 0].max() - array[:, 0].min()) * (array[:, 1].max() - array[:, 1].min())
    assert polygon_area(rect) <= upright + 1e-6
    # Every point is inside the rectangle (within rounding).
    for p in array:
        for a, b in zip(rect, np.roll(rect, -1, axis=0), strict=True):
            cross = (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])
            length = max(1e-9, float(np.hypot(*(b - a))))
            assert cross / length >= -1e-6 or all(
                (bb[0] - aa[0]) * (p[1] - aa[1]) - (bb[1] - aa[1]) * (p[0] - aa[0])
                <= 1e-6 * max(1e-9, float(np.hypot(*(bb - aa))))
                for aa, bb in zip(rect, np.roll(rect, -1, axis=0), strict=True)
            )


@pytest.mark.parametrize("degrees", [0, 20, -35, 44])
def test_upright_order_puts_the_top_left_corner_first(degrees: float) -> None:
    corners = _rect(50, 50, 80, 20, degrees)
    shuffled = corners[[2, 0, 3, 1]]
    ordered = upright_order(shuffled)
    np.testing.assert_allclose(ordered, corners, atol=1e-9)


def test_a_steep_box_is_ordered_as_a_tall_one() -> None:
    ordered = Quad.from_array(upright_order(_rect(50, 50, 80, 20, 90)))
    assert ordered.height > ordered.width


def test_unclip_of_a_rectangle_grows_every_side_by_area_ratio_over_perimeter() -> None:
    distance = unclip_distance(100, 10, 1.5)
    assert distance == pytest.approx(100 * 10 * 1.5 / 220)
    grown = expand_rect(_rect(0, 0, 100, 10, 30), distance)
    q = Quad.from_array(upright_order(grown))
    assert q.width == pytest.approx(100 + 2 * distance)
    assert q.height == pytest.approx(10 + 2 * distance)
    assert q.centre == pytest.approx((0.0, 0.0), abs=1e-9)


def test_quad_span_and_turns() -> None:
    q = Quad(((0.0, 0.0), (100.0, 0.0), (100.0, 10.0), (0.0, 10.0)))
    assert q.span(0.25, 0.5).points == ((25.0, 0.0), (50.0, 0.0), (50.0, 10.0), (25.0, 10.0))
    assert q.turned(2).points == ((100.0, 10.0), (0.0, 10.0), (0.0, 0.0), (100.0, 0.0))
    assert q.turned(1).points[0] == (100.0, 0.0)
    assert q.turned(4) == q
    assert math.degrees(q.turned(2).angle) == pytest.approx(180.0)


def test_clip_polygon_and_overlap_fraction() -> None:
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], dtype=float)
    right_half = np.array([[5, -5], [20, -5], [20, 20], [5, 20]], dtype=float)
    assert polygon_area(clip_polygon(right_half, square)) == pytest.approx(50.0)
    assert overlap_fraction(square, right_half) == pytest.approx(0.5)
    # A concave region (an L shape) covering three quarters of the square.
    ell = np.array([[-1, -1], [11, -1], [11, 11], [5, 11], [5, 5], [-1, 5]], dtype=float)
    assert overlap_fraction(square, ell) == pytest.approx(0.75)
    assert overlap_fraction(square, np.array([[20, 20], [30, 20], [30, 30]], dtype=float)) == 0.0


def test_components_join_diagonal_neighbours_and_sum_values() -> None:
    mask = np.zeros((10, 20), bool)
    mask[1:3, 1:5] = True
    mask[3, 5] = True  # touches the first region diagonally
    mask[5:9, 10:18] = True
    mask[5:9, 13] = False  # splits the second block's rows into two runs each, still one region
    mask[4, 13] = True  # joins rows above
    runs = label_runs(mask)
    assert runs.count == 2
    pixels = sorted(runs.pixels().tolist())
    assert pixels == sorted([2 * 4 + 1, 4 * 7 + 1])
    values = np.ones((10, 20), np.float32)
    assert sorted(run_sums(values, runs).tolist()) == [9.0, 29.0]


def test_components_match_a_flood_fill_on_random_masks() -> None:
    rng = np.random.default_rng(7)
    mask = rng.random((40, 60)) > 0.6
    runs = label_runs(mask)
    # Reference labelling by flood fill (8-connectivity).
    seen = np.zeros_like(mask)
    count = 0
    for y, x in zip(*np.nonzero(mask), strict=True):
        if seen[y, x]:
            continue
        count += 1
        stack = [(y, x)]
        seen[y, x] = True
        while stack:
            cy, cx = stack.pop()
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    ny, nx = cy + dy, cx + dx
                    if 0 <= ny < 40 and 0 <= nx < 60 and mask[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        stack.append((ny, nx))
    assert runs.count == count
    assert int(runs.pixels().sum()) == int(mask.sum())


def test_boxes_from_map_gives_a_rotated_unclipped_box() -> None:
    prob = np.zeros((200, 300), np.float32)
    yy, xx = np.mgrid[0:200, 0:300]
    # A 160 x 16 kernel turned by 20 degrees around (150, 100).
    a = math.radians(20)
    u = (xx - 150) * math.cos(a) + (yy - 100) * math.sin(a)
    v = -(xx - 150) * math.sin(a) + (yy - 100) * math.cos(a)
    prob[(abs(u) <= 80) & (abs(v) <= 8)] = 0.9
    boxes = boxes_from_map(prob, 2.0, 2.0, (600, 400))
    assert len(boxes) == 1
    q = boxes[0].quad
    assert math.degrees(q.angle) == pytest.approx(20, abs=1.5)
    # The kernel is 161 x 17 pixels; dilation adds one, pixel centres take one away.
    d = unclip_distance(161, 17, 1.6)
    assert q.width == pytest.approx(2 * (161 + 2 * d), abs=2 * 2)
    assert q.height == pytest.approx(2 * (17 + 2 * d), abs=2 * 2)
    assert q.centre == pytest.approx((300.0, 200.0), abs=3)
    assert boxes[0].score == pytest.approx(0.9, abs=0.1)


def test_boxes_from_map_drops_weak_and_tiny_regions() -> None:
    prob = np.zeros((100, 100), np.float32)
    prob[10:20, 10:60] = 0.35  # above the pixel threshold, below the box threshold
    prob[50:52, 50:52] = 0.95  # too small
    assert boxes_from_map(prob, 1.0, 1.0, (100, 100)) == []


def _box(cx: float, cy: float, w: float, h: float, degrees: float = 0.0, score: float = 0.9) -> DetectedBox:
    return DetectedBox(Quad.from_array(upright_order(_rect(cx, cy, w, h, degrees))), score)


def test_pieces_of_one_line_are_joined() -> None:
    # "would day" split at the word space: 2 px apart, same height and direction.
    merged = merge_line_pieces([_box(100, 50, 120, 30), _box(192, 50, 60, 30)])
    assert len(merged) == 1
    assert merged[0].quad.width == pytest.approx(222 - 40, abs=1)  # x 40..160 and 162..222
    assert merged[0].quad.height == pytest.approx(30, abs=0.5)
    # The same, turned by 20 degrees, and a narrow letter cut off a word.
    a = math.radians(20)
    far = (100 + 75 * math.cos(a), 50 + 75 * math.sin(a))  # a 16 px letter 7 px after the line
    assert len(merge_line_pieces([_box(100, 50, 120, 30, 20), _box(*far, 16, 30, 20)])) == 1


def test_pieces_of_a_vertical_line_are_joined_but_neighbouring_lines_are_not() -> None:
    upper, lower = _box(50, 100, 30, 120), _box(50, 190, 30, 50)  # one vertical line, split
    assert len(merge_line_pieces([upper, lower])) == 1
    left, right = _box(50, 100, 30, 160), _box(95, 100, 30, 160)  # two vertical lines
    assert len(merge_line_pieces([left, right])) == 2


def test_lines_above_each_other_and_far_apart_stay_apart() -> None:
    assert len(merge_line_pieces([_box(100, 50, 150, 30), _box(100, 95, 150, 30)])) == 2
    assert len(merge_line_pieces([_box(100, 50, 150, 30), _box(300, 50, 150, 30)])) == 2
    assert len(merge_line_pieces([_box(100, 50, 150, 30), _box(192, 50, 40, 60)])) == 2  # much taller


def test_a_fragment_inside_a_line_is_dropped() -> None:
    line, dot = _box(100, 50, 200, 40), _box(150, 52, 10, 12, score=0.6)
    assert [b.quad for b in merge_line_pieces([line, dot])] == [line.quad]
