"""A guardrail value stored by an older version or by hand never silently turns the guardrail off."""

from __future__ import annotations

import math

import pytest

from rekognito.api._generated import InvalidParameterException
from rekognito.domain import Collection
from rekognito.operations._faces import effective_threshold, mark_review


def _collection(policy: dict[str, object]) -> Collection:
    return Collection(
        "c", "arn:aws:rekognition:us-east-1:000000000000:collection/c", "edgeface-s", 0.0, policy=policy
    )


@pytest.mark.parametrize("bad", [math.nan, math.inf, "nan", "90", -5, 150, True])
def test_an_invalid_stored_minimum_refuses_rather_than_allows(bad: object) -> None:
    collection = _collection({"min_match_threshold": bad})
    with pytest.raises(InvalidParameterException, match="below the minimum of 100"):
        effective_threshold(collection, 80.0, "FaceMatchThreshold")


def test_an_invalid_stored_minimum_clamps_to_the_strictest_value() -> None:
    collection = _collection({"min_match_threshold": math.nan, "threshold_mode": "clamp"})
    assert effective_threshold(collection, 80.0, "FaceMatchThreshold") == 100.0


def test_a_valid_minimum_still_applies_as_configured() -> None:
    collection = _collection({"min_match_threshold": 90.0})
    assert effective_threshold(collection, 95.0, "FaceMatchThreshold") == 95.0
    with pytest.raises(InvalidParameterException, match="below the minimum of 90"):
        effective_threshold(collection, 85.0, "FaceMatchThreshold")


def test_an_invalid_review_level_flags_every_match() -> None:
    collection = _collection({"review_below": "oops"})
    assert mark_review(collection, {"Similarity": 99.9})["ReviewRequired"] is True
    assert "ReviewRequired" not in mark_review(_collection({}), {"Similarity": 99.9})
