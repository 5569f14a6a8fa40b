"""A family photo app, written the way an application calls Amazon Rekognition.

It knows nothing about rekognito: it creates ``boto3.client("rekognition")`` unless handed
a client, and the tests point that client at a local rekognito.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

COLLECTION = "family-photos"
MATCH_THRESHOLD = 90.0


def _client(client: Any | None) -> Any:
    return client if client is not None else boto3.client("rekognition")


def _image(photo: Path | bytes) -> dict[str, bytes]:
    return {"Bytes": photo if isinstance(photo, bytes) else Path(photo).read_bytes()}


def set_up(client: Any | None = None, collection: str = COLLECTION) -> None:
    """Create the collection of known people (once)."""
    try:
        _client(client).create_collection(CollectionId=collection)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceAlreadyExistsException":
            raise


def add_person(
    name: str, photo: Path | bytes, client: Any | None = None, collection: str = COLLECTION
) -> str:
    """Remember the largest face in ``photo`` as ``name``; returns its FaceId."""
    response = _client(client).index_faces(
        CollectionId=collection, Image=_image(photo), ExternalImageId=name, MaxFaces=1
    )
    records = response["FaceRecords"]
    if not records:
        raise ValueError(f"no usable face of {name} in the photo")
    return str(records[0]["Face"]["FaceId"])


def who_is_in(photo: Path | bytes, client: Any | None = None, collection: str = COLLECTION) -> list[str]:
    """The names of known people matching the largest face in ``photo``, best match first."""
    try:
        response = _client(client).search_faces_by_image(
            CollectionId=collection, Image=_image(photo), FaceMatchThreshold=MATCH_THRESHOLD
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "InvalidParameterException":  # no face in the photo
            return []
        raise
    return [match["Face"]["ExternalImageId"] for match in response["FaceMatches"]]


def count_faces(photo: Path | bytes, client: Any | None = None) -> int:
    return len(_client(client).detect_faces(Image=_image(photo))["FaceDetails"])


def labels(photo: Path | bytes, client: Any | None = None, min_confidence: float = 70.0) -> list[str]:
    response = _client(client).detect_labels(Image=_image(photo), MinConfidence=min_confidence)
    return [label["Name"] for label in response["Labels"]]
