"""The OCR pipeline: detect line boxes, crop them upright, fix upside-down lines, read them,
split words and put the lines in reading order."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from rekognito.inference.text.classifier import AngleClassifier
from rekognito.inference.text.detection import TextDetector
from rekognito.inference.text.geometry import Quad
from rekognito.inference.text.recognition import REC_HEIGHT, Recognition, TextRecognizer

if TYPE_CHECKING:
    from rekognito.settings import Settings

TEXT_MODEL_VERSION = "3.0"
TALL_RATIO = 1.5  # a crop this many times taller than wide holds vertical text: turn it
MIN_LINE_SCORE = 0.5  # mean character probability below which a line is dropped (PaddleOCR's)
# The direction classifier's probability of "180 degrees": below UNSURE_LOW a crop is read as
# it is, from UNSURE_HIGH on it is turned, in between it is read both ways.
UNSURE_LOW = 0.2
UNSURE_HIGH = 0.98
TIE_MARGIN = 0.02
# A word's extent around its characters' CTC time steps, in steps (see split_words).
WORD_LEAD = 1.75
WORD_TAIL = 1.0

DETECTOR_MODEL = "ppocrv4-det"
CLASSIFIER_MODEL = "ppocr-mobile-v2-cls"
RECOGNIZER_MODEL = "ppocrv6-rec-small-fp16"


@dataclass(frozen=True)
class Word:
    text: str
    confidence: float  # 0..1
    quad: Quad


@dataclass(frozen=True)
class TextLine:
    text: str
    confidence: float  # 0..1
    quad: Quad
    words: tuple[Word, ...]


def crop_quad(image: Image.Image, quad: Quad) -> Image.Image:
    """The quad's content as an upright image, its top-left corner first (perspective crop)."""
    width = max(1, round(quad.width))
    height = max(1, round(quad.height))
    (tl, tr, br, bl) = quad.points
    # Image.transform's QUAD data: source corners for the output's upper-left, lower-left,
    # lower-right and upper-right corners.
    data = (*tl, *bl, *br, *tr)
    return image.transform((width, height), Image.Transform.QUAD, data, Image.Resampling.BICUBIC)


def scaled_crop(image: Image.Image, quad: Quad) -> Image.Image:
    """Perspective crop resized to the recogniser's height (antialiased when shrinking)."""
    crop = crop_quad(image, quad)
    width = max(1, round(crop.width * REC_HEIGHT / max(1, crop.height)))
    return crop.resize((width, REC_HEIGHT), Image.Resampling.BILINEAR)


def split_words(recognition: Recognition, quad: Quad) -> list[Word]:
    """Words of a recognised line, each with its part of the line's quad.

    A word spans from ``WORD_LEAD`` CTC time steps before its first character to
    ``WORD_TAIL`` after its last (CTC emits a character near its left part), cut at the
    middle of the gap to a neighbouring word; the margins were fitted on rendered text.
    """
    spans: list[tuple[str, float, float, float]] = []  # text, confidence, first, last position
    chars: list[int] = []
    text = recognition.text
    for i, char in enumerate([*text, " "]):
        if char != " ":
            chars.append(i)
            continue
        if chars:
            word = "".join(text[j] for j in chars)
            confidence = float(np.mean([recognition.scores[j] for j in chars]))
            first, last = recognition.positions[chars[0]], recognition.positions[chars[-1]]
            spans.append((word, confidence, first, last))
        chars = []
    step = recognition.step
    words: list[Word] = []
    for k, (word, confidence, first, last) in enumerate(spans):
        start = max(0.0, first - WORD_LEAD * step)
        end = min(1.0, last + WORD_TAIL * step)
        if k > 0:
            start = max(start, (spans[k - 1][3] + first) / 2)
        if k + 1 < len(spans):
            end = min(end, (last + spans[k + 1][2]) / 2)
        words.append(Word(word, confidence, quad.span(start, max(end, start + step))))
    return words


def reading_order(lines: list[TextLine]) -> list[TextLine]:
    """Lines grouped into rows across the text's dominant direction, rows top to bottom,
    lines in a row along the text (left to right for upright text)."""
    if len(lines) < 2:
        return list(lines)
    # Dominant direction: the length-weighted mean of the lines' directions (doubling the
    # angle would mix up opposite directions; upside-down lines were already turned).
    vx = sum(line.quad.width * math.cos(line.quad.angle) for line in lines)
    vy = sum(line.quad.width * math.sin(line.quad.angle) for line in lines)
    theta = math.atan2(vy, vx)
    cos, sin = math.cos(theta), math.sin(theta)
    placed = []
    for line in lines:
        cx, cy = line.quad.centre
        placed.append((-cx * sin + cy * cos, cx * cos + cy * sin, line))  # across, along
    placed.sort(key=lambda p: p[0])
    rows: list[list[tuple[float, float, TextLine]]] = []
    for item in placed:
        if rows:
            row = rows[-1]
            across = float(np.mean([p[0] for p in row]))
            height = max(item[2].quad.height, *(p[2].quad.height for p in row))
            if item[0] - across < 0.5 * height:
                row.append(item)
                continue
        rows.append([item])
    return [p[2] for row in rows for p in sorted(row, key=lambda p: p[1])]


class TextReader:
    """Detection, direction classification and recognition of every text line.

    The classifier is optional (without it, upside-down text is read as it is).
    """

    def __init__(
        self,
        detector: TextDetector,
        recognizer: TextRecognizer,
        classifier: AngleClassifier | None = None,
    ) -> None:
        self.detector = detector
        self.recognizer = recognizer
        self.classifier = classifier

    @classmethod
    def from_settings(cls, settings: Settings) -> TextReader:
        from rekognito.inference.models import create_session

        threads = settings.inference_threads
        return cls(
            TextDetector(create_session(DETECTOR_MODEL, threads)),
            TextRecognizer(create_session(RECOGNIZER_MODEL, threads)),
            AngleClassifier(create_session(CLASSIFIER_MODEL, threads)),
        )

    def read(self, image: Image.Image, timings: dict[str, float] | None = None) -> list[TextLine]:
        """Lines of text in reading order; ``timings`` (if given) receives the seconds spent
        in each stage: detect, crop, classify, recognize."""
        clock = _Clock(timings)
        image = image.convert("RGB")
        quads = []
        for box in self.detector.detect(image):
            quad = box.quad
            if quad.height >= TALL_RATIO * quad.width:
                quad = quad.turned(1)  # vertical text: read it turned by 90 degrees
            quads.append(quad)
        clock.lap("detect")
        if not quads:
            return []
        crops = [scaled_crop(image, quad) for quad in quads]
        clock.lap("crop")
        flip_p = self.classifier.upside_down(crops) if self.classifier is not None else [0.0] * len(crops)
        clock.lap("classify")
        # Sure cases are turned (or not) as the classifier says; in between, both ways are
        # read and the more confident reading wins (upright on a tie: "99%" / "%66").
        unsure = [i for i, p in enumerate(flip_p) if UNSURE_LOW <= p < UNSURE_HIGH]
        for i, p in enumerate(flip_p):
            if p >= UNSURE_HIGH:
                crops[i] = crops[i].transpose(Image.Transpose.ROTATE_180)
                quads[i] = quads[i].turned(2)
        turned = [crops[i].transpose(Image.Transpose.ROTATE_180) for i in unsure]
        readings = self.recognizer.recognize(crops + turned)
        chosen = readings[: len(crops)]
        for k, i in enumerate(unsure):
            other = readings[len(crops) + k]
            if _mean_score(other) > _mean_score(chosen[i]) + TIE_MARGIN:
                chosen[i] = other
                quads[i] = quads[i].turned(2)
        clock.lap("recognize")
        lines = []
        for quad, recognition in zip(quads, chosen, strict=True):
            if not recognition.text.strip() or _mean_score(recognition) < MIN_LINE_SCORE:
                continue
            words = split_words(recognition, quad)
            if words:
                confidence = float(np.mean([w.confidence for w in words]))
                lines.append(TextLine(" ".join(w.text for w in words), confidence, quad, tuple(words)))
        return reading_order(lines)


class _Clock:
    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        if self.timings is not None:
            self.timings[stage] = self.timings.get(stage, 0.0) + now - self.last
        self.last = now


def _mean_score(recognition: Recognition) -> float:
    return float(np.mean(recognition.scores)) if recognition.scores else 0.0
