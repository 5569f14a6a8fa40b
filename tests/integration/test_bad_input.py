"""Bad input gets Rekognition's error codes and changes nothing (issue 2)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from PIL import Image

from rekognito.services import Services
from tests.integration.test_face_api import raw_post


def store_fingerprint(services: Services) -> str:
    store = services.store
    state = []
    for collection in store.list_collections():
        faces = store.list_faces(collection.collection_id, limit=10_000)
        state.append((collection.collection_id, sorted(f.face_id for f in faces)))
    return hashlib.sha256(json.dumps(state).encode()).hexdigest()


def png_bytes(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (120, 130, 140)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def seeded(client: Any, photo: Any, services: Services) -> str:
    client.create_collection(CollectionId="kept")
    client.index_faces(CollectionId="kept", Image={"Bytes": photo("obama.jpg")})
    return store_fingerprint(services)


def bad_calls(photo: Any) -> list[tuple[str, str, dict[str, Any]]]:
    jpeg = photo("obama.jpg")
    big = jpeg + b"\0" * (5 * 1024 * 1024 + 1 - len(jpeg))
    return [
        (
            "InvalidImageFormatException",
            "index_faces",
            {"CollectionId": "kept", "Image": {"Bytes": b"not an image"}},
        ),
        (
            "InvalidImageFormatException",
            "index_faces",
            {"CollectionId": "kept", "Image": {"Bytes": jpeg[: len(jpeg) // 3]}},
        ),
        ("InvalidImageFormatException", "detect_faces", {"Image": {"Bytes": b"GIF89a" + b"\0" * 100}}),
        ("ImageTooLargeException", "index_faces", {"CollectionId": "kept", "Image": {"Bytes": big}}),
        ("ResourceNotFoundException", "index_faces", {"CollectionId": "missing", "Image": {"Bytes": jpeg}}),
        (
            "ResourceNotFoundException",
            "search_faces_by_image",
            {"CollectionId": "missing", "Image": {"Bytes": jpeg}},
        ),
        ("ResourceNotFoundException", "delete_collection", {"CollectionId": "missing"}),
        ("ResourceAlreadyExistsException", "create_collection", {"CollectionId": "kept"}),
        ("InvalidParameterException", "create_collection", {"CollectionId": "has space"}),
        ("InvalidParameterException", "create_collection", {"CollectionId": "../../etc"}),
        ("InvalidParameterException", "create_collection", {"CollectionId": "x" * 256}),
        (
            "InvalidParameterException",
            "search_faces_by_image",
            {"CollectionId": "kept", "Image": {"Bytes": jpeg}, "FaceMatchThreshold": 101},
        ),
        (
            "InvalidParameterException",
            "search_faces_by_image",
            {"CollectionId": "kept", "Image": {"Bytes": jpeg}, "FaceMatchThreshold": -1},
        ),
        (
            "InvalidParameterException",
            "index_faces",
            {"CollectionId": "kept", "Image": {"Bytes": jpeg}, "QualityFilter": "SUPERB"},
        ),
        (
            "InvalidParameterException",
            "index_faces",
            {"CollectionId": "kept", "Image": {"Bytes": jpeg}, "ExternalImageId": "bad/id"},
        ),
        (
            "InvalidParameterException",
            "search_faces_by_image",
            {"CollectionId": "kept", "Image": {"Bytes": png_bytes(400, 300)}},
        ),
        (
            "InvalidParameterException",
            "compare_faces",
            {"SourceImage": {"Bytes": png_bytes(300, 300)}, "TargetImage": {"Bytes": jpeg}},
        ),
        (
            "InvalidParameterException",
            "search_faces",
            {"CollectionId": "kept", "FaceId": "00000000-0000-0000-0000-000000000000"},
        ),
        ("InvalidParameterException", "delete_faces", {"CollectionId": "kept", "FaceIds": ["not-a-uuid"]}),
        (
            "InvalidS3ObjectException",
            "index_faces",
            {"CollectionId": "kept", "Image": {"S3Object": {"Bucket": "nobucket", "Name": "x.jpg"}}},
        ),
    ]


def test_each_bad_input_gets_its_code_and_changes_nothing(
    client: Any, photo: Any, services: Services, seeded: str
) -> None:
    for expected, method, kwargs in bad_calls(photo):
        # boto3 validates some parameters itself; send those raw so the server must check them.
        try:
            getattr(client, method)(**kwargs)
        except ClientError as error:
            assert error.response["Error"]["Code"] == expected, (
                method,
                kwargs.keys(),
                error.response["Error"],
            )
            assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        except Exception as error:
            assert type(error).__name__ == "ParamValidationError", error
        else:
            pytest.fail(f"{method} {list(kwargs)} succeeded; expected {expected}")
        assert store_fingerprint(services) == seeded, (method, expected)


def test_the_server_checks_what_boto3_would_have_refused(
    endpoint: Any, services: Services, seeded: str
) -> None:
    cases = [
        ("CreateCollection", {"CollectionId": "bad id!"}, "InvalidParameterException"),
        ("CreateCollection", {"CollectionId": ""}, "InvalidParameterException"),
        ("CreateCollection", {"CollectionId": 42}, "InvalidParameterException"),
        ("CreateCollection", {}, "InvalidParameterException"),
        ("CreateCollection", {"CollectionId": "ok", "Surprise": 1}, "InvalidParameterException"),
        (
            "IndexFaces",
            {"CollectionId": "kept", "Image": {"Bytes": "%%%not base64"}},
            "InvalidParameterException",
        ),
        (
            "IndexFaces",
            {"CollectionId": "kept", "Image": {"Bytes": "", "S3Object": {"Bucket": "b", "Name": "n"}}},
            "InvalidParameterException",
        ),
        (
            "SearchFacesByImage",
            {"CollectionId": "kept", "Image": {}, "FaceMatchThreshold": "high"},
            "InvalidParameterException",
        ),
        ("ListFaces", {"CollectionId": "kept", "MaxResults": True}, "InvalidParameterException"),
        ("ListFaces", {"CollectionId": "kept", "MaxResults": 0}, "InvalidParameterException"),
    ]
    for operation, body, expected in cases:
        status, headers, payload = raw_post(endpoint.url, operation, json.dumps(body).encode())
        assert (status, payload["__type"]) == (400, expected), (operation, body, payload)
        assert headers["x-amzn-ErrorType"] == expected
        assert payload["Message"] and "Traceback" not in payload["Message"]
    assert store_fingerprint(services) == seeded


def test_protocol_errors_are_clear(endpoint: Any) -> None:
    status, _, payload = raw_post(endpoint.url, "DoSomethingElse", b"{}")
    assert (status, payload["__type"]) == (400, "UnknownOperationException")
    status, _, payload = raw_post(endpoint.url, "ListCollections", b"{not json")
    assert (status, payload["__type"]) == (400, "SerializationException")
    status, _, payload = raw_post(endpoint.url, "ListCollections", b"[1, 2]")
    assert (status, payload["__type"]) == (400, "SerializationException")
    status, _, payload = raw_post(endpoint.url, "ListCollections", "\udcff".encode("utf-8", "surrogatepass"))
    assert status == 400


def test_decompression_bomb_is_refused_before_decoding(client: Any, tmp_path: Path) -> None:
    # A 20000 x 20000 PNG of one colour compresses to a few hundred KB.
    buffer = io.BytesIO()
    Image.new("L", (20000, 20000)).save(buffer, format="PNG", optimize=True)
    assert len(buffer.getvalue()) < 5 * 1024 * 1024
    with pytest.raises(ClientError) as caught:
        client.detect_faces(Image={"Bytes": buffer.getvalue()})
    assert caught.value.response["Error"]["Code"] == "ImageTooLargeException"
