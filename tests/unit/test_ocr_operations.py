"""The DetectText handler with a fake reader: response shape, Ids, geometry, filters, limit."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
from PIL import Image

from rekognito.api._generated import InvalidParameterException
from rekognito.inference.text import Quad, TextLine, Word
from rekognito.operations import load_all
from rekognito.operations.registry import OPERATIONS
from rekognito.operations.text import MAX_TEXT_WORDS, detect_text
from rekognito.request import RequestContext
from rekognito.services import Services
from rekognito.settings import Settings
from tests.support.shapes import assert_output_shape

WIDTH, HEIGHT = 400, 200


class FakeReader:
    def __init__(self, lines: list[TextLine]) -> None:
        self.lines = lines

    def read(self, image: Image.Image) -> list[TextLine]:
        assert image.size == (WIDTH, HEIGHT)
        return self.lines


def _line(
    words: list[tuple[str, float]], left: float, top: float, height: float, degrees: float = 0.0
) -> TextLine:
    """Words of 40 px each, 10 px apart, on a line turned by ``degrees`` around its start."""
    a = math.radians(degrees)
    u = (math.cos(a), math.sin(a))
    v = (-math.sin(a), math.cos(a))

    def at(along: float, across: float) -> tuple[float, float]:
        return (left + along * u[0] + across * v[0], top + along * u[1] + across * v[1])

    out = []
    for i, (text, confidence) in enumerate(words):
        s, e = 50.0 * i, 50.0 * i + 40.0
        out.append(Word(text, confidence, Quad((at(s, 0), at(e, 0), at(e, height), at(s, height)))))
    end = 50.0 * len(words) - 10.0
    quad = Quad((at(0, 0), at(end, 0), at(end, height), at(0, height)))
    return TextLine(
        " ".join(w.text for w in out), sum(w.confidence for w in out) / len(out), quad, tuple(out)
    )


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (WIDTH, HEIGHT), "white").save(buffer, format="PNG")
    return buffer.getvalue()


def _ctx(tmp_path: Path, lines: list[TextLine]) -> RequestContext:
    services = Services(Settings(data_dir=tmp_path))
    services.text_reader = FakeReader(lines)
    return RequestContext(services=services, request_id="r", operation="test")


@pytest.fixture
def lines() -> list[TextLine]:
    return [
        _line([("FACES", 0.99), ("STAY", 0.95), ("HOME", 0.97)], 20, 20, 20),
        _line([("small", 0.90), ("print", 0.40)], 20, 150, 8),
    ]


def test_lines_then_words_with_parent_ids(tmp_path: Path, lines: list[TextLine]) -> None:
    body = detect_text(_ctx(tmp_path, lines), {"Image": {"Bytes": _png()}})
    assert_output_shape("DetectText", body)
    detections = body["TextDetections"]
    assert [d["Type"] for d in detections] == ["LINE", "LINE"] + ["WORD"] * 5
    assert [d["Id"] for d in detections] == list(range(7))
    assert [d["DetectedText"] for d in detections] == [
        "FACES STAY HOME",
        "small print",
        "FACES",
        "STAY",
        "HOME",
        "small",
        "print",
    ]
    assert [d.get("ParentId") for d in detections] == [None, None, 0, 0, 0, 1, 1]
    assert detections[2]["Confidence"] == pytest.approx(99.0)
    assert detections[0]["Confidence"] == pytest.approx(100 * (0.99 + 0.95 + 0.97) / 3)
    assert isinstance(body["TextModelVersion"], str)


def test_polygon_follows_a_rotated_line_and_the_box_encloses_it(tmp_path: Path) -> None:
    line = _line([("tilted", 0.9), ("text", 0.9)], 100, 50, 20, degrees=20)
    body = detect_text(_ctx(tmp_path, [line]), {"Image": {"Bytes": _png()}})
    geometry = body["TextDetections"][0]["Geometry"]
    polygon = [(p["X"] * WIDTH, p["Y"] * HEIGHT) for p in geometry["Polygon"]]
    assert [c for p in polygon for c in p] == pytest.approx([c for p in line.quad.points for c in p])
    (x0, y0), (x1, y1) = polygon[0], polygon[1]
    assert math.degrees(math.atan2(y1 - y0, x1 - x0)) == pytest.approx(20)
    box = geometry["BoundingBox"]
    xs, ys = [p["X"] for p in geometry["Polygon"]], [p["Y"] for p in geometry["Polygon"]]
    assert box["Left"] == pytest.approx(min(xs)) and box["Top"] == pytest.approx(min(ys))
    assert box["Left"] + box["Width"] == pytest.approx(max(xs))
    assert box["Top"] + box["Height"] == pytest.approx(max(ys))


def test_word_filter_confidence_and_size(tmp_path: Path, lines: list[TextLine]) -> None:
    ctx = _ctx(tmp_path, lines)
    confident = detect_text(
        ctx, {"Image": {"Bytes": _png()}, "Filters": {"WordFilter": {"MinConfidence": 50}}}
    )
    texts = [d["DetectedText"] for d in confident["TextDetections"]]
    assert "print" not in texts and "small print" not in texts and "small" in texts
    tall = detect_text(
        ctx, {"Image": {"Bytes": _png()}, "Filters": {"WordFilter": {"MinBoundingBoxHeight": 15 / HEIGHT}}}
    )
    assert [d["DetectedText"] for d in tall["TextDetections"] if d["Type"] == "LINE"] == ["FACES STAY HOME"]
    wide = detect_text(
        ctx, {"Image": {"Bytes": _png()}, "Filters": {"WordFilter": {"MinBoundingBoxWidth": 41 / WIDTH}}}
    )
    assert wide["TextDetections"] == []


def test_a_line_shrinks_to_its_kept_words(tmp_path: Path, lines: list[TextLine]) -> None:
    ctx = _ctx(tmp_path, lines)
    body = detect_text(
        ctx,
        {
            "Image": {"Bytes": _png()},
            # Region over "STAY" and "HOME" only (x 70..200 of 400, the first line's band).
            "Filters": {
                "RegionsOfInterest": [
                    {"BoundingBox": {"Left": 0.17, "Top": 0.0, "Width": 0.35, "Height": 0.5}}
                ]
            },
        },
    )
    detections = body["TextDetections"]
    assert [d["DetectedText"] for d in detections] == ["STAY HOME", "STAY", "HOME"]
    line_box = detections[0]["Geometry"]["BoundingBox"]
    assert line_box["Left"] == pytest.approx(70 / WIDTH)
    assert line_box["Left"] + line_box["Width"] == pytest.approx(160 / WIDTH)


def test_region_keeps_words_more_than_half_inside(tmp_path: Path) -> None:
    line = _line([("alpha", 0.9), ("beta", 0.9)], 0, 0, 20)  # alpha x 0..40, beta x 50..90
    ctx = _ctx(tmp_path, [line])

    def kept(region: dict[str, object]) -> list[str]:
        body = detect_text(ctx, {"Image": {"Bytes": _png()}, "Filters": {"RegionsOfInterest": [region]}})
        return [d["DetectedText"] for d in body["TextDetections"] if d["Type"] == "WORD"]

    # 21 of alpha's 40 pixels inside: kept; beta 0 of 40.
    assert kept({"BoundingBox": {"Left": 19 / WIDTH, "Top": 0, "Width": 24 / WIDTH, "Height": 0.5}}) == [
        "alpha"
    ]
    # Exactly half (x 20..40) is not "more than half".
    assert kept({"BoundingBox": {"Left": 20 / WIDTH, "Top": 0, "Width": 20 / WIDTH, "Height": 0.5}}) == []
    # A triangle polygon covering all of beta and none of alpha.
    triangle = [{"X": 45 / WIDTH, "Y": 0.0}, {"X": 0.5, "Y": 0.0}, {"X": 0.5, "Y": 0.9}]
    assert kept({"Polygon": [*triangle, {"X": 45 / WIDTH, "Y": 0.9}]}) == ["beta"]


def test_any_region_may_keep_a_word(tmp_path: Path, lines: list[TextLine]) -> None:
    regions = [
        {"BoundingBox": {"Left": 0.0, "Top": 0.0, "Width": 0.15, "Height": 0.3}},  # FACES
        {"BoundingBox": {"Left": 0.0, "Top": 0.7, "Width": 0.15, "Height": 0.3}},  # small
    ]
    body = detect_text(
        _ctx(tmp_path, lines), {"Image": {"Bytes": _png()}, "Filters": {"RegionsOfInterest": regions}}
    )
    assert [d["DetectedText"] for d in body["TextDetections"]] == ["FACES", "small", "FACES", "small"]


def test_a_region_without_box_or_polygon_is_refused(tmp_path: Path, lines: list[TextLine]) -> None:
    with pytest.raises(InvalidParameterException):
        detect_text(
            _ctx(tmp_path, lines), {"Image": {"Bytes": _png()}, "Filters": {"RegionsOfInterest": [{}]}}
        )


def test_at_most_100_words_in_reading_order(tmp_path: Path) -> None:
    many = [_line([(f"w{row}-{i}", 0.9) for i in range(7)], 10, 10 + 12 * row, 10) for row in range(16)]
    body = detect_text(_ctx(tmp_path, many), {"Image": {"Bytes": _png()}})
    words = [d for d in body["TextDetections"] if d["Type"] == "WORD"]
    lines_out = [d for d in body["TextDetections"] if d["Type"] == "LINE"]
    assert len(words) == MAX_TEXT_WORDS
    assert words[-1]["DetectedText"] == "w14-1"  # 14 full lines of 7, then 2 words
    assert len(lines_out) == 15 and lines_out[-1]["DetectedText"] == "w14-0 w14-1"
    assert {w["ParentId"] for w in words} == set(range(15))


def test_load_all_registers_detect_text_from_the_text_module() -> None:
    load_all()
    assert OPERATIONS["DetectText"] is detect_text
    assert detect_text.__module__ == "rekognito.operations.text"
