"""DetectText over the wire: a real boto3 client against the local endpoint."""

from __future__ import annotations

from typing import Any

from tests.functional.test_text_models import _text_image


def test_detect_text_over_http(client: Any) -> None:
    image, expected_lines = _text_image()
    detections = client.detect_text(Image={"Bytes": image})["TextDetections"]
    lines = [d["DetectedText"] for d in detections if d["Type"] == "LINE"]
    assert lines == expected_lines
    words = [d for d in detections if d["Type"] == "WORD"]
    assert all("ParentId" in w for w in words)
    assert " ".join(w["DetectedText"] for w in words) == " ".join(expected_lines)
