"""DetectText: lines and words of text, with rotated polygons, filters and the word limit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from rekognito.api._generated import InvalidParameterException
from rekognito.inference.text import TEXT_MODEL_VERSION, Quad, TextLine, Word
from rekognito.inference.text.geometry import overlap_fraction
from rekognito.operations.registry import operation
from rekognito.request import RequestContext

# Documented by Rekognition: DetectText returns at most 100 words, and a word is kept by a
# region of interest when more than half of it lies inside the region.
MAX_TEXT_WORDS = 100
REGION_SHARE = 0.5


@dataclass(frozen=True)
class TextFilters:
    """DetectText's ``Filters``: the WordFilter thresholds and the regions of interest."""

    min_confidence: float = 0.0  # 0..100
    min_height: float = 0.0  # ratio of the image's height
    min_width: float = 0.0  # ratio of the image's width
    regions: tuple[npt.NDArray[np.float64], ...] = ()  # polygons in pixels

    @classmethod
    def from_params(cls, filters: dict[str, Any], width: int, height: int) -> TextFilters:
        word = filters.get("WordFilter") or {}
        regions = []
        for index, region in enumerate(filters.get("RegionsOfInterest") or []):
            polygon = region.get("Polygon")
            box = region.get("BoundingBox")
            if polygon:
                points = [(float(p.get("X", 0.0)), float(p.get("Y", 0.0))) for p in polygon]
            elif box:
                left, top = float(box.get("Left", 0.0)), float(box.get("Top", 0.0))
                right = left + float(box.get("Width", 0.0))
                bottom = top + float(box.get("Height", 0.0))
                points = [(left, top), (right, top), (right, bottom), (left, bottom)]
            else:
                raise InvalidParameterException(
                    f"Filters.RegionsOfInterest[{index}] needs a BoundingBox or a Polygon"
                )
            regions.append(np.array(points, dtype=np.float64) * np.array([width, height], dtype=np.float64))
        return cls(
            min_confidence=float(word.get("MinConfidence", 0.0)),
            min_height=float(word.get("MinBoundingBoxHeight", 0.0)),
            min_width=float(word.get("MinBoundingBoxWidth", 0.0)),
            regions=tuple(regions),
        )

    def keeps(self, word: Word, width: int, height: int) -> bool:
        left, top, right, bottom = _bounds(word.quad, width, height)
        if 100.0 * word.confidence < self.min_confidence:
            return False
        if (bottom - top) / height < self.min_height or (right - left) / width < self.min_width:
            return False
        if not self.regions:
            return True
        quad = word.quad.array()
        return any(overlap_fraction(quad, region) > REGION_SHARE for region in self.regions)


def _bounds(quad: Quad, width: int, height: int) -> tuple[float, float, float, float]:
    left, top, right, bottom = quad.bounds()
    return max(0.0, left), max(0.0, top), min(float(width), right), min(float(height), bottom)


def _geometry(quad: Quad, width: int, height: int) -> dict[str, Any]:
    left, top, right, bottom = _bounds(quad, width, height)
    return {
        "BoundingBox": {
            "Width": (right - left) / width,
            "Height": (bottom - top) / height,
            "Left": left / width,
            "Top": top / height,
        },
        "Polygon": [
            {"X": min(max(x / width, 0.0), 1.0), "Y": min(max(y / height, 0.0), 1.0)} for x, y in quad.points
        ],
    }


def _kept_line(line: TextLine, words: list[Word]) -> TextLine:
    """The line reduced to the words that passed the filters."""
    if len(words) == len(line.words):
        return line
    first, last = words[0].quad.points, words[-1].quad.points
    quad = Quad((first[0], last[1], last[2], first[3]))
    confidence = float(np.mean([w.confidence for w in words]))
    return TextLine(" ".join(w.text for w in words), confidence, quad, tuple(words))


def text_detections(
    lines: list[TextLine], filters: TextFilters, width: int, height: int
) -> list[dict[str, Any]]:
    """Rekognition's TextDetections: LINE entries (Id 0, 1, ...) then WORD entries, whose
    ParentId is their line's Id, at most ``MAX_TEXT_WORDS`` words in reading order."""
    kept: list[TextLine] = []
    budget = MAX_TEXT_WORDS
    for line in lines:
        words = [w for w in line.words if filters.keeps(w, width, height)][:budget]
        if words:
            kept.append(_kept_line(line, words))
            budget -= len(words)
        if budget == 0:
            break
    out: list[dict[str, Any]] = [
        {
            "DetectedText": line.text,
            "Type": "LINE",
            "Id": line_id,
            "Confidence": 100.0 * line.confidence,
            "Geometry": _geometry(line.quad, width, height),
        }
        for line_id, line in enumerate(kept)
    ]
    for line_id, line in enumerate(kept):
        for word in line.words:
            out.append(
                {
                    "DetectedText": word.text,
                    "Type": "WORD",
                    "Id": len(out),
                    "ParentId": line_id,
                    "Confidence": 100.0 * word.confidence,
                    "Geometry": _geometry(word.quad, width, height),
                }
            )
    return out


@operation("DetectText")
def detect_text(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    image = ctx.load_image(params["Image"])
    filters = TextFilters.from_params(params.get("Filters") or {}, image.width, image.height)
    lines = ctx.services.text_reader.read(image.pil)
    return {
        "TextDetections": text_detections(lines, filters, image.width, image.height),
        "TextModelVersion": TEXT_MODEL_VERSION,
    }
