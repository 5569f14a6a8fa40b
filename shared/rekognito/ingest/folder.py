"""Bulk import of a local folder of photos (``rekognito import``), in-process and resumable.

Each image gets deterministic face ids from its path relative to the folder and the sha256
of its content, and ``source=file://<absolute path>``: importing again skips the images whose
content is unchanged and replaces the faces of those that changed. The walk is streamed and
at most ``2 x workers`` images are in memory at once.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rekognito.images import INDEXING_MIN_SIDE, MAX_S3_IMAGE_BYTES, decode_image
from rekognito.ingest.indexing import index_revision, record_face_changes, revision_namespace
from rekognito.ingest.keys import external_image_id_for, has_image_extension, strip_extension
from rekognito.ports import Runtime

ExternalIdFrom = Literal["name", "path"]
MAX_REPORTED_FAILURES = 10_000


def iter_images(root: Path) -> Iterator[Path]:
    """Image files under ``root`` (.jpg/.jpeg/.png, any case), in a stable order, lazily."""
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and has_image_extension(name):
                yield Path(directory) / name


def count_images(root: Path) -> int:
    return sum(1 for _ in iter_images(root))


def external_id(relative: str, mode: ExternalIdFrom) -> str:
    name = relative if mode == "path" else relative.rsplit("/", 1)[-1]
    return external_image_id_for(strip_extension(name))


@dataclass
class ImportSummary:
    collection_id: str
    root: str
    total: int = 0
    seen: int = 0
    indexed_images: int = 0
    faces_indexed: int = 0
    faces_replaced: int = 0
    skipped_unchanged: int = 0
    no_face: int = 0
    failed: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    elapsed_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "collection_id": self.collection_id,
            "root": self.root,
            "images": self.seen,
            "indexed_images": self.indexed_images,
            "faces_indexed": self.faces_indexed,
            "faces_replaced": self.faces_replaced,
            "skipped_unchanged": self.skipped_unchanged,
            "no_face": self.no_face,
            "failed": self.failed,
            "failures": self.failures,
            "elapsed_s": round(self.elapsed_s, 3),
        }


@dataclass(frozen=True)
class _Done:
    relative: str
    outcome: Literal["indexed", "unchanged", "no-face", "failed"]
    faces: int = 0
    replaced: int = 0
    reason: str = ""


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def import_one(services: Runtime, collection_id: str, root: Path, path: Path, mode: ExternalIdFrom) -> _Done:
    relative = path.relative_to(root).as_posix()
    try:
        data = path.read_bytes() if path.stat().st_size <= MAX_S3_IMAGE_BYTES else None
        if data is None:
            return _Done(
                relative, "failed", reason=f"ImageTooLargeException: over {MAX_S3_IMAGE_BYTES} bytes"
            )
        digest = hashlib.sha256(data).hexdigest()
        max_pixels = services.settings.max_image_pixels
        result = index_revision(
            services,
            collection_id,
            source=f"file://{path}",
            namespace=revision_namespace(f"{relative}#{digest}"),
            external_image_id=external_id(relative, mode),
            load=lambda: decode_image(
                data, max_pixels=max_pixels, max_bytes=MAX_S3_IMAGE_BYTES, min_side=INDEXING_MIN_SIDE
            ),
        )
    except Exception as exc:  # one bad file must not stop the import
        code = getattr(exc, "code", None) or type(exc).__name__
        return _Done(relative, "failed", reason=f"{code}: {exc}")
    record_face_changes(
        services,
        operation="ImportIndexFaces",
        principal=f"cli:{_user()}",
        request_id=f"import:{digest[:16]}",
        collection_id=collection_id,
        indexed=result.indexed_face_ids,
        removed=result.removed_face_ids,
    )
    if result.already_indexed:
        return _Done(relative, "unchanged", replaced=result.faces_removed)
    if result.faces_indexed == 0:
        return _Done(relative, "no-face", replaced=result.faces_removed)
    return _Done(relative, "indexed", result.faces_indexed, result.faces_removed)


def _record(summary: ImportSummary, done: _Done) -> None:
    summary.seen += 1
    summary.faces_replaced += done.replaced
    if done.outcome == "indexed":
        summary.indexed_images += 1
        summary.faces_indexed += done.faces
    elif done.outcome == "unchanged":
        summary.skipped_unchanged += 1
    elif done.outcome == "no-face":
        summary.no_face += 1
    else:
        summary.failed += 1
        if len(summary.failures) < MAX_REPORTED_FAILURES:
            summary.failures.append({"path": done.relative, "reason": done.reason})


def import_folder(
    services: Runtime,
    collection_id: str,
    root: Path,
    *,
    external_id_from: ExternalIdFrom = "name",
    workers: int = 1,
    progress: Callable[[ImportSummary], None] | None = None,
) -> ImportSummary:
    """Index every image under ``root`` into ``collection_id`` (which must exist).

    Faces get ``source=file://<absolute path>`` (``root`` resolved, files as walked).
    """
    root = root.resolve()
    services.store.get_collection(collection_id)
    summary = ImportSummary(collection_id=collection_id, root=str(root), total=count_images(root))
    started = time.perf_counter()
    lock = threading.Lock()

    def finished(done: _Done) -> None:
        with lock:
            _record(summary, done)
            summary.elapsed_s = time.perf_counter() - started
            if progress is not None:
                progress(summary)

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="rekognito-import") as pool:
        pending: set[Future[_Done]] = set()
        for path in iter_images(root):
            if len(pending) >= 2 * max(1, workers):
                completed, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in completed:
                    finished(future.result())
            pending.add(pool.submit(import_one, services, collection_id, root, path, external_id_from))
        for future in as_completed(pending):
            finished(future.result())
    summary.elapsed_s = time.perf_counter() - started
    return summary
