"""CreateUser, DeleteUser, ListUsers, AssociateFaces, DisassociateFaces, SearchUsers, SearchUsersByImage.

A user groups up to :data:`MAX_FACES_PER_USER` faces of one person in a collection.

User status. Rekognition updates users asynchronously and reports ``CREATED`` (no faces
yet), ``UPDATING`` (an association is in progress) and ``ACTIVE`` (all done). Here every
change is complete when the call returns, so ``UPDATING`` and ``CREATING`` never appear:
the status is derived from the store at read time, ``ACTIVE`` when the user has at least
one face and ``CREATED`` when it has none (just created, or all its faces disassociated or
deleted).

Scoring a user. A user's score against a query face is the **maximum** over the user's
faces of the face similarity (the same calibrated ``similarity()`` as SearchFaces); for
SearchUsers by ``UserId`` it is the maximum over all pairs of the two users' faces. We
measured the alternative, the cosine to the user's normalised mean embedding, on the real
test photos (leave-one-out over four Obama photos; impostors Biden, Tom Hanks and the six
faces of group6): the mean genuine-minus-worst-impostor cosine margin is 0.660 for the
maximum and 0.650 for the mean embedding; the mean embedding is ahead by 0.03 to 0.04 on
the two independently taken photos, the maximum by 0.04 to 0.07 when the query is a
near-duplicate of an enrolled face. With no measurable difference, the maximum wins on
design: the top users come straight out of the face k-NN search that every store already
has (a user's best face is among the best faces), so neither backend needs a second index
of centroids kept in step with every association; a score is explainable (one enrolled face
matched); and a user enrolled under varied poses is not averaged into a centroid that
resembles none of them. The weakness of the maximum, one wrong face making a user match
another person, is what the association gate prevents: AssociateFaces refuses a face
scoring under ``UserMatchThreshold`` (default 75) against the user's faces with
``LOW_MATCH_CONFIDENCE``, and faces of one request are checked in order against the faces
accepted before them, so even a user's first request cannot mix two people.

Idempotency. CreateUser, DeleteUser, AssociateFaces and DisassociateFaces honour
``ClientRequestToken`` (which the AWS SDKs fill in themselves when the caller does not) for
8 hours: a retry with the same token and parameters returns the first response and changes
nothing; the same token with other parameters, or against a collection deleted and
re-created since, is refused with ``IdempotentParameterMismatchException``. Mutations of
users are serialised within a process; across processes the window between recalling a
token and storing it is not locked (two simultaneous first deliveries of one token may both
run, which for CreateUser ends in one ``ConflictException``).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rekognito.api._generated import (
    ConflictException,
    IdempotentParameterMismatchException,
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
from rekognito.operations.registry import operation
from rekognito.ports import FaceStore
from rekognito.request import RequestContext

MAX_FACES_PER_USER = 100
REQUEST_TOKEN_TTL_SECONDS = 8 * 3600
ASSOCIATION_THRESHOLD = 75.0
SEARCH_THRESHOLD = 80.0
DEFAULT_MAX_USERS = 500
# The most faces one k-NN query asks for while collecting candidate users.
MAX_SEARCH_DEPTH = 10_000

_mutations = threading.Lock()


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


def _fingerprint(collection: Collection, params: dict[str, Any]) -> str:
    """What makes two requests "the same": every parameter but the token, and the collection's
    incarnation (a collection deleted and re-created is another collection)."""
    material = {
        "params": {key: value for key, value in params.items() if key != "ClientRequestToken"},
        "collection": [collection.arn, collection.created_at],
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _idempotent(
    ctx: RequestContext,
    name: str,
    collection: Collection,
    params: dict[str, Any],
    run: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """Run a user mutation once per ``ClientRequestToken``; a retry gets the first response."""
    store = ctx.services.store
    token = params.get("ClientRequestToken")
    with _mutations:
        if token is None:
            return run()
        fingerprint = _fingerprint(collection, params)
        now = time.time()
        stored = store.get_request_token(name, token, now)
        if stored is None:
            result = run()
            stored = store.put_request_token(
                name, token, fingerprint, json.dumps(result), now + REQUEST_TOKEN_TTL_SECONDS, time.time()
            )
            if stored is None:
                return result
        if stored[0] != fingerprint:
            raise IdempotentParameterMismatchException(
                f"ClientRequestToken {token} was already used for a {name} request with other parameters"
            )
        ctx.audit["idempotent_replay"] = True
        replay: dict[str, Any] = json.loads(stored[1])
        return replay


@operation("CreateUser")
def create_user(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection_id, user_id = params["CollectionId"], params["UserId"]
    store = ctx.services.store
    collection = store.get_collection(collection_id)

    def run() -> dict[str, Any]:
        try:
            store.create_user(User(collection_id, user_id, "CREATED", time.time()))
        except ResourceAlreadyExistsException as exc:
            raise ConflictException(
                f"The user id: {user_id} already exists in collection {collection_id}"
            ) from exc
        return {}

    return _idempotent(ctx, "CreateUser", collection, params, run)


@operation("DeleteUser")
def delete_user(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection_id, user_id = params["CollectionId"], params["UserId"]
    store = ctx.services.store
    collection = store.get_collection(collection_id)

    def run() -> dict[str, Any]:
        _require_user(store, collection_id, user_id)
        store.delete_user(collection_id, user_id)
        return {}

    return _idempotent(ctx, "DeleteUser", collection, params, run)


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


def _best_cosine(query: Embedding, faces: Sequence[Embedding]) -> float:
    if not faces:
        return -1.0
    return float(np.max(np.stack(faces) @ np.asarray(query, dtype=np.float32)))


@operation("AssociateFaces")
def associate_faces(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection_id, user_id = params["CollectionId"], params["UserId"]
    store = ctx.services.store
    collection = store.get_collection(collection_id)
    spec = check_model(ctx, collection)
    threshold = effective_threshold(
        collection, params.get("UserMatchThreshold"), "UserMatchThreshold", ASSOCIATION_THRESHOLD
    )

    def run() -> dict[str, Any]:
        _require_user(store, collection_id, user_id)
        return _associate(store, spec, collection_id, user_id, params["FaceIds"], threshold)

    return _idempotent(ctx, "AssociateFaces", collection, params, run)


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
            score = similarity(_best_cosine(face.embedding, enrolled), spec)
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


@operation("DisassociateFaces")
def disassociate_faces(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection_id, user_id = params["CollectionId"], params["UserId"]
    store = ctx.services.store
    collection = store.get_collection(collection_id)

    def run() -> dict[str, Any]:
        _require_user(store, collection_id, user_id)
        requested = list(dict.fromkeys(params["FaceIds"]))
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

    return _idempotent(ctx, "DisassociateFaces", collection, params, run)


def _max_users(params: dict[str, Any]) -> int:
    value = int(params.get("MaxUsers", DEFAULT_MAX_USERS))
    if value < 1:
        raise InvalidParameterException("MaxUsers must be at least 1")
    return value


def rank_users(
    store: FaceStore,
    collection_id: str,
    queries: Sequence[Embedding],
    *,
    min_cos: float,
    max_users: int,
    exclude_face_ids: Sequence[str] = (),
    exclude_user_id: str | None = None,
) -> list[tuple[str, float]]:
    """Users by their best face cosine to any of ``queries``, best first, at most ``max_users``.

    Exact whenever the store's face search is: each query asks for more faces until its
    answer is complete or already names ``max_users`` users (then any user missing from it
    is beaten by those, since a user's score is its best face's).
    """
    total = store.count_faces(collection_id)
    depth = min(total, MAX_SEARCH_DEPTH, max(64, 4 * max_users))
    best: dict[str, float] = {}
    pending = list(queries)
    while pending and depth > 0:
        unfinished: list[Embedding] = []
        for query in pending:
            candidates = store.search(
                collection_id, query, limit=depth, min_cosine=min_cos, exclude_face_ids=exclude_face_ids
            )
            users: set[str] = set()
            for candidate in candidates:
                owner = candidate.face.user_id
                if owner is None or owner == exclude_user_id:
                    continue
                users.add(owner)
                best[owner] = max(best.get(owner, -1.0), candidate.cosine)
            if len(candidates) >= depth and len(users) < max_users:
                unfinished.append(query)
        if depth >= min(total, MAX_SEARCH_DEPTH):
            break
        pending = unfinished
        depth = min(total, MAX_SEARCH_DEPTH, depth * 4)
    ranked = sorted(best.items(), key=lambda item: (-item[1], item[0]))
    return ranked[:max_users]


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
