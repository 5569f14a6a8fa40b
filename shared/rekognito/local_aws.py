"""The drop folder of ``rekognito serve``: a local S3 + SQS (moto) and a queue poller.

moto's S3 and SQS apps are served by waitress (``rekognito.server.ThreadedWsgiServer``)
behind :class:`rekognito.local_gate.LocalAwsGate`, which checks every request's SigV4
signature against the principals of the API and their grants (``index:C`` to put into
``C/``, ``delete:C`` to remove, reads as for ``S3Object``), and keeps the queues to the
server itself. The server's own clients (the poller, ``S3Object`` reads) sign with a key
made at start and held in memory only.

It reproduces the ingestion path of ``template.yaml`` in one process: a bucket whose
``s3:ObjectCreated:*`` and ``s3:ObjectRemoved:*`` notifications go to a queue with a
dead-letter queue, and, in place of Lambda's SQS event source, a thread that long-polls the
queue and calls the ingest handler (the same :func:`rekognito.ingest.handle_sqs_event`) with
the SQS event Lambda would send, deleting the messages that succeeded.

moto keeps everything in memory: a restart loses the bucket's objects and the queues
(indexed faces stay in the data dir). The local bucket is not versioned (so old versions
do not pile up in memory); objects are identified by their ETag.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from rekognito.server import ServerLimits, ThreadedWsgiServer
from rekognito.services import Services

log = logging.getLogger("rekognito.local_aws")

QUEUE_NAME = "rekognito-ingest"
DEAD_LETTER_QUEUE_NAME = "rekognito-ingest-dlq"
MAX_RECEIVE_COUNT = 3
VISIBILITY_TIMEOUT_S = 5
WAIT_TIME_S = 1
BATCH_SIZE = 10
# Keys for a moto server without the gate (tests' stand-alone queues); they also keep the
# user's real credentials away from a local S3.
DUMMY_ACCESS_KEY = "rekognito-local"
DUMMY_SECRET_KEY = "rekognito-local"  # noqa: S105 - not a secret
# Objects of the local S3 up to this size (a drop-folder image is at most 15 MB; the CLI
# uploads in 8 MiB parts).
MAX_S3_BODY_BYTES = 64 * 1024 * 1024


def internal_keys() -> tuple[str, str]:
    """A fresh key pair for the server's own S3/SQS clients, never written anywhere."""
    return "RKSERVER" + secrets.token_hex(6).upper(), secrets.token_urlsafe(30)


def local_clients(
    endpoint_url: str, region: str, keys: tuple[str, str] = (DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY)
) -> tuple[Any, Any]:
    """S3 (path-style) and SQS clients for the local endpoint, signing with ``keys``."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=keys[0], aws_secret_access_key=keys[1], region_name=region
    )
    config = Config(retries={"max_attempts": 2, "mode": "standard"}, s3={"addressing_style": "path"})
    s3 = session.client("s3", endpoint_url=endpoint_url, config=config)
    sqs = session.client("sqs", endpoint_url=endpoint_url, config=config)
    return s3, sqs


def sqs_lambda_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS event source sends for ``messages`` (ReceiveMessage output)."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": dict(message.get("Attributes") or {}),
                "messageAttributes": {},
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


@dataclass
class LocalAws:
    endpoint_url: str
    bucket: str
    queue_url: str
    dead_letter_queue_url: str
    s3: Any
    sqs: Any
    _server: Any
    _poller: threading.Thread
    _stopping: threading.Event

    def stop(self) -> None:
        self._stopping.set()
        self._poller.join(timeout=WAIT_TIME_S + 30)
        self._server.stop()


def _object_exists(bucket: str, key: str) -> bool:
    """Whether moto's S3 holds ``bucket/key`` (asked of its backend, not over HTTP)."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    try:
        return s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_object(bucket, key) is not None
    except Exception:  # a missing bucket: nothing to overwrite
        return False


def s3_error_body(status: int, message: str) -> tuple[list[tuple[str, str]], bytes]:
    """An S3-style XML error for requests the HTTP server refuses (malformed, too large)."""
    code = "EntityTooLarge" if status == 413 else "InternalError" if status >= 500 else "BadRequest"
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message></Error>"
    ).encode()
    return [("Content-Type", "application/xml")], body


def start_gated_moto(
    services: Services, *, host: str, port: int, keys: tuple[str, str]
) -> ThreadedWsgiServer:
    """moto's S3 and SQS behind :class:`LocalAwsGate`, served on ``host:port``."""
    from moto.moto_server.werkzeug_app import create_backend_app

    from rekognito.local_gate import LocalAwsGate, install_event_attribution
    from rekognito.security.principals import PrincipalRegistry

    settings = services.settings
    install_event_attribution()
    registry = PrincipalRegistry(settings.data_dir) if settings.auth_mode == "sigv4" else None
    gate = LocalAwsGate(
        s3_app=create_backend_app("s3"),
        sqs_app=create_backend_app("sqs"),
        registry=registry,
        internal_keys=keys,
        region=settings.region,
        drop_bucket=settings.ingest_bucket,
        exists=_object_exists,
    )
    limits = ServerLimits(max_body_bytes=MAX_S3_BODY_BYTES)
    return ThreadedWsgiServer(
        gate, host, port, limits=limits, error_body=s3_error_body, name="rekognito-s3"
    ).start()


def _queue_arn(sqs: Any, queue_url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    return str(attributes["QueueArn"])


def _create_queues(sqs: Any, bucket: str) -> tuple[str, str, str]:
    dlq_url = sqs.create_queue(QueueName=DEAD_LETTER_QUEUE_NAME)["QueueUrl"]
    dlq_arn = _queue_arn(sqs, dlq_url)
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
    queue_url = sqs.create_queue(
        QueueName=QUEUE_NAME,
        Attributes={"VisibilityTimeout": str(VISIBILITY_TIMEOUT_S), "RedrivePolicy": json.dumps(redrive)},
    )["QueueUrl"]
    queue_arn = _queue_arn(sqs, queue_url)
    partition_arn = f"arn:aws:s3:::{bucket}"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowIngestBucketNotifications",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": partition_arn}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    return queue_url, queue_arn, dlq_url


def _create_bucket(s3: Any, bucket: str, region: str, queue_arn: str) -> None:
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]},
                {"QueueArn": queue_arn, "Events": ["s3:ObjectRemoved:*"]},
            ]
        },
    )


def poll_queue(
    services: Services, sqs: Any, queue_url: str, queue_arn: str, stopping: threading.Event
) -> None:
    """Long-poll the queue into the ingest handler until ``stopping``; what fails comes back."""
    from rekognito.ingest import handle_sqs_event

    region = services.settings.region
    while not stopping.is_set():
        try:
            messages = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=BATCH_SIZE,
                WaitTimeSeconds=WAIT_TIME_S,
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                continue
            result = handle_sqs_event(sqs_lambda_event(messages, queue_arn, region), None, services)
            failed = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
            done = [
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                for n, m in enumerate(messages)
                if m["MessageId"] not in failed
            ]
            if done:
                sqs.delete_message_batch(QueueUrl=queue_url, Entries=done)
        except Exception:  # the poller must survive anything; the messages come back
            log.exception("local ingest poll failed")
            stopping.wait(WAIT_TIME_S)


def start_local_aws(services: Services, *, host: str, port: int, say: Callable[[str], None]) -> LocalAws:
    """Start the local S3 + SQS on ``host:port`` (0: a free port) and the ingest poller."""
    from rekognito.adapters.s3 import S3ObjectReader
    from rekognito.ingest.processor import Ingestor
    from rekognito.metrics import to_debug_log

    keys = internal_keys()
    server = start_gated_moto(services, host=host, port=port, keys=keys)
    bound_host, bound_port = server.host, server.port
    endpoint_url = f"http://{host}:{bound_port}"
    settings = services.settings
    bucket = settings.ingest_bucket
    s3, sqs = local_clients(endpoint_url, settings.region, keys)
    queue_url, queue_arn, dlq_url = _create_queues(sqs, bucket)
    _create_bucket(s3, bucket, settings.region, queue_arn)
    # API calls with Image.S3Object (checked against the caller's grants first) and the
    # ingest handler read this S3 with the server's own key.
    services.provide("object_reader", S3ObjectReader(s3))
    services.provide("ingest_s3_client", s3)
    # EMF documents are meant for CloudWatch; locally they go to the debug log, not stdout.
    services.provide("ingestor", Ingestor(services, to_debug_log))
    stopping = threading.Event()
    poller = threading.Thread(
        target=poll_queue,
        args=(services, sqs, queue_url, queue_arn, stopping),
        name="rekognito-ingest",
        daemon=True,
    )
    poller.start()
    say(f"rekognito: local S3 + SQS (drop folder) on {endpoint_url}, in memory: a restart empties the bucket")
    say(f"  drop bucket: s3://{bucket}/<CollectionId>/<name>.jpg indexes the photo into that collection")
    say(f"  try: aws s3 cp alice.jpg s3://{bucket}/family/alice.jpg --endpoint-url {endpoint_url}")
    if settings.auth_mode == "none":
        say("  (--insecure-no-auth: anyone may put or delete there; add --no-sign-request without keys)")
    else:
        say("  (signed with a principal's keys: index:C to put into C/, delete:C to remove)")
    say(f"  images that keep failing end up in the dead-letter queue {dlq_url}")
    log.info(
        "local aws started",
        extra={"endpoint_url": endpoint_url, "bucket": bucket, "queue_url": queue_url, "bind": bound_host},
    )
    return LocalAws(endpoint_url, bucket, queue_url, dlq_url, s3, sqs, server, poller, stopping)
