"""The OpenSearch k-NN face store: :class:`rekognito.ports.FaceStore` on a cluster.

The work is split by job: ``transport`` (client, errors, bulk, paging), ``mapping`` (index
names, mappings, engine scores), ``collections``, ``faces`` (writes, reads, search),
``users`` and ``tokens``. This class wires them together; the module docstrings of those
parts document layout, search, consistency and deletion.

Amazon OpenSearch Serverless (``aoss``) does not support the refresh API or custom
document ids in vector collections; this store targets OpenSearch and Amazon OpenSearch
Service domains, and ``aoss`` signing is provided for experiments only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager

from opensearchpy import OpenSearch

from rekognito.adapters.opensearch.collections import CollectionsPart
from rekognito.adapters.opensearch.faces import FacesPart
from rekognito.adapters.opensearch.mapping import Engine, IndexLayout, SpaceType, VectorSpec
from rekognito.adapters.opensearch.tokens import TokensPart
from rekognito.adapters.opensearch.transport import BULK_THREADS, Transport, build_client
from rekognito.adapters.opensearch.users import UsersPart
from rekognito.domain import Collection, Embedding, FaceMatchCandidate, StoredFace, User
from rekognito.settings import Settings

DEFAULTS = VectorSpec()


class OpenSearchFaceStore:
    """:class:`rekognito.ports.FaceStore` on OpenSearch's k-NN plugin."""

    backend_name = "opensearch"

    def __init__(
        self,
        client: OpenSearch,
        *,
        index_prefix: str = "rekognito",
        engine: Engine = DEFAULTS.engine,
        space_type: SpaceType = DEFAULTS.space_type,
        ef_search: int = DEFAULTS.ef_search,
        ef_construction: int = DEFAULTS.ef_construction,
        m: int = DEFAULTS.m,
        rescore: bool = False,
        dimension: int = DEFAULTS.dimension,
        number_of_replicas: int | None = None,
        number_of_shards: int | None = None,
        bulk_threads: int = BULK_THREADS,
    ) -> None:
        self.layout = IndexLayout.for_prefix(index_prefix)
        self.spec = VectorSpec(
            engine=engine,
            space_type=space_type,
            dimension=dimension,
            m=m,
            ef_construction=ef_construction,
            ef_search=ef_search,
            number_of_replicas=number_of_replicas,
            number_of_shards=number_of_shards,
        )
        self.transport = Transport(client, bulk_threads=bulk_threads)
        self.collections = CollectionsPart(self.transport, self.layout, self.spec)
        self.faces = FacesPart(self.transport, self.layout, self.spec, self.collections, rescore=rescore)
        self.users = UsersPart(self.transport, self.layout, self.collections, self.faces)
        self.tokens = TokensPart(self.transport, self.layout, self.collections)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, timeout_s: float = 10.0, max_retries: int = 3
    ) -> OpenSearchFaceStore:
        client = build_client(settings, timeout_s=timeout_s, max_retries=max_retries)
        return cls(
            client,
            index_prefix=settings.opensearch_index_prefix,
            engine=settings.opensearch_engine,
            ef_search=settings.opensearch_ef_search,
            ef_construction=settings.opensearch_ef_construction,
            rescore=settings.opensearch_rescore,
            number_of_replicas=settings.opensearch_replicas,
        )

    # -- configuration, for callers and tests ------------------------------------------------

    @property
    def _client(self) -> OpenSearch:
        return self.transport.client

    @property
    def index_prefix(self) -> str:
        return self.layout.prefix

    @property
    def meta_index(self) -> str:
        return self.layout.meta_index

    @property
    def engine(self) -> Engine:
        return self.spec.engine

    @property
    def ef_search(self) -> int:
        return self.spec.ef_search

    @property
    def rescore(self) -> bool:
        return self.faces.rescore

    @property
    def dimension(self) -> int:
        return self.spec.dimension

    def face_index(self, collection_id: str) -> str:
        return self.layout.face_index(collection_id)

    # -- collections --------------------------------------------------------------------------

    def create_collection(self, collection: Collection) -> None:
        self.faces.forget_index(self.layout.face_index(collection.collection_id))
        self.collections.create(collection)

    def get_collection(self, collection_id: str) -> Collection:
        return self.collections.get(collection_id)

    def list_collections(self) -> list[Collection]:
        return self.collections.list_all()

    def update_collection(self, collection: Collection) -> None:
        self.collections.update(collection)

    def delete_collection(self, collection_id: str) -> None:
        self.collections.delete(collection_id)
        self.faces.forget_index(self.layout.face_index(collection_id))

    def count_faces(self, collection_id: str) -> int:
        return self.collections.count_faces(collection_id)

    # -- faces --------------------------------------------------------------------------------

    def put_faces(self, collection_id: str, faces: Sequence[StoredFace]) -> None:
        self.faces.put(collection_id, faces)

    def bulk_load(
        self, collection_id: str, *, refresh_interval: str = "-1", merge_to_segments: int | None = None
    ) -> AbstractContextManager[None]:
        """See :meth:`FacesPart.bulk_load`: one refresh for a large load instead of one per call."""
        return self.faces.bulk_load(
            collection_id, refresh_interval=refresh_interval, merge_to_segments=merge_to_segments
        )

    def get_faces(self, collection_id: str, face_ids: Iterable[str]) -> list[StoredFace]:
        return self.faces.get(collection_id, face_ids)

    def list_faces(
        self,
        collection_id: str,
        *,
        after: str | None = None,
        limit: int = 1000,
        face_ids: Sequence[str] | None = None,
        user_id: str | None = None,
    ) -> list[StoredFace]:
        return self.faces.list_page(
            collection_id, after=after, limit=limit, face_ids=face_ids, user_id=user_id
        )

    def delete_faces(self, collection_id: str, face_ids: Iterable[str]) -> list[str]:
        return self.faces.delete(collection_id, face_ids)

    def find_faces_by_source(self, collection_id: str, source_prefix: str) -> list[StoredFace]:
        return self.faces.find_by_source(collection_id, source_prefix)

    def find_faces_created_before(self, collection_id: str, created_before: float) -> list[str]:
        return self.faces.find_created_before(collection_id, created_before)

    def search(
        self,
        collection_id: str,
        query: Embedding,
        *,
        limit: int,
        min_cosine: float,
        exclude_face_ids: Iterable[str] = (),
    ) -> list[FaceMatchCandidate]:
        return self.faces.search(
            collection_id, query, limit=limit, min_cosine=min_cosine, exclude_face_ids=exclude_face_ids
        )

    # -- users --------------------------------------------------------------------------------

    def create_user(self, user: User) -> None:
        self.users.create(user)

    def get_user(self, collection_id: str, user_id: str) -> User | None:
        return self.users.get(collection_id, user_id)

    def list_users(self, collection_id: str, *, after: str | None = None, limit: int = 500) -> list[User]:
        return self.users.list_page(collection_id, after=after, limit=limit)

    def delete_user(self, collection_id: str, user_id: str) -> None:
        self.users.delete(collection_id, user_id)

    def count_users(self, collection_id: str) -> int:
        return self.users.count(collection_id)

    def set_faces_user(self, collection_id: str, face_ids: Sequence[str], user_id: str | None) -> None:
        self.users.set_faces(collection_id, face_ids, user_id)

    # -- idempotency tokens -------------------------------------------------------------------

    def get_request_token(self, operation: str, token: str, now: float) -> tuple[str, str] | None:
        return self.tokens.get(operation, token, now)

    def put_request_token(
        self, operation: str, token: str, fingerprint: str, response_json: str, expires_at: float, now: float
    ) -> tuple[str, str] | None:
        return self.tokens.put(operation, token, fingerprint, response_json, expires_at, now)

    def close(self) -> None:
        self.transport.close()
