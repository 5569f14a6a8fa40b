"""Ranking users against query faces (SearchUsers, SearchUsersByImage, the association gate).

A user's score against a query face is the **maximum** over the user's faces of the face
similarity (the calibrated ``similarity()`` of SearchFaces); for SearchUsers by ``UserId``
it is the maximum over all pairs of the two users' faces.

Why the maximum rather than the cosine to the user's normalised mean embedding: on the real
test photos (leave-one-out over four Obama photos; impostors Biden, Tom Hanks and the six
faces of group6) the mean genuine-minus-worst-impostor cosine margin is 0.660 for the
maximum and 0.650 for the mean (the mean ahead by 0.03-0.04 on the two independently taken
photos, the maximum by 0.04-0.07 when the query is a near-duplicate of an enrolled face).
With no measurable difference the maximum wins on design: the top users come straight out
of the face k-NN search every store already has (a user's best face is among the best
faces), so no store keeps a second index of centroids in step with every association; a
score is explainable (one enrolled face matched); and a user enrolled under varied poses is
not averaged into a centroid that resembles none of them. Its weakness, one wrong face
making a user match another person, is what AssociateFaces' gate prevents (``users.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rekognito.domain import Embedding
from rekognito.ports import FaceStore

# The most faces one k-NN query asks for while collecting candidate users.
MAX_SEARCH_DEPTH = 10_000


def best_cosine(query: Embedding, faces: Sequence[Embedding]) -> float:
    """The best cosine of ``query`` to any of ``faces`` (-1 without faces)."""
    if not faces:
        return -1.0
    return float(np.max(np.stack(faces) @ np.asarray(query, dtype=np.float32)))


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
