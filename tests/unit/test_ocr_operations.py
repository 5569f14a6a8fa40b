"""The DetectText handler with fake models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rekognito.inference.ocr import TextDetector, TextReader, TextRecognizer
from rekognito.operations import load_all
from rekognito.operations.context import RequestContext
from rekognito.operations.registry import OPERATIONS
from rekognito.operations.text import detect_text
from rekognito.services import Services
from rekognito.settings import Settings
from tests.support.shapes import assert_output_shape
from tests.unit.test_labels_inference import FakeSession
from tests.unit.test_labels_operations import _png


@pytest.fixture
def ctx(tmp_path: Path) -> RequestContext:
    services = Services(Settings(data_dir=tmp_path))
    det_map = np.zeros((1, 1, 96, 128), np.float32)
    det_map[0, 0, 40:56, 10:100] = 0.9
    rec = np.zeros((1, 6, 5), np.float32)
    for t, c in enumerate([1, 2, 4, 3, 1, 0]):  # "ab" " " "c" "a"
        rec[0, t, c] = 1.0
    services.provide(
        "text_reader",
        TextReader(
            TextDetector(FakeSession([det_map])),
            TextRecognizer(FakeSession([rec]), characters=["a", "b", "c"]),
        ),
    )
    return RequestContext(services=services, request_id="r", operation="test")


def test_detect_text_lines_and_words(ctx: RequestContext) -> None:
    body = detect_text(ctx, {"Image": {"Bytes": _png()}})
    assert_output_shape("DetectText", body)
    lines = [d for d in body["TextDetections"] if d["Type"] == "LINE"]
    words = [d for d in body["TextDetections"] if d["Type"] == "WORD"]
    assert [line["DetectedText"] for line in lines] == ["ab ca"]
    assert [w["DetectedText"] for w in words] == ["ab", "ca"]
    assert all(w["ParentId"] == lines[0]["Id"] for w in words)
    assert len(lines[0]["Geometry"]["Polygon"]) == 4
    filtered = detect_text(
        ctx,
        {
            "Image": {"Bytes": _png()},
            "Filters": {
                "RegionsOfInterest": [{"BoundingBox": {"Left": 0.9, "Top": 0.9, "Width": 0.1, "Height": 0.1}}]
            },
        },
    )
    assert filtered["TextDetections"] == []


def test_load_all_registers_detect_text_from_the_text_module() -> None:
    load_all()
    assert OPERATIONS["DetectText"] is detect_text
    assert detect_text.__module__ == "rekognito.operations.text"
