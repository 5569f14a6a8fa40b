"""Text detection and recognition wrappers with fake onnxruntime sessions (no model files)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from rekognito.inference.ocr import PixelBox, TextRecognizer, _components, _ctc_decode
from tests.unit.test_labels_inference import FakeSession


def test_components_finds_separate_regions() -> None:
    mask = np.zeros((10, 20), bool)
    mask[1:3, 1:5] = True
    mask[5:9, 10:18] = True
    mask[3, 5] = True  # diagonal neighbour joins the first region
    comps = sorted((top, bottom, left, right) for top, bottom, left, right, _ in _components(mask))
    assert comps == [(1, 3, 1, 5), (5, 8, 10, 17)]


def test_ctc_decode_collapses_repeats_and_blanks() -> None:
    chars = ["", "a", "b", " "]
    steps = [1, 1, 0, 1, 2, 2, 3, 2]
    probs = np.full((len(steps), 4), 0.01, np.float32)
    for t, c in enumerate(steps):
        probs[t, c] = 0.97
    text, scores, positions = _ctc_decode(probs, chars)
    assert text == "aab b" and len(scores) == 5 and positions == [0, 3, 4, 6, 7]


def test_recognizer_splits_words_and_uses_metadata_characters() -> None:
    chars = ["H", "i", "y", "o", "u"]
    sequence = [1, 0, 2, 6, 3, 4, 5]  # "Hi you" with a blank and the space class (6)
    probs = np.full((1, len(sequence), 7), 0.0, np.float32)
    for t, c in enumerate(sequence):
        probs[0, t, c] = 1.0
    session = FakeSession([probs], meta={"character": "\n".join(chars)})
    recognizer = TextRecognizer(session)
    image = Image.new("RGB", (200, 40), "white")
    line = recognizer.recognize(image, PixelBox(10, 5, 150, 35))
    assert line is not None and line.text == "Hi you"
    assert [w.text for w in line.words] == ["Hi", "you"]
    assert line.words[0].box.right <= line.words[1].box.left
    assert session.calls[0]["x"].shape[2] == 48
