"""DetectLabels and DetectModerationLabels with the real models on real photos.

Needs the model packages (requirements/models.txt), the built label models
(scripts/build-label-models) and the test-data packages (requirements/test-data.txt);
fails with the reason when one is missing.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rekognito.inference.models import ModelUnavailableError, model_path
from rekognito.operations.labels import detect_labels, detect_moderation_labels
from rekognito.request import RequestContext
from rekognito.services import Services
from rekognito.settings import Settings
from tests.support.labels_photos import load_photos
from tests.support.shapes import assert_output_shape

pytestmark = pytest.mark.slow

_MODELS = (
    "mobilenet-v2-imagenet",
    "centernet-mbv3-coco",
    "yunet-2023mar",
    "open-nsfw",
)


def package_file(module: str, relative: str) -> Path:
    """A data file of an installed package, found without importing the package."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(f"{module} not installed (pip install --no-deps -r requirements/test-data.txt)")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        pytest.fail(f"{path} missing")
    return path


def astronaut() -> Path:
    return package_file("skimage", "data/astronaut.png")


def chelsea() -> Path:
    return package_file("skimage", "data/chelsea.png")


def coffee() -> Path:
    return package_file("skimage", "data/coffee.png")


def puppy() -> Path:
    return package_file("caer", "data/puppy.jpg")


def grace_hopper() -> Path:
    return package_file("matplotlib", "mpl-data/sample_data/grace_hopper.jpg")


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RequestContext]:
    for name in _MODELS:
        try:
            model_path(name)
        except ModelUnavailableError as exc:
            pytest.fail(f"{exc} (run scripts/build-label-models)")
    services = Services(Settings(data_dir=tmp_path_factory.mktemp("data")))
    yield RequestContext(services=services, request_id="functional", operation="test")
    services.close()


def _bytes(path: Path) -> bytes:
    return path.read_bytes()


def _labels(ctx: RequestContext, path: Path, **extra: Any) -> dict[str, dict[str, Any]]:
    body = detect_labels(ctx, {"Image": {"Bytes": _bytes(path)}, **extra})
    assert_output_shape("DetectLabels", body)
    return {label["Name"]: label for label in body["Labels"]}


def _iou(a: dict[str, float], b: tuple[float, float, float, float]) -> float:
    ax1, ay1, ax2, ay2 = a["Left"], a["Top"], a["Left"] + a["Width"], a["Top"] + a["Height"]
    bx1, by1, bx2, by2 = b
    inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
    return inter / ((ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter)


def test_astronaut_is_a_person_with_a_box(ctx: RequestContext) -> None:
    labels = _labels(ctx, astronaut())
    top = sorted(labels.values(), key=lambda label: -label["Confidence"])[:5]
    assert "Person" in [label["Name"] for label in top]
    # Hand-marked box around the astronaut (ratios of the 512x512 image).
    best = labels["Person"]["Instances"][0]["BoundingBox"]
    assert _iou(best, (0.0, 0.0, 0.75, 1.0)) >= 0.5


def test_chelsea_is_a_cat_with_animal_parents(ctx: RequestContext) -> None:
    labels = _labels(ctx, chelsea())
    assert labels["Cat"]["Confidence"] > 90
    assert {"Animal", "Mammal", "Pet"} <= {p["Name"] for p in labels["Cat"]["Parents"]}
    assert {"Name": "Animals and Pets"} in labels["Cat"]["Categories"]
    assert "Dog" not in labels
    # The cat fills most of the 451x300 photo.
    assert _iou(labels["Cat"]["Instances"][0]["BoundingBox"], (0.0, 0.0, 0.95, 1.0)) >= 0.5


def test_coffee_is_a_cup_of_coffee(ctx: RequestContext) -> None:
    labels = _labels(ctx, coffee())
    assert {"Cup", "Coffee"} & set(labels)
    assert labels["Cup"]["Instances"], "the cup should have a box"
    # Hand-marked box around cup and saucer in the 600x400 photo.
    assert _iou(labels["Cup"]["Instances"][0]["BoundingBox"], (0.25, 0.03, 0.7, 0.72)) >= 0.5


def test_puppy_is_a_dog_with_a_box(ctx: RequestContext) -> None:
    labels = _labels(ctx, puppy())
    assert labels["Dog"]["Confidence"] > 90
    assert {"Animal", "Mammal", "Pet", "Canine"} <= {p["Name"] for p in labels["Dog"]["Parents"]}
    # Hand-marked box around the puppy in the 640x512 photo.
    assert _iou(labels["Dog"]["Instances"][0]["BoundingBox"], (0.0, 0.04, 0.92, 0.98)) >= 0.5


def test_portrait_is_a_person(ctx: RequestContext) -> None:
    labels = _labels(ctx, grace_hopper(), MaxLabels=3)
    assert "Person" in labels and len(labels) <= 3
    assert _iou(labels["Person"]["Instances"][0]["BoundingBox"], (0.0, 0.03, 1.0, 1.0)) >= 0.5


# The acceptance photos that the pinned models can answer. Coins, the Moon and a
# motion-blurred clock have no class in either model (ImageNet-1k has no coin or moon, COCO
# neither; the classifier calls the blurred clock a spotlight), so they are misses today; no
# pinned package carries a photo of a person holding a book (docs/labels.md).
_ACCEPTANCE_HITS = {
    "skimage/astronaut",
    "skimage/chelsea",
    "skimage/coffee",
    "skimage/rocket",
    "skimage/horse",
    "skimage/motorcycle_left",
}


def test_acceptance_photos_return_their_obvious_label(ctx: RequestContext) -> None:
    photos = [photo for photo in load_photos() if photo.acceptance]
    hits: set[str] = set()
    wrong_80: list[tuple[str, str]] = []
    for photo in photos:
        labels = _labels(ctx, photo.path)
        if any(name in labels for name in photo.obvious):
            hits.add(photo.id)
        wrong_80 += [
            (photo.id, name)
            for name, label in labels.items()
            if label["Confidence"] >= 80 and photo.judge(name) is False
        ]
    assert hits >= _ACCEPTANCE_HITS, sorted(_ACCEPTANCE_HITS - hits)
    assert len(wrong_80) <= 1, wrong_80


def test_horse_silhouette_stays_a_horse_with_a_box(ctx: RequestContext) -> None:
    labels = _labels(ctx, package_file("skimage", "data/horse.png"))
    assert "Dog" not in labels
    assert _iou(labels["Horse"]["Instances"][0]["BoundingBox"], (0.04, 0.02, 0.97, 0.96)) >= 0.5


def test_rocket_is_a_rocket_not_a_clock(ctx: RequestContext) -> None:
    labels = _labels(ctx, package_file("skimage", "data/rocket.jpg"))
    assert "Rocket" in labels and "Clock" not in labels


def test_portrait_has_a_face_and_aliases(ctx: RequestContext) -> None:
    labels = _labels(ctx, grace_hopper())
    assert {"Name": "Human"} in labels["Person"]["Aliases"]
    face = labels["Face"]["Instances"][0]["BoundingBox"]
    assert 0.2 < face["Left"] + face["Width"] / 2 < 0.8 and face["Top"] < 0.5


def test_image_properties_of_a_photo(ctx: RequestContext) -> None:
    body = detect_labels(
        ctx, {"Image": {"Bytes": _bytes(coffee())}, "Features": ["GENERAL_LABELS", "IMAGE_PROPERTIES"]}
    )
    assert_output_shape("DetectLabels", body)
    props = body["ImageProperties"]
    assert 0 < props["Quality"]["Brightness"] < 100 and 0 < props["Quality"]["Sharpness"] <= 100
    assert 1 <= len(props["DominantColors"]) <= 10
    assert abs(sum(c["PixelPercent"] for c in props["DominantColors"]) - 100) < 0.5


def test_ordinary_photos_are_not_flagged(ctx: RequestContext) -> None:
    for path in (astronaut(), chelsea(), coffee()):
        body = detect_moderation_labels(ctx, {"Image": {"Bytes": _bytes(path)}})
        assert_output_shape("DetectModerationLabels", body)
        assert body["ModerationLabels"] == []
        assert body["ModerationModelVersion"] == "7.0"
