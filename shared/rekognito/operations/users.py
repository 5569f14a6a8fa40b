"""CreateUser, DeleteUser, ListUsers, AssociateFaces, DisassociateFaces, SearchUsers, SearchUsersByImage.

A user groups up to :data:`MAX_FACES_PER_USER` faces of one person in a collection.

User status. Rekognition updates users asynchronously and reports ``CREATED`` (no faces
yet), ``UPDATING`` (an association is in progress) and ``ACTIVE`` (all done). Here every
change is complete when the call returns, so ``UPDATING`` and ``CREATING`` never appear:
the status is derived from the store at read time, ``ACTIVE`` when the user has at least
one face and ``CREATED`` when it has none (just created, or all its faces disassociated or
deleted).

The four mutations are registered by :func:`user_mutation`: each runs once per
``ClientRequestToken``, one mutation of a collection at a time (``_idempotency.py``). Users
are ranked by their best face (``_user_ranking.py``, with why). AssociateFaces refuses a
face scoring under ``UserMatchThreshold`` (default 75) against the user's faces with
``LOW_MATCH_CONFIDENCE``, and checks the faces of one request in order against the faces
accepted before them, so even a user's first request cannot mix two people.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

from rekognito.api._generated import (
    ConflictException,
    InvalidParameterException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
)
from rekognito.domain import Collection, Embedding, StoredFace, User
from rekognito.inference.embedder import EmbedderSpec
from rekognito.operations._faces import (
    MAX_FACES_PER_IMAGE,
    check_model,
    decode_token,
    effective_threshold,
    encode_token,
    mark_review,
    min_cosine,
    page_size,
    quality_reasons,
    similarity,
)
from rekognito.operations._idempotency import run_once
from rekognito.operations._user_ranking import best_cosine, rank_users
from rekognito.operations.registry import Handler, Params, Result, operation
from rekognito.ports import FaceStore
from rekognito.request import RequestContext

MAX_FACES_PER_USER = 100
ASSOCIATION_THRESHOLD = 75.0
SEARCH_THRESHOLD = 80.0
DEFAULT_MAX_USERS = 500

P = TypeVar("P")


def _user_not_found(collection_id: str, user_id: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"The user id: {user_id} does not exist in collection {collection_id}")


def _require_user(store: FaceStore, collection_id: str, user_id: str) -> User:
    user = store.get_user(collection_id, user_id)
    if user is None:
        raise _user_not_found(collection_id, user_id)
    return user


def _user_faces(store: FaceStore, collection_id: str, user_id: str) -> list[StoredFace]:
    return store.list_faces(collection_id, user_id=user_id, limit=MAX_FACES_PER_USER + 1)


def _status(store: FaceStore, collection_id: str, user_id: str) -> str:
    return "ACTIVE" if store.list_faces(collection_id, user_id=user_id, limit=1) else "CREATED"


@dataclass(frozen=True)
class UserChange(Generic[P]):
    """A user mutation's request: its collection (it exists), the user id, and what the
    operation's ``prepare`` step found (None without one)."""

    ctx: RequestContext
    params: Params
    store: FaceStore
    collection: Collection
    user_id: str
    prepared: P

    @property
    def collection_id(self) -> str:
        return self.collection.collection_id

    def require_user(self) -> User:
        return _require_user(self.store, self.collection_id, self.user_id)


@overload
def user_mutation(name: str) -> Callable[[Callable[[UserChange[None]], Result]], Handler]: ...
@overload
def user_mutation(
    name: str, prepare: Callable[[RequestContext, Collection, Params], P]
) -> Callable[[Callable[[UserChange[P]], Result]], Handler]: ...
def user_mutation(
    name: str, prepare: Callable[[RequestContext, Collection, Params], Any] | None = None
) -> Callable[[Callable[[UserChange[Any]], Result]], Handler]:
    """Register the operation ``name``, a change of one user of one collection.

    The handler finds the collection (``ResourceNotFoundException`` first), runs ``prepare``
    (checks that must pass even when a retry is answered from the first response), then the
    decorated function once per ``ClientRequestToken``, one mutation of the collection at a
    time (``_idempotency.run_once``).
    """

    def register(change: Callable[[UserChange[Any]], Result]) -> Handler:
        @functools.wraps(change)
        def handler(ctx: RequestContext, params: Params) -> Result:
            collection_id, user_id = params["CollectionId"], params["UserId"]
            store = ctx.services.store
            collection = store.get_collection(collection_id)
            prepared = prepare(ctx, collection, params) if prepare is not None else None
            request = UserChange(ctx, params, store, collection, user_id, prepared)
            return run_once(ctx, name, collection, params, lambda: change(request))

        return operation(name)(handler)

    return register


@user_mutation("CreateUser")
def create_user(change: UserChange[None]) -> Result:
    try:
        change.store.create_user(User(change.collection_id, change.user_id, "CREATED", time.time()))
    except ResourceAlreadyExistsException as exc:
        raise ConflictException(
            f"The user id: {change.user_id} already exists in collection {change.collection_id}"
        ) from exc
    return {}


@user_mutation("DeleteUser")
def delete_user(change: UserChange[None]) -> Result:
    change.require_user()
    change.store.delete_user(change.collection_id, change.user_id)
    return {}


@operation("ListUsers")
def list_users(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection_id = params["CollectionId"]
    store = ctx.services.store
    store.get_collection(collection_id)
    limit = page_size(params, 500)
    after = decode_token(params.get("NextToken"), f"<users>{collection_id}")
    users = store.list_users(collection_id, after=after, limit=limit + 1)
    page = users[:limit]
    result: dict[str, Any] = {
        "Users": [
            {"UserId": user.user_id, "UserStatus": _status(store, collection_id, user.user_id)}
            for user in page
        ]
    }
    if len(users) > limit:
        result["NextToken"] = encode_token(f"<users>{collection_id}", page[-1].user_id)
    return result


@dataclass(frozen=True)
class AssociationGate:
    """What a face must score against the user's faces to join them."""

    spec: EmbedderSpec
    threshold: float


def _association_gate(ctx: RequestContext, collection: Collection, params: Params) -> AssociationGate:
    spec = check_model(ctx, collection)
    threshold = effective_threshold(
        collection, params.get("UserMatchThreshold"), "UserMatchThreshold", ASSOCIATION_THRESHOLD
    )
    return AssociationGate(spec, threshold)


@user_mutation("AssociateFaces", _association_gate)
def associate_faces(change: UserChange[AssociationGate]) -> Result:
    change.require_user()
    gate = change.prepared
    return _associate(
        change.store,
        gate.spec,
        change.collection_id,
        change.user_id,
        change.params["FaceIds"],
        gate.threshold,
    )


def _associate(
    store: FaceStore,
    spec: EmbedderSpec,
    collection_id: str,
    user_id: str,
    face_ids: Sequence[str],
    threshold: float,
) -> dict[str, Any]:
    current = _user_faces(store, collection_id, user_id)
    if len(current) >= MAX_FACES_PER_USER:
        raise ServiceQuotaExceededException(
            f"User {user_id} already has the maximum of {MAX_FACES_PER_USER} associated faces"
        )
    requested = list(dict.fromkeys(face_ids))
    found = {face.face_id: face for face in store.get_faces(collection_id, requested)}
    enrolled = [face.embedding for face in current]
    accepted: list[str] = []
    refused: list[dict[str, Any]] = []
    for face_id in requested:
        face = found.get(face_id)
        if face is None:
            refused.append({"FaceId": face_id, "UserId": user_id, "Reasons": ["FACE_NOT_FOUND"]})
            continue
        if face.user_id == user_id:
            continue
        if face.user_id is not None:
            refused.append(
                {"FaceId": face_id, "UserId": face.user_id, "Reasons": ["ASSOCIATED_TO_A_DIFFERENT_USER"]}
            )
            continue
        if enrolled:
            score = similarity(best_cosine(face.embedding, enrolled), spec)
            if score < threshold:
                refused.append(
                    {
                        "FaceId": face_id,
                        "UserId": user_id,
                        "Confidence": score,
                        "Reasons": ["LOW_MATCH_CONFIDENCE"],
                    }
                )
                continue
        accepted.append(face_id)
        enrolled.append(face.embedding)
    if len(current) + len(accepted) > MAX_FACES_PER_USER:
        raise ServiceQuotaExceededException(
            f"User {user_id} has {len(current)} faces; associating {len(accepted)} more would exceed "
            f"the maximum of {MAX_FACES_PER_USER}"
        )
    if accepted:
        store.set_faces_user(collection_id, accepted, user_id)
    return {
        "AssociatedFaces": [{"FaceId": face_id} for face_id in accepted],
        "UnsuccessfulFaceAssociations": refused,
        "UserStatus": "ACTIVE" if current or accepted else "CREATED",
    }


@user_mutation("DisassociateFaces")
def disassociate_faces(change: UserChange[None]) -> Result:
    change.require_user()
    store, collection_id, user_id = change.store, change.collection_id, change.user_id
    requested = list(dict.fromkeys(change.params["FaceIds"]))
    found = {face.face_id: face for face in store.get_faces(collection_id, requested)}
    removed: list[str] = []
    refused: list[dict[str, Any]] = []
    for face_id in requested:
        face = found.get(face_id)
        if face is None:
            refused.append({"FaceId": face_id, "UserId": user_id, "Reasons": ["FACE_NOT_FOUND"]})
        elif face.user_id == user_id:
            removed.append(face_id)
        elif face.user_id is not None:
            refused.append(
                {"FaceId": face_id, "UserId": face.user_id, "Reasons": ["ASSOCIATED_TO_A_DIFFERENT_USER"]}
            )
    if removed:
        store.set_faces_user(collection_id, removed, None)
    return {
        "DisassociatedFaces": [{"FaceId": face_id} for face_id in removed],
        "UnsuccessfulFaceDisassociations": refused,
        "UserStatus": _status(store, collection_id, user_id),
    }


def _max_users(params: dict[str, Any]) -> int:
    value = int(params.get("MaxUsers", DEFAULT_MAX_USERS))
    if value < 1:
        raise InvalidParameterException("MaxUsers must be at least 1")
    return value


def _user_matches(
    store: FaceStore,
    collection: Collection,
    spec: EmbedderSpec,
    queries: Sequence[Embedding],
    threshold: float,
    max_users: int,
    *,
    exclude_face_ids: Sequence[str] = (),
    exclude_user_id: str | None = None,
) -> list[dict[str, Any]]:
    ranked = rank_users(
        store,
        collection.collection_id,
        queries,
        min_cos=min_cosine(threshold, spec),
        max_users=max_users,
        exclude_face_ids=exclude_face_ids,
        exclude_user_id=exclude_user_id,
    )
    matches = []
    for user_id, cosine in ranked:
        score = similarity(cosine, spec)
        if score < threshold:
            continue
        # A user reached through one of its faces has a face, hence is ACTIVE.
        match = {"Similarity": score, "User": {"UserId": user_id, "UserStatus": "ACTIVE"}}
        matches.append(mark_review(collection, match))
    return matches


def _search_setup(
    ctx: RequestContext, params: dict[str, Any]
) -> tuple[FaceStore, Collection, EmbedderSpec, float, int]:
    """What SearchUsers and SearchUsersByImage both start with."""
    store = ctx.services.store
    collection = store.get_collection(params["CollectionId"])
    spec = check_model(ctx, collection)
    threshold = effective_threshold(
        collection, params.get("UserMatchThreshold"), "UserMatchThreshold", SEARCH_THRESHOLD
    )
    return store, collection, spec, threshold, _max_users(params)


@operation("SearchUsers")
def search_users(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection_id = params["CollectionId"]
    store, collection, spec, threshold, max_users = _search_setup(ctx, params)
    face_id, user_id = params.get("FaceId"), params.get("UserId")
    if (face_id is None) == (user_id is None):
        raise InvalidParameterException("SearchUsers needs exactly one of FaceId or UserId")
    result: dict[str, Any] = {"FaceModelVersion": collection.face_model_version}
    if user_id is None:
        found = store.get_faces(collection_id, [params["FaceId"]])
        if not found:
            raise InvalidParameterException(f"Face {face_id} is not in collection {collection_id}")
        queries = [found[0].embedding]
        excluded_faces = [found[0].face_id]
        excluded_user = None
        result["SearchedFace"] = {"FaceId": found[0].face_id}
    else:
        _require_user(store, collection_id, user_id)
        faces = _user_faces(store, collection_id, user_id)
        queries = [face.embedding for face in faces]
        excluded_faces = [face.face_id for face in faces]
        excluded_user = user_id
        result["SearchedUser"] = {"UserId": user_id}
    result["UserMatches"] = _user_matches(
        store,
        collection,
        spec,
        queries,
        threshold,
        max_users,
        exclude_face_ids=excluded_faces,
        exclude_user_id=excluded_user,
    )
    return result


@operation("SearchUsersByImage")
def search_users_by_image(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store, collection, spec, threshold, max_users = _search_setup(ctx, params)
    quality_filter = params.get("QualityFilter", "NONE")
    image = ctx.load_image(params["Image"])
    analyzer = ctx.services.face_analyzer
    faces = analyzer.analyze(image.pil, embed=False)
    result: dict[str, Any] = {
        "UserMatches": [],
        "FaceModelVersion": collection.face_model_version,
        "UnsearchedFaces": [],
    }
    for rank, face in enumerate(faces):
        reasons = quality_reasons(face, quality_filter) if quality_filter != "NONE" else []
        if rank == 0 and not reasons:
            continue
        if rank > 0:
            reasons = ["FACE_NOT_LARGEST" if rank < MAX_FACES_PER_IMAGE else "EXCEEDS_MAX_FACES", *reasons]
        result["UnsearchedFaces"].append({"FaceDetails": face.face_detail(), "Reasons": reasons})
    if faces and not (quality_filter != "NONE" and quality_reasons(faces[0], quality_filter)):
        largest = faces[0]
        result["SearchedFace"] = {"FaceDetail": largest.face_detail()}
        result["UserMatches"] = _user_matches(
            store, collection, spec, [analyzer.embed(largest)], threshold, max_users
        )
    return result
