"""DetectFaces and CompareFaces."""

from __future__ import annotations

from typing import Any

import numpy as np

from rekognito.api._generated import InvalidParameterException
from rekognito.inference.pipeline import wanted_attributes
from rekognito.operations._faces import (
    MAX_FACES_PER_IMAGE,
    compared_face,
    embedder_spec,
    quality_reasons,
    similarity,
)
from rekognito.operations.faces import NO_FACE_MESSAGE, largest_face
from rekognito.operations.registry import operation
from rekognito.request import RequestContext


@operation("DetectFaces")
def detect_faces(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Faces with the DEFAULT members and the attributes asked for (docs/faces.md).

    AgeRange and Gender are never returned (no shippable model); Emotions only when the
    server allows sensitive attributes.
    """
    image = ctx.load_image(params["Image"])
    wanted = wanted_attributes(params.get("Attributes"))
    faces = ctx.services.face_analyzer.analyze(image.pil, embed=False, attributes=wanted)[
        :MAX_FACES_PER_IMAGE
    ]
    return {"FaceDetails": [face.face_detail() for face in faces]}


@operation("CompareFaces")
def compare_faces(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    threshold = params.get("SimilarityThreshold", 80.0)
    quality_filter = params.get("QualityFilter", "NONE")
    spec = embedder_spec(ctx)
    analyzer = ctx.services.face_analyzer
    source_image = ctx.load_image(params["SourceImage"])
    target_image = ctx.load_image(params["TargetImage"])
    source = largest_face(ctx, source_image, quality_filter)
    source_vector = analyzer.embed(source)
    targets = analyzer.analyze(target_image.pil, embed=False)[:MAX_FACES_PER_IMAGE]
    if not targets:
        raise InvalidParameterException(NO_FACE_MESSAGE.replace("the image", "the target image"))
    matches: list[dict[str, Any]] = []
    unmatched: list[dict[str, Any]] = []
    for face in targets:
        if quality_filter != "NONE" and quality_reasons(face, quality_filter):
            continue
        score = similarity(float(np.dot(source_vector, analyzer.embed(face))), spec)
        if score >= threshold:
            matches.append({"Similarity": score, "Face": compared_face(face)})
        else:
            unmatched.append(compared_face(face))
    matches.sort(key=lambda match: match["Similarity"], reverse=True)
    return {
        "SourceImageFace": {"BoundingBox": source.bounding_box.to_api(), "Confidence": source.confidence},
        "FaceMatches": matches,
        "UnmatchedFaces": unmatched,
    }
