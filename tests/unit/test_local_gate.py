"""The local S3 door's parts: raw-request SigV4, what a request does, who may do it."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from rekognito.local_gate import Access, Caller, allowed, bucket_and_key, s3_accesses
from rekognito.security.authz import object_read_allowed
from rekognito.security.principals import Grant
from rekognito.security.signed_requests import HttpRequest, RequestSignatureError, verify_request

KEY_ID, SECRET = "AKRKTEST", "s3cr3t"
HOST = "127.0.0.1:8086"


def clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)  # botocore signs with the current time


def secret_of(key_id: str) -> str | None:
    return SECRET if key_id == KEY_ID else None


class UnsignedPayload(S3SigV4Auth):  # type: ignore[misc]
    """botocore's S3 signer as it signs over https: ``UNSIGNED-PAYLOAD``."""

    def _should_sha256_sign_payload(self, request: AWSRequest) -> bool:
        return False


def signed(method: str, url: str, body: bytes = b"", *, unsigned_payload: bool = False) -> HttpRequest:
    """A request signed by botocore's own S3 signer, as received by the server."""
    request = AWSRequest(method=method, url=url, data=body)
    signer = UnsignedPayload if unsigned_payload else S3SigV4Auth
    signer(Credentials(KEY_ID, SECRET), "s3", "us-east-1").add_auth(request)
    return received(request, body)


def received(request: AWSRequest, body: bytes) -> HttpRequest:
    parts = urlsplit(request.url)
    headers = {name.lower(): [str(value)] for name, value in request.headers.items()}
    headers["host"] = [parts.netloc]
    return HttpRequest(request.method, parts.path, parts.query, headers, body)


def verify(request: HttpRequest, region: str = "us-east-1") -> str:
    return verify_request(
        request, secret_of=secret_of, region=region, services=("s3",), clock=clock
    ).access_key_id


def code_of(request: HttpRequest, region: str = "us-east-1") -> str:
    with pytest.raises(RequestSignatureError) as caught:
        verify(request, region)
    return caught.value.code


def test_header_signatures_of_botocore_verify() -> None:
    assert verify(signed("PUT", f"http://{HOST}/drop/family/Ren%C3%A9e%20D.jpg", b"jpeg")) == KEY_ID
    assert verify(signed("GET", f"http://{HOST}/drop?list-type=2&prefix=family%2F")) == KEY_ID
    unsigned = signed("PUT", f"http://{HOST}/drop/family/a.jpg", b"x", unsigned_payload=True)
    assert unsigned.header("x-amz-content-sha256") == "UNSIGNED-PAYLOAD"
    assert verify(unsigned) == KEY_ID


def test_changed_body_path_region_key_and_clock_are_refused() -> None:
    good = signed("PUT", f"http://{HOST}/drop/family/a.jpg", b"jpeg")
    assert (
        code_of(HttpRequest(good.method, good.raw_path, "", good.headers, b"other"))
        == "XAmzContentSHA256Mismatch"
    )
    assert code_of(HttpRequest(good.method, "/drop/secret/a.jpg", "", good.headers, b"jpeg")) == (
        "SignatureDoesNotMatch"
    )
    assert code_of(good, region="eu-west-1") == "AuthorizationHeaderMalformed"
    stranger = dict(good.headers)
    stranger["authorization"] = [good.header("authorization").replace(KEY_ID, "AKRKOTHER")]
    assert code_of(HttpRequest(good.method, good.raw_path, "", stranger, b"jpeg")) == "InvalidAccessKeyId"
    with pytest.raises(RequestSignatureError) as caught:
        verify_request(
            good,
            secret_of=secret_of,
            region="us-east-1",
            services=("s3",),
            clock=lambda: clock() + dt.timedelta(hours=1),
        )
    assert caught.value.code == "RequestTimeTooSkewed"
    anonymous = HttpRequest("PUT", "/drop/family/a.jpg", "", {"host": [HOST]}, b"x")
    assert code_of(anonymous) == "AccessDenied"
    streaming = {**good.headers, "x-amz-content-sha256": ["STREAMING-AWS4-HMAC-SHA256-PAYLOAD"]}
    assert code_of(HttpRequest("PUT", good.raw_path, "", streaming, b"x")) == "NotImplemented"


def test_presigned_urls_verify_until_they_expire() -> None:
    request = AWSRequest(method="GET", url=f"http://{HOST}/drop/family/a.jpg")
    S3SigV4QueryAuth(Credentials(KEY_ID, SECRET), "s3", "us-east-1", expires=60).add_auth(request)
    presigned = received(request, b"")
    assert "X-Amz-Signature=" in presigned.raw_query
    assert verify(presigned) == KEY_ID
    with pytest.raises(RequestSignatureError) as caught:
        verify_request(
            presigned,
            secret_of=secret_of,
            region="us-east-1",
            services=("s3",),
            clock=lambda: clock() + dt.timedelta(seconds=120),
        )
    assert caught.value.message == "Request has expired"
    tampered = HttpRequest("GET", "/drop/secret/a.jpg", presigned.raw_query, presigned.headers, b"")
    assert code_of(tampered) == "SignatureDoesNotMatch"
    v2 = HttpRequest("GET", "/drop/a.jpg", "AWSAccessKeyId=AK&Signature=x&Expires=1", {"host": [HOST]}, b"")
    assert code_of(v2) == "InvalidRequest"


def request(method: str, target: str, body: bytes = b"", **headers: str) -> HttpRequest:
    path, _, query = target.partition("?")
    return HttpRequest(method, path, query, {k.replace("_", "-"): [v] for k, v in headers.items()}, body)


def test_what_s3_requests_do() -> None:
    assert s3_accesses(request("PUT", "/drop/family/a.jpg")) == [Access("write", "drop", "family/a.jpg")]
    assert s3_accesses(request("PUT", "/drop/family/a.jpg?partNumber=2&uploadId=U")) == [
        Access("write", "drop", "family/a.jpg")
    ]
    assert s3_accesses(
        request("PUT", "/drop/family/a.jpg", x_amz_copy_source="/hr/secret/b.jpg?versionId=1")
    ) == [
        Access("write", "drop", "family/a.jpg"),
        Access("read", "hr", "secret/b.jpg"),
    ]
    assert s3_accesses(request("POST", "/drop/family/a.jpg?uploads")) == [
        Access("write", "drop", "family/a.jpg")
    ]
    assert s3_accesses(request("DELETE", "/drop/family/a.jpg")) == [Access("delete", "drop", "family/a.jpg")]
    assert s3_accesses(request("GET", "/drop/family/a.jpg?x-id=GetObject")) == [
        Access("read", "drop", "family/a.jpg")
    ]
    assert s3_accesses(request("GET", "/drop?list-type=2&prefix=family%2F")) == [
        Access("list", "drop", "family/")
    ]
    body = (
        b"<Delete><Object><Key>family/a.jpg</Key></Object><Object><Key>secret/b.jpg</Key></Object></Delete>"
    )
    assert s3_accesses(request("POST", "/drop?delete", body)) == [
        Access("delete", "drop", "family/a.jpg"),
        Access("delete", "drop", "secret/b.jpg"),
    ]
    assert s3_accesses(request("PUT", "/drop?notification")) == [Access("admin", "drop")]
    assert s3_accesses(request("PUT", "/drop/family/a.jpg?tagging")) == [
        Access("admin", "drop", "family/a.jpg")
    ]
    assert bucket_and_key("/drop/family%2Fa%20b.jpg") == ("drop", "family/a b.jpg")


def test_who_may_do_it() -> None:
    indexer = Caller("i", (Grant.parse("index:family"),))
    keeper = Caller("k", (Grant.parse("index:family"), Grant.parse("delete:family")))
    viewer = Caller("v", (Grant.parse("search:fam*"),))
    admin = Caller("a", (Grant.parse("*:*"),))
    missing, present = (lambda b, k: False), (lambda b, k: True)
    write = Access("write", "drop", "family/a.jpg")
    assert allowed(indexer, write, "drop", missing)
    assert not allowed(indexer, write, "drop", present)  # an overwrite replaces faces
    assert allowed(keeper, write, "drop", present)
    assert not allowed(indexer, Access("write", "drop", "secret/a.jpg"), "drop", missing)
    assert not allowed(indexer, Access("write", "other", "family/a.jpg"), "drop", missing)
    assert not allowed(indexer, Access("write", "drop", "a.jpg"), "drop", missing)
    assert not allowed(indexer, Access("delete", "drop", "family/a.jpg"), "drop", missing)
    assert allowed(keeper, Access("delete", "drop", "family/a.jpg"), "drop", missing)
    assert allowed(viewer, Access("read", "drop", "family/a.jpg"), "drop", missing)
    assert allowed(viewer, Access("list", "drop", "family/"), "drop", missing)
    assert not allowed(viewer, Access("list", "drop", ""), "drop", missing)
    for bad in ("family/../secret/a.jpg", "family/%2e%2e/a.jpg", "family//a.jpg"):
        assert not allowed(keeper, Access("write", "drop", bad), "drop", missing)
    assert allowed(admin, Access("admin", "drop"), "drop", missing)
    assert not allowed(keeper, Access("admin", "drop"), "drop", missing)


def test_s3_read_grants() -> None:
    drop = "rekognito-drop"
    assert not object_read_allowed((Grant.parse("detect"),), "hr", "docs/payroll.png", drop)
    assert not object_read_allowed((Grant.parse("search:family"),), drop, "secret/x.jpg", drop)
    assert object_read_allowed((Grant.parse("search:family"),), drop, "family/x.jpg", drop)
    assert not object_read_allowed((Grant.parse("delete:family"),), drop, "family/x.jpg", drop)
    assert not object_read_allowed((Grant.parse("*:fam*"),), "family-bucket", "x.jpg", drop)
    reader = (Grant.parse("s3read:hr/docs/*"),)
    assert object_read_allowed(reader, "hr", "docs/payroll.png", drop)
    assert not object_read_allowed(reader, "hr", "docs/../secret/ceo.jpg", drop)
    assert not object_read_allowed(reader, "hr", "secret/ceo.jpg", drop)
    assert object_read_allowed((Grant.parse("*:*"),), "hr", "secret/ceo.jpg", drop)
