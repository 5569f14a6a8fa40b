"""The drop folder of ``rekognito serve``: a local S3 + SQS and a queue poller.

Two back ends (``rekognito serve --aws``):

* ``embedded`` (the default): moto's S3 and SQS apps, served by waitress
  (``rekognito.server.ThreadedWsgiServer``) behind :class:`rekognito.local_gate.LocalAwsGate`,
  which checks every request's SigV4 signature against the principals of the API and their
  grants (``index:C`` to put into ``C/``, ``delete:C`` to remove, reads as for
  ``S3Object``), and keeps the queues to the server itself. The server's own clients (the
  poller, ``S3Object`` reads) sign with a key made at start and held in memory only.
  moto keeps everything in memory; behind the gate,
  :class:`rekognito.drop_journal.DurableS3App` writes every acknowledged change of the drop
  bucket to ``<data dir>/drop/`` first, and :meth:`rekognito.drop_journal.DropJournal.restore`
  puts the objects back and replays the events not yet processed at the next start.
* ``localstack[=URL]``: a running LocalStack's S3 and SQS (``http://localhost:4566`` by
  default). The bucket, its notifications and the queues are created there, and LocalStack
  keeps them (and the messages not yet processed) across restarts of ``rekognito serve``.
  Who may write there is LocalStack's business: it does not check signatures.

Either way it reproduces the ingestion path of ``template.yaml`` in one process: a bucket
whose ``s3:ObjectCreated:*`` and ``s3:ObjectRemoved:*`` notifications go to a queue with a
dead-letter queue, and, in place of Lambda's SQS event source, a thread that long-polls the
queue and calls the ingest handler (the same :func:`rekognito.ingest.processor.handle_sqs_event`) with
the SQS event Lambda would send, deleting the messages that succeeded.

The local bucket is not versioned (so old versions do not pile up in memory); objects are
identified by their ETag.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from xml.sax.saxutils import escape

from rekognito.server import ServerLimits, ThreadedWsgiServer, WsgiApp
from rekognito.services import Services

if TYPE_CHECKING:
    from rekognito.drop_journal import CurrentObject, DropJournal
    from rekognito.ingest.events import ObjectChange

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
# LocalStack accepts any credentials; these give its default account (000000000000).
LOCALSTACK_KEYS = ("test", "test")
LOCALSTACK_DEFAULT_URL = "http://localhost:4566"
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


def local_sns_client(endpoint_url: str, region: str, keys: tuple[str, str]) -> Any:
    """An SNS client for the local endpoint (stored-video notifications), signing with ``keys``."""
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=keys[0], aws_secret_access_key=keys[1], region_name=region
    )
    return session.client("sns", endpoint_url=endpoint_url)


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


@dataclass(frozen=True)
class AwsTarget:
    """Where the drop folder's S3 and SQS run (``rekognito serve --aws``)."""

    kind: Literal["embedded", "localstack"]
    endpoint_url: str | None = None

    @classmethod
    def parse(cls, value: str) -> AwsTarget:
        """``embedded``, ``localstack`` or ``localstack=URL``."""
        name, _, url = value.partition("=")
        if name == "embedded" and not url:
            return cls("embedded")
        if name == "localstack":
            url = url or LOCALSTACK_DEFAULT_URL
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"--aws localstack={url}: expected an http:// or https:// URL")
            return cls("localstack", url.rstrip("/"))
        raise ValueError(f"--aws {value}: expected embedded, localstack or localstack=URL")


@dataclass
class LocalAws:
    endpoint_url: str
    bucket: str
    queue_url: str
    dead_letter_queue_url: str
    s3: Any
    sqs: Any
    # Stored video's completion notifications (rekognito.video.service).
    sns: Any
    _server: Any
    _pollers: list[threading.Thread]
    _stopping: threading.Event

    def stop(self) -> None:
        self._stopping.set()
        for poller in self._pollers:
            poller.join(timeout=WAIT_TIME_S + 30)
        if self._server is not None:
            self._server.stop()


def _moto_s3() -> Any:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    return s3_backends[DEFAULT_ACCOUNT_ID]["aws"]


def _object_exists(bucket: str, key: str) -> bool:
    """Whether moto's S3 holds ``bucket/key`` (asked of its backend, not over HTTP)."""
    try:
        return _moto_s3().get_object(bucket, key) is not None
    except Exception:  # a missing bucket: nothing to overwrite
        return False


def _moto_object(bucket: str, key: str) -> CurrentObject | None:
    """The current content of ``bucket/key`` in moto's S3 (None when there is none)."""
    from rekognito.drop_journal import CurrentObject

    try:
        found = _moto_s3().get_object(bucket, key)
    except Exception:
        return None
    if found is None:
        return None
    content_type = str(found.metadata.get("Content-Type") or "binary/octet-stream")
    return CurrentObject(
        etag=str(found.etag).strip('"'), content_type=content_type, read=lambda: bytes(found.value)
    )


def _moto_restore(bucket: str) -> Callable[[str, bytes, str, str], None]:
    """Put an object back into moto's S3 as it was, without an event."""

    def put(key: str, data: bytes, etag: str, content_type: str) -> None:
        restored = _moto_s3().put_object(bucket, key, data, etag=etag, disable_notification=True)
        restored.set_metadata({"Content-Type": content_type})

    return put


def s3_error_body(status: int, message: str) -> tuple[list[tuple[str, str]], bytes]:
    """An S3-style XML error for requests the HTTP server refuses (malformed, too large)."""
    code = "EntityTooLarge" if status == 413 else "InternalError" if status >= 500 else "BadRequest"
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message></Error>"
    ).encode()
    return [("Content-Type", "application/xml")], body


def start_gated_moto(
    services: Services,
    *,
    host: str,
    port: int,
    keys: tuple[str, str],
    journal: DropJournal | None = None,
) -> ThreadedWsgiServer:
    """moto's S3 and SQS behind :class:`LocalAwsGate`, served on ``host:port``; with a
    ``journal``, the drop bucket's changes are made durable before they are answered."""
    from moto.moto_server.werkzeug_app import create_backend_app

    from rekognito.local_gate import LocalAwsGate, install_event_attribution
    from rekognito.security.principals import PrincipalRegistry

    settings = services.settings
    install_event_attribution()
    registry = PrincipalRegistry(settings.data_dir) if settings.auth_mode == "sigv4" else None
    s3_app: WsgiApp = create_backend_app("s3")
    if journal is not None:
        from rekognito.drop_journal import DurableS3App

        s3_app = DurableS3App(s3_app, journal, settings.ingest_bucket, _moto_object)
    gate = LocalAwsGate(
        s3_app=s3_app,
        sqs_app=create_backend_app("sqs"),
        registry=registry,
        internal_keys=keys,
        region=settings.region,
        drop_bucket=settings.ingest_bucket,
        exists=_object_exists,
        # Stored-video completion notifications (docs/video.md).
        sns_app=create_backend_app("sns"),
        internal_queues=(QUEUE_NAME, DEAD_LETTER_QUEUE_NAME),
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


def _create_bucket(s3: Any, bucket: str, region: str) -> None:
    from botocore.exceptions import ClientError

    try:
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    except ClientError as exc:  # a LocalStack that still has it from an earlier run
        if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
            raise


def _notify_queue(s3: Any, bucket: str, queue_arn: str) -> None:
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]},
                {"QueueArn": queue_arn, "Events": ["s3:ObjectRemoved:*"]},
            ]
        },
    )


def _processed_changes(messages: list[dict[str, Any]]) -> list[ObjectChange]:
    from rekognito.ingest.events import MalformedMessage, parse_message_body

    changes: list[ObjectChange] = []
    for message in messages:
        try:
            changes.extend(parse_message_body(str(message.get("Body", ""))))
        except MalformedMessage:
            continue
    return changes


def poll_queue(
    services: Services,
    sqs: Any,
    queue_url: str,
    queue_arn: str,
    stopping: threading.Event,
    processed: Callable[[ObjectChange], None] | None = None,
) -> None:
    """Long-poll the queue into the ingest handler until ``stopping``; what fails comes back.

    ``processed`` is told of each object change the handler has done (before its message is
    deleted), so that the durable drop bucket does not replay it after a restart.
    """
    from rekognito.ingest.processor import handle_sqs_event

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
            if processed is not None:
                for change in _processed_changes([m for m in messages if m["MessageId"] not in failed]):
                    processed(change)
            if done:
                sqs.delete_message_batch(QueueUrl=queue_url, Entries=done)
        except Exception:  # the poller must survive anything; the messages come back
            log.exception("local ingest poll failed")
            stopping.wait(WAIT_TIME_S)


def _provide_clients(services: Services, s3: Any) -> None:
    from rekognito.adapters.s3 import S3ObjectReader
    from rekognito.ingest.s3 import DropBucket
    from rekognito.metrics import to_debug_log

    # API calls with Image.S3Object (checked against the caller's grants first) and the
    # ingest handler read this S3 with the server's own client.
    services.object_reader = S3ObjectReader(s3)
    services.drop_bucket = DropBucket(s3)
    # EMF documents are meant for CloudWatch; locally they go to the debug log, not stdout.
    services.metrics_sink = to_debug_log


def _start_poller(
    services: Services,
    sqs: Any,
    queue_url: str,
    queue_arn: str,
    processed: Callable[[ObjectChange], None] | None,
) -> tuple[list[threading.Thread], threading.Event]:
    """``settings.ingest_workers`` pollers (one per core by default), each handling its own batches.

    Like concurrent Lambda invocations of the ingest function: the handler is safe to run
    on different messages at once (stale and repeated events are recognised by revision).
    With more than one, the process's face analyzer becomes a pool of that many, so their
    analyses (and the API's) overlap instead of queueing behind one.
    """
    workers = max(1, services.settings.ingest_workers)
    if workers > 1:
        from rekognito.inference.analyzer_pool import AnalyzerPool

        services.face_analyzer = AnalyzerPool.create(services.settings, workers)
    stopping = threading.Event()
    pollers = [
        threading.Thread(
            target=poll_queue,
            args=(services, sqs, queue_url, queue_arn, stopping, processed),
            name=f"rekognito-ingest-{number}",
            daemon=True,
        )
        for number in range(workers)
    ]
    for poller in pollers:
        poller.start()
    return pollers, stopping


def start_local_aws(services: Services, *, host: str, port: int, say: Callable[[str], None]) -> LocalAws:
    """Start the local S3 + SQS on ``host:port`` (0: a free port) and the ingest poller."""
    from rekognito.drop_journal import DropJournal

    settings = services.settings
    bucket = settings.ingest_bucket
    journal = DropJournal.for_bucket(settings.data_dir, bucket)
    keys = internal_keys()
    server = start_gated_moto(services, host=host, port=port, keys=keys, journal=journal)
    bound_host, bound_port = server.host, server.port
    endpoint_url = f"http://{host}:{bound_port}"
    s3, sqs = local_clients(endpoint_url, settings.region, keys)
    queue_url, queue_arn, dlq_url = _create_queues(sqs, bucket)
    _create_bucket(s3, bucket, settings.region)
    # Put back what was acknowledged before the last stop, then replay what was not done.
    replayed = journal.restore(
        _moto_restore(bucket),
        lambda event: sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(event)),
        bucket=bucket,
        region=settings.region,
    )
    _notify_queue(s3, bucket, queue_arn)
    _provide_clients(services, s3)
    # Stored video: the worker reads videos with the server's key and notifies this SNS.
    sns = local_sns_client(endpoint_url, settings.region, keys)
    pollers, stopping = _start_poller(services, sqs, queue_url, queue_arn, journal.processed)
    say(f"rekognito: local S3 + SQS (drop folder) on {endpoint_url}, kept in {journal.root}")
    if any(replayed):
        say(f"  replaying {replayed[0]} upload(s) and {replayed[1]} delete(s) left over from the last run")
    say(f"  drop bucket: s3://{bucket}/<CollectionId>/<name>.jpg indexes the photo into that collection")
    say(f"  try: aws s3 cp alice.jpg s3://{bucket}/family/alice.jpg --endpoint-url {endpoint_url}")
    if settings.auth_mode == "none":
        say("  (--insecure-no-auth: anyone may put or delete there; add --no-sign-request without keys)")
    else:
        say("  (signed with a principal's keys: index:C to put into C/, delete:C to remove)")
    say(f"  images that keep failing end up in the dead-letter queue {dlq_url}")
    log.info(
        "local aws started",
        extra={
            "endpoint_url": endpoint_url,
            "bucket": bucket,
            "queue_url": queue_url,
            "bind": bound_host,
            "replayed_uploads": replayed[0],
            "replayed_deletes": replayed[1],
        },
    )
    return LocalAws(endpoint_url, bucket, queue_url, dlq_url, s3, sqs, sns, server, pollers, stopping)


def start_localstack(services: Services, *, endpoint_url: str, say: Callable[[str], None]) -> LocalAws:
    """Use a running LocalStack's S3 and SQS for the drop folder; start the ingest poller."""
    settings = services.settings
    bucket = settings.ingest_bucket
    s3, sqs = local_clients(endpoint_url, settings.region, LOCALSTACK_KEYS)
    queue_url, queue_arn, dlq_url = _create_queues(sqs, bucket)
    _create_bucket(s3, bucket, settings.region)
    _notify_queue(s3, bucket, queue_arn)
    _provide_clients(services, s3)
    sns = local_sns_client(endpoint_url, settings.region, LOCALSTACK_KEYS)
    pollers, stopping = _start_poller(services, sqs, queue_url, queue_arn, None)
    say(f"rekognito: drop folder on LocalStack at {endpoint_url} (S3 + SQS; LocalStack keeps the state)")
    say(f"  drop bucket: s3://{bucket}/<CollectionId>/<name>.jpg indexes the photo into that collection")
    say(f"  try: aws s3 cp alice.jpg s3://{bucket}/family/alice.jpg --endpoint-url {endpoint_url}")
    say("  (LocalStack does not check signatures: anyone who reaches it may put or delete there)")
    say(f"  images that keep failing end up in the dead-letter queue {dlq_url}")
    log.info("localstack drop folder started", extra={"endpoint_url": endpoint_url, "bucket": bucket})
    return LocalAws(endpoint_url, bucket, queue_url, dlq_url, s3, sqs, sns, None, pollers, stopping)
