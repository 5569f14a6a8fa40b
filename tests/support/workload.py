"""Client workloads that record what the server acknowledged, and the checks against the store.

A worker mixes IndexFaces, SearchFacesByImage, ListFaces and DeleteFaces on one collection,
keeps every FaceId the server acknowledged and every deletion it acknowledged, and per-op
latencies. :func:`verify_faces` then compares the collection, face by face, with
"acknowledged and not deleted". Used by ``bench/load.py``, ``bench/crash.py`` and their
small versions in ``tests/integration``.
"""

from __future__ import annotations

import io
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from PIL import Image, ImageOps

from tests.support.test_data import image_path

PHOTOS = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")
GROUP_PHOTO = "group6.jpg"
OPERATION_MIX = (("IndexFaces", 35), ("SearchFacesByImage", 25), ("ListFaces", 20), ("DeleteFaces", 20))


def jpeg(image: Image.Image, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def variant(name: str, index: int, width: int = 360) -> bytes:
    """A distinct, still recognisable version of a real photo: resized, cropped, flipped."""
    rng = random.Random(index)
    image = Image.open(image_path(name)).convert("RGB")
    scale = width / image.width * rng.uniform(0.85, 1.15)
    image = image.resize((max(64, round(image.width * scale)), max(64, round(image.height * scale))))
    dx, dy = round(image.width * rng.uniform(0, 0.06)), round(image.height * rng.uniform(0, 0.06))
    image = image.crop((dx, dy, image.width - dx // 2, image.height - dy // 2))
    if rng.random() < 0.5:
        image = ImageOps.mirror(image)
    return jpeg(image, quality=rng.randint(70, 92))


@cache
def photo_pool(size: int = 8) -> tuple[bytes, ...]:
    return tuple(variant(PHOTOS[i % len(PHOTOS)], i) for i in range(size))


@cache
def group_photo() -> bytes:
    return image_path(GROUP_PHOTO).read_bytes()


def make_client(
    url: str, *, max_attempts: int = 1, connect_timeout: float = 10, read_timeout: float = 120
) -> Any:
    return boto3.client(
        "rekognition",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(
            retries={"max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        ),
    )


def retrying_client(url: str, max_attempts: int = 12) -> Any:
    """A boto3 client that retries throttling (standard mode), as applications would."""
    return make_client(url, max_attempts=max_attempts)


def _no_retry_client(url: str) -> Any:
    return make_client(url, connect_timeout=5)


@dataclass
class WorkerResult:
    worker: int
    latencies: dict[str, list[float]] = field(default_factory=dict)
    acknowledged: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    errors: dict[str, int] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)  # 5xx, with the message
    retries: int = 0
    throttled_final: int = 0

    def count_error(self, operation: str, error: ClientError) -> None:
        code = error.response.get("Error", {}).get("Code", "?")
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        self.retries += int(error.response.get("ResponseMetadata", {}).get("RetryAttempts", 0))
        key = f"{operation}:{code}"
        self.errors[key] = self.errors.get(key, 0) + 1
        if code == "ThrottlingException":
            self.throttled_final += 1
        if status >= 500:
            self.server_errors.append(
                f"{operation}: HTTP {status} {code} {error.response['Error'].get('Message')}"
            )


def run_worker(
    url: str,
    collection_id: str,
    worker: int,
    *,
    seed: int,
    seconds: float | None = None,
    operations: int | None = None,
) -> WorkerResult:
    """Mix the four face operations until ``seconds`` pass or ``operations`` are done."""
    rng = random.Random(seed * 1000 + worker)
    client = retrying_client(url)
    result = WorkerResult(worker)
    photos = photo_pool()
    mine: list[str] = []
    names = [name for name, _ in OPERATION_MIX]
    weights = [weight for _, weight in OPERATION_MIX]
    deadline = time.monotonic() + seconds if seconds is not None else float("inf")
    done = 0
    while time.monotonic() < deadline and (operations is None or done < operations):
        operation = rng.choices(names, weights)[0]
        if operation == "DeleteFaces" and not mine:
            operation = "IndexFaces"
        started = time.perf_counter()
        try:
            if operation == "IndexFaces":
                response = client.index_faces(
                    CollectionId=collection_id,
                    Image={"Bytes": rng.choice(photos)},
                    ExternalImageId=f"w{worker}-{done}",
                    MaxFaces=1,
                )
                ids = [record["Face"]["FaceId"] for record in response["FaceRecords"]]
                result.acknowledged.update(ids)
                mine.extend(ids)
            elif operation == "SearchFacesByImage":
                response = client.search_faces_by_image(
                    CollectionId=collection_id, Image={"Bytes": rng.choice(photos)}, MaxFaces=5
                )
            elif operation == "ListFaces":
                response = client.list_faces(
                    CollectionId=collection_id, MaxResults=rng.choice([10, 100, 1000])
                )
            else:
                victims = rng.sample(mine, min(len(mine), rng.randint(1, 3)))
                response = client.delete_faces(CollectionId=collection_id, FaceIds=victims)
                gone = set(response["DeletedFaces"])
                result.deleted.update(gone)
                mine = [face for face in mine if face not in gone]
            result.retries += int(response["ResponseMetadata"].get("RetryAttempts", 0))
            result.latencies.setdefault(operation, []).append(time.perf_counter() - started)
        except ClientError as error:
            result.count_error(operation, error)
        done += 1
    return result


def all_faces(client: Any, collection_id: str, page_size: int = 1000) -> list[dict[str, Any]]:
    """Every face of the collection, following NextToken to the last page."""
    faces: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"CollectionId": collection_id, "MaxResults": page_size}
        if token:
            kwargs["NextToken"] = token
        page = client.list_faces(**kwargs)
        faces.extend(page["Faces"])
        token = page.get("NextToken")
        if not token:
            return faces


@dataclass
class Verification:
    expected: int
    present: int
    missing: list[str]
    unexpected: list[str]
    duplicated: list[str]

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.duplicated)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "expected_faces": self.expected,
            "present_faces": self.present,
            "missing": self.missing[:50],
            "unexpected": self.unexpected[:50],
            "duplicated": self.duplicated[:50],
        }


def verify_faces(client: Any, collection_id: str, results: list[WorkerResult]) -> Verification:
    """The collection holds exactly the acknowledged faces that were not acknowledged deleted."""
    acknowledged = set().union(*(r.acknowledged for r in results)) if results else set()
    deleted = set().union(*(r.deleted for r in results)) if results else set()
    expected = acknowledged - deleted
    listed = [face["FaceId"] for face in all_faces(client, collection_id)]
    present = set(listed)
    duplicated = (
        sorted({face for face in listed if listed.count(face) > 1}) if len(listed) != len(present) else []
    )
    return Verification(
        expected=len(expected),
        present=len(present),
        missing=sorted(expected - present),
        unexpected=sorted(present - expected),
        duplicated=duplicated,
    )


# -- the crash workload -------------------------------------------------------------------


@dataclass
class CrashLedger:
    """What clients know across kills: acknowledged faces and deletions, and what is in doubt.

    A request in flight when the server dies may or may not have been applied; its faces are
    "in doubt" and allowed either way (but a group photo's faces only all or none).
    """

    acknowledged: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    attempted_images: dict[str, int] = field(default_factory=dict)  # ExternalImageId -> faces expected
    doubtful_deletions: set[str] = field(default_factory=set)
    face_image: dict[str, str] = field(default_factory=dict)  # FaceId -> ImageId
    requests: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def crash_client(
    url: str,
    collection_id: str,
    ledger: CrashLedger,
    rng: random.Random,
    stop: Callable[[], bool],
    group_faces: int,
    tag: str,
) -> None:
    """Index (single and group photos) and delete until the server dies or ``stop()``."""
    client = _no_retry_client(url)
    photos = photo_pool()
    while not stop():
        with ledger.lock:
            candidates = sorted(ledger.acknowledged - ledger.deleted - ledger.doubtful_deletions)
            victims = (
                rng.sample(candidates, min(len(candidates), rng.randint(1, 4))) if rng.random() < 0.3 else []
            )
            ledger.doubtful_deletions.update(victims)
            group = rng.random() < 0.25
            external = f"{tag}-{ledger.requests}-{'g' if group else 's'}"
            if not victims:
                ledger.attempted_images[external] = group_faces if group else 1
                ledger.requests += 1
        try:
            if victims:
                response = client.delete_faces(CollectionId=collection_id, FaceIds=victims)
                with ledger.lock:
                    ledger.deleted.update(response["DeletedFaces"])
                    ledger.doubtful_deletions.difference_update(victims)
            else:
                response = client.index_faces(
                    CollectionId=collection_id,
                    Image={"Bytes": group_photo() if group else rng.choice(photos)},
                    ExternalImageId=external,
                    QualityFilter="NONE",
                    MaxFaces=group_faces if group else 1,
                )
                with ledger.lock:
                    for record in response["FaceRecords"]:
                        ledger.acknowledged.add(record["Face"]["FaceId"])
                        ledger.face_image[record["Face"]["FaceId"]] = record["Face"]["ImageId"]
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "?")
            with ledger.lock:
                ledger.failures[code] = ledger.failures.get(code, 0) + 1
                if int(error.response["ResponseMetadata"].get("HTTPStatusCode", 0)) >= 500:
                    ledger.failures["5xx"] = ledger.failures.get("5xx", 0) + 1
        except Exception:
            return


def check_crash_state(client: Any, collection_id: str, ledger: CrashLedger) -> list[str]:
    """Violations of the crash invariants in the store right after a restart."""
    faces = all_faces(client, collection_id)
    problems: list[str] = []
    ids = [face["FaceId"] for face in faces]
    present = set(ids)
    if len(ids) != len(present):
        problems.append(f"{len(ids) - len(present)} faces listed twice")
    missing = (ledger.acknowledged - ledger.deleted - ledger.doubtful_deletions) - present
    if missing:
        problems.append(f"acknowledged faces missing: {sorted(missing)[:5]} ({len(missing)})")
    resurrected = ledger.deleted & present
    if resurrected:
        problems.append(f"acknowledged-deleted faces present: {sorted(resurrected)[:5]} ({len(resurrected)})")
    by_image: dict[str, list[dict[str, Any]]] = {}
    for face in faces:
        by_image.setdefault(face["ImageId"], []).append(face)
    for image_id, members in by_image.items():
        externals = {face.get("ExternalImageId") for face in members}
        if len(externals) != 1:
            problems.append(f"ImageId {image_id} spans several ExternalImageIds: {externals}")
            continue
        external = next(iter(externals))
        if external not in ledger.attempted_images:
            problems.append(f"face of an image nobody indexed: {external}")
            continue
        # Deleted faces (acknowledged or in doubt) may be gone from an image; otherwise all or none.
        deleted_here = sum(
            1 for f in ledger.deleted | ledger.doubtful_deletions if ledger.face_image.get(f) == image_id
        )
        expected = ledger.attempted_images[external]
        if not expected - deleted_here <= len(members) <= expected:
            problems.append(f"half-written image {external}: {len(members)} of {expected} faces")
    return problems


def adopt_store_state(client: Any, collection_id: str, ledger: CrashLedger) -> None:
    """After a checked restart the store is the truth: settle what was in doubt."""
    faces = all_faces(client, collection_id)
    present = {face["FaceId"] for face in faces}
    for face in faces:
        ledger.face_image[face["FaceId"]] = face["ImageId"]
    ledger.deleted |= (ledger.acknowledged | ledger.doubtful_deletions) - present
    ledger.acknowledged |= present
    ledger.doubtful_deletions.clear()
