"""The drop bucket of ``rekognito serve`` survives a crash: what a client was told is stored gets indexed.

The server runs in a child process and is killed with SIGKILL right after S3 acknowledged the
upload, before the ingest handler could index it (``--no-preload``: the models are still
loading); the next start puts the object back and indexes it.
"""

from __future__ import annotations

import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from rekognito.services import Services
from rekognito.settings import Settings
from tests.support.server_process import ServerProcess, free_port

DEADLINE_S = 60.0
BUCKET = "rekognito-drop"


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"not within {DEADLINE_S:.0f} s: {what}")


def s3_client(url: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="anything",
        aws_secret_access_key="anything",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def stored_faces(data_dir: Path) -> list[str]:
    """The faces in the data dir, read with the server down."""
    services = Services(Settings(data_dir=data_dir, auth_mode="none"))
    try:
        return [face.external_image_id or "" for face in services.store.list_faces("family")]
    finally:
        services.close()


def test_an_acknowledged_upload_is_indexed_after_a_crash(
    tmp_path: Path, photo: Callable[[str], bytes]
) -> None:
    data_dir = tmp_path / "data"
    port, s3_port = free_port(), free_port()
    local_aws = ("--s3-port", str(s3_port), "--no-preload")
    s3_url = f"http://127.0.0.1:{s3_port}"

    server = ServerProcess(data_dir, local_aws=local_aws, port=port).start()
    server.client().create_collection(CollectionId="family")
    # Given an upload S3 has acknowledged
    s3_client(s3_url).put_object(Bucket=BUCKET, Key="family/Barack Obama.jpg", Body=photo("obama.jpg"))
    # When the server dies at once, before the ingest handler indexed it
    server.kill()
    assert stored_faces(data_dir) == [], "indexed before the kill: the test proves nothing"
    drop_dir = data_dir / "drop" / BUCKET
    assert stat.S_IMODE(drop_dir.stat().st_mode) == 0o700
    (stored,) = (drop_dir / "objects").iterdir()
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600

    # Then after a restart the object is back and its face indexed
    server = ServerProcess(data_dir, local_aws=local_aws, port=port).start()
    try:
        client = server.client()
        wait_for(lambda: len(client.list_faces(CollectionId="family")["Faces"]) == 1, "the face indexed")
        assert client.list_faces(CollectionId="family")["Faces"][0]["ExternalImageId"] == "Barack_Obama"
        s3 = s3_client(s3_url)
        assert s3.get_object(Bucket=BUCKET, Key="family/Barack Obama.jpg")["Body"].read() == photo(
            "obama.jpg"
        )
        # And an acknowledged delete survives a crash too
        s3.delete_object(Bucket=BUCKET, Key="family/Barack Obama.jpg")
    finally:
        server.kill()
    server = ServerProcess(data_dir, local_aws=local_aws, port=port).start()
    try:
        client = server.client()
        wait_for(lambda: client.list_faces(CollectionId="family")["Faces"] == [], "the face removed")
        with pytest.raises(s3.exceptions.NoSuchKey):
            s3_client(s3_url).get_object(Bucket=BUCKET, Key="family/Barack Obama.jpg")
    finally:
        server.stop()
    assert not list((drop_dir / "deleted").iterdir()), "the delete was processed: nothing left to replay"
