"""DetectText with the real models on rendered text and a real photo.

Needs the model packages (requirements/models.txt) and the test-data packages
(requirements/test-data.txt, for the fonts and photos); fails with the reason when one is
missing. The images are drawn from fixed seeds, so every run sees the same pixels.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont

from rekognito.inference.models import ModelUnavailableError, model_path
from rekognito.inference.text.reader import CLASSIFIER_MODEL, DETECTOR_MODEL, RECOGNIZER_MODEL
from rekognito.operations.text import detect_text
from rekognito.request import RequestContext
from rekognito.services import Services
from rekognito.settings import Settings
from tests.support.shapes import assert_output_shape
from tests.support.text_render import REAL_PHOTOS, font_path, render, sample_set, score

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RequestContext]:
    for name in (DETECTOR_MODEL, RECOGNIZER_MODEL, CLASSIFIER_MODEL):
        try:
            model_path(name)
        except ModelUnavailableError as exc:
            pytest.fail(str(exc))
    services = Services(Settings(data_dir=tmp_path_factory.mktemp("data")))
    yield RequestContext(services=services, request_id="functional", operation="test")
    services.close()


def _text_image() -> tuple[bytes, list[str]]:
    sans = ImageFont.truetype(str(font_path("sans")), 44)
    serif = ImageFont.truetype(str(font_path("serif")), 36)
    lines = [
        ("Self hosted face search", sans, (40, 40)),
        ("Rekognito reads 42 words", serif, (40, 140)),
        ("Quick brown fox, lazy dog.", sans, (40, 240)),
        ("Version 2 of the API", serif, (60, 330)),
    ]
    image = Image.new("RGB", (900, 420), "white")
    draw = ImageDraw.Draw(image)
    for text, font, position in lines:
        draw.text(position, text, font=font, fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue(), [text for text, _, _ in lines]


def _words(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for d in body["TextDetections"] if d["Type"] == "WORD"]


def _lines(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for d in body["TextDetections"] if d["Type"] == "LINE"]


def _pixels(detection: dict[str, Any], width: int, height: int) -> tuple[tuple[float, float], ...]:
    return tuple((p["X"] * width, p["Y"] * height) for p in detection["Geometry"]["Polygon"])


def test_rendered_text_is_read_word_for_word(ctx: RequestContext) -> None:
    data, expected = _text_image()
    body = detect_text(ctx, {"Image": {"Bytes": data}})
    assert_output_shape("DetectText", body)
    assert [line["DetectedText"] for line in _lines(body)] == expected
    assert [w["DetectedText"] for w in _words(body)] == " ".join(expected).split()
    assert all(line["Confidence"] > 90 for line in _lines(body))


def test_faces_stay_home_is_three_words(ctx: RequestContext) -> None:
    font = ImageFont.truetype(str(font_path("sans")), 48)
    image = Image.new("RGB", (640, 140), "white")
    ImageDraw.Draw(image).text((40, 40), "FACES STAY HOME", font=font, fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    body = detect_text(ctx, {"Image": {"Bytes": buffer.getvalue()}})
    assert [line["DetectedText"] for line in _lines(body)] == ["FACES STAY HOME"]
    words = _words(body)
    assert [w["DetectedText"] for w in words] == ["FACES", "STAY", "HOME"]
    lefts = [w["Geometry"]["BoundingBox"]["Left"] for w in words]
    rights = [b["Left"] + b["Width"] for b in (w["Geometry"]["BoundingBox"] for w in words)]
    assert lefts == sorted(lefts) and all(r <= left for r, left in zip(rights, lefts[1:], strict=False))
    # Each word box lies on its own word: "STAY" starts at x ~ 40 + width of "FACES ".
    stay_left = (40 + font.getlength("FACES ")) / 640
    assert abs(words[1]["Geometry"]["BoundingBox"]["Left"] - stay_left) < 0.03
    assert all(w["Confidence"] > 90 for w in words)


@pytest.mark.parametrize("rotation", [0, 20, -35, 90, -90, 180])
def test_turned_text_is_read_in_order_with_rotated_polygons(ctx: RequestContext, rotation: int) -> None:
    lines = ["Open Street Market", "North Road 42 Hotel"]
    sample = render(
        lines,
        font="sans",
        size=32,
        rotation=rotation,
        background="white",
        blur=0.0,
        jpeg_quality=None,
        rng=random.Random(rotation),
    )
    body = detect_text(ctx, {"Image": {"Bytes": sample.data}})
    assert_output_shape("DetectText", body)
    width, height = sample.image.size
    assert [line["DetectedText"] for line in _lines(body)] == lines
    returned = [(w["DetectedText"], _pixels(w, width, height)) for w in _words(body)]
    result = score(list(sample.words), returned)
    assert result.found == result.expected == result.returned
    # The line's polygon runs along the text: its top edge points in the text's direction.
    for line in _lines(body):
        (x0, y0), (x1, y1) = _pixels(line, width, height)[:2]
        angle = math.degrees(math.atan2(-(y1 - y0), x1 - x0))  # counter-clockwise, like the rendering
        assert abs((angle - rotation + 180) % 360 - 180) < 4


def test_a_seeded_mixed_set_is_read_at_95_percent(ctx: RequestContext) -> None:
    """A small version of bench/text_accuracy.py: 20 images, every rotation, blur and JPEG."""
    samples = sample_set(101, sizes=(32,), backgrounds=("white", "photo"))
    expected = returned_total = found = 0
    for sample in samples:
        body = detect_text(ctx, {"Image": {"Bytes": sample.data}})
        width, height = sample.image.size
        result = score(
            list(sample.words), [(w["DetectedText"], _pixels(w, width, height)) for w in _words(body)]
        )
        expected += result.expected
        returned_total += result.returned
        found += result.found
    assert found / expected >= 0.95, f"recall {found}/{expected}"
    assert found / returned_total >= 0.95, f"precision {found}/{returned_total}"


def test_a_photographed_page_is_read(ctx: RequestContext) -> None:
    page = REAL_PHOTOS[0]
    body = detect_text(ctx, {"Image": {"Bytes": page.read()}})
    lines = [line["DetectedText"] for line in _lines(body)]
    assert lines[0] == "Region-based segmentation"
    words = [w["DetectedText"] for w in _words(body)]
    found = sum(1 for word in set(page.words) if word in words)
    assert found >= 0.85 * len(set(page.words)), lines
