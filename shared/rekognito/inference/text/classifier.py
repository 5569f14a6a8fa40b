"""The PP-OCR text-line direction classifier: is a line crop upside down (0 or 180 degrees)?"""

from __future__ import annotations

import numpy as np
from PIL import Image

from rekognito.inference.text.detection import FloatArray, OnnxSession, input_name

CLS_HEIGHT = 48
CLS_WIDTH = 192
CLS_BATCH = 16
CLS_WINDOWS = 4


class AngleClassifier:
    """PP-OCR mobile v2.0 text direction classifier.

    Input ``x``: Nx3x48x192 float32, NCHW, channels in BGR order, ``(x/255 - 0.5) / 0.5``;
    each line crop is resized to height 48 keeping its aspect ratio (width at most 192, so
    long lines are squeezed) and padded on the right with zeros. Output: Nx2 softmax over
    the labels "0" and "180" (degrees).
    """

    def __init__(self, session: OnnxSession) -> None:
        self.session = session
        self.input_name = input_name(session)

    @staticmethod
    def prepare(crops: list[Image.Image]) -> FloatArray:
        batch = np.zeros((len(crops), 3, CLS_HEIGHT, CLS_WIDTH), dtype=np.float32)
        for i, crop in enumerate(crops):
            ratio = crop.width / max(1, crop.height)
            width = int(min(CLS_WIDTH, max(1, np.ceil(CLS_HEIGHT * ratio))))
            resized = crop.convert("RGB").resize((width, CLS_HEIGHT), Image.Resampling.BILINEAR)
            array = np.asarray(resized, dtype=np.float32)[:, :, ::-1] / np.float32(127.5) - np.float32(1.0)
            batch[i, :, :, :width] = array.transpose(2, 0, 1)
        return batch

    @staticmethod
    def windows(crop: Image.Image) -> list[Image.Image]:
        """Pieces of a line crop that the classifier sees without squeezing.

        The crop is scaled to height 48; a line longer than 192 pixels gives up to
        ``CLS_WINDOWS`` windows of 192 pixels spread evenly along it (squeezing a long line
        into 192 pixels made the classifier turn upright lines).
        """
        width = max(1, round(crop.width * CLS_HEIGHT / max(1, crop.height)))
        scaled = (
            crop if crop.height == CLS_HEIGHT else crop.resize((width, CLS_HEIGHT), Image.Resampling.BILINEAR)
        )
        if width <= CLS_WIDTH:
            return [scaled]
        count = min(CLS_WINDOWS, int(np.ceil(width / CLS_WIDTH)))
        starts = np.linspace(0, width - CLS_WIDTH, count).round().astype(int)
        return [scaled.crop((int(x), 0, int(x) + CLS_WIDTH, CLS_HEIGHT)) for x in starts]

    def upside_down(self, crops: list[Image.Image]) -> list[float]:
        """Probability, per crop, that it shows text turned by 180 degrees (the mean over
        its windows)."""
        pieces: list[Image.Image] = []
        owners: list[int] = []
        for i, crop in enumerate(crops):
            for window in self.windows(crop):
                pieces.append(window)
                owners.append(i)
        probs = np.zeros(len(pieces), dtype=np.float64)
        for first in range(0, len(pieces), CLS_BATCH):
            tensor = self.prepare(pieces[first : first + CLS_BATCH])
            out = np.asarray(self.session.run(None, {self.input_name: tensor})[0], dtype=np.float32)
            probs[first : first + len(out)] = out[:, 1]
        totals = np.bincount(owners, weights=probs, minlength=len(crops))
        counts = np.bincount(owners, minlength=len(crops))
        return [float(t / max(1, c)) for t, c in zip(totals, counts, strict=True)]
