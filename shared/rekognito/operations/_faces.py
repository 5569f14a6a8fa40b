"""Shared pieces of the face operations: quality filtering, shapes, thresholds."""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Any

from rekognito.api._generated import InvalidPaginationTokenException, InvalidParameterException
from rekognito.domain import Collection, StoredFace
from rekognito.inference.embedder import EMBEDDERS, EmbedderSpec
from rekognito.inference.pipeline import AnalyzedFace
from rekognito.inference.similarity import to_cosine, to_similarity
from rekognito.policy import percent_floor
from rekognito.request import RequestContext

MAX_FACES_PER_IMAGE = 100


@dataclass(frozen=True)
class QualityBar:
    min_pixels: float
    min_confidence: float
    min_sharpness: float
    min_brightness: float
    max_yaw: float
    max_pitch: float


# Thresholds per QualityFilter level (docs/faces.md, "Quality filter"). AUTO is Rekognition's
# default and sits at MEDIUM. Yaw and pitch come from the face mesh: a three-quarter view
# (yaw about 30-55 degrees) passes LOW, MEDIUM and AUTO; EXTREME_POSE ("the head is turned too
# far away from the camera") starts at 65 degrees of yaw for MEDIUM, near profile.
QUALITY_BARS = {
    "LOW": QualityBar(
        min_pixels=16, min_confidence=60, min_sharpness=8, min_brightness=5, max_yaw=80, max_pitch=70
    ),
    "MEDIUM": QualityBar(
        min_pixels=24, min_confidence=70, min_sharpness=15, min_brightness=10, max_yaw=65, max_pitch=55
    ),
    "HIGH": QualityBar(
        min_pixels=40, min_confidence=80, min_sharpness=25, min_brightness=15, max_yaw=45, max_pitch=40
    ),
}
QUALITY_BARS["AUTO"] = QUALITY_BARS["MEDIUM"]


def quality_reasons(face: AnalyzedFace, level: str) -> list[str]:
    """Reasons (Rekognition's enum) for which ``face`` fails the ``level`` bar."""
    bar = QUALITY_BARS.get(level)
    if bar is None:
        return []
    reasons = []
    if face.pixel_size < bar.min_pixels:
        reasons.append("SMALL_BOUNDING_BOX")
    if face.confidence < bar.min_confidence:
        reasons.append("LOW_CONFIDENCE")
    if face.quality.sharpness < bar.min_sharpness:
        reasons.append("LOW_SHARPNESS")
    if face.quality.brightness < bar.min_brightness:
        reasons.append("LOW_BRIGHTNESS")
    if abs(face.pose.yaw) > bar.max_yaw or abs(face.pose.pitch) > bar.max_pitch:
        reasons.append("EXTREME_POSE")
    if len(reasons) > 1:
        reasons.append("LOW_FACE_QUALITY")
    return reasons


def embedder_spec(ctx: RequestContext) -> EmbedderSpec:
    return EMBEDDERS[ctx.services.settings.face_model]


def check_model(ctx: RequestContext, collection: Collection) -> EmbedderSpec:
    spec = embedder_spec(ctx)
    if collection.face_model_version != spec.model_name:
        raise InvalidParameterException(
            f"Collection {collection.collection_id} holds faces of model {collection.face_model_version}; "
            f"this server runs {spec.model_name}. Re-index the collection or configure REKOGNITO_FACE_MODEL."
        )
    return spec


def similarity(cosine: float, spec: EmbedderSpec) -> float:
    return round(to_similarity(cosine, spec.calibration), 5)


def min_cosine(threshold: float, spec: EmbedderSpec) -> float:
    return to_cosine(threshold, spec.calibration) - 1e-9


def effective_threshold(
    collection: Collection, requested: float | None, name: str, default: float = 80.0
) -> float:
    """Apply the collection's minimum-threshold guardrail to a requested threshold."""
    threshold = default if requested is None else requested
    minimum = percent_floor(collection.policy, "min_match_threshold")
    if minimum is not None and threshold < minimum:
        if collection.policy.get("threshold_mode", "refuse") == "clamp":
            return minimum
        raise InvalidParameterException(
            f"{name} {threshold:g} is below the minimum of {minimum:g} set for collection "
            f"{collection.collection_id}"
        )
    return threshold


def mark_review(collection: Collection, match: dict[str, Any]) -> dict[str, Any]:
    """Flag matches under the collection's review level (an extra key botocore ignores)."""
    review_below = percent_floor(collection.policy, "review_below")
    if review_below is not None and match["Similarity"] < review_below:
        match["ReviewRequired"] = True
    return match


def face_record(face: StoredFace, model_version: str) -> dict[str, Any]:
    """The ``Face`` shape of a stored face."""
    record: dict[str, Any] = {
        "FaceId": face.face_id,
        "BoundingBox": face.bounding_box.to_api(),
        "ImageId": face.image_id,
        "Confidence": face.confidence,
        "IndexFacesModelVersion": model_version,
    }
    if face.external_image_id is not None:
        record["ExternalImageId"] = face.external_image_id
    if face.user_id is not None:
        record["UserId"] = face.user_id
    return record


def compared_face(face: AnalyzedFace) -> dict[str, Any]:
    detail = face.face_detail()
    return {key: detail[key] for key in ("BoundingBox", "Confidence", "Landmarks", "Pose", "Quality")}


def page_size(params: dict[str, Any], default: int) -> int:
    """``MaxResults``, which the model bounds above only; below 1 is refused."""
    value = int(params.get("MaxResults", default))
    if value < 1:
        raise InvalidParameterException("MaxResults must be at least 1")
    return value


def encode_token(collection_id: str, after: str) -> str:
    payload = json.dumps({"c": collection_id, "a": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode()


def decode_token(token: str | None, collection_id: str) -> str | None:
    if token is None:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode()))
        if payload["c"] != collection_id or not isinstance(payload["a"], str):
            raise ValueError("token of another listing")
        after: str = payload["a"]
    except (ValueError, KeyError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
        raise InvalidPaginationTokenException("Invalid pagination token") from exc
    return after


def finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0
