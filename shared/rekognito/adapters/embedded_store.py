"""The embedded face store: SQLite for records, compact in-memory vectors for search.

* Durability: every write is one SQLite transaction (WAL, ``synchronous=FULL``), so a crash
  in the middle of IndexFaces leaves either all of its faces or none.
* Real deletion: ``secure_delete`` overwrites freed pages and the WAL is checkpointed and
  truncated after deletions, so a deleted face's vector is not left in the files.
* Search: exact cosine (inner product of L2-normalised vectors). Each collection's vectors
  are held in memory as int8 rows (a quarter of float32); an int8 scan finds the candidates
  and the float32 rows in SQLite rescore them, with a bound that makes the result exactly
  that of a float32 scan (``rekognito.adapters.embedded_vectors``). Optionally
  (``index="hnsw"``) an HNSW graph replaces the scan for very large collections, at a
  measured miss rate. The in-memory vectors are rebuilt from SQLite when another process
  changed the collection (each collection carries a generation number bumped by every write).
* Retention on read: a face older than its collection's ``retention_days`` is not returned
  by any read (get, list, count, search), even before the purge deletes it.
* Files: the data directory is created 0700 and ``faces.sqlite3`` 0600 before SQLite opens
  it (SQLite gives ``-wal`` and ``-shm`` the database file's mode), whatever the umask.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rekognito.adapters.embedded_vectors import (
    HnswGraph,
    QuantizedMatrix,
    exact_search,
    graph_search,
    stack_rows,
)
from rekognito.api._generated import ResourceAlreadyExistsException, ResourceNotFoundException
from rekognito.domain import BoundingBox, Collection, Embedding, FaceMatchCandidate, StoredFace, User
from rekognito.policy import retention_cutoff

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (
    collection_id TEXT PRIMARY KEY,
    arn TEXT NOT NULL,
    face_model_version TEXT NOT NULL,
    created_at REAL NOT NULL,
    tags TEXT NOT NULL DEFAULT '{}',
    policy TEXT NOT NULL DEFAULT '{}',
    generation INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS faces (
    collection_id TEXT NOT NULL,
    face_id TEXT NOT NULL,
    image_id TEXT NOT NULL,
    external_image_id TEXT,
    user_id TEXT,
    source TEXT,
    confidence REAL NOT NULL,
    bounding_box TEXT NOT NULL,
    face_detail TEXT NOT NULL,
    created_at REAL NOT NULL,
    embedding BLOB NOT NULL,
    PRIMARY KEY (collection_id, face_id)
);
CREATE INDEX IF NOT EXISTS faces_source ON faces (collection_id, source);
CREATE INDEX IF NOT EXISTS faces_user ON faces (collection_id, user_id);
CREATE INDEX IF NOT EXISTS faces_created ON faces (collection_id, created_at);
CREATE TABLE IF NOT EXISTS users (
    collection_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (collection_id, user_id)
);
CREATE TABLE IF NOT EXISTS request_tokens (
    operation TEXT NOT NULL,
    token TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    response TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (operation, token)
);
CREATE INDEX IF NOT EXISTS request_tokens_expiry ON request_tokens (expires_at);
"""

_FACE_COLUMNS = (
    "face_id, image_id, external_image_id, user_id, source, confidence, bounding_box, face_detail, "
    "created_at, embedding"
)


def _oldest(cutoff: float | None) -> float:
    """The smallest ``created_at`` a read may return."""
    return float("-inf") if cutoff is None else cutoff


def _not_found(collection_id: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"The collection id: {collection_id} does not exist")


class EmbeddedFaceStore:
    """A :class:`rekognito.ports.FaceStore` in one SQLite file under ``data_dir``."""

    backend_name = "embedded"

    def __init__(
        self, data_dir: Path, *, index: Literal["exact", "hnsw"] = "exact", hnsw_expansion: int = 256
    ) -> None:
        if index not in ("exact", "hnsw"):
            raise ValueError(f"index {index!r}: expected 'exact' or 'hnsw'")
        self.index_kind = index
        self.hnsw_expansion = hnsw_expansion
        self.graph_dir = data_dir / "hnsw"
        if not data_dir.is_dir():
            data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(data_dir, 0o700)
        self.path = data_dir / "faces.sqlite3"
        with contextlib.suppress(FileExistsError):
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)
        self._lock = threading.RLock()
        self._matrices: dict[str, QuantizedMatrix] = {}

    # -- plumbing -------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _generation(self, db: sqlite3.Connection, collection_id: str) -> int:
        row = db.execute(
            "SELECT generation FROM collections WHERE collection_id = ?", (collection_id,)
        ).fetchone()
        if row is None:
            raise _not_found(collection_id)
        return int(row[0])

    def _cutoff(self, db: sqlite3.Connection, collection_id: str) -> float | None:
        """Faces created before this are past the collection's retention (raises if unknown)."""
        row = db.execute(
            "SELECT policy FROM collections WHERE collection_id = ?", (collection_id,)
        ).fetchone()
        if row is None:
            raise _not_found(collection_id)
        try:
            policy = json.loads(row[0])
        except ValueError:
            return None
        return retention_cutoff(policy, time.time()) if isinstance(policy, dict) else None

    def _bump(self, db: sqlite3.Connection, collection_id: str) -> int:
        db.execute(
            "UPDATE collections SET generation = generation + 1 WHERE collection_id = ?", (collection_id,)
        )
        return self._generation(db, collection_id)

    def _face(self, collection_id: str, row: tuple[Any, ...]) -> StoredFace:
        return StoredFace(
            face_id=row[0],
            collection_id=collection_id,
            image_id=row[1],
            external_image_id=row[2],
            user_id=row[3],
            source=row[4],
            confidence=float(row[5]),
            bounding_box=BoundingBox.from_api(json.loads(row[6])),
            face_detail=json.loads(row[7]),
            created_at=float(row[8]),
            embedding=np.frombuffer(row[9], dtype=np.float32).copy(),
        )

    def _matrix(self, collection_id: str) -> QuantizedMatrix:
        """The collection's in-memory vectors, reloaded if another process changed it."""
        with self._lock:
            generation = self._generation(self._db, collection_id)
            cached = self._matrices.get(collection_id)
            if cached is not None and cached.generation == generation:
                return cached
            count = int(
                self._db.execute(
                    "SELECT COUNT(*) FROM faces WHERE collection_id = ?", (collection_id,)
                ).fetchone()[0]
            )
            cursor = self._db.execute(
                "SELECT face_id, embedding FROM faces WHERE collection_id = ? ORDER BY face_id",
                (collection_id,),
            )
            matrix: QuantizedMatrix | None = None
            while rows := cursor.fetchmany(10_000):
                vectors = np.frombuffer(b"".join(row[1] for row in rows), dtype=np.float32).reshape(
                    len(rows), -1
                )
                if matrix is None:
                    matrix = QuantizedMatrix.empty(generation, vectors.shape[1], max(64, count))
                matrix.upsert([row[0] for row in rows], vectors)
            if matrix is None:
                matrix = QuantizedMatrix.empty(generation, 512)
            if self.index_kind == "hnsw":
                matrix.graph = self._graph(collection_id, matrix)
            self._matrices[collection_id] = matrix
            log.debug(
                "face vectors loaded",
                extra={"collection_id": collection_id, "faces": matrix.count, "bytes": matrix.nbytes},
            )
            return matrix

    def _update_loaded(
        self, collection_id: str, generation: int, change: Callable[[QuantizedMatrix], None]
    ) -> None:
        """Apply a committed write to the loaded vectors, or drop them if they are stale.

        Writes never load a collection's vectors (a writer process that does not search,
        like an import worker, would otherwise reload them after every other writer's commit).
        """
        matrix = self._matrices.get(collection_id)
        if matrix is None:
            return
        with matrix.lock:
            if matrix.generation == generation - 1:
                change(matrix)
                matrix.generation = generation
                return
        self._matrices.pop(collection_id, None)

    def _check_dimension(self, db: sqlite3.Connection, collection_id: str, dimension: int) -> None:
        row = db.execute(
            "SELECT length(embedding) FROM faces WHERE collection_id = ? LIMIT 1", (collection_id,)
        ).fetchone()
        if row is not None and int(row[0]) != 4 * dimension:
            raise ValueError(
                f"embedding dimension {dimension} differs from the collection's {int(row[0]) // 4}"
            )

    def _graph_path(self, collection_id: str) -> Path:
        return self.graph_dir / f"{hashlib.sha256(collection_id.encode()).hexdigest()[:32]}.usearch"

    def _graph(self, collection_id: str, matrix: QuantizedMatrix) -> HnswGraph:
        """The saved graph if it matches the collection's generation, else one built now."""
        saved = HnswGraph.load(self._graph_path(collection_id), matrix.dimension, matrix.generation)
        if saved is not None and len(saved) == matrix.count:
            return saved
        graph = HnswGraph(matrix.dimension)
        for start in range(0, matrix.count, 10_000):
            graph.upsert(
                matrix.ids[start : start + 10_000], matrix.codes[start : min(matrix.count, start + 10_000)]
            )
        log.info("hnsw graph built", extra={"collection_id": collection_id, "faces": matrix.count})
        return graph

    def save_graphs(self) -> None:
        """Write every loaded HNSW graph with its generation (done on close)."""
        with self._lock:
            for collection_id, matrix in self._matrices.items():
                with matrix.lock:
                    if matrix.graph is not None:
                        matrix.graph.save(self._graph_path(collection_id), matrix.generation)

    def _checkpoint(self) -> None:
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- collections ----------------------------------------------------------------------

    def create_collection(self, collection: Collection) -> None:
        with self._transaction() as db:
            exists = db.execute(
                "SELECT 1 FROM collections WHERE collection_id = ?", (collection.collection_id,)
            ).fetchone()
            if exists:
                raise ResourceAlreadyExistsException(
                    f"The collection id: {collection.collection_id} already exists"
                )
            db.execute(
                "INSERT INTO collections (collection_id, arn, face_model_version, created_at, tags, policy) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    collection.collection_id,
                    collection.arn,
                    collection.face_model_version,
                    collection.created_at,
                    json.dumps(collection.tags),
                    json.dumps(collection.policy),
                ),
            )

    def _collection(self, row: tuple[Any, ...]) -> Collection:
        return Collection(
            collection_id=row[0],
            arn=row[1],
            face_model_version=row[2],
            created_at=float(row[3]),
            tags=json.loads(row[4]),
            policy=json.loads(row[5]),
        )

    def get_collection(self, collection_id: str) -> Collection:
        rows = self._query(
            "SELECT collection_id, arn, face_model_version, created_at, tags, policy FROM collections "
            "WHERE collection_id = ?",
            (collection_id,),
        )
        if not rows:
            raise _not_found(collection_id)
        return self._collection(rows[0])

    def list_collections(self) -> list[Collection]:
        rows = self._query(
            "SELECT collection_id, arn, face_model_version, created_at, tags, policy FROM collections "
            "ORDER BY collection_id"
        )
        return [self._collection(row) for row in rows]

    def update_collection(self, collection: Collection) -> None:
        with self._transaction() as db:
            self._generation(db, collection.collection_id)
            db.execute(
                "UPDATE collections SET tags = ?, policy = ? WHERE collection_id = ?",
                (json.dumps(collection.tags), json.dumps(collection.policy), collection.collection_id),
            )

    def delete_collection(self, collection_id: str) -> None:
        with self._transaction() as db:
            self._generation(db, collection_id)
            db.execute("DELETE FROM faces WHERE collection_id = ?", (collection_id,))
            db.execute("DELETE FROM users WHERE collection_id = ?", (collection_id,))
            db.execute("DELETE FROM collections WHERE collection_id = ?", (collection_id,))
            self._matrices.pop(collection_id, None)
            HnswGraph.discard(self._graph_path(collection_id))
        self._checkpoint()

    def count_faces(self, collection_id: str) -> int:
        with self._lock:
            cutoff = self._cutoff(self._db, collection_id)
            return int(
                self._db.execute(
                    "SELECT COUNT(*) FROM faces WHERE collection_id = ? AND created_at >= ?",
                    (collection_id, _oldest(cutoff)),
                ).fetchone()[0]
            )

    # -- faces ----------------------------------------------------------------------------

    def put_faces(self, collection_id: str, faces: Sequence[StoredFace]) -> None:
        if not faces:
            self.get_collection(collection_id)
            return
        latest = {face.face_id: face for face in faces}
        vectors = stack_rows([face.embedding for face in latest.values()])
        with self._transaction() as db:
            self._generation(db, collection_id)
            self._check_dimension(db, collection_id, vectors.shape[1])
            db.executemany(
                f"INSERT OR REPLACE INTO faces (collection_id, {_FACE_COLUMNS}) "  # noqa: S608
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        collection_id,
                        face.face_id,
                        face.image_id,
                        face.external_image_id,
                        face.user_id,
                        face.source,
                        face.confidence,
                        json.dumps(face.bounding_box.to_api()),
                        json.dumps(face.face_detail),
                        face.created_at,
                        np.ascontiguousarray(face.embedding, dtype=np.float32).tobytes(),
                    )
                    for face in faces
                ],
            )
            generation = self._bump(db, collection_id)
            self._update_loaded(collection_id, generation, lambda m: m.upsert(list(latest), vectors))

    def get_faces(self, collection_id: str, face_ids: Iterable[str]) -> list[StoredFace]:
        wanted = list(dict.fromkeys(face_ids))
        found: list[StoredFace] = []
        with self._lock:
            oldest = _oldest(self._cutoff(self._db, collection_id))
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    # "+created_at": keep SQLite on the primary key; with the created_at index it
                    # scanned the whole collection (200+ ms per call at 100k faces).
                    f"SELECT {_FACE_COLUMNS} FROM faces WHERE collection_id = ? AND +created_at >= ? "  # noqa: S608
                    f"AND face_id IN ({marks})",
                    (collection_id, oldest, *chunk),
                ).fetchall()
                found.extend(self._face(collection_id, row) for row in rows)
        order = {face_id: i for i, face_id in enumerate(wanted)}
        return sorted(found, key=lambda face: order[face.face_id])

    def list_faces(
        self,
        collection_id: str,
        *,
        after: str | None = None,
        limit: int = 1000,
        face_ids: Sequence[str] | None = None,
        user_id: str | None = None,
    ) -> list[StoredFace]:
        sql = f"SELECT {_FACE_COLUMNS} FROM faces WHERE collection_id = ?"  # noqa: S608
        args: list[Any] = [collection_id]
        if after is not None:
            sql += " AND face_id > ?"
            args.append(after)
        if user_id is not None:
            sql += " AND user_id = ?"
            args.append(user_id)
        if face_ids is not None:
            if not face_ids:
                return []
            sql += f" AND face_id IN ({','.join('?' * len(face_ids))})"
            args.extend(face_ids)
        sql += " AND +created_at >= ? ORDER BY face_id LIMIT ?"  # "+": the primary key, not a sort
        with self._lock:
            cutoff = self._cutoff(self._db, collection_id)
            args.extend([_oldest(cutoff), limit])
            rows = self._db.execute(sql, args).fetchall()
        return [self._face(collection_id, row) for row in rows]

    def delete_faces(self, collection_id: str, face_ids: Iterable[str]) -> list[str]:
        wanted = list(dict.fromkeys(face_ids))
        deleted: list[str] = []
        with self._transaction() as db:
            self._generation(db, collection_id)
            for face_id in wanted:
                cursor = db.execute(
                    "DELETE FROM faces WHERE collection_id = ? AND face_id = ?", (collection_id, face_id)
                )
                if cursor.rowcount:
                    deleted.append(face_id)
            if deleted:
                generation = self._bump(db, collection_id)
                self._update_loaded(collection_id, generation, lambda m: m.remove(deleted))
                HnswGraph.discard(self._graph_path(collection_id))
        if deleted:
            self._checkpoint()
        return deleted

    def find_faces_by_source(self, collection_id: str, source_prefix: str) -> list[StoredFace]:
        escaped = source_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        with self._lock:
            self._generation(self._db, collection_id)
            rows = self._db.execute(
                f"SELECT {_FACE_COLUMNS} FROM faces WHERE collection_id = ? AND source LIKE ? ESCAPE '\\' "  # noqa: S608
                "ORDER BY face_id",
                (collection_id, escaped + "%"),
            ).fetchall()
        return [self._face(collection_id, row) for row in rows if str(row[4]).startswith(source_prefix)]

    def find_faces_created_before(self, collection_id: str, created_before: float) -> list[str]:
        with self._lock:
            self._generation(self._db, collection_id)
            rows = self._db.execute(
                "SELECT face_id FROM faces WHERE collection_id = ? AND created_at < ? ORDER BY face_id",
                (collection_id, created_before),
            ).fetchall()
        return [row[0] for row in rows]

    def search(
        self,
        collection_id: str,
        query: Embedding,
        *,
        limit: int,
        min_cosine: float,
        exclude_face_ids: Iterable[str] = (),
    ) -> list[FaceMatchCandidate]:
        matrix = self._matrix(collection_id)
        vector = np.asarray(query, dtype=np.float32).reshape(-1)
        with self._lock:
            oldest = _oldest(self._cutoff(self._db, collection_id))

        def exact(face_ids: list[str]) -> dict[str, float]:
            # Faces past retention are left out here, as if deleted: the search then takes
            # further candidates until its answer is complete.
            return self._exact_cosines(collection_id, face_ids, vector, oldest)

        if self.index_kind == "hnsw":
            ranked = graph_search(
                matrix,
                vector,
                limit=limit,
                min_cosine=min_cosine,
                excluded=set(exclude_face_ids),
                exact=exact,
                expansion=self.hnsw_expansion,
            )
        else:
            ranked = exact_search(
                matrix,
                vector,
                limit=limit,
                min_cosine=min_cosine,
                excluded=set(exclude_face_ids),
                exact=exact,
            )
        faces = {
            face.face_id: face for face in self.get_faces(collection_id, [face_id for _, face_id in ranked])
        }
        return [
            FaceMatchCandidate(face=faces[face_id], cosine=score)
            for score, face_id in ranked
            if face_id in faces
        ]

    def _exact_cosines(
        self, collection_id: str, face_ids: list[str], query: Embedding, oldest: float
    ) -> dict[str, float]:
        """Cosines with ``query`` of the stored float32 embeddings of the faces that still
        exist and were created at or after ``oldest``."""
        scores: dict[str, float] = {}
        for start in range(0, len(face_ids), 500):
            chunk = face_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._query(
                "SELECT face_id, embedding FROM faces WHERE collection_id = ? AND +created_at >= ? "  # noqa: S608
                f"AND face_id IN ({marks})",
                (collection_id, oldest, *chunk),
            )
            if not rows:
                continue
            vectors = np.frombuffer(b"".join(row[1] for row in rows), dtype=np.float32).reshape(len(rows), -1)
            if vectors.shape[1] != query.shape[0]:
                continue
            for (face_id, _), cosine in zip(rows, (vectors @ query).tolist(), strict=True):
                scores[face_id] = float(cosine)
        return scores

    # -- users ----------------------------------------------------------------------------

    def create_user(self, user: User) -> None:
        with self._transaction() as db:
            self._generation(db, user.collection_id)
            exists = db.execute(
                "SELECT 1 FROM users WHERE collection_id = ? AND user_id = ?",
                (user.collection_id, user.user_id),
            ).fetchone()
            if exists:
                raise ResourceAlreadyExistsException(f"The user id: {user.user_id} already exists")
            db.execute(
                "INSERT INTO users (collection_id, user_id, status, created_at) VALUES (?, ?, ?, ?)",
                (user.collection_id, user.user_id, user.status, user.created_at),
            )

    def get_user(self, collection_id: str, user_id: str) -> User | None:
        with self._lock:
            self._generation(self._db, collection_id)
            row = self._db.execute(
                "SELECT status, created_at FROM users WHERE collection_id = ? AND user_id = ?",
                (collection_id, user_id),
            ).fetchone()
        if row is None:
            return None
        return User(collection_id=collection_id, user_id=user_id, status=row[0], created_at=float(row[1]))

    def list_users(self, collection_id: str, *, after: str | None = None, limit: int = 500) -> list[User]:
        with self._lock:
            self._generation(self._db, collection_id)
            rows = self._db.execute(
                "SELECT user_id, status, created_at FROM users WHERE collection_id = ? AND user_id > ? "
                "ORDER BY user_id LIMIT ?",
                (collection_id, after or "", limit),
            ).fetchall()
        return [User(collection_id, row[0], row[1], float(row[2])) for row in rows]

    def delete_user(self, collection_id: str, user_id: str) -> None:
        with self._transaction() as db:
            self._generation(db, collection_id)
            db.execute(
                "UPDATE faces SET user_id = NULL WHERE collection_id = ? AND user_id = ?",
                (collection_id, user_id),
            )
            db.execute("DELETE FROM users WHERE collection_id = ? AND user_id = ?", (collection_id, user_id))

    def count_users(self, collection_id: str) -> int:
        with self._lock:
            self._generation(self._db, collection_id)
            return int(
                self._db.execute(
                    "SELECT COUNT(*) FROM users WHERE collection_id = ?", (collection_id,)
                ).fetchone()[0]
            )

    def set_faces_user(self, collection_id: str, face_ids: Sequence[str], user_id: str | None) -> None:
        with self._transaction() as db:
            self._generation(db, collection_id)
            db.executemany(
                "UPDATE faces SET user_id = ? WHERE collection_id = ? AND face_id = ?",
                [(user_id, collection_id, face_id) for face_id in face_ids],
            )

    # -- idempotency tokens ---------------------------------------------------------------

    def get_request_token(self, operation: str, token: str, now: float) -> tuple[str, str] | None:
        rows = self._query(
            "SELECT fingerprint, response FROM request_tokens "
            "WHERE operation = ? AND token = ? AND expires_at > ?",
            (operation, token, now),
        )
        return (rows[0][0], rows[0][1]) if rows else None

    def put_request_token(
        self, operation: str, token: str, fingerprint: str, response_json: str, expires_at: float, now: float
    ) -> tuple[str, str] | None:
        with self._transaction() as db:
            db.execute("DELETE FROM request_tokens WHERE expires_at <= ?", (now,))
            row = db.execute(
                "SELECT fingerprint, response FROM request_tokens WHERE operation = ? AND token = ?",
                (operation, token),
            ).fetchone()
            if row is not None:
                return (row[0], row[1])
            db.execute(
                "INSERT INTO request_tokens (operation, token, fingerprint, response, expires_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (operation, token, fingerprint, response_json, expires_at),
            )
        return None

    def close(self) -> None:
        if self.index_kind == "hnsw":
            self.save_graphs()
        with self._lock:
            self._db.close()
