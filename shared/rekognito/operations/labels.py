"""DetectLabels and DetectModerationLabels (DetectText: ``operations/text.py``)."""

from __future__ import annotations

from typing import Any

from rekognito.api._generated import InvalidParameterException
from rekognito.inference.image_properties import ImageProperties, RegionProperties, analyse
from rekognito.inference.labels import LABEL_MODEL_VERSION, Box, LabelResult
from rekognito.inference.moderation import MODERATION_MODEL_VERSION
from rekognito.operations.registry import operation
from rekognito.request import RequestContext

# Defaults documented by Rekognition.
DEFAULT_LABELS_MIN_CONFIDENCE = 55.0
DEFAULT_MODERATION_MIN_CONFIDENCE = 50.0
DEFAULT_MAX_DOMINANT_COLORS = 10


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
