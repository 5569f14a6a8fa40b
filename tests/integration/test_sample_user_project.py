"""A user's application tested with rekognito's pytest fixtures: no AWS account, no network.

Tests run twice, over a loopback endpoint and in-process, against real models and
real photos; AWS_* variables are cleared first, so nothing here can use real credentials.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.handlers import BUILTIN_HANDLERS

from rekognito.testing import ENDPOINT_ENV, Mode, SharedModels, local_rekognition
from tests.integration.sample_user_project import photo_app
from tests.support.test_data import image_path

both_modes = pytest.mark.parametrize("rekognito_mode", ["http", "inprocess"])

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No AWS_* variables and no connection other than to loopback."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in LOOPBACK:
            raise AssertionError(f"network access to {address!r} during an offline test")
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    yield


@both_modes
def test_finds_the_right_person(rekognition_client: Any) -> None:
    photo_app.set_up(rekognition_client)
    photo_app.add_person("barack", image_path("obama.jpg"), rekognition_client)

    assert photo_app.who_is_in(image_path("obama2.jpg"), rekognition_client) == ["barack"]
    assert photo_app.who_is_in(image_path("biden.jpg"), rekognition_client) == []


@both_modes
def test_counts_faces(rekognition_client: Any) -> None:
    assert photo_app.count_faces(image_path("group6.jpg"), rekognition_client) == 6
    assert photo_app.count_faces(image_path("obama.jpg"), rekognition_client) == 1


@both_modes
def test_detects_labels(rekognition_client: Any) -> None:
    try:
        names = photo_app.labels(image_path("group6.jpg"), rekognition_client)
    except ClientError as error:
        if error.response["Error"]["Code"] == "UnknownOperationException":
            pytest.skip("DetectLabels is not implemented by this rekognito build yet")
        raise
    assert "Person" in names


@both_modes
def test_each_test_starts_empty(rekognition_client: Any) -> None:
    assert rekognition_client.list_collections()["CollectionIds"] == []
    photo_app.set_up(rekognition_client)
    assert rekognition_client.list_collections()["CollectionIds"] == [photo_app.COLLECTION]


@both_modes
def test_unmodified_boto3_client_reaches_the_same_state(rekognito_local: Any, rekognito_mode: Mode) -> None:
    photo_app.set_up()  # boto3.client("rekognition") made inside the app
    face_id = photo_app.add_person("barack", image_path("obama.jpg"))

    faces = rekognito_local.client().list_faces(CollectionId=photo_app.COLLECTION)["Faces"]
    assert [(face["FaceId"], face["ExternalImageId"]) for face in faces] == [(face_id, "barack")]
    if rekognito_mode == "http":
        assert os.environ[ENDPOINT_ENV] == rekognito_local.endpoint_url
    else:
        assert ENDPOINT_ENV not in os.environ


@both_modes
def test_errors_come_back_as_rekognition_errors(rekognition_client: Any) -> None:
    with pytest.raises(ClientError) as caught:
        rekognition_client.describe_collection(CollectionId="nobody")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_session_endpoint(rekognition_endpoint: str) -> None:
    client = boto3.client(
        "rekognition",
        endpoint_url=rekognition_endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    assert rekognition_endpoint.startswith("http://127.0.0.1:")
    assert isinstance(client.list_collections()["CollectionIds"], list)


@both_modes
def test_environment_is_restored(
    rekognito_mode: Mode, rekognito_models: SharedModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENDPOINT_ENV, "http://example.invalid")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    with local_rekognition(mode=rekognito_mode, analyzer=rekognito_models) as local:
        assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
        assert os.environ["AWS_REGION"] == "eu-west-1"  # a configured region is kept
        data_dir = local.data_dir
        assert data_dir.is_dir()
    assert os.environ[ENDPOINT_ENV] == "http://example.invalid"
    assert "AWS_ACCESS_KEY_ID" not in os.environ
    assert not data_dir.exists()
    assert not [spec for spec in BUILTIN_HANDLERS if spec[0].startswith("before-send.rekognition")]


@both_modes
def test_as_a_decorator(rekognito_mode: Mode, rekognito_models: SharedModels) -> None:

    @local_rekognition(mode=rekognito_mode, analyzer=rekognito_models)
    def create_and_list() -> list[str]:
        client = boto3.client("rekognition")
        client.create_collection(CollectionId="albums")
        return list(client.list_collections()["CollectionIds"])

    assert create_and_list() == ["albums"]
    assert create_and_list() == ["albums"]  # each call starts from fresh state
    assert ENDPOINT_ENV not in os.environ
