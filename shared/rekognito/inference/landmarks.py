"""Dense face landmarks: MediaPipe's 468-point face mesh and its iris model, run with onnxruntime.

The mesh runs on every detected face. Its input is a 192x192 RGB crop in 0..1, NCHW: a
square of 1.5 times the detector box's longer side, centred on the box and rotated so that
the detector's two eyes are level (when they are far enough apart to give an angle; on a
profile they are not, and the crop stays upright). Output: 468 points (x, y, z) in crop
pixels, z a relative depth on the same scale, and a face presence score. Points are mapped
back to image pixels (z scaled like x and y) and indexed as in MediaPipe's canonical mesh.

The iris model runs only when eye direction or pupils are asked for: a 64x64 crop of each
eye (a square 2.3 times the eye's corner-to-corner width), the person's left eye mirrored
as MediaPipe does; it returns 71 eye-contour points and 5 iris points (centre first).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from PIL import Image

from rekognito.inference.detector import Detection
from rekognito.inference.models import create_session

FloatArray = npt.NDArray[np.float64]

MESH_SIZE = 192
MESH_CROP_SCALE = 1.5
IRIS_SIZE = 64
IRIS_CROP_SCALE = 2.3
# The detector's eyes give the crop's angle only when they are at least this fraction of
# the box width apart (on profiles they collapse onto each other).
MIN_EYE_SPAN_FOR_ROLL = 0.25

# Mesh indices (MediaPipe canonical face mesh). "Image left" is the person's right side in
# an unmirrored photo, which is what Rekognition's "Left" landmark names refer to.
RIGHT_EYE_OUTER, RIGHT_EYE_INNER, RIGHT_EYE_UPPER, RIGHT_EYE_LOWER = 33, 133, 159, 145
LEFT_EYE_INNER, LEFT_EYE_OUTER, LEFT_EYE_UPPER, LEFT_EYE_LOWER = 362, 263, 386, 374
NOSE_TIP = 1
MOUTH_RIGHT_CORNER, MOUTH_LEFT_CORNER = 61, 291
UPPER_LIP_TOP, LOWER_LIP_BOTTOM = 0, 17
UPPER_LIP_INNER, LOWER_LIP_INNER = 13, 14
CHIN = 152
FOREHEAD = 10

# Rekognition landmark type -> mesh point, or "pupil:<side>" for the iris centre.
LANDMARK_POINTS: dict[str, int] = {
    "leftEyeBrowLeft": 70,
    "leftEyeBrowRight": 107,
    "leftEyeBrowUp": 105,
    "rightEyeBrowLeft": 336,
    "rightEyeBrowRight": 300,
    "rightEyeBrowUp": 334,
    "leftEyeLeft": RIGHT_EYE_OUTER,
    "leftEyeRight": RIGHT_EYE_INNER,
    "leftEyeUp": RIGHT_EYE_UPPER,
    "leftEyeDown": RIGHT_EYE_LOWER,
    "rightEyeLeft": LEFT_EYE_INNER,
    "rightEyeRight": LEFT_EYE_OUTER,
    "rightEyeUp": LEFT_EYE_UPPER,
    "rightEyeDown": LEFT_EYE_LOWER,
    "nose": NOSE_TIP,
    "noseLeft": 129,
    "noseRight": 358,
    "mouthLeft": MOUTH_RIGHT_CORNER,
    "mouthRight": MOUTH_LEFT_CORNER,
    "mouthUp": UPPER_LIP_TOP,
    "mouthDown": LOWER_LIP_BOTTOM,
    "upperJawlineLeft": 132,
    "midJawlineLeft": 172,
    "chinBottom": CHIN,
    "midJawlineRight": 397,
    "upperJawlineRight": 361,
}
# The order Rekognition lists them in (botocore's LandmarkType enum).
LANDMARK_ORDER = (
    "eyeLeft",
    "eyeRight",
    "nose",
    "mouthLeft",
    "mouthRight",
    "leftEyeBrowLeft",
    "leftEyeBrowRight",
    "leftEyeBrowUp",
    "rightEyeBrowLeft",
    "rightEyeBrowRight",
    "rightEyeBrowUp",
    "leftEyeLeft",
    "leftEyeRight",
    "leftEyeUp",
    "leftEyeDown",
    "rightEyeLeft",
    "rightEyeRight",
    "rightEyeUp",
    "rightEyeDown",
    "noseLeft",
    "noseRight",
    "mouthUp",
    "mouthDown",
    "leftPupil",
    "rightPupil",
    "upperJawlineLeft",
    "midJawlineLeft",
    "chinBottom",
    "midJawlineRight",
    "upperJawlineRight",
)
# Eye outlines of the mesh (upper and lower lid, corner to corner) per side of the image.
IMAGE_LEFT_EYE = (33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7)
IMAGE_RIGHT_EYE = (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249)


@dataclass(frozen=True)
class Crop:
    """A square, rotated crop: image point = centre + R(angle) @ ((u, v) - size/2) * scale."""

    centre: tuple[float, float]
    scale: float  # image pixels per crop pixel
    angle: float  # radians
    size: int

    def coefficients(self) -> tuple[float, float, float, float, float, float]:
        """Pillow AFFINE data: crop (u, v) -> image (x, y)."""
        c, s = math.cos(self.angle) * self.scale, math.sin(self.angle) * self.scale
        half = self.size / 2
        tx = self.centre[0] - (c * half - s * half)
        ty = self.centre[1] - (s * half + c * half)
        return (c, -s, tx, s, c, ty)

    def to_image(self, points: FloatArray) -> FloatArray:
        """Crop points (n, 2 or 3) to image pixels; z is scaled like x and y."""
        a, b, tx, d, e, ty = self.coefficients()
        out = np.array(points, dtype=np.float64, copy=True)
        u, v = points[:, 0], points[:, 1]
        out[:, 0] = a * u + b * v + tx
        out[:, 1] = d * u + e * v + ty
        if out.shape[1] > 2:
            out[:, 2] = points[:, 2] * self.scale
        return out

    def pixels(self, image: Image.Image, flip: bool = False) -> npt.NDArray[np.float32]:
        """The crop as a 1x3xSxS float32 batch in 0..1 (mirrored left-right if ``flip``)."""
        patch = image.transform(
            (self.size, self.size),
            Image.Transform.AFFINE,
            data=self.coefficients(),
            resample=Image.Resampling.BILINEAR,
        )
        array = np.asarray(patch, dtype=np.float32) / 255.0
        if flip:
            array = array[:, ::-1]
        return np.ascontiguousarray(array.transpose(2, 0, 1)[np.newaxis])


@dataclass(frozen=True)
class FaceLandmarks:
    """468 mesh points (x, y, z) in image pixels and the mesh's face presence score."""

    points: FloatArray
    score: float
    crop: Crop

    def point(self, index: int) -> FloatArray:
        return self.points[index, :2]

    def eye_centres(self) -> tuple[FloatArray, FloatArray]:
        """Centres of the eye outlines: (image left eye, image right eye)."""
        return (
            self.points[list(IMAGE_LEFT_EYE), :2].mean(axis=0),
            self.points[list(IMAGE_RIGHT_EYE), :2].mean(axis=0),
        )

    def five_points(self) -> FloatArray:
        """Eye centres, nose tip and mouth corners, in the ArcFace template's order."""
        left, right = self.eye_centres()
        return np.stack(
            [left, right, self.point(NOSE_TIP), self.point(MOUTH_RIGHT_CORNER), self.point(MOUTH_LEFT_CORNER)]
        )

    def box(self) -> tuple[float, float, float, float]:
        xs, ys = self.points[:, 0], self.points[:, 1]
        return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())


@dataclass(frozen=True)
class Irises:
    """Iris centres and radii (image pixels) and the iris model's eye outlines, per image side."""

    centres: FloatArray  # (2, 2): image-left eye, image-right eye
    radii: FloatArray  # (2,)
    contours: FloatArray  # (2, 71, 2)


def mesh_crop(detection: Detection) -> Crop:
    x1, y1, x2, y2 = detection.box
    side = max(x2 - x1, y2 - y1) * MESH_CROP_SCALE
    left_eye, right_eye = np.asarray(detection.landmarks[0]), np.asarray(detection.landmarks[1])
    span = right_eye - left_eye
    angle = 0.0
    if float(np.hypot(*span)) >= MIN_EYE_SPAN_FOR_ROLL * (x2 - x1):
        angle = math.atan2(float(span[1]), float(span[0]))
    return Crop(centre=((x1 + x2) / 2, (y1 + y2) / 2), scale=side / MESH_SIZE, angle=angle, size=MESH_SIZE)


class FaceMesh:
    """The 468-point face mesh and, on demand, the iris model. Sessions may be injected."""

    mesh_model = "facemesh-468"
    iris_model = "iris-mediapipe"

    def __init__(self, session: ort.InferenceSession, iris_session: ort.InferenceSession | None) -> None:
        self._session = session
        self._iris = iris_session
        self._input = session.get_inputs()[0].name
        self._iris_input = iris_session.get_inputs()[0].name if iris_session is not None else ""

    @classmethod
    def create(cls, threads: int = 1) -> FaceMesh:
        return cls(create_session(cls.mesh_model, threads), create_session(cls.iris_model, threads))

    def fit(self, image: Image.Image, detection: Detection) -> FaceLandmarks:
        """The mesh of the face that ``detection`` found in ``image`` (RGB)."""
        crop = mesh_crop(detection)
        mesh, flag = self._session.run(["mesh", "faceflag"], {self._input: crop.pixels(image)})
        points = crop.to_image(np.asarray(mesh, dtype=np.float64).reshape(-1, 3))
        return FaceLandmarks(points=points, score=float(np.asarray(flag).ravel()[0]), crop=crop)

    def irises(self, image: Image.Image, landmarks: FaceLandmarks) -> Irises | None:
        if self._iris is None:
            return None
        centres, radii, contours = [], [], []
        for outer, inner, flip in (
            (RIGHT_EYE_OUTER, RIGHT_EYE_INNER, False),
            (LEFT_EYE_INNER, LEFT_EYE_OUTER, True),
        ):
            a, b = landmarks.point(outer), landmarks.point(inner)
            width = float(np.hypot(*(b - a)))
            angle = math.atan2(float(b[1] - a[1]), float(b[0] - a[0]))
            crop = Crop(
                centre=(float(a[0] + b[0]) / 2, float(a[1] + b[1]) / 2),
                scale=max(width, 1.0) * IRIS_CROP_SCALE / IRIS_SIZE,
                angle=angle,
                size=IRIS_SIZE,
            )
            raw = np.asarray(
                self._iris.run(None, {self._iris_input: crop.pixels(image, flip=flip)})[0], dtype=np.float64
            )
            pts = raw.reshape(-1, 3)[:, :2].copy()
            if flip:
                pts[:, 0] = IRIS_SIZE - pts[:, 0]
            mapped = crop.to_image(pts)
            iris = mapped[71:76]
            centres.append(iris[0])
            radii.append(float(np.mean(np.hypot(*(iris[1:] - iris[0]).T))))
            contours.append(mapped[:71])
        return Irises(centres=np.stack(centres), radii=np.array(radii), contours=np.stack(contours))


def rekognition_landmarks(landmarks: FaceLandmarks, irises: Irises | None = None) -> dict[str, FloatArray]:
    """All 30 of Rekognition's landmark types, in image pixels."""
    eye_left, eye_right = irises.centres if irises is not None else landmarks.eye_centres()
    points: dict[str, FloatArray] = {"eyeLeft": eye_left, "eyeRight": eye_right}
    for kind, index in LANDMARK_POINTS.items():
        points[kind] = landmarks.point(index)
    points["leftPupil"], points["rightPupil"] = eye_left, eye_right
    return {kind: points[kind] for kind in LANDMARK_ORDER}
