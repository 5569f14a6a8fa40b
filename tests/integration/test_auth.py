"""Issue 6: SigV4 authentication and per-collection permissions over real HTTP with boto3."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from rekognito.inference.pipeline import FaceAnalyzer
from rekognito.security.bootstrap import ensure_admin_principal
from rekognito.security.principals import PrincipalRegistry
from rekognito.services import Services
from rekognito.settings import Settings
from tests.support.endpoint import rekognition_client, running_endpoint

GRANTS = {
    "admin": ["*:*"],
    "alice": ["search:family", "detect"],
    "bob": ["index:family*", "administer:family*", "search:family*"],
}


@dataclass
class Secured:
    services: Services
    url: str
    keys: dict[str, tuple[str, str]]

    def client(self, name: str) -> Any:
        return rekognition_client(self.url, *self.keys[name])

    def audit(self) -> list[dict[str, Any]]:
        return [
            json.loads(line) for line in (self.services.settings.data_dir / "audit" / "audit.jsonl").open()
        ]


@contextmanager
def secured_endpoint(
    data_dir: Path, face_analyzer: FaceAnalyzer, grants: dict[str, list[str]]
) -> Iterator[Secured]:
    """A real endpoint on 127.0.0.1 with SigV4 on and one principal per entry of ``grants``."""
    registry = PrincipalRegistry(data_dir)
    keys = {}
    for name, allowed in grants.items():
        principal, secret = registry.create(name, allowed)
        keys[name] = (principal.access_key_id, secret)
    services = Services(Settings(data_dir=data_dir, auth_mode="sigv4"), face_analyzer=face_analyzer)
    try:
        with running_endpoint(services) as endpoint:
            yield Secured(services, endpoint.url, keys)
    finally:
        services.close()


@pytest.fixture
def secured(tmp_path: Path, face_analyzer: FaceAnalyzer) -> Iterator[Secured]:
    with secured_endpoint(tmp_path / "data", face_analyzer, GRANTS) as running:
        yield running


def error_of(call: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def test_unsigned_requests_are_refused(secured: Secured) -> None:
    # Given an anonymous boto3 client
    anonymous = rekognition_client(secured.url, signature_version=UNSIGNED)
    # Then it is told that it is missing an authentication token, with 403
    code, message, status = error_of(anonymous.list_collections)
    assert (code, status) == ("MissingAuthenticationTokenException", 403)
    assert message == "Missing Authentication Token"
    # And a hand-made unsigned POST too
    request = urllib.request.Request(
        secured.url, data=b"{}", method="POST", headers={"X-Amz-Target": "RekognitionService.ListCollections"}
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 403
    assert json.loads(caught.value.read())["__type"] == "MissingAuthenticationTokenException"


def test_wrong_secret_unknown_key_and_expired_signature(secured: Secured) -> None:
    alice_key, alice_secret = secured.keys["alice"]
    wrong = rekognition_client(secured.url, alice_key, "not-her-secret")
    code, message, _ = error_of(wrong.list_collections)
    assert code == "InvalidSignatureException"
    assert "signature we calculated does not match" in message

    unknown = rekognition_client(secured.url, "AKRKUNKNOWN000000000", alice_secret)
    code, message, _ = error_of(unknown.list_collections)
    assert code == "UnrecognizedClientException"
    assert message == "The security token included in the request is invalid."

    # When the server's clock is 20 minutes ahead of the client's
    authenticator = secured.services.security.authenticator
    authenticator.clock = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(minutes=20)
    code, message, _ = error_of(secured.client("alice").list_collections)
    assert code == "InvalidSignatureException"
    assert message.startswith("Signature expired")


def test_each_principal_may_do_what_it_was_granted_on_its_collections(secured: Secured, photo: Any) -> None:
    admin, alice, bob = secured.client("admin"), secured.client("alice"), secured.client("bob")
    admin.create_collection(CollectionId="family")
    admin.create_collection(CollectionId="work")

    # bob administers and indexes family*, not work
    bob.create_collection(CollectionId="family-2024")
    indexed = bob.index_faces(CollectionId="family", Image={"Bytes": photo("obama.jpg")})
    face_id = indexed["FaceRecords"][0]["Face"]["FaceId"]
    code, message, status = error_of(
        lambda: bob.index_faces(CollectionId="work", Image={"Bytes": photo("obama.jpg")})
    )
    assert (code, status) == ("AccessDeniedException", 400)
    assert "bob" in message and "index" in message and "work" in message
    assert error_of(lambda: bob.create_collection(CollectionId="work2"))[0] == "AccessDeniedException"
    assert (
        error_of(lambda: bob.delete_faces(CollectionId="family", FaceIds=[face_id]))[0]
        == "AccessDeniedException"
    )

    # alice searches family only, and may detect; she cannot index or delete
    found = alice.search_faces_by_image(CollectionId="family", Image={"Bytes": photo("obama2.jpg")})
    assert [m["Face"]["FaceId"] for m in found["FaceMatches"]] == [face_id]
    assert alice.describe_collection(CollectionId="family")["FaceCount"] == 1
    assert len(alice.detect_faces(Image={"Bytes": photo("obama.jpg")})["FaceDetails"]) == 1
    for denied in (
        lambda: alice.describe_collection(CollectionId="work"),
        lambda: alice.search_faces(CollectionId="family-2024", FaceId=face_id),
        lambda: alice.index_faces(CollectionId="family", Image={"Bytes": photo("obama.jpg")}),
        lambda: alice.delete_collection(CollectionId="family"),
    ):
        assert error_of(denied)[0] == "AccessDeniedException"
    assert set(alice.list_collections()["CollectionIds"]) == {"family", "family-2024", "work"}
    assert (
        error_of(lambda: bob.detect_faces(Image={"Bytes": photo("obama.jpg")}))[0] == "AccessDeniedException"
    )

    # admin may do anything
    assert admin.delete_faces(CollectionId="family", FaceIds=[face_id])["DeletedFaces"] == [face_id]

    # Every request, allowed or denied, is in the audit trail with its principal
    entries = secured.audit()
    denied_index = [
        e for e in entries if e["principal"] == "bob" and e["operation"] == "IndexFaces" and e["error"]
    ]
    assert denied_index[0]["collection"] == "work"
    assert denied_index[0]["error"] == "AccessDeniedException"
    search = next(e for e in entries if e["operation"] == "SearchFacesByImage")
    assert search["principal"] == "alice"
    assert search["face_ids"] == [face_id]
    assert search["access_key_id"] == secured.keys["alice"][0]


def test_revoked_grants_and_deleted_principals_apply_at_once(secured: Secured) -> None:
    secured.client("admin").create_collection(CollectionId="family")
    alice = secured.client("alice")
    alice.describe_collection(CollectionId="family")
    registry = PrincipalRegistry(secured.services.settings.data_dir)
    registry.change_grants("alice", remove=["search:family"])
    assert error_of(lambda: alice.describe_collection(CollectionId="family"))[0] == "AccessDeniedException"
    registry.delete("alice")
    assert error_of(alice.list_collections)[0] == "UnrecognizedClientException"


def test_first_start_creates_admin_and_a_credentials_file_boto3_can_use(
    tmp_path: Path, face_analyzer: FaceAnalyzer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a fresh data dir served with auth on
    data_dir = tmp_path / "data"
    services = Services(Settings(data_dir=data_dir, auth_mode="sigv4"), face_analyzer=face_analyzer)
    said: list[str] = []

    # When the server starts
    ensure_admin_principal(services, said.append)
    ensure_admin_principal(services, said.append)

    # Then one admin exists and its credentials are in a private AWS credentials file
    credentials = data_dir / "credentials"
    assert list(PrincipalRegistry(data_dir).principals()) == ["admin"]
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert "[rekognito]" in credentials.read_text()
    assert any(f"AWS_SHARED_CREDENTIALS_FILE={credentials.resolve()}" in line for line in said)

    # And boto3 configured as printed gets in with full rights
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials.resolve()))
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    with running_endpoint(services) as endpoint:
        client = boto3.Session(profile_name="rekognito").client(
            "rekognition", endpoint_url=endpoint.url, region_name="us-east-1"
        )
        client.create_collection(CollectionId="mine")
        assert client.list_collections()["CollectionIds"] == ["mine"]
    services.close()
