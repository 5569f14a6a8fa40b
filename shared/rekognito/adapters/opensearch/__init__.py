"""The OpenSearch k-NN face store, split by job (see :mod:`.store`)."""

from rekognito.adapters.opensearch.mapping import Engine, SpaceType
from rekognito.adapters.opensearch.store import OpenSearchFaceStore

__all__ = ["Engine", "OpenSearchFaceStore", "SpaceType"]
