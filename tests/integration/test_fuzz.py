"""Fuzzing over real HTTP: no 5xx, no hang, no traceback, no change from a rejected request (issue 10).

A seeded, small run; ``bench/fuzz.py`` is the long one (10,000+ requests).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore import xform_name
from botocore.exceptions import ClientError, ParamValidationError
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from rekognito.inference.pipeline import FaceAnalyzer
from rekognito.services import Services
from rekognito.settings import Settings
from tests.support.endpoint import rekognition_client, running_endpoint
from tests.support.fuzz import (
    PROTOCOL_BODIES_KNOWN_5XX,
    Fuzzer,
    FuzzRequest,
    answer_violations,
    image_corpus,
    request_strategy,
    send,
    shaped_request,
    store_fingerprint,
)

pytestmark = pytest.mark.slow

FUZZ_SETTINGS = settings(
    max_examples=200,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory, face_analyzer: FaceAnalyzer) -> Iterator[Fuzzer]:
    # S3 goes to a closed local port: an S3Object image fails fast instead of reaching out.
    data_dir: Path = tmp_path_factory.mktemp("fuzz") / "data"
    services = Services(
        Settings(
            data_dir=data_dir, auth_mode="none", s3_endpoint_url="http://127.0.0.1:9", audit_enabled=False
        ),
        face_analyzer=face_analyzer,
    )
    with running_endpoint(services) as endpoint:
        fuzzer = Fuzzer(endpoint.url, services)
        fuzzer.prepare()
        yield fuzzer
    services.close()


def test_random_requests_keep_the_invariants(fuzz_target: Fuzzer) -> None:
    @FUZZ_SETTINGS
    @given(request=request_strategy())
    def one(request: FuzzRequest) -> None:
        fuzz_target.run_one(request)

    one()
    stats = fuzz_target.stats
    assert stats.requests >= 150
    assert not stats.violations, json.dumps(stats.violations[:5], indent=1)[:4000]
    assert stats.by_status.get("200", 0) > 0 and stats.by_status.get("400", 0) > 0


@pytest.mark.parametrize("name", sorted(image_corpus()))
def test_every_hostile_image_gets_an_answer(fuzz_target: Fuzzer, name: str) -> None:
    body = json.dumps({"Image": {"Bytes": base64.b64encode(image_corpus()[name]).decode()}}).encode()
    request = FuzzRequest("DetectFaces", body, f"image {name}", expect_error=False)
    answer = fuzz_target.run_one(request)
    assert not answer_violations(request, answer), (answer.status, answer.body[:300])
    expected = {
        "decompression-bomb": "ImageTooLargeException",
        "over-5mb": "ImageTooLargeException",
        "gif": "InvalidImageFormatException",
        "empty": "InvalidParameterException",  # an empty blob breaks the ImageBlob's min length
        "truncated-photo-third": "InvalidImageFormatException",
    }
    if name in expected:
        assert answer.code == expected[name]
    if name in {"photo", "small-photo", "exif-rotated-photo", "cmyk-jpeg", "progressive-jpeg", "group-photo"}:
        assert answer.status == 200 and answer.json["FaceDetails"], name


# Bodies that once got a 500 (fixed in api/protocol.py, commit 312b730).
@pytest.mark.parametrize(
    ("name", "body"), PROTOCOL_BODIES_KNOWN_5XX, ids=[n for n, _ in PROTOCOL_BODIES_KNOWN_5XX]
)
def test_pathological_json_is_a_serialization_error(fuzz_target: Fuzzer, name: str, body: bytes) -> None:
    request = FuzzRequest("ListCollections", body, name, expect_error=True)
    before = store_fingerprint(fuzz_target.services)
    answer = send(fuzz_target.url, request)
    assert not answer_violations(request, answer), (answer.status, answer.body[:200])
    assert answer.code == "SerializationException"
    assert store_fingerprint(fuzz_target.services) == before


def _boto3_kwargs(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: base64.b64decode(v) if k == "Bytes" else _boto3_kwargs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_boto3_kwargs(v) for v in value]
    return value


def test_valid_requests_through_boto3(fuzz_target: Fuzzer) -> None:
    client = rekognition_client(fuzz_target.url)
    operations = [
        "ListFaces",
        "SearchFacesByImage",
        "IndexFaces",
        "DetectFaces",
        "SearchFaces",
        "ListCollections",
    ]
    failures: list[str] = []

    @settings(FUZZ_SETTINGS, max_examples=40)
    @given(data=st.data())
    def one(data: st.DataObject) -> None:
        operation = data.draw(st.sampled_from(operations))
        request = data.draw(shaped_request(operation))
        if request.expect_error:
            return
        kwargs = _boto3_kwargs(json.loads(request.body))
        try:
            response = getattr(client, xform_name(operation))(**kwargs)
        except ParamValidationError:
            return
        except ClientError as error:
            status = error.response["ResponseMetadata"]["HTTPStatusCode"]
            if status >= 500 or not error.response["Error"].get("Message"):
                failures.append(f"{operation}: {status} {error.response['Error']}")
            return
        if response["ResponseMetadata"]["HTTPStatusCode"] != 200:
            failures.append(f"{operation}: {response['ResponseMetadata']}")

    one()
    assert not failures, failures[:5]
