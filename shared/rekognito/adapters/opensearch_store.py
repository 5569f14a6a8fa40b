"""Where earlier versions kept the OpenSearch store; it now lives in :mod:`rekognito.adapters.opensearch`."""

from rekognito.adapters.opensearch import Engine, OpenSearchFaceStore, SpaceType

__all__ = ["Engine", "OpenSearchFaceStore", "SpaceType"]
