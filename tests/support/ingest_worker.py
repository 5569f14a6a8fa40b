"""A stand-alone ingest worker process: the local poller of ``rekognito serve``, alone.

Used by the crash tests, which kill -9 it while a durable queue (a moto server in the test
process) keeps the messages: ``python tests/support/ingest_worker.py DATA_DIR ENDPOINT QUEUE_URL BUCKET``.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rekognito.adapters.s3 import S3ObjectReader
from rekognito.ingest.s3 import DropBucket
from rekognito.local_aws import local_clients, poll_queue
from rekognito.services import Services
from rekognito.settings import Settings


def main() -> int:
    data_dir, endpoint_url, queue_url, bucket = sys.argv[1:5]
    settings = Settings(
        data_dir=Path(data_dir), auth_mode="none", s3_endpoint_url=endpoint_url, ingest_bucket=bucket
    )
    services = Services(settings)
    s3, sqs = local_clients(endpoint_url, settings.region)
    services.drop_bucket = DropBucket(s3)
    services.object_reader = S3ObjectReader(s3)
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    queue_arn = attributes["QueueArn"]
    _ = services.face_analyzer  # load the models before polling
    print("ready", flush=True)
    poll_queue(services, sqs, queue_url, queue_arn, threading.Event())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
