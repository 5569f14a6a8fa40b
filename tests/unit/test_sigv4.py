"""SigV4 verification against requests signed by botocore itself."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from rekognito.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)
from rekognito.security.factory import create_security
from rekognito.security.principals import PrincipalRegistry
from rekognito.security.sigv4 import IamAuthenticator, SigV4Authenticator
from rekognito.settings import Settings

HOST = "127.0.0.1:8085"
BODY = b'{"CollectionId":"family"}'


def signed_event(
    access_key: str,
    secret: str,
    body: bytes = BODY,
    region: str = "us-east-1",
    service: str = "rekognition",
    token: str | None = None,
) -> dict[str, Any]:
    request = AWSRequest(
        method="POST",
        url=f"http://{HOST}/",
        data=body,
        headers={
            "X-Amz-Target": "RekognitionService.DescribeCollection",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    SigV4Auth(Credentials(access_key, secret, token), service, region).add_auth(request)
    headers = {key: str(value) for key, value in request.headers.items()}
    headers["Host"] = HOST
    headers["User-Agent"] = "added-after-signing"
    return {"httpMethod": "POST", "path": "/", "headers": headers, "body": body.decode()}


@pytest.fixture
def registry(tmp_path: Path) -> PrincipalRegistry:
    return PrincipalRegistry(tmp_path)


@pytest.fixture
def alice(registry: PrincipalRegistry) -> tuple[str, str]:
    principal, secret = registry.create("alice", ["search:family"])
    return principal.access_key_id, secret


def authenticator(registry: PrincipalRegistry, skew: dt.timedelta = dt.timedelta(0)) -> SigV4Authenticator:
    return SigV4Authenticator(registry, "us-east-1", clock=lambda: dt.datetime.now(dt.UTC) + skew)


def test_a_request_signed_by_botocore_authenticates_its_principal(
    registry: PrincipalRegistry, alice: Any
) -> None:
    principal = authenticator(registry).authenticate(signed_event(*alice), BODY)
    assert principal.name == "alice"
    assert principal.access_key_id == alice[0]


def test_unsigned_request_is_missing_a_token(registry: PrincipalRegistry) -> None:
    event = {"httpMethod": "POST", "path": "/", "headers": {"Host": HOST}, "body": ""}
    with pytest.raises(MissingAuthenticationTokenException):
        authenticator(registry).authenticate(event, b"")


def test_unknown_access_key_is_unrecognized(registry: PrincipalRegistry, alice: Any) -> None:
    with pytest.raises(
        UnrecognizedClientException, match="security token included in the request is invalid"
    ):
        authenticator(registry).authenticate(signed_event("AKRKNOBODY0000000000", alice[1]), BODY)


def test_session_tokens_are_not_ours(registry: PrincipalRegistry, alice: Any) -> None:
    with pytest.raises(UnrecognizedClientException):
        authenticator(registry).authenticate(signed_event(*alice, token="session"), BODY)


def test_wrong_secret_is_an_invalid_signature(registry: PrincipalRegistry, alice: Any) -> None:
    with pytest.raises(InvalidSignatureException, match="does not match"):
        authenticator(registry).authenticate(signed_event(alice[0], "not-the-secret"), BODY)


def test_body_changed_after_signing_is_an_invalid_signature(registry: PrincipalRegistry, alice: Any) -> None:
    with pytest.raises(InvalidSignatureException):
        authenticator(registry).authenticate(signed_event(*alice), b'{"CollectionId":"other"}')


@pytest.mark.parametrize("skew_minutes", [16, -16])
def test_request_more_than_15_minutes_off_is_expired(
    registry: PrincipalRegistry, alice: Any, skew_minutes: int
) -> None:
    auth = authenticator(registry, dt.timedelta(minutes=skew_minutes))
    with pytest.raises(InvalidSignatureException, match=r"Signature (expired|not yet current)"):
        auth.authenticate(signed_event(*alice), BODY)


def test_request_within_the_skew_is_accepted(registry: PrincipalRegistry, alice: Any) -> None:
    assert (
        authenticator(registry, dt.timedelta(minutes=14)).authenticate(signed_event(*alice), BODY).name
        == "alice"
    )


@pytest.mark.parametrize(("region", "service"), [("eu-west-1", "rekognition"), ("us-east-1", "s3")])
def test_credential_scope_must_be_this_region_and_rekognition(
    registry: PrincipalRegistry, alice: Any, region: str, service: str
) -> None:
    with pytest.raises(InvalidSignatureException, match="Credential should be scoped"):
        authenticator(registry).authenticate(signed_event(*alice, region=region, service=service), BODY)


@pytest.mark.parametrize(
    "authorization",
    ["Basic dXNlcjpwYXNz", "AWS4-HMAC-SHA256 Credential=AKRK/20240101/us-east-1/rekognition/aws4_request"],
)
def test_malformed_authorization_is_incomplete(registry: PrincipalRegistry, authorization: str) -> None:
    event = {"httpMethod": "POST", "path": "/", "headers": {"Host": HOST, "Authorization": authorization}}
    with pytest.raises(IncompleteSignatureException):
        authenticator(registry).authenticate(event, b"")


def test_signed_header_list_must_cover_host(registry: PrincipalRegistry, alice: Any) -> None:
    event = signed_event(*alice)
    auth = event["headers"]["Authorization"]
    event["headers"]["Authorization"] = auth.replace("SignedHeaders=", "SignedHeaders=x-").replace(
        ";host", ""
    )
    with pytest.raises(InvalidSignatureException):
        authenticator(registry).authenticate(event, BODY)


def test_deleted_principal_is_unrecognized_at_once(registry: PrincipalRegistry, alice: Any) -> None:
    auth = authenticator(registry)
    assert auth.authenticate(signed_event(*alice), BODY).name == "alice"
    registry.delete("alice")
    with pytest.raises(UnrecognizedClientException):
        auth.authenticate(signed_event(*alice), BODY)


def test_secrets_are_encrypted_at_rest_in_private_files(
    tmp_path: Path, registry: PrincipalRegistry, alice: Any
) -> None:
    stored = registry.path.read_text()
    assert alice[1] not in stored
    assert json.loads(stored)["principals"]["alice"]["grants"] == ["search:family"]
    for path in (registry.path, registry.key_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(registry.directory.stat().st_mode) == 0o700


def test_iam_mode_takes_the_caller_api_gateway_verified() -> None:
    event = {
        "requestContext": {
            "identity": {
                "userArn": "arn:aws:iam::123456789012:user/jo",
                "accessKey": "AKIAJO",
                "caller": "AIDJO",
            }
        }
    }
    principal = IamAuthenticator().authenticate(event, b"")
    assert principal.name == principal.arn == "arn:aws:iam::123456789012:user/jo"
    assert principal.access_key_id == "AKIAJO"
    with pytest.raises(MissingAuthenticationTokenException):
        IamAuthenticator().authenticate({"requestContext": {"identity": {}}}, b"")


def test_security_modes_from_settings(tmp_path: Path) -> None:
    none = create_security(Settings(data_dir=tmp_path, auth_mode="none"))
    assert none.authenticate({}, b"").name == "anonymous"
    assert isinstance(
        create_security(Settings(data_dir=tmp_path, auth_mode="iam")).authenticator, IamAuthenticator
    )
    sigv4 = create_security(Settings(data_dir=tmp_path, auth_mode="sigv4"))
    with pytest.raises(MissingAuthenticationTokenException):
        sigv4.authenticate({"headers": {}}, b"")
