"""Calibration curves and the way DetectLabels combines its evidence (fake model sessions)."""

from __future__ import annotations

import random

import numpy as np
from PIL import Image

from rekognito.inference.label_calibration import CURVES, Curve, fit_curve, noisy_or, sigmoid
from rekognito.inference.labels import (
    Box,
    CocoDetector,
    Detection,
    ImageNetClassifier,
    LabelDetector,
    LabelEvidence,
    is_greyscale,
    load_taxonomy,
    person_faces,
)
from tests.unit.test_labels_inference import FakeSession, _empty_detector, _imagenet_logits


def _detector() -> LabelDetector:
    return LabelDetector(ImageNetClassifier(FakeSession([_imagenet_logits(0)])), _empty_detector())


def test_fit_recovers_a_known_curve() -> None:
    # Given scores whose rightness follows a known logistic curve
    truth = Curve(slope=2.0, offset=-0.5, grey=-1.5)
    rng = random.Random(7)
    scores, right, grey = [], [], []
    for _ in range(4000):
        score, is_grey = rng.uniform(0.01, 0.99), rng.random() < 0.3
        scores.append(score)
        grey.append(is_grey)
        right.append(rng.random() < truth(score, is_grey))
    # When fitting
    fitted = fit_curve(scores, right, grey, prior=0.1)
    # Then the parameters come back
    assert abs(fitted.slope - 2.0) < 0.2 and abs(fitted.offset + 0.5) < 0.2 and abs(fitted.grey + 1.5) < 0.3


def test_fit_with_few_samples_stays_near_the_prior() -> None:
    fitted = fit_curve([0.9, 0.2], [True, False])
    assert 0.5 < fitted.slope < 3.0 and abs(fitted.offset) < 1.0 and fitted.grey == 0.0


def test_curves_are_increasing_and_greyscale_lowers_the_classifier() -> None:
    for curve in CURVES.values():
        values = [curve(s) for s in (0.05, 0.2, 0.5, 0.8, 0.95)]
        assert values == sorted(values)
    general = CURVES["classifier-general"]
    assert general(0.9, greyscale=True) < general(0.9)


def test_noisy_or() -> None:
    assert noisy_or([]) == 0.0
    assert abs(noisy_or([0.5, 0.5]) - 0.75) < 1e-9
    assert noisy_or([0.3, 0.2]) > 0.3
    assert sigmoid(0.0) == 0.5 and sigmoid(-800.0) == 0.0


def test_greyscale_photos_are_recognised() -> None:
    assert is_greyscale(Image.new("RGB", (40, 30), (120, 120, 120)))
    assert is_greyscale(Image.new("RGB", (40, 30), (0, 0, 0)))
    assert not is_greyscale(Image.new("RGB", (40, 30), (200, 40, 40)))


def test_weak_book_box_is_kept_when_the_classifier_agrees() -> None:
    # Given a book box too weak on its own and a classifier that sees a book jacket
    detector = _detector()
    taxonomy = detector.taxonomy
    book_box = Box(0.3, 0.4, 0.3, 0.3)
    person_box = Box(0.1, 0.1, 0.8, 0.9)
    book_class = taxonomy.coco_labels.index("Book")
    alone = LabelEvidence(False, {}, [("Book", Detection(book_class, 0.14, book_box))], [])
    agreed = LabelEvidence(
        False,
        {"Book Jacket": 0.5, "Book": 0.5},
        [("Person", Detection(0, 0.3, person_box)), ("Book", Detection(book_class, 0.14, book_box))],
        [(Box(0.4, 0.15, 0.15, 0.15), 0.9)],
    )
    # When scoring
    before = {label.name: label for label in detector.score(alone)}
    after = {label.name: label for label in detector.score(agreed)}
    # Then the book alone stays under Rekognition's default 55; with the classifier it is a
    # label with its box, and the face inside the person box makes Person confident
    assert "Book" not in before or before["Book"].confidence < 55
    assert after["Book"].confidence >= 55 and after["Book"].instances[0][0] == book_box
    assert after["Book"].confidence > 100 * CURVES["classifier-general"](0.5)
    assert after["Person"].confidence >= 80 and after["Person"].instances[0][0] == person_box
    assert after["Face"].instances and "Person" in after["Face"].parents


def test_a_face_without_a_person_box_is_not_a_person() -> None:
    # YuNet finds "faces" on dogs and fish; without any person box they are not evidence
    evidence = LabelEvidence(False, {}, [], [(Box(0.4, 0.4, 0.2, 0.2), 0.95)])
    assert person_faces(evidence) == []
    labels = {label.name for label in _detector().score(evidence)}
    assert "Person" not in labels and "Face" not in labels


def test_animal_box_keeps_its_label_when_the_crop_classifier_is_unsure() -> None:
    # Given a confident horse box and a classifier that calls a greyscale crop a dog
    taxonomy = load_taxonomy()
    dog = taxonomy.imagenet_labels.index("Great Dane")
    heat = np.zeros((1, 80, 128, 128), np.float32)
    heat[0, taxonomy.coco_labels.index("Horse"), 64, 64] = 0.55
    wh = np.full((1, 4, 128, 128), 200.0, np.float32)
    logits = np.full((1, 1000), -10.0, np.float32)
    logits[0, dog] = 2.0  # a weak dog
    detector = LabelDetector(ImageNetClassifier(FakeSession([logits])), CocoDetector(FakeSession([heat, wh])))
    grey = Image.new("RGB", (64, 64), (128, 128, 128))
    # When detecting, the horse stays a horse
    labels = {label.name: label for label in detector.detect(grey)}
    assert "Horse" in labels and labels["Horse"].instances
    # But a colour photo whose crop is certainly a cat is re-labelled (the detector's
    # cat/dog confusion)
    cat = taxonomy.imagenet_labels.index("Tabby")
    heat[0, :, 64, 64] = 0.0
    heat[0, taxonomy.coco_labels.index("Dog"), 64, 64] = 0.45
    detector = LabelDetector(
        ImageNetClassifier(FakeSession([_imagenet_logits(cat)])), CocoDetector(FakeSession([heat, wh]))
    )
    labels = {label.name: label for label in detector.detect(Image.new("RGB", (64, 64), (200, 120, 40)))}
    assert labels["Cat"].instances and "Dog" not in labels


def test_labels_carry_aliases_from_the_taxonomy() -> None:
    taxonomy = load_taxonomy()
    assert "Human" in taxonomy.aliases_of("Person")
    assert "Tabby Cat" in taxonomy.aliases_of("Tabby")
    for name, aliases in taxonomy.aliases.items():
        assert name not in aliases
        assert not set(aliases) & set(taxonomy.parents), f"{name}: an alias is another label"


def test_imagenet_classes_map_to_the_labels_users_expect() -> None:
    taxonomy = load_taxonomy()

    def parents(label: str) -> set[str]:
        return set(taxonomy.imagenet_parents[taxonomy.imagenet_labels.index(label)])

    assert "Book" in parents("Book Jacket")
    assert "Rocket" in parents("Space Shuttle") and "Rocket" in parents("Missile")
    assert {"Clock"} <= parents("Analog Clock") and {"Clock"} <= parents("Wall Clock")
    assert "Motorcycle" in parents("Moped") and "Motorcycle" in parents("Motor Scooter")
    assert {"Coffee", "Cup"} <= parents("Espresso")
    assert "Person" in parents("Groom") and "Person" in parents("Scuba Diver")
    assert "Mountain" in parents("Alp")
    assert taxonomy.describe("Face")[0] == ["Head", "Person"]
