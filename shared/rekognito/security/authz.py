"""Authorization: which principal may run which operation on which collection.

Every operation maps to one action and, for collection operations, the parameter naming
the collection (see :data:`OPERATION_ACTIONS`):

===============  =================================================================
``administer``   CreateCollection, DeleteCollection, TagResource, UntagResource
                 (and ``rekognito collection configure``, which runs locally)
``index``        IndexFaces, CreateUser, AssociateFaces, DisassociateFaces
``search``       SearchFaces(ByImage), SearchUsers(ByImage), ListFaces, ListUsers,
                 DescribeCollection, ListTagsForResource
``delete``       DeleteFaces, DeleteUser
``detect``       DetectFaces, CompareFaces, DetectLabels, DetectText,
                 DetectModerationLabels, DetectProtectiveEquipment, RecognizeCelebrities
                 (no collection involved)
``audit``        reading the audit trail (``rekognito audit`` reads the files directly;
                 the action is kept for an API that would expose it)
===============  =================================================================

A grant is ``action:pattern`` where pattern is ``*``, an exact collection id or
``prefix*``; ``*:*`` (the ``admin`` principal) allows everything. ListCollections is
allowed to any principal that holds at least one grant and returns every collection id:
ids are not biometric data, and filtering would make pagination tokens principal-specific.
An operation missing from the table is denied to everyone but ``*:*`` holders.

``S3Object`` images are read by the server on the caller's behalf, so each read is checked
too (:func:`object_read_allowed`, from :meth:`GrantAuthorizer.authorize_object_read`): a
principal may read ``s3://<drop bucket>/<C>/...`` when it holds ``index`` or ``search`` on
collection ``C``, and any other object only through an explicit ``s3read:<bucket>/<prefix>*``
grant (``*:*`` reads everything). Keys with ``.`` or ``..`` segments are refused (an HTTP
client may collapse them, reading another prefix than the one checked). A refused read
answers ``InvalidS3ObjectException`` with Rekognition's message for an object it may not
read, whether the object exists or not.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from rekognito.api._generated import AccessDeniedException, InvalidS3ObjectException
from rekognito.identity import Principal, RequestInfo
from rekognito.redact import key_digest
from rekognito.security.principals import S3_READ, Grant, PrincipalRegistry, grants_allow
from rekognito.settings import SettingsError

log = logging.getLogger(__name__)

ANY_GRANT = "any"
ARN_COLLECTION_MARKER = ":collection/"
# Holding one of these on collection C lets a principal read the drop folder's C/ prefix.
DROP_READ_ACTIONS = ("index", "search")
S3_UNREADABLE_MESSAGE = (
    "Unable to get object metadata from S3. Check object key, region and/or access permissions."
)


def collection_from_arn(arn: str) -> str | None:
    """The collection id of a Rekognition collection ARN, or None for other resources."""
    head, marker, collection_id = arn.partition(ARN_COLLECTION_MARKER)
    if not marker or not head.startswith("arn:") or not collection_id:
        return None
    return collection_id


@dataclass(frozen=True)
class Rule:
    action: str
    collection_param: str | None = None

    def collection(self, params: Mapping[str, Any]) -> str | None:
        if self.collection_param is None:
            return None
        value = params.get(self.collection_param)
        if not isinstance(value, str):
            return None
        if self.collection_param == "ResourceArn":
            return collection_from_arn(value) or value
        return value


_C = "CollectionId"
OPERATION_ACTIONS: dict[str, Rule] = {
    "CreateCollection": Rule("administer", _C),
    "DeleteCollection": Rule("administer", _C),
    "TagResource": Rule("administer", "ResourceArn"),
    "UntagResource": Rule("administer", "ResourceArn"),
    "IndexFaces": Rule("index", _C),
    "CreateUser": Rule("index", _C),
    "AssociateFaces": Rule("index", _C),
    "DisassociateFaces": Rule("index", _C),
    "SearchFaces": Rule("search", _C),
    "SearchFacesByImage": Rule("search", _C),
    "SearchUsers": Rule("search", _C),
    "SearchUsersByImage": Rule("search", _C),
    "ListFaces": Rule("search", _C),
    "ListUsers": Rule("search", _C),
    "DescribeCollection": Rule("search", _C),
    "ListTagsForResource": Rule("search", "ResourceArn"),
    "DeleteFaces": Rule("delete", _C),
    "DeleteUser": Rule("delete", _C),
    "DetectFaces": Rule("detect"),
    "CompareFaces": Rule("detect"),
    "DetectLabels": Rule("detect"),
    "DetectText": Rule("detect"),
    "DetectModerationLabels": Rule("detect"),
    "DetectProtectiveEquipment": Rule("detect"),
    "RecognizeCelebrities": Rule("detect"),
    "ListCollections": Rule(ANY_GRANT),
    # Stored video (docs/video.md). Get* name only a JobId: the operation itself lets only
    # the job's owner or a full-rights principal read it, and GetFaceSearch also needs
    # search on the job's collection.
    "StartFaceSearch": Rule("search", _C),
    "GetFaceSearch": Rule("search"),
    "StartFaceDetection": Rule("detect"),
    "GetFaceDetection": Rule("detect"),
    "StartLabelDetection": Rule("detect"),
    "GetLabelDetection": Rule("detect"),
    "StartTextDetection": Rule("detect"),
    "GetTextDetection": Rule("detect"),
    "StartContentModeration": Rule("detect"),
    "GetContentModeration": Rule("detect"),
}

GrantsOf = Callable[[Principal], tuple[Grant, ...]]


def describe_target(operation: str, params: Mapping[str, Any]) -> tuple[str, str | None]:
    """``(action, collection id)`` of a request; action ``unmapped`` for unknown operations."""
    rule = OPERATION_ACTIONS.get(operation)
    if rule is None:
        return "unmapped", None
    return rule.action, rule.collection(params)


def _pattern_matches(pattern: str, target: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith("*"):
        return target.startswith(pattern[:-1])
    return target == pattern


def object_read_allowed(grants: tuple[Grant, ...], bucket: str, key: str, drop_bucket: str | None) -> bool:
    """Whether ``grants`` let the server read ``s3://bucket/key`` for their holder."""
    if not bucket or not key or any(part in (".", "..") for part in key.split("/")):
        return False
    target = f"{bucket}/{key}"
    for grant in grants:
        if grant.action == "*" and grant.pattern == "*":
            return True
        if grant.action == S3_READ and _pattern_matches(grant.pattern, target):
            return True
    if drop_bucket is not None and bucket == drop_bucket:
        collection_id, slash, rest = key.partition("/")
        if slash and rest and collection_id:
            return any(grants_allow(grants, action, collection_id) for action in DROP_READ_ACTIONS)
    return False


class GrantAuthorizer:
    """Checks a request against the grants ``grants_of`` returns for its principal."""

    def __init__(self, grants_of: GrantsOf, drop_bucket: str | None = None) -> None:
        self._grants_of = grants_of
        self._drop_bucket = drop_bucket

    def authorize_object_read(self, ctx: RequestInfo, bucket: str, key: str) -> None:
        """Raise ``InvalidS3ObjectException`` unless the caller may have ``s3://bucket/key`` read."""
        principal = ctx.principal
        grants = self._grants_of(principal) if principal is not None else ()
        if object_read_allowed(grants, bucket, key, self._drop_bucket):
            return
        log.info(
            "s3 read denied",
            extra={
                "principal": principal.name if principal is not None else None,
                "operation": ctx.operation,
                "bucket": bucket,
                "key_sha256": key_digest(key),
            },
        )
        raise InvalidS3ObjectException(S3_UNREADABLE_MESSAGE)

    def authorize(self, ctx: RequestInfo, params: dict[str, Any]) -> None:
        principal = ctx.principal
        if principal is None:
            raise AccessDeniedException(f"User: anonymous is not authorized to perform: {ctx.operation}")
        grants = self._grants_of(principal)
        rule = OPERATION_ACTIONS.get(ctx.operation)
        if rule is None:
            if any(g.action == "*" and g.pattern == "*" for g in grants):
                return
            self._deny(principal, ctx.operation, "unmapped", None)
        collection_id = rule.collection(params)
        if rule.action == ANY_GRANT:
            if grants:
                return
            self._deny(principal, ctx.operation, "any", None)
        if rule.collection_param is not None and collection_id is None:
            self._deny(principal, ctx.operation, rule.action, None)
        if not grants_allow(grants, rule.action, collection_id):
            self._deny(principal, ctx.operation, rule.action, collection_id)

    @staticmethod
    def _deny(principal: Principal, operation: str, action: str, collection_id: str | None) -> NoReturn:
        target = f"collection {collection_id}" if collection_id else "this server"
        log.info(
            "access denied",
            extra={
                "principal": principal.name,
                "operation": operation,
                "action": action,
                "collection_id": collection_id,
            },
        )
        raise AccessDeniedException(
            f"User: {principal.name} is not authorized to perform: {operation} "
            f"(action '{action}') on {target}"
        )


def registry_grants(registry: PrincipalRegistry) -> GrantsOf:
    def grants_of(principal: Principal) -> tuple[Grant, ...]:
        stored = registry.get(principal.name)
        return stored.grants if stored is not None else ()

    return grants_of


FULL_RIGHTS = (Grant("*", "*"),)


def iam_grants(config: str | None) -> GrantsOf:
    """Grants of IAM callers from ``REKOGNITO_IAM_GRANTS``.

    The setting is a JSON object mapping an ARN, or an ARN prefix ending in ``*``, to a list
    of grants: ``{"arn:aws:iam::123456789012:role/indexer": ["index:family*"],
    "arn:aws:sts::123456789012:assumed-role/ops/*": ["*:*"]}``. Unset, every caller that
    API Gateway let through (its IAM policy allows ``execute-api:Invoke``) has full rights.
    """
    if not config:
        return lambda principal: FULL_RIGHTS
    try:
        raw = json.loads(config)
        if not isinstance(raw, dict):
            raise TypeError("expected an object")
        table = {str(arn): tuple(Grant.parse(str(g)) for g in grants) for arn, grants in raw.items()}
    except (ValueError, TypeError) as exc:
        raise SettingsError(f"REKOGNITO_IAM_GRANTS: {exc}") from exc

    def grants_of(principal: Principal) -> tuple[Grant, ...]:
        arn = principal.arn or principal.name
        found: list[Grant] = []
        for pattern, grants in table.items():
            if arn == pattern or (pattern.endswith("*") and arn.startswith(pattern[:-1])):
                found.extend(grants)
        return tuple(found)

    return grants_of
