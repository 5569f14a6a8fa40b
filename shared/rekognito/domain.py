"""Domain records shared by the operations, the inference code and the stores."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

Embedding = npt.NDArray[np.float32]


@dataclass(frozen=True)
class BoundingBox:
    """A box as ratios of the image width and height, as Rekognition reports it."""

    width: float
    height: float
    left: float
    top: float

    def to_api(self) -> dict[str, float]:
        return {"Width": self.width, "Height": self.height, "Left": self.left, "Top": self.top}

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> BoundingBox:
        return cls(
            width=float(data["Width"]),
            height=float(data["Height"]),
            left=float(data["Left"]),
            top=float(data["Top"]),
        )


@dataclass(frozen=True)
class Collection:
    collection_id: str
    arn: str
    face_model_version: str
    created_at: float
    tags: dict[str, str] = field(default_factory=dict)
    # Per-collection governance settings (minimum thresholds, retention, ...), as JSON values.
    policy: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredFace:
    """One indexed face: its identity, where it came from and its embedding.

    ``embedding`` is L2-normalised float32; it never leaves the server and is never logged.
    ``source`` names the object a face was indexed from by the ingestion path (bucket, key
    and version), so that deleting or overwriting the object removes its faces.
    """

    face_id: str
    collection_id: str
    image_id: str
    bounding_box: BoundingBox
    confidence: float
    embedding: Embedding
    created_at: float
    external_image_id: str | None = None
    user_id: str | None = None
    source: str | None = None
    face_detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class User:
    collection_id: str
    user_id: str
    status: str
    created_at: float


@dataclass(frozen=True)
class FaceMatchCandidate:
    face: StoredFace
    cosine: float
