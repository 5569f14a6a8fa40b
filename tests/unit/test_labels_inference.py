"""Label and moderation wrappers with fake onnxruntime sessions (no model files)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from rekognito.inference.image_properties import analyse
from rekognito.inference.labels import (
    Box,
    CocoDetector,
    ImageNetClassifier,
    LabelDetector,
    detector_curve,
    load_taxonomy,
)
from rekognito.inference.moderation import NsfwClassifier


@dataclass
class _Io:
    name: str


class FakeSession:
    """Returns canned outputs and records the inputs it was given."""

    def __init__(
        self, outputs: list[np.ndarray], input_name: str = "x", meta: dict[str, str] | None = None
    ) -> None:
        self.outputs = outputs
        self.input_name = input_name
        self.calls: list[dict[str, np.ndarray]] = []
        self.meta = meta or {}

    def get_inputs(self) -> list[_Io]:
        return [_Io(self.input_name)]

    def get_modelmeta(self) -> Any:
        meta = self.meta

        class _Meta:
            custom_metadata_map = meta

        return _Meta()

    def run(self, _names: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        self.calls.append(feeds)
        return self.outputs


def _imagenet_logits(index: int) -> np.ndarray:
    logits = np.full((1, 1000), -10.0, dtype=np.float32)
    logits[0, index] = 10.0
    return logits


def _empty_detector() -> CocoDetector:
    return CocoDetector(
        FakeSession([np.zeros((1, 80, 128, 128), np.float32), np.zeros((1, 4, 128, 128), np.float32)])
    )


def test_classifier_input_layout() -> None:
    # Given an image and a fake session
    session = FakeSession([_imagenet_logits(0)])
    classifier = ImageNetClassifier(session)
    # When classifying
    probs = classifier.probabilities(Image.new("RGB", (300, 200), (255, 255, 255)))
    # Then the input is 1x3x224x224, normalised, and the output is a distribution
    fed = session.calls[0]["x"]
    assert fed.shape == (1, 3, 224, 224) and fed.dtype == np.float32
    assert np.allclose(fed[0, 0], (1.0 - 0.485) / 0.229, atol=1e-4)
    assert abs(float(probs.sum()) - 1.0) < 1e-4 and int(probs.argmax()) == 0


def test_taxonomy_gives_cat_its_parents() -> None:
    taxonomy = load_taxonomy()
    tabby = taxonomy.imagenet_labels.index("Tabby")
    assert {"Animal", "Mammal", "Pet", "Cat"} <= set(taxonomy.imagenet_parents[tabby])
    parents, categories = taxonomy.describe("Cat")
    assert set(parents) == {"Animal", "Mammal", "Pet"} and categories == ["Animals and Pets"]
    assert taxonomy.coco_labels[0] == "Person" and taxonomy.coco_labels[15] == "Cat"
    assert len(taxonomy.imagenet_labels) == 1000 and len(taxonomy.coco_labels) == 80


def test_detector_decodes_a_peak_into_a_box() -> None:
    # Given one person peak at cell (64, 32) with extents 40/60/40/60 px
    heat = np.zeros((1, 80, 128, 128), np.float32)
    heat[0, 0, 64, 32] = 0.9
    heat[0, 0, 64, 33] = 0.5  # a neighbour, not a peak
    wh = np.zeros((1, 4, 128, 128), np.float32)
    wh[0, :, 64, 32] = [40, 60, 40, 60]
    detector = CocoDetector(FakeSession([heat, wh]))
    # When detecting
    found = detector.detect(Image.new("RGB", (100, 50)))
    # Then one box centred at (128, 256) px of the 512 input, in ratios
    assert len(found) == 1
    box = found[0].box
    assert found[0].class_id == 0
    assert np.isclose(box.left, 88 / 512) and np.isclose(box.top, 196 / 512)
    assert np.isclose(box.width, 80 / 512) and np.isclose(box.height, 120 / 512)


def test_detection_confidence_is_monotone() -> None:
    scores = [0.1, 0.3, 0.5, 0.7, 0.9]
    values = [detector_curve(label)(s) for label in ("Person", "Cup") for s in scores]
    assert values[:5] == sorted(values[:5]) and values[5:] == sorted(values[5:])
    assert all(0.0 < v < 1.0 for v in values)


def test_label_detector_merges_classifier_and_detector() -> None:
    taxonomy = load_taxonomy()
    tabby = taxonomy.imagenet_labels.index("Tabby")
    heat = np.zeros((1, 80, 128, 128), np.float32)
    heat[0, 0, 64, 64] = 0.65  # a person
    wh = np.full((1, 4, 128, 128), 50.0, np.float32)
    detector = LabelDetector(
        ImageNetClassifier(FakeSession([_imagenet_logits(tabby)])),
        CocoDetector(FakeSession([heat, wh])),
        taxonomy,
    )
    labels = {label.name: label for label in detector.detect(Image.new("RGB", (64, 64)))}
    # (a black test image counts as greyscale, where the classifier is trusted less)
    assert labels["Cat"].confidence > 95 and labels["Cat"].instances == []
    assert labels["Person"].instances and labels["Person"].confidence > 80
    assert labels["Cat"].parents == ["Animal", "Mammal", "Pet"]


def test_box_iou() -> None:
    a = Box(0.0, 0.0, 0.5, 0.5)
    assert a.iou(a) == 1.0
    assert a.iou(Box(0.5, 0.5, 0.5, 0.5)) == 0.0
    assert np.isclose(a.iou(Box(0.25, 0.0, 0.5, 0.5)), 1 / 3)


def test_moderation_reports_explicit_only_above_threshold() -> None:
    session = FakeSession([np.array([[0.2, 0.8]], np.float32)], input_name="input:0")
    classifier = NsfwClassifier(session)
    image = Image.new("RGB", (300, 300), (120, 80, 60))
    labels = classifier.moderate(image, 50.0)
    assert [(m.name, m.parent, m.level) for m in labels] == [
        ("Explicit", "", 1),
        ("Explicit Nudity", "Explicit", 2),
    ]
    assert np.isclose(labels[0].confidence, 80.0)
    assert classifier.moderate(image, 90.0) == []
    assert session.calls[0]["input:0"].shape == (1, 224, 224, 3)


def test_image_properties_of_a_two_colour_image() -> None:
    image = Image.new("RGB", (200, 100), (255, 0, 0))
    image.paste((0, 0, 255), (100, 0, 200, 100))
    props = analyse(image, max_colors=2)
    colors = props.whole.colors
    assert len(colors) == 2
    assert {c.simplified for c in colors} == {"red", "blue"}
    assert np.isclose(sum(c.pixel_percent for c in colors), 100.0)
    assert colors[0].hex_code.startswith("#") and len(colors[0].hex_code) == 7
    assert 0 <= props.whole.quality.brightness <= 100
    flat = analyse(Image.new("RGB", (64, 64), (128, 128, 128)), max_colors=3)
    assert flat.whole.quality.contrast == 0.0 and flat.whole.quality.sharpness == 0.0


def test_empty_detector_gives_no_instances() -> None:
    detector = LabelDetector(ImageNetClassifier(FakeSession([_imagenet_logits(0)])), _empty_detector())
    labels = detector.detect(Image.new("RGB", (32, 32)))
    assert all(not label.instances for label in labels)
