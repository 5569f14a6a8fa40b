"""Wiring of the video worker into ``rekognito serve``."""

from __future__ import annotations

from typing import Any

from rekognito.services import Services
from rekognito.video.notify import SnsNotifier
from rekognito.video.source import S3VideoSource
from rekognito.video.worker import WorkerThreads, start_video_workers


def start_local_video(services: Services, local_aws: Any) -> WorkerThreads | None:
    """Start the worker threads; with the local AWS, read videos from its S3 and notify its SNS.

    The local AWS (moto) answers SNS on the same endpoint as S3 and SQS: create a topic and
    subscribe a queue there, as on AWS (docs/video.md).
    """
    if local_aws is not None:
        import boto3

        from rekognito.local_aws import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY

        services.provide("video_source", S3VideoSource(local_aws.s3))
        sns = boto3.session.Session(
            aws_access_key_id=DUMMY_ACCESS_KEY,
            aws_secret_access_key=DUMMY_SECRET_KEY,
            region_name=services.settings.region,
        ).client("sns", endpoint_url=local_aws.endpoint_url)
        services.provide("video_notifier", SnsNotifier(sns))
    return start_video_workers(services)
