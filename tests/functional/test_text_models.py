"""DetectText with the real models on rendered text.

Needs the model packages (requirements/models.txt) and the test-data packages
(requirements/test-data.txt, for the fonts); fails with the reason when one is missing.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from PIL import Image, ImageDraw, ImageFont

from rekognito.inference.models import ModelUnavailableError, model_path
from rekognito.operations.context import RequestContext
from rekognito.operations.text import detect_text
from rekognito.services import Services
from rekognito.settings import Settings
from tests.functional.test_detect_labels_models import package_file
from tests.support.shapes import assert_output_shape

pytestmark = pytest.mark.slow

_MODELS = ("ppocrv4-det", "ppocrv4-rec")


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RequestContext]:
    for name in _MODELS:
        try:
            model_path(name)
        except ModelUnavailableError as exc:
            pytest.fail(str(exc))
    services = Services(Settings(data_dir=tmp_path_factory.mktemp("data")))
    yield RequestContext(services=services, request_id="functional", operation="test")
    services.close()


def _text_image() -> tuple[bytes, list[str]]:
    sans = ImageFont.truetype(str(package_file("matplotlib", "mpl-data/fonts/ttf/DejaVuSans.ttf")), 44)
    serif = ImageFont.truetype(str(package_file("matplotlib", "mpl-data/fonts/ttf/DejaVuSerif.ttf")), 36)
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


def test_rendered_text_is_read_word_for_word(ctx: RequestContext) -> None:
    data, expected = _text_image()
    body = detect_text(ctx, {"Image": {"Bytes": data}})
    assert_output_shape("DetectText", body)
    lines = [d for d in body["TextDetections"] if d["Type"] == "LINE"]
    words = [d for d in body["TextDetections"] if d["Type"] == "WORD"]
    assert [line["DetectedText"] for line in lines] == expected
    assert [w["DetectedText"] for w in words] == " ".join(expected).split()
    assert all(line["Confidence"] > 90 for line in lines)
    tops = [line["Geometry"]["BoundingBox"]["Top"] for line in lines]
    assert tops == sorted(tops)
