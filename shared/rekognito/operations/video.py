"""Stored video: StartFaceDetection, StartFaceSearch, StartLabelDetection, StartTextDetection,
StartContentModeration and their Get* operations (docs/video.md).

A Start* call checks the request (the video object is readable and small enough, the
collection exists and allows video search, the threshold honours its minimum), then queues
a job in the job store and returns its JobId; the video worker does the rest. Get* reads
the job: its status, the video's metadata and, once it succeeded, one page of results.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from rekognito.api._generated import (
    AccessDeniedException,
    IdempotentParameterMismatchException,
    InternalServerError,
    LimitExceededException,
    ResourceNotFoundException,
)
from rekognito.inference.labels import LABEL_MODEL_VERSION
from rekognito.inference.moderation import MODERATION_MODEL_VERSION
from rekognito.inference.text import TEXT_MODEL_VERSION
from rekognito.operations._faces import check_model, effective_threshold
from rekognito.operations._video import (
    aggregate_segments,
    authorize_read,
    fingerprint,
    owner_of,
    paginate,
    require_s3_video,
)
from rekognito.operations.registry import operation
from rekognito.request import RequestContext
from rekognito.video.analysis import JOB_TYPES
from rekognito.video.decode import VideoSupportMissing, require_video_support
from rekognito.video.jobs import SUCCEEDED, JobExists

# Collection policy key: "deny" refuses StartFaceSearch on the collection (docs/governance.md).
VIDEO_SEARCH_POLICY = "video_search"


def _start(ctx: RequestContext, params: dict[str, Any], api: str) -> dict[str, Any]:
    services = ctx.services
    settings = services.settings
    s3 = require_s3_video(params)
    ctx.audit["video"] = f"s3://{s3['Bucket']}/{s3['Name']}"
    queue = services.video_queue
    if not queue.announces:
        # Local workers run in this installation: it must be able to decode. (Deployed, the
        # worker function carries PyAV and the API function does not.)
        try:
            require_video_support()
        except VideoSupportMissing as exc:
            raise InternalServerError(str(exc)) from exc
    stored = dict(params)
    collection_id = params.get("CollectionId")
    if api == "FACE_SEARCH":
        collection = services.store.get_collection(str(collection_id))
        if collection.policy.get(VIDEO_SEARCH_POLICY) == "deny":
            raise AccessDeniedException(
                f"Collection {collection_id} does not allow video face search (policy video_search=deny)"
            )
        check_model(ctx, collection)
        stored["_threshold"] = effective_threshold(
            collection, params.get("FaceMatchThreshold"), "FaceMatchThreshold"
        )
        ctx.audit["effective_threshold"] = stored["_threshold"]
    stored["_interval_ms"] = settings.video_sample_ms
    stored["_max_width"] = settings.video_max_width
    # The server reads the video with its own credentials: only what the caller's grants
    # allow (the check of S3Object images); the worker reads it later on the same grant.
    services.security.authorize_object_read(ctx, str(s3["Bucket"]), str(s3["Name"]))
    services.video_source.size(s3["Bucket"], s3["Name"], s3.get("Version"), settings.video_max_bytes)
    token = params.get("ClientRequestToken")
    digest = fingerprint(params)
    store = services.video_jobs
    try:
        job = store.create(
            job_id=uuid.uuid4().hex,
            api=api,
            owner=owner_of(ctx),
            collection_id=collection_id,
            params=stored,
            fingerprint=digest,
            client_token=token,
            max_in_flight=settings.video_max_jobs,
            now=time.time(),
        )
    except JobExists as exists:
        if exists.job.fingerprint != digest:
            raise IdempotentParameterMismatchException(
                "ClientRequestToken was used before with different parameters"
            ) from exists
        job = exists.job
        ctx.audit["job_id"] = job.job_id
        return {"JobId": job.job_id}
    if job is None:
        raise LimitExceededException(
            f"There are already {settings.video_max_jobs} video jobs in progress; try again later"
        )
    ctx.audit["job_id"] = job.job_id
    try:
        queue.submit(job.job_id, "plan")
    except Exception as exc:
        store.fail(job.job_id, "The job could not be queued", time.time())
        raise InternalServerError("The video job could not be queued; try again") from exc
    return {"JobId": job.job_id}


def _job(ctx: RequestContext, params: dict[str, Any], api: str) -> Any:
    job = ctx.services.video_jobs.get(params["JobId"], time.time())
    if job is None or job.api != api:
        raise ResourceNotFoundException(f"Job {params['JobId']} was not found (or its results expired)")
    authorize_read(ctx, job)
    if job.collection_id is not None:
        ctx.audit["collection_id"] = job.collection_id
    ctx.audit["job_id"] = job.job_id
    return job


def _envelope(job: Any) -> dict[str, Any]:
    response: dict[str, Any] = {
        "JobStatus": job.job_status,
        "JobId": job.job_id,
        "Video": {"S3Object": dict(job.params["Video"]["S3Object"])},
    }
    if job.status_message:
        response["StatusMessage"] = job.status_message
    if job.video:
        response["VideoMetadata"] = job.video
    if job.params.get("JobTag"):
        response["JobTag"] = job.params["JobTag"]
    return response


def _results(ctx: RequestContext, job: Any) -> tuple[list[dict[str, Any]], int]:
    if job.state != SUCCEEDED:
        return [], int(job.params["_interval_ms"])
    result = ctx.services.video_jobs.result(job.job_id) or {}
    return list(result.get("items", [])), int(result.get("interval_ms", job.params["_interval_ms"]))


def _get(
    ctx: RequestContext,
    params: dict[str, Any],
    api: str,
    order: str,
    sort_key: Any,
    aggregate: str | None = None,
    detail_key: str | None = None,
) -> dict[str, Any]:
    job = _job(ctx, params, api)
    response = _envelope(job)
    items, interval = _results(ctx, job)
    if aggregate == "SEGMENTS" and detail_key is not None:
        items = aggregate_segments(items, detail_key, lambda i: str(i[detail_key]["Name"]), interval)
    items.sort(key=sort_key)
    page, token = paginate(items, params, job.job_id, f"{order}/{aggregate or ''}")
    response[JOB_TYPES[api].items_key] = page
    if token is not None:
        response["NextToken"] = token
    # Not in Rekognition's shape (SDKs ignore it): how often frames were analysed.
    response["SamplingIntervalMillis"] = interval
    return response


@operation("StartFaceDetection")
def start_face_detection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _start(ctx, params, "FACE_DETECTION")


@operation("GetFaceDetection")
def get_face_detection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _get(ctx, params, "FACE_DETECTION", "TIMESTAMP", lambda i: i["Timestamp"])


@operation("StartFaceSearch")
def start_face_search(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _start(ctx, params, "FACE_SEARCH")


@operation("GetFaceSearch")
def get_face_search(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    order = params.get("SortBy", "TIMESTAMP")
    if order == "INDEX":
        key: Any = lambda i: (i["Person"]["Index"], i["Timestamp"])  # noqa: E731
    else:
        key = lambda i: (i["Timestamp"], i["Person"]["Index"])  # noqa: E731
    return _get(ctx, params, "FACE_SEARCH", order, key)


def _by_name_or_time(order: str, detail_key: str) -> Any:
    if order == "NAME":
        return lambda i: (i[detail_key]["Name"], i["Timestamp"])
    return lambda i: (i["Timestamp"], i[detail_key]["Name"])


@operation("StartLabelDetection")
def start_label_detection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _start(ctx, params, "LABEL_DETECTION")


@operation("GetLabelDetection")
def get_label_detection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    order = params.get("SortBy", "TIMESTAMP")
    aggregate = params.get("AggregateBy", "TIMESTAMPS")
    response = _get(
        ctx, params, "LABEL_DETECTION", order, _by_name_or_time(order, "Label"), aggregate, "Label"
    )
    response["LabelModelVersion"] = LABEL_MODEL_VERSION
    response["GetRequestMetadata"] = {"SortBy": order, "AggregateBy": aggregate}
    return response


@operation("StartTextDetection")
def start_text_detection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _start(ctx, params, "TEXT_DETECTION")


@operation("GetTextDetection")
def get_text_detection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    response = _get(
        ctx, params, "TEXT_DETECTION", "TIMESTAMP", lambda i: (i["Timestamp"], i["TextDetection"]["Id"])
    )
    response["TextModelVersion"] = TEXT_MODEL_VERSION
    return response


@operation("StartContentModeration")
def start_content_moderation(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _start(ctx, params, "CONTENT_MODERATION")


@operation("GetContentModeration")
def get_content_moderation(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    order = params.get("SortBy", "TIMESTAMP")
    aggregate = params.get("AggregateBy", "TIMESTAMPS")
    response = _get(
        ctx,
        params,
        "CONTENT_MODERATION",
        order,
        _by_name_or_time(order, "ModerationLabel"),
        aggregate,
        "ModerationLabel",
    )
    response["ModerationModelVersion"] = MODERATION_MODEL_VERSION
    response["GetRequestMetadata"] = {"SortBy": order, "AggregateBy": aggregate}
    return response
