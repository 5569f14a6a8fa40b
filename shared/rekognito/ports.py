"""Ports: the interfaces the operations need from the outside world.

The operations, the ingestion and the video worker reach everything through these; the
service container (``rekognito.services``, the composition root) chooses what implements
each one, and only the entry points (``functions/``, ``rekognito.commands``,
``rekognito.testing``, the local serving of ``rekognito serve``, the protocol handlers)
import it. :class:`Runtime` is what everything below them sees of it.

* storage: :class:`FaceStore` (the embedded SQLite/numpy store and the OpenSearch k-NN
  store implement it; both are checked by the contract tests in ``tests/contract``) and
  :class:`ObjectReader` (``S3Object`` images);
* models: :class:`FaceModel`, :class:`LabelModel`, :class:`TextModel` and
  :class:`ModerationModel` (``rekognito.inference``);
* who may do what: :class:`Authenticator`, :class:`Authorizer`, :class:`AuditSink`
  (``rekognito.security``);
* stored video: :class:`VideoJobStore`, :class:`WorkQueue`, :class:`VideoSource`,
  :class:`Notifier` (``rekognito.video``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rekognito.domain import Collection, Embedding, FaceMatchCandidate, StoredFace, User
from rekognito.identity import Principal, RequestInfo
from rekognito.settings import Settings

if TYPE_CHECKING:
    from PIL import Image

    from rekognito.inference.labels import LabelResult
    from rekognito.inference.moderation import ModerationResult
    from rekognito.inference.pipeline import AnalyzedFace
    from rekognito.inference.text import TextLine
    from rekognito.video.jobs import Job, Work


class FaceStore(Protocol):
    """Persistent collections, faces and users.

    Contract (checked by ``tests/contract/test_face_store.py``):

    * Collection ids are unique; ``create_collection`` raises
      ``ResourceAlreadyExistsException`` for an existing one, and every method that takes a
      collection id raises ``ResourceNotFoundException`` for an unknown one.
    * ``put_faces`` is atomic (all faces or none) and idempotent by ``face_id``: putting a
      face id again replaces that face. A face is searchable as soon as it returns.
    * ``search`` is exact or has a documented miss rate; it returns at most ``limit``
      candidates with cosine >= ``min_cosine``, best first, excluding ``exclude_face_ids``.
    * Deleting removes vectors and metadata for good; nothing of a deleted face can be
      read back by any method.
    """

    backend_name: str

    # Collections
    def create_collection(self, collection: Collection) -> None: ...
    def get_collection(self, collection_id: str) -> Collection: ...
    def list_collections(self) -> list[Collection]: ...
    def delete_collection(self, collection_id: str) -> None: ...
    def update_collection(self, collection: Collection) -> None: ...
    def count_faces(self, collection_id: str) -> int: ...

    # Faces
    def put_faces(self, collection_id: str, faces: Sequence[StoredFace]) -> None: ...
    def get_faces(self, collection_id: str, face_ids: Iterable[str]) -> list[StoredFace]: ...
    def list_faces(
        self,
        collection_id: str,
        *,
        after: str | None = None,
        limit: int = 1000,
        face_ids: Sequence[str] | None = None,
        user_id: str | None = None,
    ) -> list[StoredFace]:
        """Faces ordered by face id, starting after ``after``."""
        ...

    def delete_faces(self, collection_id: str, face_ids: Iterable[str]) -> list[str]:
        """Delete and return the ids that existed."""
        ...

    def find_faces_by_source(self, collection_id: str, source_prefix: str) -> list[StoredFace]: ...
    def find_faces_created_before(self, collection_id: str, created_before: float) -> list[str]: ...
    def search(
        self,
        collection_id: str,
        query: Embedding,
        *,
        limit: int,
        min_cosine: float,
        exclude_face_ids: Iterable[str] = (),
    ) -> list[FaceMatchCandidate]: ...

    # Users
    def create_user(self, user: User) -> None: ...
    def get_user(self, collection_id: str, user_id: str) -> User | None: ...
    def list_users(self, collection_id: str, *, after: str | None = None, limit: int = 500) -> list[User]: ...
    def delete_user(self, collection_id: str, user_id: str) -> None:
        """Delete the user and disassociate all its faces."""
        ...

    def count_users(self, collection_id: str) -> int: ...
    def set_faces_user(self, collection_id: str, face_ids: Sequence[str], user_id: str | None) -> None: ...

    # Idempotency tokens (ClientRequestToken of CreateUser, DeleteUser, AssociateFaces,
    # DisassociateFaces), keyed by (operation, token), not by collection.
    def get_request_token(self, operation: str, token: str, now: float) -> tuple[str, str] | None:
        """The ``(fingerprint, response JSON)`` stored for the token, unless it expired by ``now``."""
        ...

    def put_request_token(
        self, operation: str, token: str, fingerprint: str, response_json: str, expires_at: float, now: float
    ) -> tuple[str, str] | None:
        """Store the record unless a live one exists for the token; return that live one if so.

        Records with ``expires_at <= now`` count as absent and may be purged.
        """
        ...

    def close(self) -> None: ...


class ObjectReader(Protocol):
    """Reads image bytes from S3 (or a local S3) for ``S3Object`` images."""

    def read_object(self, bucket: str, key: str, version: str | None, max_bytes: int) -> bytes: ...


# -- models ---------------------------------------------------------------------------------


class FaceModel(Protocol):
    """Face detection, analysis and embeddings (``rekognito.inference.pipeline.FaceAnalyzer``)."""

    @property
    def model_version(self) -> str: ...

    def analyze(
        self,
        image: Image.Image,
        *,
        embed: bool,
        limit: int | None = None,
        largest_only: bool = False,
        attributes: frozenset[str] = frozenset(),
    ) -> list[AnalyzedFace]:
        """Faces in an RGB image, largest first; with embeddings if ``embed``."""
        ...

    def embed(self, face: AnalyzedFace) -> Embedding: ...


class LabelModel(Protocol):
    """Objects and scenes (``rekognito.inference.labels.LabelDetector``)."""

    def detect(self, image: Image.Image) -> list[LabelResult]: ...


class TextModel(Protocol):
    """Lines and words of text (``rekognito.inference.text.TextReader``)."""

    def read(self, image: Image.Image) -> list[TextLine]: ...


class ModerationModel(Protocol):
    """Unsafe content (``rekognito.inference.moderation.NsfwClassifier``)."""

    def moderate(self, image: Image.Image, min_confidence: float) -> list[ModerationResult]: ...


# -- who may do what ------------------------------------------------------------------------


class Authenticator(Protocol):
    def authenticate(self, event: dict[str, Any], body: bytes) -> Principal | None:
        """The caller of an API Gateway event, or raise a Rekognition auth error."""
        ...


class Authorizer(Protocol):
    def authorize(self, ctx: RequestInfo, params: dict[str, Any]) -> None:
        """Raise ``AccessDeniedException`` unless the caller may run this request."""
        ...

    def authorize_object_read(self, ctx: RequestInfo, bucket: str, key: str) -> None:
        """Raise ``InvalidS3ObjectException`` unless the server may read this object for the caller."""
        ...


class Security(Authenticator, Authorizer, Protocol):
    """What the protocol asks of the security components: who calls, and may they."""


class AuditSink(Protocol):
    """The audit trail (``rekognito.security.audit``)."""

    def record(
        self, ctx: RequestInfo, params: dict[str, Any], result: dict[str, Any] | None, error: str | None
    ) -> None:
        """One entry per request (or per change made outside one), after it ran."""
        ...

    def append(self, fields: Mapping[str, Any]) -> object:
        """Append one entry as given (write-ahead entries); raise if it is not durable."""
        ...


# -- stored video ---------------------------------------------------------------------------


class VideoJobStore(Protocol):
    """What the video operations and the worker need from a job store (SQLite or DynamoDB)."""

    deferred_notifications: bool

    def create(
        self,
        *,
        job_id: str,
        api: str,
        owner: str,
        collection_id: str | None,
        params: dict[str, Any],
        fingerprint: str,
        client_token: str | None,
        max_in_flight: int,
        now: float,
    ) -> Job | None: ...
    def get(self, job_id: str, now: float | None = None) -> Job | None: ...
    def result(self, job_id: str) -> Any: ...
    def delete_for_collection(self, collection_id: str, api: str) -> list[str]: ...
    def purge_expired(self, now: float) -> list[str]: ...
    def claim(self, worker: str, now: float, lease_s: float) -> Work | None: ...
    def lease(
        self, job_id: str, kind: str, index: int | None, worker: str, now: float, lease_s: float
    ) -> Work | None: ...
    def renew(self, work: Work, worker: str, until: float) -> bool: ...
    def planned(
        self, work: Work, worker: str, video: dict[str, Any], bounds: list[tuple[int, int]], now: float
    ) -> bool: ...
    def segment_done(self, work: Work, worker: str, result: Any) -> bool: ...
    def all_segments_done(self, job_id: str) -> bool: ...
    def segment_results(self, job_id: str) -> list[Any]: ...
    def succeed(self, work: Work, worker: str, result: Any, now: float) -> bool: ...
    def fail(self, job_id: str, message: str, now: float) -> bool: ...
    def unnotified(self) -> list[Job]: ...
    def mark_notified(self, job_id: str) -> None: ...
    def close(self) -> None: ...


class WorkQueue(Protocol):
    """Where the pieces of a video job are announced (``rekognito.video.queue``)."""

    announces: bool

    def submit(self, job_id: str, kind: str, index: int | None = None) -> None: ...


class VideoSource(Protocol):
    """The video object of a job (``rekognito.video.source.S3VideoSource``)."""

    def size(self, bucket: str, key: str, version: str | None, max_bytes: int) -> int:
        """The object's size; InvalidS3ObjectException if unreadable, VideoTooLarge if over."""
        ...

    def download(self, bucket: str, key: str, version: str | None, dest: Path, max_bytes: int) -> int:
        """Stream the object into ``dest`` (created 0600); returns its size."""
        ...


class Notifier(Protocol):
    """Publishes a job's completion message (``rekognito.video.notify.SnsNotifier``)."""

    def publish(self, topic_arn: str, message: dict[str, Any]) -> None: ...


# -- all of it ------------------------------------------------------------------------------


class Runtime(Protocol):
    """What operations, ingestion and the video worker reach through the service container.

    ``rekognito.services.Services`` is the one implementation (tests may pass another).
    """

    @property
    def settings(self) -> Settings: ...
    @property
    def store(self) -> FaceStore: ...
    @property
    def object_reader(self) -> ObjectReader: ...
    @property
    def face_analyzer(self) -> FaceModel: ...
    @property
    def label_detector(self) -> LabelModel: ...
    @property
    def text_reader(self) -> TextModel: ...
    @property
    def moderation_classifier(self) -> ModerationModel: ...
    @property
    def security(self) -> Security: ...
    @property
    def audit(self) -> AuditSink: ...
    @property
    def video_jobs(self) -> VideoJobStore: ...
    @property
    def video_queue(self) -> WorkQueue: ...
    @property
    def video_source(self) -> VideoSource: ...
    @property
    def video_notifier(self) -> Notifier: ...
