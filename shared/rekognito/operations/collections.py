"""CreateCollection, DescribeCollection, ListCollections, DeleteCollection."""

from __future__ import annotations

import time
from typing import Any

from rekognito.api._generated import InvalidParameterException
from rekognito.domain import Collection
from rekognito.operations._faces import decode_token, embedder_spec, encode_token, page_size
from rekognito.operations._video import delete_collection_jobs
from rekognito.operations.registry import operation
from rekognito.request import RequestContext

_LIST_TOKEN_SCOPE = "<collections>"  # noqa: S105 - a scope name, not a secret


def collection_arn(ctx: RequestContext, collection_id: str) -> str:
    settings = ctx.services.settings
    return f"arn:aws:rekognition:{settings.region}:{settings.account_id}:collection/{collection_id}"


def _shipped(model_name: str) -> None:
    """Refuse a face model whose files this deployment lacks (a Lambda layer built without it),
    before a collection is made that no IndexFaces could fill."""
    from rekognito.inference.models import ModelUnavailableError, model_path

    try:
        model_path(model_name)
    except ModelUnavailableError as exc:
        raise InvalidParameterException(
            f"Face model {model_name} (REKOGNITO_FACE_MODEL) is not available on this server: {exc}"
        ) from exc


@operation("CreateCollection")
def create_collection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection_id = params["CollectionId"]
    spec = embedder_spec(ctx)
    _shipped(spec.model_name)
    collection = Collection(
        collection_id=collection_id,
        arn=collection_arn(ctx, collection_id),
        face_model_version=spec.model_name,
        created_at=time.time(),
        tags=dict(params.get("Tags") or {}),
    )
    ctx.services.store.create_collection(collection)
    return {
        "StatusCode": 200,
        "CollectionArn": collection.arn,
        "FaceModelVersion": collection.face_model_version,
    }


@operation("DescribeCollection")
def describe_collection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.services.store
    collection = store.get_collection(params["CollectionId"])
    return {
        "FaceCount": store.count_faces(collection.collection_id),
        "UserCount": store.count_users(collection.collection_id),
        "FaceModelVersion": collection.face_model_version,
        "CollectionARN": collection.arn,
        "CreationTimestamp": collection.created_at,
    }


@operation("ListCollections")
def list_collections(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    limit = page_size(params, 1000)
    after = decode_token(params.get("NextToken"), _LIST_TOKEN_SCOPE)
    collections = [
        c for c in ctx.services.store.list_collections() if after is None or c.collection_id > after
    ]
    page = collections[:limit]
    result: dict[str, Any] = {
        "CollectionIds": [c.collection_id for c in page],
        "FaceModelVersions": [c.face_model_version for c in page],
    }
    if len(collections) > limit and page:
        result["NextToken"] = encode_token(_LIST_TOKEN_SCOPE, page[-1].collection_id)
    return result


@operation("DeleteCollection")
def delete_collection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.services.store.delete_collection(params["CollectionId"])
    # Video face search results name the collection's faces: they go with it.
    delete_collection_jobs(ctx.services, params["CollectionId"])
    return {"StatusCode": 200}
