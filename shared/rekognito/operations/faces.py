"""IndexFaces, ListFaces, DeleteFaces, SearchFaces, SearchFacesByImage."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from rekognito.api._generated import InvalidParameterException
from rekognito.domain import Collection, StoredFace
from rekognito.images import DecodedImage
from rekognito.inference.pipeline import AnalyzedFace, wanted_attributes
from rekognito.operations._faces import (
    MAX_FACES_PER_IMAGE,
    check_model,
    decode_token,
    effective_threshold,
    encode_token,
    face_record,
    mark_review,
    min_cosine,
    page_size,
    quality_reasons,
    similarity,
)
from rekognito.operations.registry import operation
from rekognito.ports import Runtime
from rekognito.request import RequestContext

NO_FACE_MESSAGE = "There are no faces in the image. Should be at least 1."


@dataclass
class IndexOutcome:
    faces: list[StoredFace] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    unindexed: list[dict[str, Any]] = field(default_factory=list)
    model_version: str = ""


def index_image(
    services: Runtime,
    collection_id: str,
    image: DecodedImage,
    *,
    external_image_id: str | None = None,
    max_faces: int | None = None,
    quality_filter: str = "AUTO",
    face_id_namespace: uuid.UUID | None = None,
    source: str | None = None,
    replace_source: bool = False,
    detection_attributes: list[str] | None = None,
) -> IndexOutcome:
    """Detect, filter, embed and store the faces of one image, all or nothing.

    With ``face_id_namespace`` the face ids are deterministic (uuid5 of the namespace and
    the face's rank), so indexing the same object twice writes the same faces once. With
    ``replace_source``, faces previously indexed from ``source`` are removed in the same
    step (an overwritten S3 object replaces its faces).
    """
    store = services.store
    collection = store.get_collection(collection_id)
    consent_tag = collection.policy.get("require_consent_tag")
    if consent_tag and consent_tag not in collection.tags:
        raise InvalidParameterException(
            f"Collection {collection_id} refuses indexing until it carries the consent tag {consent_tag!r}"
        )
    spec_version = collection.face_model_version
    analyzer = services.face_analyzer
    if analyzer.model_version != spec_version:
        raise InvalidParameterException(
            f"Collection {collection_id} holds faces of model {spec_version}; this server runs "
            f"{analyzer.model_version}"
        )
    analyzed = analyzer.analyze(image.pil, embed=False, attributes=wanted_attributes(detection_attributes))
    outcome = IndexOutcome(model_version=spec_version)
    keep: list[AnalyzedFace] = []
    for face in analyzed:
        reasons = quality_reasons(face, quality_filter) if quality_filter != "NONE" else []
        if reasons:
            outcome.unindexed.append({"Reasons": reasons, "FaceDetail": face.face_detail()})
        else:
            keep.append(face)
    cap = min(MAX_FACES_PER_IMAGE, max_faces if max_faces is not None else MAX_FACES_PER_IMAGE)
    for face in keep[cap:]:
        outcome.unindexed.append({"Reasons": ["EXCEEDS_MAX_FACES"], "FaceDetail": face.face_detail()})
    keep = keep[:cap]
    image_id = str(uuid.uuid5(face_id_namespace, "image")) if face_id_namespace else str(uuid.uuid4())
    now = time.time()
    for rank, face in enumerate(keep):
        embedding = analyzer.embed(face)
        face_id = (
            str(uuid.uuid5(face_id_namespace, f"face-{rank}")) if face_id_namespace else str(uuid.uuid4())
        )
        detail = face.face_detail()
        stored = StoredFace(
            face_id=face_id,
            collection_id=collection_id,
            image_id=image_id,
            external_image_id=external_image_id,
            bounding_box=face.bounding_box,
            confidence=face.confidence,
            embedding=embedding,
            created_at=now,
            source=source,
            face_detail=detail,
        )
        outcome.faces.append(stored)
        outcome.records.append({"Face": face_record(stored, spec_version), "FaceDetail": detail})
    if replace_source and source is not None:
        # find_faces_by_source matches a prefix; only this exact object's faces are replaced.
        previous = [
            f.face_id for f in store.find_faces_by_source(collection_id, source) if f.source == source
        ]
        stale = sorted(set(previous) - {f.face_id for f in outcome.faces})
        if outcome.faces:
            store.put_faces(collection_id, outcome.faces)
        if stale:
            store.delete_faces(collection_id, stale)
    elif outcome.faces:
        store.put_faces(collection_id, outcome.faces)
    return outcome


@operation("IndexFaces")
def index_faces(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection_id = params["CollectionId"]
    check_model(ctx, ctx.services.store.get_collection(collection_id))
    image = ctx.load_image(params["Image"])
    outcome = index_image(
        ctx.services,
        collection_id,
        image,
        external_image_id=params.get("ExternalImageId"),
        max_faces=params.get("MaxFaces"),
        quality_filter=params.get("QualityFilter", "AUTO"),
        detection_attributes=params.get("DetectionAttributes"),
    )
    return {
        "FaceRecords": outcome.records,
        "FaceModelVersion": outcome.model_version,
        "UnindexedFaces": outcome.unindexed,
    }


@operation("ListFaces")
def list_faces(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection_id = params["CollectionId"]
    store = ctx.services.store
    collection = store.get_collection(collection_id)
    limit = page_size(params, 1000)
    after = decode_token(params.get("NextToken"), collection_id)
    faces = store.list_faces(
        collection_id,
        after=after,
        limit=limit + 1,
        face_ids=params.get("FaceIds"),
        user_id=params.get("UserId"),
    )
    page = faces[:limit]
    result: dict[str, Any] = {
        "Faces": [face_record(face, collection.face_model_version) for face in page],
        "FaceModelVersion": collection.face_model_version,
    }
    if len(faces) > limit:
        result["NextToken"] = encode_token(collection_id, page[-1].face_id)
    return result


@operation("DeleteFaces")
def delete_faces(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection_id = params["CollectionId"]
    requested = list(dict.fromkeys(params["FaceIds"]))
    deleted = ctx.services.store.delete_faces(collection_id, requested)
    gone = set(deleted)
    result: dict[str, Any] = {"DeletedFaces": deleted}
    missing = [
        {"FaceId": face_id, "Reasons": ["FACE_NOT_FOUND"]} for face_id in requested if face_id not in gone
    ]
    if missing:
        result["UnsuccessfulFaceDeletions"] = missing
    return result


def _matches(
    ctx: RequestContext,
    collection: Collection,
    query: Any,
    threshold: float,
    max_faces: int,
    exclude: tuple[str, ...],
) -> list[dict[str, Any]]:
    spec = check_model(ctx, collection)
    candidates = ctx.services.store.search(
        collection.collection_id,
        query,
        limit=max_faces,
        min_cosine=min_cosine(threshold, spec),
        exclude_face_ids=exclude,
    )
    matches = []
    for candidate in candidates:
        score = similarity(candidate.cosine, spec)
        if score < threshold:
            continue
        match = {"Similarity": score, "Face": face_record(candidate.face, collection.face_model_version)}
        matches.append(mark_review(collection, match))
    return matches


@operation("SearchFaces")
def search_faces(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection_id = params["CollectionId"]
    store = ctx.services.store
    collection = store.get_collection(collection_id)
    threshold = effective_threshold(collection, params.get("FaceMatchThreshold"), "FaceMatchThreshold")
    found = store.get_faces(collection_id, [params["FaceId"]])
    if not found:
        raise InvalidParameterException(f"Face {params['FaceId']} is not in collection {collection_id}")
    matches = _matches(
        ctx, collection, found[0].embedding, threshold, params.get("MaxFaces", 80), (found[0].face_id,)
    )
    return {
        "SearchedFaceId": found[0].face_id,
        "FaceMatches": matches,
        "FaceModelVersion": collection.face_model_version,
    }


def largest_face(ctx: RequestContext, image: DecodedImage, quality_filter: str) -> AnalyzedFace:
    faces = ctx.services.face_analyzer.analyze(image.pil, embed=True, limit=1, largest_only=True)
    if not faces:
        raise InvalidParameterException(NO_FACE_MESSAGE)
    face = faces[0]
    if quality_filter != "NONE" and quality_reasons(face, quality_filter):
        raise InvalidParameterException(
            f"The largest face in the image does not meet the {quality_filter} quality filter"
        )
    return face


@operation("SearchFacesByImage")
def search_faces_by_image(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection_id = params["CollectionId"]
    store = ctx.services.store
    collection = store.get_collection(collection_id)
    check_model(ctx, collection)
    threshold = effective_threshold(collection, params.get("FaceMatchThreshold"), "FaceMatchThreshold")
    image = ctx.load_image(params["Image"])
    face = largest_face(ctx, image, params.get("QualityFilter", "NONE"))
    matches = _matches(
        ctx, collection, ctx.services.face_analyzer.embed(face), threshold, params.get("MaxFaces", 80), ()
    )
    return {
        "SearchedFaceBoundingBox": face.bounding_box.to_api(),
        "SearchedFaceConfidence": face.confidence,
        "FaceMatches": matches,
        "FaceModelVersion": collection.face_model_version,
    }
