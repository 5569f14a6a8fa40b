"""Issue 15 rows 2, 5 and 6: the drop folder and S3Object reads check who is asking.

The stack of ``rekognito serve`` with SigV4 on: the API on one loopback port, the local S3 +
SQS (moto behind ``rekognito.local_gate``) on another, principals in ``principals.json``,
real boto3 clients and the real ``aws`` CLI. Before the change, anyone who reached the S3
port could put faces into any collection and delete them with dummy keys, anyone could send
the poller a hand-made event naming another bucket, and the server read any S3 object for
any caller.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from rekognito.inference.pipeline import FaceAnalyzer
from rekognito.local_aws import LocalAws, start_local_aws
from rekognito.security.principals import PrincipalRegistry
from rekognito.services import Services
from rekognito.settings import Settings
from tests.support.endpoint import rekognition_client, running_endpoint

DEADLINE_S = 20.0
DROP = "rekognito-drop"
GRANTS = {
    "admin": ["*:*"],
    "indexer": ["index:family", "search:family"],
    "eraser": ["delete:family"],
    "family-viewer": ["search:family"],
    "detector": ["detect"],
    "hr-reader": ["detect", "s3read:private-hr-photos/docs/*"],
}


@dataclass
class Stack:
    services: Services
    api_url: str
    local: LocalAws
    keys: dict[str, tuple[str, str]]

    def rekognition(self, name: str) -> Any:
        return rekognition_client(self.api_url, *self.keys[name])

    def s3(self, name: str | None, **config: Any) -> Any:
        """An S3 client of principal ``name`` (None: unsigned)."""
        options: dict[str, Any] = {"retries": {"max_attempts": 1}, "s3": {"addressing_style": "path"}}
        if name is None:
            options["signature_version"] = UNSIGNED
            keys = ("x", "x")
        else:
            keys = self.keys[name]
        return boto3.client(
            "s3",
            endpoint_url=self.local.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=keys[0],
            aws_secret_access_key=keys[1],
            config=Config(**options, **config),
        )

    def faces(self, collection: str) -> list[Any]:
        return list(self.services.store.list_faces(collection))

    def audit(self, prefix: str = "Ingest") -> list[dict[str, Any]]:
        """The outcome entries of drop-folder changes (without the store's write-ahead entries)."""
        return [e for e in self.entries(prefix) if "phase" not in e]

    def intents(self, prefix: str = "Ingest") -> list[dict[str, Any]]:
        """The write-ahead entries written before the store changed."""
        return [e for e in self.entries(prefix) if e.get("phase") == "intent"]

    def entries(self, prefix: str) -> list[dict[str, Any]]:
        return [e for e in self.services.audit.entries() if str(e.get("operation", "")).startswith(prefix)]


@pytest.fixture
def stack(tmp_path: Path, face_analyzer: FaceAnalyzer) -> Iterator[Stack]:
    data_dir = tmp_path / "data"
    registry = PrincipalRegistry(data_dir)
    keys = {}
    for name, grants in GRANTS.items():
        principal, secret = registry.create(name, grants)
        keys[name] = (principal.access_key_id, secret)
    services = Services(Settings(data_dir=data_dir, auth_mode="sigv4"), face_analyzer=face_analyzer)
    local = start_local_aws(services, host="127.0.0.1", port=0, say=lambda _line: None)
    try:
        with running_endpoint(services) as endpoint:
            stack = Stack(services, endpoint.url, local, keys)
            for collection in ("family", "secret"):
                stack.rekognition("admin").create_collection(CollectionId=collection)
            yield stack
    finally:
        local.stop()
        services.close()


def wait_for(condition: Callable[[], bool], what: str) -> None:
    started = time.monotonic()
    while time.monotonic() - started < DEADLINE_S:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {DEADLINE_S} s: {what}")


def settle(stack: Stack) -> None:
    """Wait until the ingest queue is empty and nothing is in flight."""

    def empty() -> bool:
        attributes = stack.local.sqs.get_queue_attributes(
            QueueUrl=stack.local.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return all(int(value) == 0 for value in attributes.values())

    wait_for(empty, "the ingest queue drains")
    time.sleep(0.3)


def error_code(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return str(caught.value.response["Error"]["Code"])


def aws_cli(stack: Stack, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    aws = Path(sys.executable).parent / "aws"
    if not aws.is_file():
        found = shutil.which("aws")
        assert found, "the aws CLI of the dev venv (make install-dev) is needed"
        aws = Path(found)
    access_key, secret = stack.keys[name]
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    env.pop("AWS_PROFILE", None)
    return subprocess.run(
        [str(aws), *args, "--endpoint-url", stack.local.endpoint_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_unsigned_and_unknown_callers_cannot_add_or_remove_faces(
    stack: Stack, photo: Callable[[str], bytes]
) -> None:
    # When an unsigned client puts a photo into the secret collection's folder
    code = error_code(
        lambda: stack.s3(None).put_object(Bucket=DROP, Key="secret/x.jpg", Body=photo("obama.jpg"))
    )
    # Then it is refused and nothing is indexed
    assert code == "AccessDenied"
    # And keys nobody was given are refused too
    unknown = boto3.client(
        "s3",
        endpoint_url=stack.local.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="dummy",
        aws_secret_access_key="dummy",
        config=Config(retries={"max_attempts": 1}),
    )
    assert (
        error_code(lambda: unknown.put_object(Bucket=DROP, Key="secret/x.jpg", Body=b"x"))
        == "InvalidAccessKeyId"
    )
    assert error_code(lambda: unknown.delete_object(Bucket=DROP, Key="family/x.jpg")) == "InvalidAccessKeyId"
    assert error_code(lambda: stack.s3(None).delete_object(Bucket=DROP, Key="family/x.jpg")) == "AccessDenied"
    # And a principal may only write where its grants say
    indexer = stack.s3("indexer")
    assert (
        error_code(lambda: indexer.put_object(Bucket=DROP, Key="secret/x.jpg", Body=b"x")) == "AccessDenied"
    )
    assert error_code(
        lambda: stack.s3("detector").put_object(Bucket=DROP, Key="family/x.jpg", Body=b"x")
    ) == ("AccessDenied")
    # And the ingest queue takes no hand-made messages, not even from a known principal
    event = {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": "private-hr-photos"}, "object": {"key": "secret/ceo.jpg"}},
            }
        ]
    }
    for name in ("indexer", "admin"):
        sqs = boto3.client(
            "sqs",
            endpoint_url=stack.local.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=stack.keys[name][0],
            aws_secret_access_key=stack.keys[name][1],
        )
        assert (
            error_code(
                lambda sqs=sqs: sqs.send_message(
                    QueueUrl=stack.local.queue_url, MessageBody=json.dumps(event)
                )
            )
            == "AccessDenied"
        )
    settle(stack)
    assert stack.faces("secret") == []
    assert stack.audit() == []


def test_the_aws_cli_puts_and_the_eraser_deletes_each_named_in_the_audit(
    stack: Stack, photo: Callable[[str], bytes], tmp_path: Path
) -> None:
    image = tmp_path / "Barack Obama.jpg"
    image.write_bytes(photo("obama.jpg"))
    # When the indexer copies a photo into family/ with the aws CLI (SigV4, its own keys)
    done = aws_cli(stack, "indexer", "s3", "cp", str(image), f"s3://{DROP}/family/Barack Obama.jpg")
    assert done.returncode == 0, done.stderr
    # Then it is indexed, and the audit names the indexer
    wait_for(lambda: len(stack.faces("family")) == 1, "the photo is indexed")
    settle(stack)
    indexed = stack.audit()
    assert [(e["operation"], e["principal"]) for e in indexed] == [("IngestIndexFaces", "indexer")]
    # And the indexer can neither delete it nor overwrite it (which would replace its faces)
    assert aws_cli(stack, "indexer", "s3", "rm", f"s3://{DROP}/family/Barack Obama.jpg").returncode != 0
    overwrite = stack.s3("indexer")
    assert (
        error_code(
            lambda: overwrite.put_object(Bucket=DROP, Key="family/Barack Obama.jpg", Body=photo("biden.jpg"))
        )
        == "AccessDenied"
    )
    # When the eraser (delete:family) deletes it with boto3
    stack.s3("eraser").delete_object(Bucket=DROP, Key="family/Barack Obama.jpg")
    # Then its face is gone and the audit names the eraser
    wait_for(lambda: stack.faces("family") == [], "the face is removed")
    settle(stack)
    assert [(e["operation"], e["principal"]) for e in stack.audit()] == [
        ("IngestIndexFaces", "indexer"),
        ("IngestDeleteFaces", "eraser"),
    ]
    # And so do the entries written before each change reached the store
    assert {(e["operation"], e["principal"]) for e in stack.intents()} == {
        ("IngestIndexFaces", "indexer"),
        ("IngestDeleteFaces", "eraser"),
    }


def test_presigned_urls_carry_their_signers_rights(stack: Stack, photo: Callable[[str], bytes]) -> None:
    import urllib.error
    import urllib.request

    signer = stack.s3("indexer", signature_version="s3v4")
    allowed = signer.generate_presigned_url("put_object", Params={"Bucket": DROP, "Key": "family/p.jpg"})
    jpeg = {"Content-Type": "image/jpeg"}
    request = urllib.request.Request(allowed, data=photo("obama.jpg"), method="PUT", headers=jpeg)
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
    refused = signer.generate_presigned_url("put_object", Params={"Bucket": DROP, "Key": "secret/p.jpg"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(
            urllib.request.Request(refused, data=b"x", method="PUT", headers=jpeg), timeout=30
        )
    assert caught.value.code == 403
    wait_for(lambda: len(stack.faces("family")) == 1, "the presigned upload is indexed")


def test_s3object_reads_follow_the_callers_grants(stack: Stack, photo: Callable[[str], bytes]) -> None:
    # Given photos in the drop folder and an HR bucket, put there by the admin
    admin = stack.s3("admin")
    admin.create_bucket(Bucket="private-hr-photos")
    admin.put_object(Bucket="private-hr-photos", Key="docs/payroll.png", Body=photo("obama.jpg"))
    admin.put_object(Bucket="private-hr-photos", Key="secret/ceo.jpg", Body=photo("obama.jpg"))
    admin.put_object(Bucket=DROP, Key="secret/x.jpg", Body=photo("obama2.jpg"))
    admin.put_object(Bucket=DROP, Key="family/y.jpg", Body=photo("obama3.jpg"))
    wait_for(lambda: len(stack.faces("family")) == 1 and len(stack.faces("secret")) == 1, "both are indexed")

    def s3object(bucket: str, key: str) -> dict[str, Any]:
        return {"S3Object": {"Bucket": bucket, "Name": key}}

    # Then a detect-only principal cannot have the server read the HR bucket for it
    detector = stack.rekognition("detector")
    code = error_code(lambda: detector.detect_faces(Image=s3object("private-hr-photos", "docs/payroll.png")))
    assert code == "InvalidS3ObjectException"
    # Nor a search:family principal search with a photo of the secret collection's folder
    viewer = stack.rekognition("family-viewer")
    code = error_code(
        lambda: viewer.search_faces_by_image(CollectionId="family", Image=s3object(DROP, "secret/x.jpg"))
    )
    assert code == "InvalidS3ObjectException"
    # Nor escape its prefix with dot segments
    code = error_code(
        lambda: viewer.search_faces_by_image(
            CollectionId="family", Image=s3object(DROP, "family/../secret/x.jpg")
        )
    )
    assert code == "InvalidS3ObjectException"
    # But it may use its own collection's folder
    found = viewer.search_faces_by_image(CollectionId="family", Image=s3object(DROP, "family/y.jpg"))
    assert len(found["FaceMatches"]) == 1
    # And an s3read grant opens exactly its prefix
    reader = stack.rekognition("hr-reader")
    assert (
        len(reader.detect_faces(Image=s3object("private-hr-photos", "docs/payroll.png"))["FaceDetails"]) == 1
    )
    code = error_code(lambda: reader.detect_faces(Image=s3object("private-hr-photos", "secret/ceo.jpg")))
    assert code == "InvalidS3ObjectException"
    # And through the local S3 itself, the same rules hold
    assert (
        error_code(lambda: stack.s3("detector").get_object(Bucket=DROP, Key="family/y.jpg")) == "AccessDenied"
    )
    assert stack.s3("family-viewer").get_object(Bucket=DROP, Key="family/y.jpg")["Body"].read()
    assert error_code(lambda: stack.s3("family-viewer").list_objects_v2(Bucket=DROP)) == "AccessDenied"
    listed = stack.s3("family-viewer").list_objects_v2(Bucket=DROP, Prefix="family/")
    keys = [item["Key"] for item in listed["Contents"]]  # moto's state outlives a test
    assert "family/y.jpg" in keys
    assert all(key.startswith("family/") for key in keys)
