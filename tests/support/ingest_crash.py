"""kill -9 of the ingest worker while photos are put, overwritten and deleted.

The queue and the bucket live in a moto server in this process, so they outlive the worker,
as SQS and S3 do on AWS; messages a killed worker held come back after the visibility
timeout and are processed again. Afterwards the store must hold exactly, for every object
still in the bucket, the faces of its current content (one ImageId, the reference number of
faces), and nothing of deleted or overwritten content.
"""

from __future__ import annotations

import json
import logging
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from rekognito.adapters.embedded_store import EmbeddedFaceStore
from rekognito.domain import Collection
from rekognito.images import decode_image
from rekognito.local_aws import local_clients
from rekognito.operations.faces import index_image
from rekognito.services import Services
from rekognito.settings import Settings
from tests.support.test_data import image_path

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "crash-drop"
COLLECTION = "crash"
PHOTOS = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "group6.jpg", "obama_partial_face.jpg")


def _setup_aws(endpoint_url: str) -> tuple[Any, Any, str, str]:
    s3, sqs = local_clients(endpoint_url, "us-east-1")
    dlq = sqs.create_queue(QueueName="crash-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(
        QueueName="crash-ingest",
        Attributes={
            "VisibilityTimeout": "3",
            # Kills count as receives; a high bound keeps them from sending work to the DLQ.
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "50"}),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={
            "QueueConfigurations": [
                {"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]},
                {"QueueArn": queue_arn, "Events": ["s3:ObjectRemoved:*"]},
            ]
        },
    )
    return s3, sqs, queue, dlq


def _pending(sqs: Any, queue: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def _reference_counts(data_dir: Path) -> dict[str, int]:
    """How many faces ingestion indexes from each photo, without any crash."""
    services = Services(Settings(data_dir=data_dir, auth_mode="none"))
    services.store.create_collection(
        Collection(COLLECTION, "arn", services.face_analyzer.model_version, time.time())
    )
    counts = {}
    for name in PHOTOS:
        image = decode_image(image_path(name).read_bytes(), max_pixels=80_000_000)
        counts[name] = len(index_image(services, COLLECTION, image).faces)
    services.close()
    return counts


class Worker:
    def __init__(self, data_dir: Path, endpoint_url: str, queue: str, log: Path) -> None:
        self.args = [
            sys.executable,
            str(ROOT / "tests" / "support" / "ingest_worker.py"),
            str(data_dir),
            endpoint_url,
            queue,
            BUCKET,
        ]
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


def run(work_dir: Path, *, rounds: int, seed: int) -> dict[str, Any]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request
    rng = random.Random(seed)
    work_dir.mkdir(parents=True, exist_ok=True)
    counts = _reference_counts(work_dir / "reference")
    data_dir = work_dir / "data"
    store = EmbeddedFaceStore(data_dir)
    store.create_collection(Collection(COLLECTION, "arn", "edgeface-s", time.time()))
    store.close()

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint_url = f"http://{host}:{port}"
    s3, sqs, queue, dlq = _setup_aws(endpoint_url)
    worker = Worker(data_dir, endpoint_url, queue, work_dir / "worker.log")
    present: dict[str, str] = {}  # key -> photo name
    kills: list[float] = []
    started = time.perf_counter()
    try:
        worker.start()
        operations = 0
        for round_number in range(rounds):
            # A burst of changes: puts, duplicate puts, overwrites, deletes.
            for _ in range(rng.randint(3, 6)):
                key = f"{COLLECTION}/person {rng.randint(0, 7)}.jpg"
                action = rng.random()
                if action < 0.2 and key in present:
                    s3.delete_object(Bucket=BUCKET, Key=key)
                    del present[key]
                else:
                    name = present[key] if action < 0.35 and key in present else rng.choice(PHOTOS)
                    s3.put_object(Bucket=BUCKET, Key=key, Body=image_path(name).read_bytes())
                    present[key] = name
                operations += 1
            time.sleep(rng.uniform(0.5, 4.0) if round_number else rng.uniform(3.0, 6.0))
            worker.kill()
            kills.append(round(time.perf_counter() - started, 2))
            worker.start()
        deadline = time.time() + 300
        quiet = 0
        while time.time() < deadline and quiet < 3:
            quiet = quiet + 1 if _pending(sqs, queue) == 0 else 0
            time.sleep(1.0)
        drained = quiet >= 3
        dead_letters = _pending(sqs, dlq)
    finally:
        worker.kill()
        server.stop()

    integrity = sqlite3.connect(data_dir / "faces.sqlite3").execute("PRAGMA integrity_check").fetchone()[0]
    store = EmbeddedFaceStore(data_dir)
    faces = store.list_faces(COLLECTION, limit=1_000_000)
    store.close()
    by_source: dict[str, list[Any]] = defaultdict(list)
    for face in faces:
        by_source[face.source or ""].append(face)
    expected_sources = {f"s3://{BUCKET}/{key}": name for key, name in present.items()}
    problems = []
    for source, name in expected_sources.items():
        got = by_source.get(source, [])
        if len(got) != counts[name]:
            problems.append(f"{source}: {len(got)} faces, expected {counts[name]} ({name})")
        if len({face.image_id for face in got}) > 1:
            problems.append(f"{source}: faces of several revisions")
    for source in set(by_source) - set(expected_sources):
        problems.append(f"{source}: {len(by_source[source])} faces of a deleted object")
    if len({face.face_id for face in faces}) != len(faces):
        problems.append("a face id appears twice")
    if integrity != "ok":
        problems.append(f"SQLite integrity_check: {integrity}")
    if not drained:
        problems.append("the queue did not drain in 300 s")
    if dead_letters:
        problems.append(f"{dead_letters} messages in the dead-letter queue")
    return {
        "rounds": rounds,
        "seed": seed,
        "object_operations": operations,
        "kills_at_s": kills,
        "objects_at_end": len(present),
        "faces_at_end": len(faces),
        "duration_s": round(time.perf_counter() - started, 1),
        "problems": problems,
        "ok": not problems,
    }
