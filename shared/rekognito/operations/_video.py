"""Shared pieces of the video operations: who may read a job, ordering, pagination, and the
jobs that go with a deleted collection."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable
from typing import Any

from rekognito.api._generated import (
    AccessDeniedException,
    InvalidPaginationTokenException,
    InvalidParameterException,
)
from rekognito.ports import Runtime
from rekognito.request import RequestContext
from rekognito.video.jobs import Job

MAX_PAGE = 1000
# An operation no grant table maps: only full-rights (``*:*``) principals pass it.
_ADMIN_PROBE = "rekognito:ReadAnyVideoJob"


def owner_of(ctx: RequestContext) -> str:
    return ctx.principal.name if ctx.principal is not None else "anonymous"


def fingerprint(params: dict[str, Any]) -> str:
    """What must be equal for a repeated ClientRequestToken to name the same job."""
    material = {k: v for k, v in params.items() if k != "ClientRequestToken"}
    return hashlib.sha256(json.dumps(material, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _allowed(ctx: RequestContext, operation: str, params: dict[str, Any]) -> bool:
    """Ask the server's authorizer, as if the caller sent ``operation`` with ``params``."""
    probe = RequestContext(
        services=ctx.services, request_id=ctx.request_id, operation=operation, principal=ctx.principal
    )
    try:
        ctx.services.security.authorize(probe, params)
    except AccessDeniedException:
        return False
    return True


def authorize_read(ctx: RequestContext, job: Job) -> None:
    """Only the job's owner or a full-rights principal reads a job; face search results
    also need ``search`` on the job's collection (now, not only when the job started)."""
    caller = owner_of(ctx)
    if job.owner != caller and not _allowed(ctx, _ADMIN_PROBE, {}):
        raise AccessDeniedException(
            f"User: {caller} is not authorized to read video job {job.job_id} (started by another principal)"
        )
    if job.collection_id is not None and not _allowed(
        ctx, "StartFaceSearch", {"CollectionId": job.collection_id}
    ):
        raise AccessDeniedException(
            f"User: {caller} is not authorized to perform: {ctx.operation} (action 'search') "
            f"on collection {job.collection_id}"
        )


def page_size(params: dict[str, Any]) -> int:
    """``MaxResults``: Rekognition returns at most 1000 results per page, whatever is asked."""
    return min(MAX_PAGE, int(params.get("MaxResults", MAX_PAGE)))


def encode_token(job_id: str, offset: int, order: str) -> str:
    payload = json.dumps({"j": job_id, "o": offset, "s": order}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode()


def decode_token(token: str | None, job_id: str, order: str) -> int:
    if token is None:
        return 0
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode()))
        if payload["j"] != job_id or payload["s"] != order:
            raise ValueError("token of another listing")
        offset = int(payload["o"])
        if offset < 0:
            raise ValueError("negative offset")
    except (ValueError, KeyError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
        raise InvalidPaginationTokenException("Invalid pagination token") from exc
    return offset


def paginate(
    items: list[dict[str, Any]], params: dict[str, Any], job_id: str, order: str
) -> tuple[list[dict[str, Any]], str | None]:
    offset = decode_token(params.get("NextToken"), job_id, order)
    size = page_size(params)
    page = items[offset : offset + size]
    token = encode_token(job_id, offset + size, order) if offset + size < len(items) else None
    return page, token


def aggregate_segments(
    items: list[dict[str, Any]], key: str, name: Callable[[dict[str, Any]], str], interval_ms: int
) -> list[dict[str, Any]]:
    """Runs of consecutive samples of one label become one item with Start/End/Duration.

    Two samples of a label belong to one segment when no more than 1.5 sampling intervals
    separate them; the segment keeps its most confident sample (without instance boxes).
    """
    by_name: dict[str, list[dict[str, Any]]] = {}
    for item in sorted(items, key=lambda i: i["Timestamp"]):
        by_name.setdefault(name(item), []).append(item)
    segments: list[dict[str, Any]] = []
    for runs in by_name.values():
        current: list[dict[str, Any]] = []
        for item in runs:
            if current and item["Timestamp"] - current[-1]["Timestamp"] > 1.5 * interval_ms:
                segments.append(_segment(current, key, interval_ms))
                current = []
            current.append(item)
        if current:
            segments.append(_segment(current, key, interval_ms))
    return segments


def _segment(run: list[dict[str, Any]], key: str, interval_ms: int) -> dict[str, Any]:
    best = max(run, key=lambda i: i[key]["Confidence"])
    detail = {k: v for k, v in best[key].items() if k != "Instances"}
    start = int(run[0]["Timestamp"])
    end = int(run[-1]["Timestamp"]) + interval_ms
    segment = {k: v for k, v in best.items() if k not in ("Timestamp", key)}
    segment.update(
        {
            "Timestamp": start,
            key: detail,
            "StartTimestampMillis": start,
            "EndTimestampMillis": end,
            "DurationMillis": end - start,
        }
    )
    return segment


def require_s3_video(params: dict[str, Any]) -> dict[str, Any]:
    s3 = (params.get("Video") or {}).get("S3Object")
    if not s3 or not s3.get("Bucket") or not s3.get("Name"):
        raise InvalidParameterException("Video.S3Object needs Bucket and Name")
    found: dict[str, Any] = s3
    return found


def delete_collection_jobs(services: Runtime, collection_id: str) -> list[str]:
    """Delete the face search jobs (and their matches) of a deleted collection."""
    settings = services.settings
    if not settings.video_jobs_table and not (settings.data_dir / "video" / "jobs.sqlite3").exists():
        return []
    return services.video_jobs.delete_for_collection(collection_id, "FACE_SEARCH")
