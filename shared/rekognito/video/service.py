"""Wiring of the video worker into ``rekognito serve``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rekognito.services import Services
from rekognito.video.notify import SnsNotifier
from rekognito.video.source import S3VideoSource
from rekognito.video.worker import WorkerThreads, start_video_workers

if TYPE_CHECKING:
    from rekognito.local_aws import LocalAws


def start_local_video(services: Services, local_aws: LocalAws | None) -> WorkerThreads | None:
    """Start the worker threads; with the local AWS, read videos from its S3 (with the
    server's key, after the caller's read grant was checked at Start) and notify its SNS.

    The local AWS answers SNS (and SQS queues other than the ingest ones) to full-rights
    principals: the admin creates a topic and subscribes a queue there, as on AWS
    (docs/video.md).
    """
    if local_aws is not None:
        services.video_source = S3VideoSource(local_aws.s3)
        services.video_notifier = SnsNotifier(local_aws.sns)
    return start_video_workers(services)
