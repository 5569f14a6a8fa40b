"""Where the pieces of a video job are announced.

Under ``rekognito serve`` workers poll the job store, so nothing needs announcing
(:class:`PollingQueue`). Deployed, each piece is an SQS message (:class:`SqsWorkQueue`,
``REKOGNITO_VIDEO_QUEUE_URL``) that starts a worker function: ``plan`` when a job starts,
one ``segment`` message per segment once it is planned (segments then run in parallel
invocations), ``finish`` when the last segment is done. Both implement
:class:`rekognito.ports.WorkQueue`.
"""

from __future__ import annotations

import json
from typing import Any


class PollingQueue:
    """Workers find the work themselves (``JobStore.claim``)."""

    announces = False

    def submit(self, job_id: str, kind: str, index: int | None = None) -> None:
        return None


class SqsWorkQueue:
    announces = True

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self.queue_url = queue_url

    def submit(self, job_id: str, kind: str, index: int | None = None) -> None:
        body: dict[str, Any] = {"JobId": job_id, "Kind": kind}
        if index is not None:
            body["Segment"] = index
        self._client.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(body))
