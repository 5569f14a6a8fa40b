"""A video job survives a SIGKILL of its worker process: the lease runs out, another worker
takes the unfinished segments, and the job ends SUCCEEDED with the same people found."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from rekognito.inference.pipeline import FaceAnalyzer
from rekognito.local_aws import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY, local_clients
from rekognito.services import Services
from rekognito.settings import Settings
from rekognito.video.source import S3VideoSource
from tests.support.endpoint import rekognition_client, running_endpoint
from tests.support.video import render

LEASE_S = 3
SEGMENT_S = 4


@pytest.fixture
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def _worker(data_dir: Path, moto_url: str, log: IO[bytes]) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "REKOGNITO_DATA_DIR": str(data_dir),
        "REKOGNITO_S3_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
        "REKOGNITO_VIDEO_SEGMENT_SECONDS": str(SEGMENT_S),
        "REKOGNITO_VIDEO_LEASE_SECONDS": str(LEASE_S),
        "REKOGNITO_LOG_LEVEL": "INFO",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "rekognito.video.worker", "--data-dir", str(data_dir)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _segments_done(data_dir: Path) -> tuple[int, int]:
    with sqlite3.connect(data_dir / "video" / "jobs.sqlite3", timeout=30) as db:
        done, total = db.execute("SELECT COALESCE(SUM(done), 0), COUNT(*) FROM segments").fetchone()
    return int(done), int(total)


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_job_survives_kill_9_of_the_worker(
    tmp_path: Path, moto_url: str, face_analyzer: FaceAnalyzer, photo: Callable[[str], bytes]
) -> None:
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir, auth_mode="none", video_sample_ms=500, video_workers=0)
    services = Services(settings, face_analyzer=face_analyzer)
    s3, _ = local_clients(moto_url, "us-east-1")
    s3.create_bucket(Bucket="crash-videos")
    s3.upload_file(str(render(tmp_path / "scene.mp4")), "crash-videos", "scene.mp4")
    services.video_source = S3VideoSource(s3)
    log_path = tmp_path / "workers.log"
    with running_endpoint(services) as endpoint, log_path.open("ab") as log:
        client: Any = rekognition_client(endpoint.url)
        client.create_collection(CollectionId="crash")
        for name, file in (("obama", "obama2.jpg"), ("biden", "biden.jpg")):
            client.index_faces(CollectionId="crash", Image={"Bytes": photo(file)}, ExternalImageId=name)
        job_id = client.start_face_search(
            Video={"S3Object": {"Bucket": "crash-videos", "Name": "scene.mp4"}}, CollectionId="crash"
        )["JobId"]
        first = _worker(data_dir, moto_url, log)
        try:
            _wait(lambda: _segments_done(data_dir)[0] >= 1, 120, "a first segment")
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
        finally:
            if first.poll() is None:
                first.kill()
        done_at_kill, total = _segments_done(data_dir)
        assert total == 5 and done_at_kill < total, (done_at_kill, total)
        assert client.get_face_search(JobId=job_id)["JobStatus"] == "IN_PROGRESS"
        second = _worker(data_dir, moto_url, log)
        try:
            _wait(
                lambda: client.get_face_search(JobId=job_id)["JobStatus"] != "IN_PROGRESS",
                180,
                "the job to finish",
            )
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)
        result = client.get_face_search(JobId=job_id)
        assert result["JobStatus"] == "SUCCEEDED", result.get("StatusMessage")
        names = {
            p["Person"]["Index"]: {m["Face"]["ExternalImageId"] for m in p["FaceMatches"]}
            for p in result["Persons"]
        }
        assert sorted(map(sorted, names.values())) == [["biden"], ["obama"]], names
        keys = [(p["Timestamp"], p["Person"]["Index"]) for p in result["Persons"]]
        assert len(keys) == len(set(keys)), "a segment was counted twice"
        assert not (data_dir / "video" / "tmp" / job_id).exists(), "the downloaded video was left behind"
    services.close()
