"""Grants and the operation -> action table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rekognito.api._generated import AccessDeniedException
from rekognito.identity import Principal
from rekognito.operations import load_all
from rekognito.operations.registry import OPERATIONS
from rekognito.request import RequestContext
from rekognito.security.authz import OPERATION_ACTIONS, GrantAuthorizer, iam_grants
from rekognito.security.principals import Grant, PrincipalError
from rekognito.services import Services
from rekognito.settings import Settings


def test_every_registered_operation_has_an_action() -> None:
    load_all()
    unmapped = sorted(set(OPERATIONS) - set(OPERATION_ACTIONS))
    assert not unmapped, f"operations without an authorization rule (denied to all but admin): {unmapped}"


@pytest.mark.parametrize(
    ("grant", "action", "collection", "allowed"),
    [
        ("search:family", "search", "family", True),
        ("search:family", "search", "family2", False),
        ("search:family", "index", "family", False),
        ("index:family*", "index", "family-2024", True),
        ("index:family*", "index", "famil", False),
        ("*", "delete", "anything", True),
        ("detect", "detect", None, True),
    ],
)
def test_grant_matching(grant: str, action: str, collection: str | None, allowed: bool) -> None:
    assert Grant.parse(grant).allows(action, collection) is allowed


@pytest.mark.parametrize("bad", ["read:x", "search:a b", "search:*x"])
def test_bad_grants_are_refused(bad: str) -> None:
    with pytest.raises(PrincipalError):
        Grant.parse(bad)


def check(grants: list[str], operation: str, params: dict[str, Any], tmp_path: Path) -> None:
    authorizer = GrantAuthorizer(lambda principal: tuple(Grant.parse(g) for g in grants))
    ctx = RequestContext(
        services=Services(Settings(data_dir=tmp_path)),
        request_id="r",
        operation=operation,
        principal=Principal(name="bob"),
    )
    authorizer.authorize(ctx, params)


def test_denial_names_principal_action_and_collection(tmp_path: Path) -> None:
    with pytest.raises(
        AccessDeniedException, match=r"bob .* IndexFaces \(action 'index'\) on collection family"
    ):
        check(["search:family"], "IndexFaces", {"CollectionId": "family"}, tmp_path)


def test_tag_operations_resolve_the_collection_from_the_arn(tmp_path: Path) -> None:
    arn = "arn:aws:rekognition:us-east-1:000000000000:collection/family"
    check(["administer:fam*"], "TagResource", {"ResourceArn": arn}, tmp_path)
    with pytest.raises(AccessDeniedException):
        check(["administer:other"], "TagResource", {"ResourceArn": arn}, tmp_path)


def test_list_collections_needs_some_grant_and_unmapped_needs_admin(tmp_path: Path) -> None:
    check(["detect"], "ListCollections", {}, tmp_path)
    with pytest.raises(AccessDeniedException):
        check([], "ListCollections", {}, tmp_path)
    check(["*:*"], "StartCelebrityRecognition", {}, tmp_path)
    with pytest.raises(AccessDeniedException):
        check(["search:*", "index:*", "detect"], "StartCelebrityRecognition", {}, tmp_path)


def test_iam_grants_by_arn_prefix() -> None:
    grants_of = iam_grants(
        '{"arn:aws:iam::1:role/indexer": ["index:*"], "arn:aws:sts::1:assumed-role/ops/*": ["*"]}'
    )
    assert grants_of(Principal(name="x", arn="arn:aws:iam::1:role/indexer")) == (Grant("index", "*"),)
    assert grants_of(Principal(name="x", arn="arn:aws:sts::1:assumed-role/ops/jo")) == (Grant("*", "*"),)
    assert grants_of(Principal(name="x", arn="arn:aws:iam::1:user/eve")) == ()
    assert iam_grants(None)(Principal(name="x")) == (Grant("*", "*"),)
