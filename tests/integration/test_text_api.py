"""DetectText over the wire: a real boto3 client against the local endpoint."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from tests.functional.test_text_models import _text_image
from tests.support.text_render import font_path


def test_detect_text_over_http(client: Any) -> None:
    image, expected_lines = _text_image()
    result = client.detect_text(Image={"Bytes": image})
    detections = result["TextDetections"]
    lines = [d["DetectedText"] for d in detections if d["Type"] == "LINE"]
    assert lines == expected_lines
    words = [d for d in detections if d["Type"] == "WORD"]
    assert all("ParentId" in w for w in words)
    assert " ".join(w["DetectedText"] for w in words) == " ".join(expected_lines)
    assert all(len(d["Geometry"]["Polygon"]) == 4 for d in detections)
    assert isinstance(result["TextModelVersion"], str)


def _two_sizes() -> bytes:
    """A large line at the top, a small one at the bottom."""
    image = Image.new("RGB", (800, 400), "white")
    draw = ImageDraw.Draw(image)
    draw.text((40, 40), "BIG SIGN", font=ImageFont.truetype(str(font_path("sans")), 72), fill="black")
    draw.text(
        (40, 300), "small print here", font=ImageFont.truetype(str(font_path("serif")), 20), fill="black"
    )
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def test_detect_text_filters_over_http(client: Any) -> None:
    image = {"Bytes": _two_sizes()}

    def words(**filters: Any) -> list[str]:
        result = (
            client.detect_text(Image=image, Filters=filters) if filters else client.detect_text(Image=image)
        )
        return [d["DetectedText"] for d in result["TextDetections"] if d["Type"] == "WORD"]

    assert words() == ["BIG", "SIGN", "small", "print", "here"]
    # Words at least 10% of the image high: only the big line (about 20% high).
    assert words(WordFilter={"MinBoundingBoxHeight": 0.1}) == ["BIG", "SIGN"]
    assert words(WordFilter={"MinConfidence": 99.99, "MinBoundingBoxWidth": 0.5}) == []
    # The bottom half of the image, as a box and as a polygon.
    bottom = {"Left": 0.0, "Top": 0.5, "Width": 1.0, "Height": 0.5}
    assert words(RegionsOfInterest=[{"BoundingBox": bottom}]) == ["small", "print", "here"]
    triangle = [{"X": 0.0, "Y": 0.0}, {"X": 1.0, "Y": 0.0}, {"X": 0.0, "Y": 0.7}]  # over the top-left
    assert words(RegionsOfInterest=[{"Polygon": triangle}]) == ["BIG", "SIGN"]
