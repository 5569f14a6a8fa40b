"""What an audit entry records, and how entries are selected for export.

An entry records who (principal, access key id), when (UTC, ISO 8601), what (operation,
collection, the thresholds and filters asked for, the image *source*: ``bytes`` or a keyed
pseudonym of the S3 object, see :mod:`.keys`), the outcome (error code, number of results)
and which identities came back (every ``FaceId``/``UserId`` in the result, and the ids a
request named). It never holds image bytes, embeddings, bounding boxes, landmarks,
ExternalImageIds or S3 object keys.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from rekognito.identity import RequestInfo
from rekognito.policy import json_safe
from rekognito.security.authz import collection_from_arn

THRESHOLD_PARAMS = (
    "FaceMatchThreshold",
    "SimilarityThreshold",
    "UserMatchThreshold",
    "MaxFaces",
    "MaxUsers",
    "MaxResults",
    "QualityFilter",
)
IMAGE_PARAMS = ("Image", "SourceImage", "TargetImage")
REQUEST_ID_PARAMS = ("FaceId", "FaceIds", "UserId", "UserIds")
RESULT_LISTS = (
    "FaceMatches",
    "UserMatches",
    "FaceRecords",
    "Faces",
    "Users",
    "DeletedFaces",
    "AssociatedFaces",
    "DisassociatedFaces",
    "FaceDetails",
    "CollectionIds",
    "Labels",
    "TextDetections",
    "ModerationLabels",
)

# How an S3 object is named in the trail: (bucket, key) -> a pseudonym (see keys.AuditKey).
S3Namer = Callable[[str, str], str]


def withheld(bucket: str, key: str) -> str:
    return f"s3-key-withheld:{bucket}"


def iso_time(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _ids(value: Any, key: str, found: dict[str, None]) -> None:
    if isinstance(value, dict):
        for name, item in value.items():
            if name == key and isinstance(item, str):
                found[item] = None
            else:
                _ids(item, key, found)
    elif isinstance(value, list):
        for item in value:
            _ids(item, key, found)


def image_source(image: Any, s3_name: S3Namer = withheld) -> str | None:
    if not isinstance(image, dict):
        return None
    s3 = image.get("S3Object")
    if isinstance(s3, dict):
        return s3_name(str(s3.get("Bucket", "")), str(s3.get("Name", "")))
    return "bytes" if "Bytes" in image else None


def _scalar_details(details: Mapping[str, Any]) -> dict[str, Any]:
    """What operations noted in ``ctx.audit``, limited to plain values (never arrays or bytes)."""
    kept: dict[str, Any] = {}
    for key, value in details.items():
        if isinstance(value, str | int | float | bool) or value is None:
            kept[str(key)] = value
        elif isinstance(value, list | tuple) and all(isinstance(v, str | int | float | bool) for v in value):
            kept[str(key)] = list(value)
    return kept


def describe_request(
    ctx: RequestInfo,
    params: Mapping[str, Any],
    result: Mapping[str, Any] | None,
    error: str | None,
    now: float,
    s3_name: S3Namer = withheld,
) -> dict[str, Any]:
    """The audit fields of one request (without ``seq``, ``prev`` and ``hash``)."""
    principal = ctx.principal
    collection = params.get("CollectionId")
    if collection is None and isinstance(params.get("ResourceArn"), str):
        collection = collection_from_arn(params["ResourceArn"]) or params["ResourceArn"]
    if collection is None:
        collection = ctx.audit.get("collection_id")
    entry: dict[str, Any] = {
        "time": iso_time(now),
        "request_id": ctx.request_id,
        "principal": principal.name if principal else None,
        "operation": ctx.operation,
        "collection": collection,
        "error": error,
    }
    if principal is not None and principal.access_key_id:
        entry["access_key_id"] = principal.access_key_id
    thresholds = {name: params[name] for name in THRESHOLD_PARAMS if name in params}
    if thresholds:
        entry["thresholds"] = thresholds
    images = {name: src for name in IMAGE_PARAMS if (src := image_source(params.get(name), s3_name))}
    if images:
        entry["images"] = images
    requested: dict[str, None] = {}
    for name in REQUEST_ID_PARAMS:
        value = params.get(name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                requested[item] = None
    if requested:
        entry["requested_ids"] = list(requested)
    if result is not None:
        face_ids: dict[str, None] = {}
        _ids(result, "FaceId", face_ids)
        for deleted in result.get("DeletedFaces") or []:
            if isinstance(deleted, str):
                face_ids[deleted] = None
        user_ids: dict[str, None] = {}
        _ids(result, "UserId", user_ids)
        entry["face_ids"] = list(face_ids)
        entry["user_ids"] = list(user_ids)
        for name in RESULT_LISTS:
            if isinstance(result.get(name), list):
                entry["results"] = len(result[name])
                break
    details = _scalar_details(ctx.audit)
    if details:
        entry["details"] = details
    safe: dict[str, Any] = json_safe(entry)
    return safe


# -- export -------------------------------------------------------------------------------

_RELATIVE = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: float | None = None) -> float:
    """``7d``, ``12h``, ``30m`` ago, or an ISO date/time (UTC unless it says otherwise)."""
    now = time.time() if now is None else now
    match = _RELATIVE.match(text.strip())
    if match:
        return now - int(match.group(1)) * _UNITS[match.group(2)]
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"--since {text!r}: use an ISO date/time or 7d, 12h, 30m") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def select(
    entries: Iterable[dict[str, Any]], collection: str | None = None, since: float | None = None
) -> Iterator[dict[str, Any]]:
    cutoff = iso_time(since) if since is not None else None
    for entry in entries:
        if collection is not None and entry.get("collection") != collection:
            continue
        if cutoff is not None and str(entry.get("time", "")) < cutoff:
            continue
        yield entry


def mentions(entry: Mapping[str, Any], name: str) -> bool:
    """Whether ``entry`` records the image source ``name`` (see ``rekognito audit lookup``)."""
    images = entry.get("images")
    return isinstance(images, dict) and name in images.values()
