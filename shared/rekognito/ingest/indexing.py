"""Indexing one revision of one source (an S3 object version, a file's content), idempotently.

Face ids come from :func:`revision_namespace` (uuid5), so indexing the same revision twice
writes the same faces. Faces are matched to their source *exactly* (the store's lookup is a
prefix match, and ``s3://b/x.jpg`` is a prefix of ``s3://b/x.jpg/y.jpg``): after a new
revision is stored, the faces of earlier revisions of that source are deleted.
:func:`record_face_changes` audits what the drop folder and the bulk import changed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rekognito.domain import StoredFace
from rekognito.identity import Principal
from rekognito.images import DecodedImage
from rekognito.operations.faces import index_image
from rekognito.ports import FaceStore, Runtime
from rekognito.request import RequestContext

# Fixed forever: changing it would change every face id derived from it.
INGEST_NAMESPACE = uuid.UUID("d3406f5f-d0a5-4daa-9425-82dc707450a0")


def revision_namespace(identity: str) -> uuid.UUID:
    """``identity`` is ``bucket/key#version-or-etag`` for S3, ``relative/path#sha256`` for files."""
    return uuid.uuid5(INGEST_NAMESPACE, identity)


def image_id_of(namespace: uuid.UUID) -> str:
    """The ImageId ``index_image`` gives every face indexed under ``namespace``."""
    return str(uuid.uuid5(namespace, "image"))


def faces_of_source(store: FaceStore, collection_id: str, source: str) -> list[StoredFace]:
    return [face for face in store.find_faces_by_source(collection_id, source) if face.source == source]


@dataclass(frozen=True)
class RevisionResult:
    already_indexed: bool
    faces_indexed: int
    faces_removed: int
    unindexed_faces: int
    indexed_face_ids: tuple[str, ...] = ()
    removed_face_ids: tuple[str, ...] = ()


def index_revision(
    services: Runtime,
    collection_id: str,
    *,
    source: str,
    namespace: uuid.UUID,
    external_image_id: str,
    load: Callable[[], DecodedImage],
) -> RevisionResult:
    """Index ``load()`` unless this revision is already stored; drop earlier revisions' faces.

    ``load`` is only called when the revision is not indexed yet. A revision without faces
    leaves nothing in the store, so it is analysed again when delivered again.
    """
    store = services.store
    current_image = image_id_of(namespace)
    previous = faces_of_source(store, collection_id, source)
    stale = sorted(face.face_id for face in previous if face.image_id != current_image)
    already = len(stale) < len(previous)
    indexed = unindexed = 0
    indexed_ids: tuple[str, ...] = ()
    if not already:
        outcome = index_image(
            services,
            collection_id,
            load(),
            external_image_id=external_image_id,
            face_id_namespace=namespace,
            source=source,
        )
        indexed, unindexed = len(outcome.faces), len(outcome.unindexed)
        indexed_ids = tuple(face.face_id for face in outcome.faces)
    removed = store.delete_faces(collection_id, stale) if stale else []
    return RevisionResult(already, indexed, len(removed), unindexed, indexed_ids, tuple(removed))


def remove_source(services: Runtime, collection_id: str, source: str) -> list[str]:
    """Delete every face indexed from ``source``; return their ids."""
    store = services.store
    face_ids = [face.face_id for face in faces_of_source(store, collection_id, source)]
    return store.delete_faces(collection_id, face_ids) if face_ids else []


def record_face_changes(
    services: Runtime,
    *,
    operation: str,
    principal: str,
    request_id: str,
    collection_id: str,
    indexed: Sequence[str] = (),
    removed: Sequence[str] = (),
    image: Mapping[str, Any] | None = None,
) -> None:
    """Audit faces added or removed outside an API request (drop folder, bulk import).

    The store writes were already preceded by their write-ahead entries; this entry says
    who made them and from which image (an S3 object is named by its keyed pseudonym).
    """
    if not indexed and not removed:
        return
    ctx = RequestContext(
        services=services, request_id=request_id, operation=operation, principal=Principal(name=principal)
    )
    params: dict[str, Any] = {"CollectionId": collection_id}
    if image is not None:
        params["Image"] = dict(image)
    outcome = {
        "FaceRecords": [{"Face": {"FaceId": face_id}} for face_id in indexed],
        "DeletedFaces": list(removed),
    }
    services.audit.record(ctx, params, outcome, None)
