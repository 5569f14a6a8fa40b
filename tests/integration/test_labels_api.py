"""Issue 5 acceptance over the wire: a real boto3 client against the local endpoint."""

from __future__ import annotations

from typing import Any

from tests.functional.test_detect_labels_models import _iou, astronaut, chelsea, coffee


def test_detect_labels_over_http(client: Any) -> None:
    result = client.detect_labels(Image={"Bytes": astronaut().read_bytes()}, MaxLabels=10)
    labels = {label["Name"]: label for label in result["Labels"]}
    assert "Person" in labels and labels["Person"]["Instances"]
    assert _iou(labels["Person"]["Instances"][0]["BoundingBox"], (0.0, 0.0, 0.75, 1.0)) >= 0.5
    assert result["LabelModelVersion"]

    cat = {
        label["Name"]: label
        for label in client.detect_labels(Image={"Bytes": chelsea().read_bytes()})["Labels"]
    }
    assert "Cat" in cat and {"Animal", "Mammal"} <= {p["Name"] for p in cat["Cat"]["Parents"]}

    drink = client.detect_labels(
        Image={"Bytes": coffee().read_bytes()}, Features=["GENERAL_LABELS", "IMAGE_PROPERTIES"]
    )
    assert {"Cup", "Coffee"} & {label["Name"] for label in drink["Labels"]}
    assert drink["ImageProperties"]["DominantColors"]

    only_animals = client.detect_labels(
        Image={"Bytes": chelsea().read_bytes()},
        Settings={"GeneralLabels": {"LabelInclusionFilters": ["Cat"]}},
    )
    assert [label["Name"] for label in only_animals["Labels"]] == ["Cat"]


def test_detect_moderation_over_http(client: Any) -> None:
    moderation = client.detect_moderation_labels(Image={"Bytes": coffee().read_bytes()})
    assert moderation["ModerationLabels"] == []
    assert moderation["ModerationModelVersion"]
