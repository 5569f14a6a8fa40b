"""The completion message Rekognition publishes to a job's ``NotificationChannel`` SNS topic.

Shape (Rekognition developer guide, "Video analysis results notification"): ``JobId``,
``Status``, ``API``, ``JobTag``, ``Timestamp`` (ms), ``Message``, ``Video`` with
``S3ObjectName`` and ``S3Bucket``. Locally the topic lives in the local AWS of
``rekognito serve`` (moto's SNS, which delivers to subscribed SQS queues); deployed, in SNS.
"""

from __future__ import annotations

import json
from typing import Any

from rekognito.settings import Settings
from rekognito.video.jobs import Job


def completion_message(job: Job, api: str) -> dict[str, Any]:
    s3 = (job.params.get("Video") or {}).get("S3Object") or {}
    message: dict[str, Any] = {
        "JobId": job.job_id,
        "Status": job.job_status,
        "API": api,
        "Message": job.status_message or "",
        "Timestamp": int((job.finished_at or job.created_at) * 1000),
        "Video": {"S3ObjectName": s3.get("Name", ""), "S3Bucket": s3.get("Bucket", "")},
    }
    if job.params.get("JobTag"):
        message["JobTag"] = job.params["JobTag"]
    return message


class SnsNotifier:
    def __init__(self, client: Any) -> None:
        self._client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> SnsNotifier:
        import boto3

        return cls(boto3.client("sns", region_name=settings.region))

    def publish(self, topic_arn: str, message: dict[str, Any]) -> None:
        self._client.publish(TopicArn=topic_arn, Message=json.dumps(message, separators=(",", ":")))
