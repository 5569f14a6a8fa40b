"""Request parsing against botocore's input shapes."""

from __future__ import annotations

import base64

import pytest

from rekognito.api._generated import ImageTooLargeException, InvalidParameterException
from rekognito.api.model import parse_request


def test_blob_is_decoded_and_numbers_normalised() -> None:
    parsed = parse_request(
        "SearchFacesByImage",
        {
            "CollectionId": "c",
            "Image": {"Bytes": base64.b64encode(b"abc").decode()},
            "FaceMatchThreshold": 90,
        },
    )
    assert parsed["Image"]["Bytes"] == b"abc"
    assert parsed["FaceMatchThreshold"] == 90.0 and isinstance(parsed["FaceMatchThreshold"], float)


@pytest.mark.parametrize(
    "params",
    [
        {"CollectionId": "c", "Image": {}, "FaceMatchThreshold": float("nan")},
        {"CollectionId": "c", "Image": {}, "FaceMatchThreshold": True},
        {"CollectionId": "c", "Image": {}, "MaxFaces": 1.5},
        {"CollectionId": "c", "Image": {}, "QualityFilter": "auto"},
        {"CollectionId": "c", "Image": {"S3Object": {"Bucket": "b", "Name": "n", "Extra": 1}}},
        {"CollectionId": "c", "Image": []},
        {"CollectionId": None, "Image": {}},
    ],
)
def test_invalid_values_are_refused(params: dict[str, object]) -> None:
    with pytest.raises(InvalidParameterException):
        parse_request("SearchFacesByImage", params)


def test_oversized_image_bytes_get_rekognitions_own_code() -> None:
    data = base64.b64encode(b"\0" * (5 * 1024 * 1024 + 1)).decode()
    with pytest.raises(ImageTooLargeException):
        parse_request("DetectFaces", {"Image": {"Bytes": data}})
