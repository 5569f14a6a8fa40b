"""Moderation labels for DetectModerationLabels from Yahoo's open_nsfw classifier.

open_nsfw gives one probability that an image is "not safe for work" (nudity and sexual
content; it was not trained for violence, drugs, hate symbols and the other top-level
categories of Rekognition's moderation taxonomy). We report that probability only under
the part of Rekognition's published taxonomy (version 7: level 1 "Explicit", level 2
"Explicit Nudity") that it actually measures; the other categories are never reported.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from PIL import Image

if TYPE_CHECKING:
    from rekognito.settings import Settings

FloatArray = npt.NDArray[np.float32]

MODERATION_MODEL_VERSION = "7.0"
EXPLICIT = "Explicit"
EXPLICIT_NUDITY = "Explicit Nudity"
_MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)


@dataclass(frozen=True)
class ModerationResult:
    name: str
    parent: str
    level: int
    confidence: float


class NsfwClassifier:
    """Yahoo open_nsfw (ResNet-50 "thin"), ONNX.

    Input: Nx224x224x3 float32, NHWC, BGR, minus the per-channel mean (104, 117, 123),
    after resizing to 256x256 (bilinear), cropping the centre 224x224 and a JPEG round-trip
    (as the reference implementation does). Output: Nx2 probabilities (safe, not safe).
    """

    model_name = "open-nsfw"

    def __init__(self, session: Any) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name

    @classmethod
    def from_settings(cls, settings: Settings) -> NsfwClassifier:
        from rekognito.inference.models import create_session

        return cls(create_session(cls.model_name, settings.inference_threads))

    @staticmethod
    def prepare(image: Image.Image) -> FloatArray:
        resized = image.resize((256, 256), Image.Resampling.BILINEAR).crop((16, 16, 240, 240))
        buffer = io.BytesIO()
        resized.save(buffer, format="JPEG")
        buffer.seek(0)
        with Image.open(buffer) as reencoded:
            array = np.asarray(reencoded.convert("RGB"), dtype=np.float32)
        return np.ascontiguousarray((array[:, :, ::-1] - _MEAN_BGR)[None], dtype=np.float32)

    def nsfw_probability(self, image: Image.Image) -> float:
        output = self.session.run(None, {self.input_name: self.prepare(image)})[0]
        return float(np.asarray(output).reshape(-1)[1])

    def moderate(self, image: Image.Image, min_confidence: float) -> list[ModerationResult]:
        """Labels at or above ``min_confidence`` (0-100), level 1 first."""
        confidence = 100.0 * self.nsfw_probability(image)
        if confidence < min_confidence:
            return []
        return [
            ModerationResult(EXPLICIT, "", 1, confidence),
            ModerationResult(EXPLICIT_NUDITY, EXPLICIT, 2, confidence),
        ]
