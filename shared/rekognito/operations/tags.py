"""TagResource, UntagResource, ListTagsForResource on collection ARNs.

Tags live in ``Collection.tags``. Rekognition allows 50 tags per resource (the request
shapes allow maps of 200, the service refuses more than 50 in total with
``ServiceQuotaExceededException``); keys are 1-128 characters and may not start with
``aws:``, values 0-256 characters. A consent tag (``require_consent_tag`` in the collection
policy, see docs/governance.md) is an ordinary tag set or removed through these operations.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rekognito.api._generated import (
    InvalidParameterException,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
)
from rekognito.domain import Collection
from rekognito.operations.registry import operation
from rekognito.request import RequestContext

MAX_TAGS = 50
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256


def _collection(ctx: RequestContext, arn: str) -> Collection:
    settings = ctx.services.settings
    prefix = f"arn:aws:rekognition:{settings.region}:{settings.account_id}:collection/"
    if not arn.startswith(prefix) or len(arn) == len(prefix):
        raise ResourceNotFoundException(f"The resource {arn} does not exist")
    collection_id = arn[len(prefix) :]
    try:
        collection = ctx.services.store.get_collection(collection_id)
    except ResourceNotFoundException as exc:
        raise ResourceNotFoundException(f"The resource {arn} does not exist") from exc
    ctx.audit["collection_id"] = collection_id
    return collection


def _check_key(key: str) -> None:
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise InvalidParameterException(f"Tag key must be 1 to {MAX_KEY_LENGTH} characters long")
    if key.lower().startswith("aws:"):
        raise InvalidParameterException("Tag keys starting with 'aws:' are reserved")


@operation("TagResource")
def tag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection = _collection(ctx, params["ResourceArn"])
    new_tags: dict[str, str] = params["Tags"]
    for key, value in new_tags.items():
        _check_key(key)
        if len(value) > MAX_VALUE_LENGTH:
            raise InvalidParameterException(f"Tag value must be at most {MAX_VALUE_LENGTH} characters long")
    merged = {**collection.tags, **new_tags}
    if len(merged) > MAX_TAGS:
        raise ServiceQuotaExceededException(
            f"A resource can have at most {MAX_TAGS} tags; this request would give it {len(merged)}"
        )
    ctx.audit["tag_keys"] = sorted(new_tags)
    ctx.services.store.update_collection(replace(collection, tags=merged))
    return {}


@operation("UntagResource")
def untag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection = _collection(ctx, params["ResourceArn"])
    keys = set(params["TagKeys"])
    for key in keys:
        _check_key(key)
    ctx.audit["tag_keys"] = sorted(keys)
    remaining = {key: value for key, value in collection.tags.items() if key not in keys}
    if remaining != collection.tags:
        ctx.services.store.update_collection(replace(collection, tags=remaining))
    return {}


@operation("ListTagsForResource")
def list_tags_for_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection = _collection(ctx, params["ResourceArn"])
    return {"Tags": dict(collection.tags)}
