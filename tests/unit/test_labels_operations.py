"""DetectLabels / DetectModerationLabels handlers with fake models."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rekognito.api._generated import InvalidParameterException
from rekognito.inference.labels import CocoDetector, ImageNetClassifier, LabelDetector, load_taxonomy
from rekognito.inference.moderation import NsfwClassifier
from rekognito.operations.labels import detect_labels, detect_moderation_labels
from rekognito.request import RequestContext
from rekognito.services import Services
from rekognito.settings import Settings
from tests.support.shapes import assert_output_shape
from tests.unit.test_labels_inference import FakeSession, _imagenet_logits


def _png(size: tuple[int, int] = (128, 96)) -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", size, (200, 30, 30))
    image.paste((20, 20, 220), (0, 0, size[0] // 2, size[1]))
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def ctx(tmp_path: Path) -> RequestContext:
    taxonomy = load_taxonomy()
    heat = np.zeros((1, 80, 128, 128), np.float32)
    heat[0, 0, 64, 64] = 0.65
    wh = np.full((1, 4, 128, 128), 50.0, np.float32)
    services = Services(Settings(data_dir=tmp_path))
    services.label_detector = LabelDetector(
        ImageNetClassifier(FakeSession([_imagenet_logits(taxonomy.imagenet_labels.index("Tabby"))])),
        CocoDetector(FakeSession([heat, wh])),
        taxonomy,
    )
    services.moderation_classifier = NsfwClassifier(FakeSession([np.array([[0.1, 0.9]], np.float32)]))
    return RequestContext(services=services, request_id="r", operation="test")


def test_detect_labels_shape_and_defaults(ctx: RequestContext) -> None:
    body = detect_labels(ctx, {"Image": {"Bytes": _png()}})
    assert_output_shape("DetectLabels", body)
    names = [label["Name"] for label in body["Labels"]]
    assert "Cat" in names and "Person" in names
    person = next(label for label in body["Labels"] if label["Name"] == "Person")
    assert set(person["Instances"][0]["BoundingBox"]) == {"Width", "Height", "Left", "Top"}
    assert body["LabelModelVersion"] == "3.0" and "ImageProperties" not in body
    assert all(label["Confidence"] >= 55 for label in body["Labels"])


def test_detect_labels_filters_and_max(ctx: RequestContext) -> None:
    body = detect_labels(
        ctx,
        {
            "Image": {"Bytes": _png()},
            "MaxLabels": 2,
            "Settings": {"GeneralLabels": {"LabelCategoryInclusionFilters": ["Animals and Pets"]}},
        },
    )
    assert len(body["Labels"]) == 2
    assert all(c["Name"] == "Animals and Pets" for label in body["Labels"] for c in label["Categories"])
    excluded = detect_labels(
        ctx, {"Image": {"Bytes": _png()}, "Settings": {"GeneralLabels": {"LabelExclusionFilters": ["Cat"]}}}
    )
    assert "Cat" not in [label["Name"] for label in excluded["Labels"]]


def test_detect_labels_image_properties(ctx: RequestContext) -> None:
    body = detect_labels(
        ctx,
        {
            "Image": {"Bytes": _png()},
            "Features": ["IMAGE_PROPERTIES"],
            "Settings": {"ImageProperties": {"MaxDominantColors": 2}},
        },
    )
    assert_output_shape("DetectLabels", body)
    assert "Labels" not in body
    colors = body["ImageProperties"]["DominantColors"]
    assert len(colors) == 2 and {c["SimplifiedColor"] for c in colors} == {"red", "blue"}
    assert set(body["ImageProperties"]) == {"Quality", "DominantColors", "Foreground", "Background"}


def test_settings_without_feature_is_rejected(ctx: RequestContext) -> None:
    with pytest.raises(InvalidParameterException):
        detect_labels(
            ctx,
            {"Image": {"Bytes": _png()}, "Features": ["GENERAL_LABELS"], "Settings": {"ImageProperties": {}}},
        )


def test_detect_moderation_labels(ctx: RequestContext) -> None:
    body = detect_moderation_labels(ctx, {"Image": {"Bytes": _png()}})
    assert_output_shape("DetectModerationLabels", body)
    assert [m["Name"] for m in body["ModerationLabels"]] == ["Explicit", "Explicit Nudity"]
    assert body["ModerationLabels"][1]["ParentName"] == "Explicit"
    assert (
        detect_moderation_labels(ctx, {"Image": {"Bytes": _png()}, "MinConfidence": 95})["ModerationLabels"]
        == []
    )
