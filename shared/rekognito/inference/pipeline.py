"""Face analysis: detection (with a second look at small faces), alignment, embedding."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from rekognito.domain import BoundingBox, Embedding
from rekognito.inference.align import align_face
from rekognito.inference.detector import INPUT_SIZE, Detection, YuNetDetector
from rekognito.inference.embedder import FaceEmbedder
from rekognito.inference.quality import Pose, Quality, estimate_pose, estimate_quality
from rekognito.settings import Settings

# Faces smaller than this in the detector's 640 letterbox get a second detection pass on a
# full-resolution crop around them, for better landmarks.
REFINE_BELOW_PX = 64
MAX_REFINEMENTS = 32
LARGEST_CANDIDATES = 3
LANDMARK_TYPES = ("eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight")


@dataclass
class AnalyzedFace:
    """A detected face in an image, with its alignment and, on demand, its embedding."""

    detection: Detection
    image_width: int
    image_height: int
    aligned: Image.Image
    pose: Pose
    quality: Quality
    embedding: Embedding | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def confidence(self) -> float:
        return round(self.detection.score * 100.0, 4)

    @property
    def bounding_box(self) -> BoundingBox:
        x1, y1, x2, y2 = self.detection.box
        return BoundingBox(
            width=(x2 - x1) / self.image_width,
            height=(y2 - y1) / self.image_height,
            left=x1 / self.image_width,
            top=y1 / self.image_height,
        )

    @property
    def pixel_size(self) -> float:
        return min(self.detection.width, self.detection.height)

    def face_detail(self) -> dict[str, Any]:
        """The DEFAULT attributes of Rekognition's FaceDetail."""
        landmarks = [
            {"Type": kind, "X": float(x) / self.image_width, "Y": float(y) / self.image_height}
            for kind, (x, y) in zip(LANDMARK_TYPES, self.detection.landmarks.tolist(), strict=True)
        ]
        return {
            "BoundingBox": self.bounding_box.to_api(),
            "Landmarks": landmarks,
            "Pose": {"Roll": self.pose.roll, "Yaw": self.pose.yaw, "Pitch": self.pose.pitch},
            "Quality": {"Brightness": self.quality.brightness, "Sharpness": self.quality.sharpness},
            "Confidence": self.confidence,
        }


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class FaceAnalyzer:
    """Detector + embedder, created once per process; both can be injected."""

    def __init__(self, detector: YuNetDetector, embedder: FaceEmbedder) -> None:
        self.detector = detector
        self.embedder = embedder
        # onnxruntime sessions are thread-safe, but running two at once on a small machine
        # only adds contention; the lock also keeps per-request timings honest.
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> FaceAnalyzer:
        return cls(
            YuNetDetector.create(settings.inference_threads),
            FaceEmbedder.create(settings.face_model, settings.inference_threads),
        )

    @property
    def model_version(self) -> str:
        return self.embedder.version

    def _refine(self, image: Image.Image, detection: Detection) -> Detection:
        x1, y1, x2, y2 = detection.box
        side = max(x2 - x1, y2 - y1) * 3.0
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        left, top = max(0, int(cx - side / 2)), max(0, int(cy - side / 2))
        right, bottom = min(image.width, int(cx + side / 2)), min(image.height, int(cy + side / 2))
        if right - left < 8 or bottom - top < 8:
            return detection
        crop = image.crop((left, top, right, bottom))
        candidates = self.detector.detect(crop)
        best: Detection | None = None
        best_iou = 0.3
        for candidate in candidates:
            shifted = (
                candidate.box[0] + left,
                candidate.box[1] + top,
                candidate.box[2] + left,
                candidate.box[3] + top,
            )
            overlap = _iou(shifted, detection.box)
            if overlap > best_iou:
                best_iou = overlap
                best = Detection(
                    box=shifted,
                    landmarks=candidate.landmarks + np.array([left, top], dtype=np.float32),
                    score=max(detection.score, candidate.score),
                )
        return best or detection

    def analyze(
        self, image: Image.Image, *, embed: bool, limit: int | None = None, largest_only: bool = False
    ) -> list[AnalyzedFace]:
        """Faces in an RGB image, largest first; with embeddings if ``embed``.

        ``limit`` caps how many faces are embedded (the largest ones); the rest are still
        returned, without embeddings, so callers can report them. ``largest_only`` returns
        just the largest face and spends no refinement or alignment on the others (search
        by image uses only that one).
        """
        with self._lock:
            started = time.perf_counter()
            detections = self.detector.detect(image)
            detect_s = time.perf_counter() - started
            scale = INPUT_SIZE / max(image.width, image.height)
            detections.sort(key=lambda d: d.width * d.height, reverse=True)
            if largest_only:
                # Refinement can reorder close sizes: look again at the few largest only.
                detections = detections[:LARGEST_CANDIDATES]
            refined = 0
            for index, detection in enumerate(detections):
                if (
                    scale < 1.0
                    and min(detection.width, detection.height) * scale < REFINE_BELOW_PX
                    and refined < MAX_REFINEMENTS
                ):
                    detections[index] = self._refine(image, detection)
                    refined += 1
            # Refinement moves boxes: rank by the final size.
            detections.sort(key=lambda d: d.width * d.height, reverse=True)
            if largest_only:
                detections = detections[:1]
            faces = []
            for index, detection in enumerate(detections):
                t0 = time.perf_counter()
                aligned = align_face(image, detection.landmarks)
                face = AnalyzedFace(
                    detection=detection,
                    image_width=image.width,
                    image_height=image.height,
                    aligned=aligned,
                    pose=estimate_pose(detection.landmarks),
                    quality=estimate_quality(aligned),
                )
                face.timings["detect"] = detect_s
                face.timings["align"] = time.perf_counter() - t0
                if embed and (limit is None or index < limit):
                    t1 = time.perf_counter()
                    face.embedding = self.embedder.embed(aligned)
                    face.timings["embed"] = time.perf_counter() - t1
                faces.append(face)
            return faces

    def embed(self, face: AnalyzedFace) -> Embedding:
        if face.embedding is None:
            with self._lock:
                face.embedding = self.embedder.embed(face.aligned)
        return face.embedding
