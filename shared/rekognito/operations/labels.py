"""DetectLabels, DetectText and DetectModerationLabels."""

from __future__ import annotations

from typing import Any

from rekognito.api._generated import InvalidParameterException
from rekognito.inference.image_properties import ImageProperties, RegionProperties, analyse
from rekognito.inference.labels import LABEL_MODEL_VERSION, Box, LabelResult
from rekognito.inference.moderation import MODERATION_MODEL_VERSION
from rekognito.inference.ocr import TEXT_MODEL_VERSION, PixelBox
from rekognito.operations.registry import operation
from rekognito.request import RequestContext

# Defaults documented by Rekognition.
DEFAULT_LABELS_MIN_CONFIDENCE = 55.0
DEFAULT_MODERATION_MIN_CONFIDENCE = 50.0
DEFAULT_MAX_DOMINANT_COLORS = 10
MAX_TEXT_WORDS = 100


def _box(box: Box) -> dict[str, float]:
    return {
        "Width": float(box.width),
        "Height": float(box.height),
        "Left": float(box.left),
        "Top": float(box.top),
    }


def _filters(settings: dict[str, Any]) -> tuple[set[str], set[str], set[str], set[str]]:
    general = settings.get("GeneralLabels") or {}

    def values(key: str) -> set[str]:
        return {str(v).lower() for v in general.get(key) or []}

    return (
        values("LabelInclusionFilters"),
        values("LabelExclusionFilters"),
        values("LabelCategoryInclusionFilters"),
        values("LabelCategoryExclusionFilters"),
    )


def _keep(label: LabelResult, filters: tuple[set[str], set[str], set[str], set[str]]) -> bool:
    include, exclude, include_cat, exclude_cat = filters
    name = label.name.lower()
    categories = {c.lower() for c in label.categories}
    if name in exclude or categories & exclude_cat:
        return False
    if include or include_cat:
        return name in include or bool(categories & include_cat)
    return True


def _label_json(label: LabelResult, min_confidence: float) -> dict[str, Any]:
    return {
        "Name": label.name,
        "Confidence": float(label.confidence),
        "Instances": [
            {"BoundingBox": _box(box), "Confidence": float(conf)}
            for box, conf in label.instances
            if conf >= min_confidence
        ],
        "Parents": [{"Name": p} for p in label.parents],
        "Aliases": [{"Name": a} for a in label.aliases],
        "Categories": [{"Name": c} for c in label.categories],
    }


def _region_json(region: RegionProperties) -> dict[str, Any]:
    return {
        "Quality": {
            "Brightness": float(region.quality.brightness),
            "Sharpness": float(region.quality.sharpness),
            "Contrast": float(region.quality.contrast),
        },
        "DominantColors": [
            {
                "Red": c.red,
                "Green": c.green,
                "Blue": c.blue,
                "HexCode": c.hex_code,
                "CSSColor": c.css_name,
                "SimplifiedColor": c.simplified,
                "PixelPercent": float(c.pixel_percent),
            }
            for c in region.colors
        ],
    }


def _properties_json(props: ImageProperties) -> dict[str, Any]:
    whole = _region_json(props.whole)
    return {
        "Quality": whole["Quality"],
        "DominantColors": whole["DominantColors"],
        "Foreground": _region_json(props.foreground),
        "Background": _region_json(props.background),
    }


@operation("DetectLabels")
def detect_labels(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    image = ctx.load_image(params["Image"])
    features = set(params.get("Features") or ["GENERAL_LABELS"])
    settings = params.get("Settings") or {}
    if "GeneralLabels" in settings and "GENERAL_LABELS" not in features:
        raise InvalidParameterException("Settings.GeneralLabels requires the GENERAL_LABELS feature")
    if "ImageProperties" in settings and "IMAGE_PROPERTIES" not in features:
        raise InvalidParameterException("Settings.ImageProperties requires the IMAGE_PROPERTIES feature")
    min_confidence = float(params.get("MinConfidence", DEFAULT_LABELS_MIN_CONFIDENCE))
    max_labels = params.get("MaxLabels")
    result: dict[str, Any] = {"LabelModelVersion": LABEL_MODEL_VERSION}
    if "GENERAL_LABELS" in features:
        detector = ctx.services.label_detector
        filters = _filters(settings)
        labels = [
            label
            for label in detector.detect(image.pil)
            if label.confidence >= min_confidence and _keep(label, filters)
        ]
        if max_labels is not None:
            labels = labels[: int(max_labels)]
        result["Labels"] = [_label_json(label, min_confidence) for label in labels]
    if "IMAGE_PROPERTIES" in features:
        max_colors = (settings.get("ImageProperties") or {}).get(
            "MaxDominantColors", DEFAULT_MAX_DOMINANT_COLORS
        )
        result["ImageProperties"] = _properties_json(analyse(image.pil, int(max_colors)))
    return result


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
    reader = ctx.services.text_reader
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


@operation("DetectModerationLabels")
def detect_moderation_labels(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("ProjectVersion"):
        raise InvalidParameterException("Custom moderation adapters (ProjectVersion) are not supported")
    if params.get("HumanLoopConfig"):
        raise InvalidParameterException("HumanLoopConfig (Amazon A2I) is not supported")
    image = ctx.load_image(params["Image"])
    min_confidence = float(params.get("MinConfidence", DEFAULT_MODERATION_MIN_CONFIDENCE))
    classifier = ctx.services.moderation_classifier
    labels = classifier.moderate(image.pil, min_confidence)
    return {
        "ModerationLabels": [
            {
                "Confidence": float(m.confidence),
                "Name": m.name,
                "ParentName": m.parent,
                "TaxonomyLevel": m.level,
            }
            for m in labels
        ],
        "ModerationModelVersion": MODERATION_MODEL_VERSION,
        "ContentTypes": [],
    }
