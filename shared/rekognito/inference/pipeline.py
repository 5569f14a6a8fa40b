"""Face analysis: detection, a dense landmark mesh per face, alignment, embedding, attributes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from rekognito.domain import BoundingBox, Embedding
from rekognito.inference.align import align_face
from rekognito.inference.attributes import AttributeEstimator
from rekognito.inference.detector import Detection, YuNetDetector
from rekognito.inference.embedder import FaceEmbedder
from rekognito.inference.landmarks import FaceLandmarks, FaceMesh, rekognition_landmarks
from rekognito.inference.quality import Pose, Quality, estimate_pose, estimate_quality, fit_pose
from rekognito.settings import Settings

# Align the embedder's crop on the mesh's eye centres, nose tip and mouth corners (True) or on
# the detector's five points (False). On distinct photos of turned faces the mesh points gave
# much closer same-person pairs (docs/similarity.md).
ALIGN_FROM_MESH = True
DEFAULT_LANDMARKS = ("eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight")
# Below this face-presence score of the mesh, its points are not trusted: pose, landmarks
# and alignment fall back to the detector's five points.
MIN_MESH_SCORE = 0.5
# Attribute names (botocore's Attribute enum) beyond DEFAULT.
ATTRIBUTE_NAMES = frozenset(
    {
        "ALL",
        "AGE_RANGE",
        "BEARD",
        "EMOTIONS",
        "EYE_DIRECTION",
        "EYEGLASSES",
        "EYES_OPEN",
        "GENDER",
        "MOUTH_OPEN",
        "MUSTACHE",
        "FACE_OCCLUDED",
        "SMILE",
        "SUNGLASSES",
    }
)


def wanted_attributes(requested: Iterable[str] | None) -> frozenset[str]:
    """The non-DEFAULT attribute names of a request's ``Attributes`` list."""
    return frozenset(requested or ()) & ATTRIBUTE_NAMES


@dataclass
class AnalyzedFace:
    """A detected face in an image, with its mesh, alignment and, on demand, its embedding."""

    detection: Detection
    image_width: int
    image_height: int
    aligned: Image.Image
    pose: Pose
    quality: Quality
    landmarks: dict[str, tuple[float, float]]
    mesh: FaceLandmarks | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    all_landmarks: bool = False
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
        """Rekognition's FaceDetail: DEFAULT members plus the attributes computed for it.

        Landmarks: the five DEFAULT types, or all 30 when ``ALL`` attributes were asked for.
        """
        kinds = self.landmarks if self.all_landmarks else {k: self.landmarks[k] for k in DEFAULT_LANDMARKS}
        landmarks = [
            {"Type": kind, "X": x / self.image_width, "Y": y / self.image_height}
            for kind, (x, y) in kinds.items()
        ]
        detail: dict[str, Any] = {
            "BoundingBox": self.bounding_box.to_api(),
            "Landmarks": landmarks,
            "Pose": {"Roll": self.pose.roll, "Yaw": self.pose.yaw, "Pitch": self.pose.pitch},
            "Quality": {"Brightness": self.quality.brightness, "Sharpness": self.quality.sharpness},
            "Confidence": self.confidence,
        }
        detail.update(self.attributes)
        return detail


class FaceAnalyzer:
    """Detector, face mesh, embedder and attribute models, created once per process.

    Every part can be injected. Without a mesh (``mesh=None``) pose, landmarks and alignment
    come from the detector's five points and no attributes are computed.
    """

    def __init__(
        self,
        detector: YuNetDetector,
        embedder: FaceEmbedder,
        mesh: FaceMesh | None = None,
        attributes: AttributeEstimator | None = None,
        *,
        sensitive_attributes: bool = False,
        align_from_mesh: bool = ALIGN_FROM_MESH,
    ) -> None:
        self.detector = detector
        self.embedder = embedder
        self.mesh = mesh
        self.attribute_estimator = attributes
        self.sensitive_attributes = sensitive_attributes
        self.align_from_mesh = align_from_mesh
        # onnxruntime sessions are thread-safe, but running two at once on a small machine
        # only adds contention; the lock also keeps per-request timings honest.
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> FaceAnalyzer:
        threads = settings.inference_threads
        return cls(
            YuNetDetector.create(threads),
            FaceEmbedder.create(settings.face_model, threads),
            FaceMesh.create(threads),
            AttributeEstimator.create(threads),
            sensitive_attributes=settings.face_sensitive_attributes,
        )

    @property
    def model_version(self) -> str:
        return self.embedder.version

    def _face(self, image: Image.Image, detection: Detection, attributes: frozenset[str]) -> AnalyzedFace:
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        mesh = self.mesh.fit(image, detection) if self.mesh is not None else None
        if mesh is not None and mesh.score < MIN_MESH_SCORE:
            mesh = None
        t1 = time.perf_counter()
        timings["mesh"] = t1 - t0
        if mesh is not None:
            pose = fit_pose(mesh.points)
            five = mesh.five_points() if self.align_from_mesh else detection.landmarks
        else:
            pose = estimate_pose(detection.landmarks)
            five = detection.landmarks
        aligned = align_face(image, five)
        t2 = time.perf_counter()
        timings["align"] = t2 - t1
        irises = None
        if mesh is not None and self.mesh is not None and attributes & {"ALL", "EYE_DIRECTION"}:
            irises = self.mesh.irises(image, mesh)
        if mesh is not None:
            landmarks = {
                k: (float(v[0]), float(v[1])) for k, v in rekognition_landmarks(mesh, irises).items()
            }
        else:
            landmarks = {
                k: (float(x), float(y))
                for k, (x, y) in zip(DEFAULT_LANDMARKS, detection.landmarks.tolist(), strict=True)
            }
        face = AnalyzedFace(
            detection=detection,
            image_width=image.width,
            image_height=image.height,
            aligned=aligned,
            pose=pose,
            quality=estimate_quality(aligned),
            landmarks=landmarks,
            mesh=mesh,
            all_landmarks="ALL" in attributes and mesh is not None,
        )
        if attributes and mesh is not None and self.attribute_estimator is not None:
            face.attributes = self.attribute_estimator.estimate(
                image, mesh, irises, pose, attributes, self.sensitive_attributes
            )
        timings["attributes"] = time.perf_counter() - t2
        face.timings.update(timings)
        return face

    def analyze(
        self,
        image: Image.Image,
        *,
        embed: bool,
        limit: int | None = None,
        largest_only: bool = False,
        attributes: frozenset[str] = frozenset(),
    ) -> list[AnalyzedFace]:
        """Faces in an RGB image, largest first; with embeddings if ``embed``.

        ``limit`` caps how many faces are embedded (the largest ones); the rest are still
        returned, without embeddings, so callers can report them. ``largest_only`` returns
        just the largest face and spends no mesh or alignment on the others (search by image
        uses only that one). ``attributes`` (see :func:`wanted_attributes`) selects the
        FaceDetail members beyond DEFAULT to compute.
        """
        with self._lock:
            started = time.perf_counter()
            detections = self.detector.detect(image)
            detect_s = time.perf_counter() - started
            detections.sort(key=lambda d: d.width * d.height, reverse=True)
            if largest_only:
                detections = detections[:1]
            faces = []
            for index, detection in enumerate(detections):
                face = self._face(image, detection, attributes)
                face.timings["detect"] = detect_s
                if embed and (limit is None or index < limit):
                    t1 = time.perf_counter()
                    face.embedding = self.embedder.embed(face.aligned)
                    face.timings["embed"] = time.perf_counter() - t1
                faces.append(face)
            return faces

    def embed(self, face: AnalyzedFace) -> Embedding:
        if face.embedding is None:
            with self._lock:
                face.embedding = self.embedder.embed(face.aligned)
        return face.embedding
