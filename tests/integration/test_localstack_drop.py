"""``rekognito serve --aws localstack=URL``: the drop folder on a real LocalStack's S3 and SQS.

LocalStack runs on the host (``tests/support/localstack.py``: pinned ``localstack-core`` from
PyPI in a cached venv on CPython 3.13). Without a Python 3.13 the test is skipped, saying so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.support import localstack
from tests.support.server_process import ServerProcess

DEADLINE_S = 60.0
BUCKET = "rekognito-drop"


@pytest.fixture(scope="module")
def localstack_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        localstack.install()
    except localstack.NoPython313 as missing:
        print(f"LocalStack drop-folder test skipped: {missing}")
        pytest.skip(str(missing))
    running = localstack.start(tmp_path_factory.mktemp("localstack"))
    try:
        yield running.url
    finally:
        running.stop()


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"not within {DEADLINE_S:.0f} s: {what}")


def external_ids(client: Any) -> list[str]:
    return sorted(face["ExternalImageId"] for face in client.list_faces(CollectionId="family")["Faces"])


def test_drop_folder_through_localstack_s3_and_sqs(
    localstack_url: str, tmp_path: Path, photo: Callable[[str], bytes]
) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=localstack_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(s3={"addressing_style": "path"}),
    )
    target = ("--aws", f"localstack={localstack_url}")
    server = ServerProcess(tmp_path / "data", local_aws=target).start()
    try:
        client = server.client()
        client.create_collection(CollectionId="family")
        # The bucket, its notifications and the queues were made on LocalStack
        queues = boto3.client(
            "sqs",
            endpoint_url=localstack_url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        ).list_queues()["QueueUrls"]
        assert sorted(url.rsplit("/", 1)[-1] for url in queues) == [
            "rekognito-ingest",
            "rekognito-ingest-dlq",
        ]
        # When a photo lands in LocalStack's bucket, LocalStack's S3 notifies its SQS queue
        s3.put_object(Bucket=BUCKET, Key="family/Barack Obama.jpg", Body=photo("obama.jpg"))
        wait_for(lambda: external_ids(client) == ["Barack_Obama"], "the face indexed")
        # The API reads S3Object images from LocalStack too
        found = client.search_faces_by_image(
            CollectionId="family", Image={"S3Object": {"Bucket": BUCKET, "Name": "family/Barack Obama.jpg"}}
        )
        assert found["FaceMatches"]
    finally:
        server.stop()

    # While rekognito is down, LocalStack keeps the bucket and the event in its queue
    s3.put_object(Bucket=BUCKET, Key="family/joe/beach.jpg", Body=photo("biden.jpg"))
    server = ServerProcess(tmp_path / "data", local_aws=target).start()
    try:
        client = server.client()
        wait_for(lambda: external_ids(client) == ["Barack_Obama", "joe:beach"], "the second face indexed")
        s3.delete_object(Bucket=BUCKET, Key="family/Barack Obama.jpg")
        wait_for(lambda: external_ids(client) == ["joe:beach"], "the first face removed")
    finally:
        server.stop()
