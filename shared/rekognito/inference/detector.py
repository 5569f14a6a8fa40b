"""YuNet face detector (OpenCV model zoo, 2023mar) run with onnxruntime.

Input: one 640x640 BGR image, float32 in 0..255, NCHW; the picture is letterboxed (scaled
to fit, padded right and bottom with black). Outputs, per stride 8, 16 and 32: class score,
objectness, box deltas (centre offset and log size, in stride units) and 5 landmark offsets.
The face score is sqrt(class * objectness). Landmarks come in the order of the ArcFace
template: the eye on the image's left, the other eye, the nose tip, then the mouth corners
(image left first).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from PIL import Image

from rekognito.inference.models import create_session

INPUT_SIZE = 640
STRIDES = (8, 16, 32)
DEFAULT_SCORE_THRESHOLD = 0.6
NMS_IOU = 0.3
MAX_CANDIDATES = 5000

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Detection:
    """A face in image pixels: box (x1, y1, x2, y2), 5 landmarks (x, y) and a 0..1 score."""

    box: tuple[float, float, float, float]
    landmarks: FloatArray
    score: float

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


def _nms(boxes: FloatArray, scores: FloatArray, iou_threshold: float) -> list[int]:
    order = np.argsort(-scores)
    keep: list[int] = []
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while order.size:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        xx1 = np.maximum(boxes[best, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[best, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[best, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[best, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        iou = inter / (areas[best] + areas[rest] - inter + 1e-9)
        order = rest[iou <= iou_threshold]
    return keep


class YuNetDetector:
    """Face detection with 5 landmarks. ``session`` may be injected (tests pass a fake)."""

    model_name = "yunet-2023mar"

    def __init__(
        self, session: ort.InferenceSession, score_threshold: float = DEFAULT_SCORE_THRESHOLD
    ) -> None:
        self._session = session
        self._input_name = session.get_inputs()[0].name
        self._output_names = [output.name for output in session.get_outputs()]
        self.score_threshold = score_threshold
        self._grids = {stride: self._grid(INPUT_SIZE // stride) for stride in STRIDES}

    @classmethod
    def create(cls, threads: int = 1) -> YuNetDetector:
        return cls(create_session(cls.model_name, threads))

    @staticmethod
    def _grid(cells: int) -> FloatArray:
        ys, xs = np.mgrid[0:cells, 0:cells]
        return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)

    def prepare(self, image: Image.Image) -> tuple[FloatArray, float]:
        """Letterbox ``image`` (RGB) into the model input; return it and the scale used."""
        width, height = image.size
        scale = INPUT_SIZE / max(width, height)
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        resized = image.resize((new_w, new_h), Image.Resampling.BILINEAR, reducing_gap=2.0)
        canvas = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), dtype=np.float32)
        canvas[:new_h, :new_w] = np.asarray(resized, dtype=np.float32)[:, :, ::-1]
        return canvas.transpose(2, 0, 1)[np.newaxis], scale

    def detect(self, image: Image.Image) -> list[Detection]:
        """Faces in an RGB image, best score first, coordinates in the image's pixels."""
        blob, scale = self.prepare(image)
        outputs = dict(
            zip(
                self._output_names,
                self._session.run(self._output_names, {self._input_name: blob}),
                strict=True,
            )
        )
        boxes_all, scores_all, kps_all = [], [], []
        for stride in STRIDES:
            cls = np.clip(outputs[f"cls_{stride}"][0, :, 0], 0.0, 1.0)
            obj = np.clip(outputs[f"obj_{stride}"][0, :, 0], 0.0, 1.0)
            score = np.sqrt(cls * obj)
            selected = np.nonzero(score >= self.score_threshold)[0]
            if selected.size == 0:
                continue
            grid = self._grids[stride][selected]
            bbox = outputs[f"bbox_{stride}"][0, selected]
            kps = outputs[f"kps_{stride}"][0, selected].reshape(-1, 5, 2)
            centre = (grid + bbox[:, :2]) * stride
            size = np.exp(np.clip(bbox[:, 2:4], -10, 10)) * stride
            boxes_all.append(np.concatenate([centre - size / 2, centre + size / 2], axis=1))
            scores_all.append(score[selected])
            kps_all.append((kps + grid[:, np.newaxis, :]) * stride)
        if not boxes_all:
            return []
        boxes = np.concatenate(boxes_all).astype(np.float32)
        scores = np.concatenate(scores_all).astype(np.float32)
        kps = np.concatenate(kps_all).astype(np.float32)
        if scores.size > MAX_CANDIDATES:
            top = np.argsort(-scores)[:MAX_CANDIDATES]
            boxes, scores, kps = boxes[top], scores[top], kps[top]
        keep = _nms(boxes, scores, NMS_IOU)
        width, height = image.size
        found = []
        for index in keep:
            x1, y1, x2, y2 = (boxes[index] / scale).tolist()
            box = (max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2))
            if box[2] - box[0] < 1 or box[3] - box[1] < 1:
                continue
            found.append(Detection(box=box, landmarks=kps[index] / scale, score=float(scores[index])))
        return found
