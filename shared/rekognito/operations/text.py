"""DetectText."""

from __future__ import annotations

from typing import Any

from rekognito.inference.ocr import TEXT_MODEL_VERSION, PixelBox, TextReader
from rekognito.operations.context import RequestContext
from rekognito.operations.registry import operation

# Documented by Rekognition: DetectText returns at most 100 words.
MAX_TEXT_WORDS = 100


def _in_regions(box: PixelBox, width: int, height: int, regions: list[dict[str, Any]]) -> bool:
    if not regions:
        return True
    cx = (box.left + box.right) / 2 / width
    cy = (box.top + box.bottom) / 2 / height
    for region in regions:
        bbox = region.get("BoundingBox")
        if bbox:
            left, top = float(bbox.get("Left", 0.0)), float(bbox.get("Top", 0.0))
            if left <= cx <= left + float(bbox.get("Width", 0.0)) and top <= cy <= top + float(
                bbox.get("Height", 0.0)
            ):
                return True
        polygon = region.get("Polygon")
        if polygon:
            xs = [float(p.get("X", 0.0)) for p in polygon]
            ys = [float(p.get("Y", 0.0)) for p in polygon]
            if min(xs) <= cx <= max(xs) and min(ys) <= cy <= max(ys):
                return True
    return False


def _geometry(box: PixelBox, width: int, height: int) -> dict[str, Any]:
    left, top = box.left / width, box.top / height
    right, bottom = box.right / width, box.bottom / height
    return {
        "BoundingBox": {
            "Width": float(right - left),
            "Height": float(bottom - top),
            "Left": float(left),
            "Top": float(top),
        },
        "Polygon": [
            {"X": float(left), "Y": float(top)},
            {"X": float(right), "Y": float(top)},
            {"X": float(right), "Y": float(bottom)},
            {"X": float(left), "Y": float(bottom)},
        ],
    }


@operation("DetectText")
def detect_text(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    image = ctx.load_image(params["Image"])
    filters = params.get("Filters") or {}
    word_filter = filters.get("WordFilter") or {}
    min_confidence = float(word_filter.get("MinConfidence", 0.0))
    min_height = float(word_filter.get("MinBoundingBoxHeight", 0.0))
    min_width = float(word_filter.get("MinBoundingBoxWidth", 0.0))
    regions = filters.get("RegionsOfInterest") or []
    reader = ctx.services.component("text_reader", TextReader.from_settings)
    width, height = image.width, image.height
    lines_out: list[dict[str, Any]] = []
    words_out: list[dict[str, Any]] = []
    next_id = 0
    for line in reader.read(image.pil):
        words = [
            w
            for w in line.words
            if 100.0 * w.confidence >= min_confidence
            and (w.box.bottom - w.box.top) / height >= min_height
            and (w.box.right - w.box.left) / width >= min_width
            and _in_regions(w.box, width, height, regions)
        ]
        words = words[: max(0, MAX_TEXT_WORDS - len(words_out))]
        if not words:
            continue
        line_id = next_id
        next_id += 1
        text = " ".join(w.text for w in words)
        line_box = PixelBox(
            min(w.box.left for w in words), line.box.top, max(w.box.right for w in words), line.box.bottom
        )
        lines_out.append(
            {
                "DetectedText": text,
                "Type": "LINE",
                "Id": line_id,
                "Confidence": float(100.0 * sum(w.confidence for w in words) / len(words)),
                "Geometry": _geometry(line_box, width, height),
            }
        )
        for word in words:
            words_out.append(
                {
                    "DetectedText": word.text,
                    "Type": "WORD",
                    "Id": next_id,
                    "ParentId": line_id,
                    "Confidence": float(100.0 * word.confidence),
                    "Geometry": _geometry(word.box, width, height),
                }
            )
            next_id += 1
    return {"TextDetections": lines_out + words_out, "TextModelVersion": TEXT_MODEL_VERSION}
