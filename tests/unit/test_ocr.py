"""The OCR pipeline's stages with fake onnxruntime sessions (no model files)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from rekognito.inference.text.classifier import AngleClassifier
from rekognito.inference.text.detection import TextDetector, detector_size
from rekognito.inference.text.geometry import Quad
from rekognito.inference.text.reader import (
    WORD_LEAD,
    WORD_TAIL,
    TextLine,
    TextReader,
    Word,
    crop_quad,
    reading_order,
    split_words,
)
from rekognito.inference.text.recognition import Recognition, TextRecognizer, batches, ctc_greedy
from tests.support.text_render import RenderedWord, Score, score
from tests.unit.test_labels_inference import FakeSession


class _ByWidth:
    """A recogniser session whose answer depends on the batch: one canned text per crop,
    chosen by the crop's padded content width (so batching and ordering are exercised)."""

    def __init__(self, texts: dict[int, list[int]], classes: int) -> None:
        self.texts = texts
        self.classes = classes
        self.calls: list[np.ndarray] = []

    def get_inputs(self) -> list[object]:
        return [type("Io", (), {"name": "x"})()]

    def run(self, _names: None, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        batch = feed["x"]
        self.calls.append(batch)
        steps = batch.shape[3] // 8
        out = np.zeros((batch.shape[0], steps, self.classes), np.float32)
        out[:, :, 0] = 1.0
        for row in range(batch.shape[0]):
            used = int((np.abs(batch[row]).sum(axis=(0, 1)) > 0).sum())  # non-padded columns
            sequence = self.texts[used]
            for t, c in enumerate(sequence):
                out[row, t, :] = 0.0
                out[row, t, c] = 1.0
        return [out]


def test_ctc_greedy_collapses_repeats_and_blanks() -> None:
    steps = [1, 1, 0, 1, 2, 2, 3, 2]
    probs = np.full((len(steps), 4), 0.01, np.float32)
    for t, c in enumerate(steps):
        probs[t, c] = 0.97
    classes, positions, scores = ctc_greedy(probs)
    assert classes.tolist() == [1, 1, 2, 3, 2]
    assert positions.tolist() == [0, 3, 4, 6, 7]
    assert scores == pytest.approx([0.97] * 5)


def test_recognizer_batches_crops_and_keeps_their_order() -> None:
    # Crops 160, 480 and 96 pixels wide at height 48; characters a, b, c, then the space class.
    session = _ByWidth({160: [1, 0, 2], 480: [3, 4, 1], 96: [2, 2, 0, 2]}, classes=5)
    recognizer = TextRecognizer(session, characters=["a", "b", "c"])  # type: ignore[arg-type]
    crops = [Image.new("RGB", (w, 48), "white") for w in (160, 480, 96)]
    results = recognizer.recognize(crops)
    assert [r.text for r in results] == ["ab", "c a", "bb"]
    # The two narrow crops share a batch padded to 320; the wide one is read alone.
    assert [call.shape for call in session.calls] == [(2, 3, 48, 320), (1, 3, 48, 480)]
    # Positions are fractions of each crop's own width: step t of 8 pixels is at (t + 0.5) * 8.
    assert results[0].positions == pytest.approx([4 / 160, 20 / 160])
    assert results[2].positions == pytest.approx([4 / 96, 28 / 96])


def test_recognizer_reads_its_characters_from_model_metadata() -> None:
    session = FakeSession([np.zeros((1, 40, 7), np.float32)], meta={"character": "H\ni\ny\no\nu"})
    recognizer = TextRecognizer(session)
    assert recognizer.characters.tolist() == ["", "H", "i", "y", "o", "u", " "]


def test_split_words_cuts_the_line_quad_at_the_gaps() -> None:
    quad = Quad(((0.0, 0.0), (100.0, 0.0), (100.0, 10.0), (0.0, 10.0)))
    recognition = Recognition(
        text="ab cd",
        scores=(0.9, 0.8, 1.0, 0.95, 0.85),
        positions=(0.05, 0.15, 0.45, 0.65, 0.75),
        step=0.05,
    )
    words = split_words(recognition, quad)
    assert [w.text for w in words] == ["ab", "cd"]
    assert words[0].confidence == pytest.approx(0.85)
    assert words[1].confidence == pytest.approx(0.9)
    (a0, a1, _, _), (b0, b1, _, _) = words[0].quad.points, words[1].quad.points
    step = 0.05
    assert a0[0] == pytest.approx(0.0)  # WORD_LEAD steps before 0.05, clipped at the line's start
    assert a1[0] == pytest.approx(100 * (0.15 + WORD_TAIL * step))
    assert b0[0] == pytest.approx(100 * (0.65 - WORD_LEAD * step))  # position 0.45 is the space
    assert b1[0] == pytest.approx(100 * (0.75 + WORD_TAIL * step))
    assert a1[0] <= b0[0]  # words do not overlap


def test_split_words_cuts_close_words_in_the_middle() -> None:
    quad = Quad(((0.0, 0.0), (100.0, 0.0), (100.0, 10.0), (0.0, 10.0)))
    words = split_words(Recognition("a b", (1.0, 1.0, 1.0), (0.40, 0.45, 0.50), 0.05), quad)
    assert words[0].quad.points[1][0] == pytest.approx(45.0)
    assert words[1].quad.points[0][0] == pytest.approx(45.0)


def test_split_words_follows_a_rotated_line() -> None:
    # A line read after turning it 90 degrees: its quad runs downwards.
    quad = Quad(((10.0, 0.0), (10.0, 100.0), (0.0, 100.0), (0.0, 0.0)))
    recognition = Recognition("x y", (1.0, 1.0, 1.0), (0.1, 0.5, 0.9), 0.05)
    words = split_words(recognition, quad)
    assert [w.text for w in words] == ["x", "y"]
    assert all(math.degrees(w.quad.angle) == pytest.approx(90.0) for w in words)
    assert words[0].quad.centre[1] < words[1].quad.centre[1]


def _line(text: str, points: tuple[tuple[float, float], ...]) -> TextLine:
    quad = Quad((points[0], points[1], points[2], points[3]))
    return TextLine(text, 0.99, quad, (Word(text, 0.99, quad),))


def test_reading_order_rows_then_along_the_text() -> None:
    lines = [
        _line("second-right", ((300, 60), (400, 60), (400, 80), (300, 80))),
        _line("first", ((10, 10), (200, 12), (200, 32), (10, 30))),
        _line("second-left", ((10, 58), (120, 58), (120, 78), (10, 78))),
        _line("third", ((10, 110), (120, 110), (120, 130), (10, 130))),
    ]
    assert [line.text for line in reading_order(lines)] == ["first", "second-left", "second-right", "third"]


def test_reading_order_of_lines_turned_by_90_degrees() -> None:
    # Text reading upwards (turned 90 degrees counter-clockwise): the first line is the
    # leftmost one, and a line's start is at its bottom.
    lines = [
        _line("second", ((80, 200), (80, 20), (100, 20), (100, 200))[::1]),
        _line("first", ((30, 200), (30, 20), (50, 20), (50, 200))),
    ]
    lines = [
        TextLine(
            line.text, 0.9, Quad((p[0], p[1], (p[1][0] - 20, p[1][1]), (p[0][0] - 20, p[0][1]))), line.words
        )
        for line in lines
        for p in [line.quad.points]
    ]
    assert [line.text for line in reading_order(lines)] == ["first", "second"]


def test_crop_quad_reads_a_rotated_region_upright() -> None:
    image = Image.new("RGB", (100, 100), "white")
    image.paste((255, 0, 0), (40, 10, 60, 90))  # a tall red bar
    # The bar's quad, read bottom to top (text turned 90 degrees counter-clockwise).
    quad = Quad(((40.0, 90.0), (40.0, 10.0), (60.0, 10.0), (60.0, 90.0)))
    crop = crop_quad(image, quad)
    assert crop.size == (80, 20)
    assert np.asarray(crop)[:, :, 1].mean() < 10  # all red


def test_detector_size_limits() -> None:
    assert detector_size(100, 50) == (1280, 640)  # short side raised to 736, long side capped
    assert detector_size(1224, 816) == (1216, 832)
    assert detector_size(4000, 3000) == (1280, 960)
    w, h = detector_size(900, 420)
    assert w % 32 == 0 and h % 32 == 0


def test_detector_input_layout() -> None:
    prob = np.zeros((1, 1, 640, 1280), np.float32)
    session = FakeSession([prob])
    detector = TextDetector(session)
    image = Image.new("RGB", (200, 100), (255, 0, 0))
    assert detector.detect(image) == []
    x = session.calls[0]["x"]
    assert x.shape == (1, 3, 640, 1280)  # short side raised to 736, then the long side capped at 1280
    # BGR order: the red image's last channel is the bright one.
    assert x[0, 2].mean() > 2.0 and x[0, 0].mean() < -1.5


def test_classifier_reads_long_lines_in_windows() -> None:
    session = FakeSession(
        [np.array([[0.1, 0.9], [0.2, 0.8], [0.9, 0.1], [1.0, 0.0], [0.0, 1.0]], np.float32)]
    )
    classifier = AngleClassifier(session)
    crops = [Image.new("RGB", (192 * 4, 48), "white"), Image.new("RGB", (50, 48), "white")]
    probs = classifier.upside_down(crops)
    assert session.calls[0]["x"].shape == (5, 3, 48, 192)  # four windows + one short crop
    assert probs == pytest.approx([(0.9 + 0.8 + 0.1 + 0.0) / 4, 1.0])


class _FixedDetector:
    def __init__(self, quads: list[Quad]) -> None:
        self.quads = quads

    def detect(self, image: Image.Image) -> list[object]:
        return [type("Box", (), {"quad": q, "score": 0.9})() for q in self.quads]


class _FixedClassifier:
    def __init__(self, probs: list[float]) -> None:
        self.probs = probs
        self.sizes: list[tuple[int, int]] = []

    def upside_down(self, crops: list[Image.Image]) -> list[float]:
        self.sizes = [c.size for c in crops]
        return self.probs


class _Recognizer:
    """Reads "upright" from a crop whose left half is darker, else a low-confidence jumble."""

    def recognize(self, crops: list[Image.Image]) -> list[Recognition]:
        out = []
        for crop in crops:
            a = np.asarray(crop.convert("L"), dtype=float)
            left, right = a[:, : a.shape[1] // 2].mean(), a[:, a.shape[1] // 2 :].mean()
            if left < right:
                out.append(Recognition("upright", (0.99,) * 7, tuple(np.linspace(0.1, 0.9, 7)), 0.02))
            else:
                out.append(Recognition("jumble", (0.6,) * 6, tuple(np.linspace(0.1, 0.9, 6)), 0.02))
        return out


def _half_dark(size: tuple[int, int], dark_left: bool) -> Image.Image:
    image = Image.new("RGB", size, "white")
    half = (0, 0, size[0] // 2, size[1]) if dark_left else (size[0] // 2, 0, size[0], size[1])
    image.paste((0, 0, 0), half)
    return image


@pytest.mark.parametrize(
    ("probability", "dark_left", "expected_turns"),
    [(0.01, True, 0), (0.99, False, 2), (0.6, False, 2), (0.6, True, 0)],
)
def test_reader_turns_upside_down_lines(probability: float, dark_left: bool, expected_turns: int) -> None:
    image = _half_dark((200, 40), dark_left)
    quad = Quad(((0.0, 0.0), (200.0, 0.0), (200.0, 40.0), (0.0, 40.0)))
    reader = TextReader(_FixedDetector([quad]), _Recognizer(), _FixedClassifier([probability]))  # type: ignore[arg-type]
    lines = reader.read(image)
    assert [line.text for line in lines] == ["upright"]
    assert lines[0].quad == quad.turned(expected_turns)


def test_reader_turns_tall_crops_by_90_degrees() -> None:
    image = Image.new("RGB", (40, 200), "white")
    image.paste((0, 0, 0), (0, 0, 40, 100))  # dark top: the start of text read downwards
    tall = Quad(((0.0, 0.0), (40.0, 0.0), (40.0, 200.0), (0.0, 200.0)))
    classifier = _FixedClassifier([0.0])
    reader = TextReader(_FixedDetector([tall]), _Recognizer(), classifier)  # type: ignore[arg-type]
    lines = reader.read(image)
    assert classifier.sizes[0][0] > classifier.sizes[0][1]  # the crop was turned to be wide
    assert [line.text for line in lines] == ["upright"]
    assert lines[0].quad == tall.turned(1)


def test_reader_drops_low_confidence_lines() -> None:
    image = _half_dark((200, 40), dark_left=False)
    quad = Quad(((0.0, 0.0), (200.0, 0.0), (200.0, 40.0), (0.0, 40.0)))

    class Low(_Recognizer):
        def recognize(self, crops: list[Image.Image]) -> list[Recognition]:
            return [Recognition("noise", (0.3,) * 5, (0.1, 0.3, 0.5, 0.7, 0.9), 0.02) for _ in crops]

    reader = TextReader(_FixedDetector([quad]), Low(), None)  # type: ignore[arg-type]
    assert reader.read(image) == []


def test_batches_group_only_similar_widths() -> None:
    widths = [700, 100, 330, 300, 340, 720, 2000, 120, 110, 90, 80, 70]
    groups = batches(widths)
    assert sorted(i for g in groups for i in g) == list(range(len(widths)))
    for group in groups:
        padded = [max(320, widths[i]) for i in group]
        assert max(padded) <= 1.05 * min(padded) and len(group) <= 6
    assert [widths[i] for i in groups[0]] == [70, 80, 90, 100, 110, 120]  # all padded to 320


def test_benchmark_scoring_needs_text_and_place() -> None:
    word = RenderedWord("Open", ((10.0, 10.0), (60.0, 10.0), (60.0, 30.0), (10.0, 30.0)))
    there = ((12.0, 11.0), (58.0, 11.0), (58.0, 29.0), (12.0, 29.0))
    elsewhere = ((200.0, 10.0), (250.0, 10.0), (250.0, 30.0), (200.0, 30.0))
    assert score([word], [("Open", there)]) == Score(1, 1, 1, 1)
    assert score([word], [("0pen", there)]) == Score(1, 1, 0, 0)
    assert score([word], [("Open", elsewhere)]) == Score(1, 1, 0, 1)
    assert score([word, word], [("Open", there)]).found == 1  # one returned word matches once
