"""Face embedding models: aligned 112x112 RGB crop -> L2-normalised vector.

* ``edgeface-s`` (EdgeFace-S, gamma 0.5): input NCHW RGB, (x / 255 - 0.5) / 0.5; 512-d.
* ``sface-2021dec`` (SFace): input NCHW RGB, raw 0..255; 128-d.

The embedding of a face is the normalised mean of the embeddings of the crop and its mirror
image, which is a little more stable under pose and lighting than either alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from PIL import Image

from rekognito.inference.models import create_session


@dataclass(frozen=True)
class EmbedderSpec:
    model_name: str
    dimension: int
    mean: float
    std: float
    batched: bool
    # Cosine -> 0..100 similarity calibration, as (cosine, similarity) knots; see
    # docs/similarity.md for the measurements behind them.
    calibration: tuple[tuple[float, float], ...]
    # The models.json entry actually run, when it is a rebuilt graph of ``model_name`` with
    # identical outputs (``edgeface-s-batch2``: scripts/build-edgeface-batch).
    session_model: str = ""


EMBEDDERS: dict[str, EmbedderSpec] = {
    "edgeface-s": EmbedderSpec(
        model_name="edgeface-s",
        dimension=512,
        mean=127.5,
        std=127.5,
        batched=True,
        calibration=(
            (-1.0, 0.0),
            (0.0, 0.0),
            (0.30, 40.0),
            (0.60, 80.0),
            (0.70, 95.0),
            (0.75, 99.0),
            (1.0, 100.0),
        ),
        session_model="edgeface-s-batch2",
    ),
    "sface": EmbedderSpec(
        model_name="sface-2021dec",
        dimension=128,
        mean=0.0,
        std=1.0,
        batched=False,
        calibration=(
            (-1.0, 0.0),
            (0.0, 0.0),
            (0.363, 60.0),
            (0.50, 80.0),
            (0.60, 90.0),
            (0.80, 99.0),
            (1.0, 100.0),
        ),
    ),
}


class FaceEmbedder:
    """Embeds aligned face crops. ``session`` may be injected (tests pass a fake)."""

    def __init__(self, session: ort.InferenceSession, spec: EmbedderSpec) -> None:
        self._session = session
        self.spec = spec
        self._input_name = session.get_inputs()[0].name
        self._output_name = session.get_outputs()[0].name

    @classmethod
    def create(cls, name: str, threads: int = 1) -> FaceEmbedder:
        spec = EMBEDDERS[name]
        return cls(create_session(spec.session_model or spec.model_name, threads), spec)

    @property
    def version(self) -> str:
        return self.spec.model_name

    def prepare(self, crop: Image.Image) -> npt.NDArray[np.float32]:
        """Both the crop and its mirror as a 2x3x112x112 float32 batch."""
        pixels = np.asarray(crop.convert("RGB"), dtype=np.float32)
        pixels = (pixels - self.spec.mean) / self.spec.std
        chw = pixels.transpose(2, 0, 1)
        return np.stack([chw, chw[:, :, ::-1]]).astype(np.float32)

    def embed(self, crop: Image.Image) -> npt.NDArray[np.float32]:
        batch = self.prepare(crop)
        if self.spec.batched:
            vectors = self._session.run([self._output_name], {self._input_name: batch})[0]
        else:
            vectors = np.concatenate(
                [
                    self._session.run([self._output_name], {self._input_name: batch[i : i + 1]})[0]
                    for i in range(2)
                ]
            )
        vectors = vectors.astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
        mean = vectors.mean(axis=0)
        result: npt.NDArray[np.float32] = (mean / (np.linalg.norm(mean) + 1e-12)).astype(np.float32)
        return result
