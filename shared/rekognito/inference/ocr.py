"""Text detection and recognition for DetectText with PP-OCRv4 (ONNX, no OpenCV).

Only the ONNX files of ``rapidocr-onnxruntime`` are used; the pre- and post-processing is
ours, in numpy and Pillow:

* detection (DB): probability map -> threshold -> connected components (run-length
  labelling) -> one axis-aligned box per component, grown by DB's "unclip" offset;
* recognition (CTC): each line crop resized to height 48 -> greedy CTC decoding with the
  character list stored in the model's metadata; the per-character time steps give the
  word boxes inside a line.

Boxes are axis-aligned, so rotated text is read less well than by Rekognition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from PIL import Image

if TYPE_CHECKING:
    from rekognito.settings import Settings

FloatArray = npt.NDArray[np.float32]

TEXT_MODEL_VERSION = "3.0"

DET_LIMIT_SIDE = 960
DET_THRESHOLD = 0.3
DET_BOX_THRESHOLD = 0.6
DET_UNCLIP_RATIO = 1.6
DET_MIN_SIZE = 3
REC_HEIGHT = 48
REC_MAX_WIDTH = 1600
_DET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_DET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@dataclass(frozen=True)
class PixelBox:
    left: float
    top: float
    right: float
    bottom: float


@dataclass(frozen=True)
class Word:
    text: str
    confidence: float
    box: PixelBox


@dataclass(frozen=True)
class TextLine:
    text: str
    confidence: float
    box: PixelBox
    words: tuple[Word, ...]


def _components(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int, int, int, list[tuple[int, int, int]]]]:
    """Connected components (8-connected) of a boolean mask by run-length labelling.

    Returns, per component, (top, bottom, left, right) inclusive bounds and its runs
    (row, start, end-exclusive).
    """
    parent: list[int] = []

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    runs: list[tuple[int, int, int]] = []
    previous: list[tuple[int, int, int]] = []  # (start, end, run index) in the row above
    for row in range(mask.shape[0]):
        line = mask[row]
        if not line.any():
            previous = []
            continue
        padded = np.concatenate(([False], line, [False]))
        edges = np.flatnonzero(padded[1:] != padded[:-1])
        current: list[tuple[int, int, int]] = []
        for start, end in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
            index = len(runs)
            runs.append((row, start, end))
            parent.append(index)
            for p_start, p_end, p_index in previous:
                if p_start <= end and start <= p_end:  # touching, diagonals included
                    a, b = find(index), find(p_index)
                    if a != b:
                        parent[max(a, b)] = min(a, b)
            current.append((start, end, index))
        previous = current
    groups: dict[int, list[tuple[int, int, int]]] = {}
    for index, run in enumerate(runs):
        groups.setdefault(find(index), []).append(run)
    out = []
    for group in groups.values():
        rows = [r for r, _, _ in group]
        out.append(
            (min(rows), max(rows), min(s for _, s, _ in group), max(e for _, _, e in group) - 1, group)
        )
    return out


def _ctc_decode(probs: FloatArray, characters: list[str]) -> tuple[str, list[float], list[int]]:
    """Greedy CTC: characters, their probabilities and their time steps."""
    best = probs.argmax(axis=1)
    chars: list[str] = []
    scores: list[float] = []
    steps: list[int] = []
    last = -1
    for step, index in enumerate(best.tolist()):
        if index not in (last, 0):
            chars.append(characters[index])
            scores.append(float(probs[step, index]))
            steps.append(step)
        last = index
    return "".join(chars), scores, steps


class TextDetector:
    """PP-OCRv4 mobile text detection (DB).

    Input ``x``: 1x3xHxW float32, BGR, NCHW, ``(x/255 - mean) / std`` with the ImageNet
    mean/std, H and W multiples of 32 (the image scaled so that its longer side is at most
    960). Output: 1x1xHxW probability that a pixel belongs to text.
    """

    model_name = "ppocrv4-det"

    def __init__(self, session: Any) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name

    @staticmethod
    def prepare(image: Image.Image) -> tuple[FloatArray, float, float]:
        width, height = image.size
        scale = min(1.0, DET_LIMIT_SIDE / max(width, height))
        new_w = max(32, round(width * scale / 32) * 32)
        new_h = max(32, round(height * scale / 32) * 32)
        resized = image.resize((new_w, new_h), Image.Resampling.BILINEAR)
        array = np.asarray(resized, dtype=np.float32)[:, :, ::-1] / 255.0
        array = (array - _DET_MEAN) / _DET_STD
        tensor = np.ascontiguousarray(array.transpose(2, 0, 1)[None], dtype=np.float32)
        return tensor, width / new_w, height / new_h

    def detect(self, image: Image.Image) -> list[PixelBox]:
        """Line boxes in pixels of ``image``, top to bottom then left to right."""
        tensor, sx, sy = self.prepare(image)
        prob = np.asarray(self.session.run(None, {self.input_name: tensor})[0])[0, 0]
        boxes: list[PixelBox] = []
        for top, bottom, left, right, runs in _components(prob > DET_THRESHOLD):
            h, w = bottom - top + 1, right - left + 1
            if min(h, w) < DET_MIN_SIZE:
                continue
            score = float(np.mean(np.concatenate([prob[r, s:e] for r, s, e in runs])))
            if score < DET_BOX_THRESHOLD:
                continue
            offset = h * w * DET_UNCLIP_RATIO / (2 * (h + w))
            boxes.append(
                PixelBox(
                    max(0.0, (left - offset) * sx),
                    max(0.0, (top - offset) * sy),
                    min(float(image.width), (right + 1 + offset) * sx),
                    min(float(image.height), (bottom + 1 + offset) * sy),
                )
            )
        boxes.sort(key=lambda b: (round((b.top + b.bottom) / 2 / max(1.0, (b.bottom - b.top) / 2)), b.left))
        return boxes


class TextRecognizer:
    """PP-OCRv4 mobile text recognition (SVTR-LCNet, CTC).

    Input ``x``: 1x3x48xW float32, BGR, NCHW, ``(x/255 - 0.5) / 0.5``; the line crop is
    resized to height 48 keeping its aspect ratio. Output: 1xTx(C+2) softmax, T = W/8;
    class 0 is the CTC blank, then the characters of the model's ``character`` metadata,
    then a space.
    """

    model_name = "ppocrv4-rec"

    def __init__(self, session: Any, characters: list[str] | None = None) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name
        if characters is None:
            meta = session.get_modelmeta().custom_metadata_map
            characters = meta["character"].splitlines()
        self.characters = ["", *characters, " "]

    @staticmethod
    def prepare(crop: Image.Image) -> FloatArray:
        width = max(8, min(REC_MAX_WIDTH, round(crop.width * REC_HEIGHT / max(1, crop.height))))
        resized = crop.resize((width, REC_HEIGHT), Image.Resampling.BILINEAR)
        array = (np.asarray(resized, dtype=np.float32)[:, :, ::-1] / 255.0 - 0.5) / 0.5
        return np.ascontiguousarray(array.transpose(2, 0, 1)[None], dtype=np.float32)

    def recognize(self, image: Image.Image, box: PixelBox) -> TextLine | None:
        crop = image.crop((int(box.left), int(box.top), int(np.ceil(box.right)), int(np.ceil(box.bottom))))
        if crop.width < 2 or crop.height < 2:
            return None
        tensor = self.prepare(crop)
        probs = np.asarray(self.session.run(None, {self.input_name: tensor})[0])[0]
        text, scores, steps = _ctc_decode(probs, self.characters)
        if not text.strip():
            return None
        step_width = (box.right - box.left) * (tensor.shape[3] / probs.shape[0]) / tensor.shape[3]
        words: list[Word] = []
        current: list[int] = []
        for i, char in enumerate([*text, " "]):
            if char != " ":
                current.append(i)
                continue
            if current:
                first, last = steps[current[0]], steps[current[-1]]
                words.append(
                    Word(
                        "".join(text[j] for j in current),
                        float(np.mean([scores[j] for j in current])),
                        PixelBox(
                            box.left + max(0.0, first - 0.5) * step_width,
                            box.top,
                            min(box.right, box.left + (last + 1.5) * step_width),
                            box.bottom,
                        ),
                    )
                )
            current = []
        if not words:
            return None
        stripped = " ".join(word.text for word in words)
        confidence = float(np.mean([s for s, c in zip(scores, text, strict=True) if c != " "]))
        return TextLine(stripped, confidence, box, tuple(words))


class TextReader:
    """Detection then recognition of every line."""

    def __init__(self, detector: TextDetector, recognizer: TextRecognizer) -> None:
        self.detector = detector
        self.recognizer = recognizer

    @classmethod
    def from_settings(cls, settings: Settings) -> TextReader:
        from rekognito.inference.models import create_session

        threads = settings.inference_threads
        return cls(
            TextDetector(create_session(TextDetector.model_name, threads)),
            TextRecognizer(create_session(TextRecognizer.model_name, threads)),
        )

    def read(self, image: Image.Image) -> list[TextLine]:
        lines = []
        for box in self.detector.detect(image):
            line = self.recognizer.recognize(image, box)
            if line is not None:
                lines.append(line)
        return lines
