"""SigV4 verification: requests signed by botocore, AWS's published test vectors, requests-aws4auth."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from requests_aws4auth import AWS4Auth

from rekognito.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)
from rekognito.security.factory import create_security
from rekognito.security.principals import PrincipalRegistry
from rekognito.security.signed_requests import HttpRequest, RequestSignatureError, verify_request
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


# ------------------------------------------------------------------ independent signatures
# The cases above check verification against signatures botocore made, and the verifier
# computes its expectation with botocore too: a bug shared by both would go unnoticed. Here
# the signatures come from elsewhere: AWS's published Signature Version 4 test suite
# (aws-sig-v4-test-suite: credentials AKIDEXAMPLE, 2015-08-30 12:36:00 UTC, region
# us-east-1, service "service"; the expected signatures are the suite's), and requests-aws4auth,
# a signer written independently of botocore.

VECTOR_KEY = ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
VECTOR_TIME = dt.datetime(2015, 8, 30, 12, 36, 0, tzinfo=dt.UTC)
VECTORS = [
    # (suite case, method, raw path, raw query, signature)
    ("get-vanilla", "GET", "/", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    (
        "get-vanilla-query-order-key-case",
        "GET",
        "/",
        "Param2=value2&Param1=value1",
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    ),
    (
        "get-vanilla-empty-query-key",
        "GET",
        "/",
        "Param1=value1",
        "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
    ),
    # The suite's request line carries the path as raw UTF-8 ("/\u1234"), encoded once when signed.
    ("get-utf8", "GET", "/\u1234", "", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
    ("post-vanilla", "POST", "/", "", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
]


def vector_request(method: str, raw_path: str, raw_query: str, signature: str) -> HttpRequest:
    authorization = (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={signature}"
    )
    return HttpRequest(
        method=method,
        raw_path=raw_path,
        raw_query=raw_query,
        headers={
            "host": ["example.amazonaws.com"],
            "x-amz-date": ["20150830T123600Z"],
            "authorization": [authorization],
        },
        body=b"",
    )


def verify_vector(request: HttpRequest, clock: Any = lambda: VECTOR_TIME) -> Any:
    return verify_request(
        request,
        secret_of=lambda key: VECTOR_KEY[1] if key == VECTOR_KEY[0] else None,
        region="us-east-1",
        services=("service",),
        clock=clock,
    )


@pytest.mark.parametrize(("case", "method", "raw_path", "raw_query", "signature"), VECTORS)
def test_aws_test_suite_signatures_verify(
    case: str, method: str, raw_path: str, raw_query: str, signature: str
) -> None:
    caller = verify_vector(vector_request(method, raw_path, raw_query, signature))
    assert (caller.access_key_id, caller.service) == ("AKIDEXAMPLE", "service")


@pytest.mark.parametrize(("case", "method", "raw_path", "raw_query", "signature"), VECTORS)
def test_aws_test_suite_signatures_fail_when_anything_changes(
    case: str, method: str, raw_path: str, raw_query: str, signature: str
) -> None:
    other_method = "POST" if method == "GET" else "GET"
    for tampered in (
        vector_request(other_method, raw_path, raw_query, signature),
        vector_request(method, raw_path + "x", raw_query, signature),
        vector_request(method, raw_path, raw_query + "&Param3=value3", signature),
        vector_request(method, raw_path, raw_query, signature[:-1] + ("0" if signature[-1] != "0" else "1")),
    ):
        with pytest.raises(RequestSignatureError) as refused:
            verify_vector(tampered)
        assert refused.value.code == "SignatureDoesNotMatch"


def test_aws_test_suite_signature_expires_with_the_injected_clock() -> None:
    request = vector_request(*VECTORS[0][1:])
    verify_vector(request, clock=lambda: VECTOR_TIME + dt.timedelta(minutes=14))
    with pytest.raises(RequestSignatureError) as refused:
        verify_vector(request, clock=lambda: VECTOR_TIME + dt.timedelta(minutes=16))
    assert refused.value.code == "RequestTimeTooSkewed"


def aws4auth_event(access_key: str, secret: str, body: bytes, service: str = "rekognition") -> dict[str, Any]:
    """A request to the API signed by requests-aws4auth, as API Gateway would pass it on."""
    prepared = requests.Request(
        "POST",
        f"http://{HOST}/",
        data=body,
        headers={
            "X-Amz-Target": "RekognitionService.DescribeCollection",
            "Content-Type": "application/x-amz-json-1.1",
        },
    ).prepare()
    signed = AWS4Auth(access_key, secret, "us-east-1", service)(prepared)
    # requests adds Host when it sends; AWS4Auth signed the one it will send.
    headers = {key: str(value) for key, value in signed.headers.items()} | {"Host": HOST}
    return {"httpMethod": "POST", "path": "/", "headers": headers, "body": body.decode()}


def test_a_request_signed_by_requests_aws4auth_authenticates(registry: PrincipalRegistry, alice: Any) -> None:
    event = aws4auth_event(*alice, BODY)
    assert "botocore" not in event["headers"].get("User-Agent", "")
    principal = authenticator(registry).authenticate(event, BODY)
    assert principal.name == "alice"


def test_requests_aws4auth_signature_with_another_secret_or_body_fails(
    registry: PrincipalRegistry, alice: Any
) -> None:
    with pytest.raises(InvalidSignatureException):
        authenticator(registry).authenticate(aws4auth_event(alice[0], "not-the-secret", BODY), BODY)
    changed = b'{"CollectionId":"other"}'
    event = aws4auth_event(*alice, BODY)
    event["body"] = changed.decode()
    with pytest.raises(InvalidSignatureException):
        authenticator(registry).authenticate(event, changed)


def test_requests_aws4auth_signed_s3_request_passes_the_raw_verifier() -> None:
    secret = "local-secret"
    prepared = requests.Request(
        "PUT", "http://127.0.0.1:8086/rekognito-drop/family/a%20b.jpg", data=b"jpeg"
    ).prepare()
    signed = AWS4Auth("AKLOCAL", secret, "us-east-1", "s3")(prepared)
    request = HttpRequest(
        method="PUT",
        raw_path="/rekognito-drop/family/a%20b.jpg",
        raw_query="",
        headers={key.lower(): [str(value)] for key, value in signed.headers.items()}
        | {"host": ["127.0.0.1:8086"]},
        body=b"jpeg",
    )
    caller = verify_request(
        request,
        secret_of=lambda key: secret if key == "AKLOCAL" else None,
        region="us-east-1",
        services=("s3",),
    )
    assert caller.service == "s3"


def test_the_function_checks_one_key_pair_where_api_gateway_does_not(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "REKOGNITO_DATA_DIR": str(tmp_path),
            "REKOGNITO_AUTH_MODE": "sigv4",
            "REKOGNITO_API_ACCESS_KEY_ID": "AKLOCALSTACK",
            "REKOGNITO_API_SECRET_ACCESS_KEY": "stack-secret",
        }
    )
    assert "stack-secret" not in repr(settings)
    security = create_security(settings)
    principal = security.authenticate(signed_event("AKLOCALSTACK", "stack-secret"), BODY)
    assert principal.name == "api-key"
    with pytest.raises(InvalidSignatureException):
        security.authenticate(signed_event("AKLOCALSTACK", "another-secret"), BODY)
    with pytest.raises(UnrecognizedClientException):
        security.authenticate(signed_event("AKOTHER", "stack-secret"), BODY)


def test_a_signature_over_the_stage_path_api_gateway_received_is_accepted(
    registry: PrincipalRegistry, alice: Any
) -> None:
    # The client signed /dev/ (the stage's URL); API Gateway hands the function path "/"
    event = signed_event(*alice)
    unsigned = {k: v for k, v in event["headers"].items() if k not in ("Authorization", "X-Amz-Date")}
    signed_for_stage = AWSRequest(method="POST", url=f"http://{HOST}/dev/", data=BODY, headers=unsigned)
    SigV4Auth(Credentials(*alice), "rekognition", "us-east-1").add_auth(signed_for_stage)
    event["headers"] = {key: str(value) for key, value in signed_for_stage.headers.items()} | {"Host": HOST}
    event["requestContext"] = {"path": "/dev/", "stage": "dev"}
    assert authenticator(registry).authenticate(event, BODY).name == "alice"
    event["requestContext"] = {"path": "/prod/", "stage": "prod"}
    with pytest.raises(InvalidSignatureException):
        authenticator(registry).authenticate(event, BODY)
