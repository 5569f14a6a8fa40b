"""CTC text recognition (PP-OCR) of line crops, with the position of every character."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from rekognito.inference.text.detection import FloatArray, OnnxSession, input_name

REC_HEIGHT = 48
REC_MIN_WIDTH = 320  # PaddleOCR pads every batch to at least 48x320
REC_MAX_WIDTH = 1600  # longer lines are squeezed to this width
REC_BATCH = 6
REC_BATCH_SPREAD = 1.05  # widest / narrowest padded width within one batch


@dataclass(frozen=True)
class Recognition:
    """Text of one line crop.

    ``scores`` holds each character's probability and ``positions`` where it was read, as
    a fraction (0..1) of the crop's width (the centre of its CTC time step).
    """

    text: str
    scores: tuple[float, ...]
    positions: tuple[float, ...]
    step: float  # width of one CTC time step, as a fraction of the crop's width


def ctc_greedy(probs: FloatArray) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], FloatArray]:
    """Greedy CTC decoding: class indices, their time steps and probabilities.

    Repeated classes collapse to one and class 0 (the blank) is dropped.
    """
    best = probs.argmax(axis=1).astype(np.int64)
    previous = np.concatenate(([-1], best[:-1]))
    steps = np.flatnonzero((best != previous) & (best != 0)).astype(np.int64)
    return best[steps], steps, probs[steps, best[steps]].astype(np.float32)


def batches(widths: list[int]) -> list[list[int]]:
    """Indices of crops to recognise together: similar widths only, as the padding of a
    narrow crop to a wide batch changes what the model reads (it dropped spaces)."""
    order = sorted(range(len(widths)), key=lambda i: widths[i])
    out: list[list[int]] = []
    for i in order:
        if (
            out
            and len(out[-1]) < REC_BATCH
            and max(REC_MIN_WIDTH, widths[i]) <= REC_BATCH_SPREAD * max(REC_MIN_WIDTH, widths[out[-1][0]])
        ):
            out[-1].append(i)
        else:
            out.append([i])
    return out


def crop_width(crop: Image.Image) -> int:
    """Width of ``crop`` once resized to the recogniser's height."""
    return int(min(REC_MAX_WIDTH, max(8, round(crop.width * REC_HEIGHT / max(1, crop.height)))))


class TextRecognizer:
    """PP-OCR text recognition (SVTR-LCNet / PP-LCNet backbone, CTC head).

    Input ``x``: Nx3x48xW float32, NCHW, channels in BGR order, ``(x/255 - 0.5) / 0.5``;
    each crop is resized to height 48 keeping its aspect ratio (see :func:`crop_width`) and
    padded on the right with zeros to the batch's width (at least 320). Output: NxTxC
    softmax with T = W/8 time steps; class 0 is the CTC blank, classes 1..C-2 are the
    model's characters and class C-1 is a space.

    ``characters`` defaults to the list stored in the model's ``character`` metadata.
    """

    def __init__(self, session: OnnxSession, characters: list[str] | None = None) -> None:
        self.session = session
        self.input_name = input_name(session)
        if characters is None:
            meta = getattr(session, "get_modelmeta")().custom_metadata_map  # noqa: B009
            characters = str(meta["character"]).rstrip("\n").split("\n")
        self.characters = np.array(["", *characters, " "], dtype=object)

    @staticmethod
    def prepare(crops: list[Image.Image]) -> tuple[FloatArray, list[int]]:
        widths = [crop_width(crop) for crop in crops]
        batch_width = max(REC_MIN_WIDTH, *widths)
        batch = np.zeros((len(crops), 3, REC_HEIGHT, batch_width), dtype=np.float32)
        for i, (crop, width) in enumerate(zip(crops, widths, strict=True)):
            resized = crop.convert("RGB").resize((width, REC_HEIGHT), Image.Resampling.BILINEAR)
            array = np.asarray(resized, dtype=np.float32)[:, :, ::-1] / np.float32(127.5) - np.float32(1.0)
            batch[i, :, :, :width] = array.transpose(2, 0, 1)
        return batch, widths

    def recognize(self, crops: list[Image.Image]) -> list[Recognition]:
        """Text of every crop; crops of similar width are batched together."""
        results: list[Recognition | None] = [None] * len(crops)
        for chunk in batches([crop_width(crop) for crop in crops]):
            tensor, widths = self.prepare([crops[i] for i in chunk])
            probs = np.asarray(self.session.run(None, {self.input_name: tensor})[0], dtype=np.float32)
            pixels_per_step = tensor.shape[3] / probs.shape[1]
            for row, (index, width) in enumerate(zip(chunk, widths, strict=True)):
                classes, steps, scores = ctc_greedy(probs[row])
                positions = (steps + 0.5) * pixels_per_step / width
                inside = positions <= 1.0  # nothing is read from the padding
                results[index] = Recognition(
                    text="".join(self.characters[classes[inside]].tolist()),
                    scores=tuple(float(s) for s in scores[inside]),
                    positions=tuple(float(p) for p in positions[inside]),
                    step=pixels_per_step / width,
                )
        return [r for r in results if r is not None]
