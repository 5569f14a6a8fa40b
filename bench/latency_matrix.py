"""Latency of the face APIs over real HTTP (boto3 -> local endpoint), and of each stage in-process.

Workloads: one real photo resized to 0.3-12 megapixels (one face), and canvases of about
2 megapixels tiling 1-20 real faces of distinct people (``bench._workloads.compose``).

Two ways of using two threads, reported separately:

* ``inference_threads`` (``REKOGNITO_INFERENCE_THREADS``): onnxruntime intra-op threads of
  the detector and the embedder, 1 or 2. One client, sequential requests.
* ``clients``: 2 boto3 clients calling at once, ``inference_threads=1``. The server runs
  one model inference at a time (``FaceAnalyzer`` holds a lock), so this shows queueing:
  latency per request and requests per second.

Stages (in-process, the same bytes): decode (``decode_image``), detect (the detector), mesh
(the 468-point face mesh, sum over faces), align (sum over faces), embed (sum over faces), store
(``put_faces`` of the faces found, as IndexFaces does), search (``store.search`` of the
largest face in a small collection).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.endpoint import rekognition_client, running_endpoint
from tests.support.test_data import image_path

from bench._progress import progress
from bench._report import summary
from bench._workloads import compose, jpeg_bytes, open_rgb, resized_to
from rekognito.domain import StoredFace
from rekognito.images import MAX_IMAGE_BYTES, decode_image
from rekognito.services import Services
from rekognito.settings import Settings

OPERATIONS = ("IndexFaces", "SearchFacesByImage", "DetectFaces", "CompareFaces")
STAGES = ("decode", "detect", "mesh", "align", "embed", "store", "search")


def workloads(megapixels: tuple[float, ...], face_counts: tuple[int, ...]) -> list[dict[str, Any]]:
    """Named JPEG payloads: the megapixel sweep (1 face) and the face-count sweep (2 MP)."""
    base = open_rgb(image_path("obama.jpg"))
    items = []
    for mp in megapixels:
        image = resized_to(base, mp)
        quality = 90
        data = jpeg_bytes(image, quality)
        while len(data) > MAX_IMAGE_BYTES and quality > 50:
            quality -= 10
            data = jpeg_bytes(image, quality)
        items.append(
            {
                "sweep": "megapixels",
                "name": f"{mp:g} MP, 1 face",
                "megapixels": mp,
                "faces": 1,
                "size": list(image.size),
                "bytes": data,
            }
        )
    for count in face_counts:
        image = compose(count)
        items.append(
            {
                "sweep": "faces",
                "name": f"{count} faces, 2 MP",
                "megapixels": 2.0,
                "faces": count,
                "size": list(image.size),
                "bytes": jpeg_bytes(image),
            }
        )
    return items


def _calls(client: Any, collection: str, source: bytes) -> dict[str, Callable[[bytes], Any]]:
    return {
        "IndexFaces": lambda data: client.index_faces(
            CollectionId=collection, Image={"Bytes": data}, MaxFaces=100
        ),
        "SearchFacesByImage": lambda data: client.search_faces_by_image(
            CollectionId=collection, Image={"Bytes": data}
        ),
        "DetectFaces": lambda data: client.detect_faces(Image={"Bytes": data}),
        "CompareFaces": lambda data: client.compare_faces(
            SourceImage={"Bytes": source}, TargetImage={"Bytes": data}
        ),
    }


def _stages(services: Services, collection: str, data: bytes) -> dict[str, float]:
    settings = services.settings
    analyzer = services.face_analyzer
    t0 = time.perf_counter()
    decoded = decode_image(data, max_pixels=settings.max_image_pixels)
    t1 = time.perf_counter()
    faces = analyzer.analyze(decoded.pil, embed=True)
    t2 = time.perf_counter()
    mesh = sum(f.timings.get("mesh", 0.0) for f in faces)
    align = sum(f.timings.get("align", 0.0) for f in faces)
    embed = sum(f.timings.get("embed", 0.0) for f in faces)
    stored = [
        StoredFace(
            str(uuid.uuid4()), collection, "bench", f.bounding_box, f.confidence, f.embedding, time.time()
        )
        for f in faces
        if f.embedding is not None
    ]
    t3 = time.perf_counter()
    services.store.put_faces(collection, stored)
    t4 = time.perf_counter()
    if stored:
        services.store.search(collection, stored[0].embedding, limit=80, min_cosine=0.5)
    t5 = time.perf_counter()
    return {
        "decode": t1 - t0,
        "detect": max(0.0, (t2 - t1) - mesh - align - embed),
        "mesh": mesh,
        "align": align,
        "embed": embed,
        "store": t4 - t3,
        "search": t5 - t4,
        "faces_found": float(len(faces)),
    }


def _seed(client: Any, collection: str, seed_images: list[bytes]) -> None:
    client.create_collection(CollectionId=collection)
    for data in seed_images:
        client.index_faces(CollectionId=collection, Image={"Bytes": data}, MaxFaces=100)


def run(
    *,
    megapixels: tuple[float, ...],
    face_counts: tuple[int, ...],
    iterations: int,
    thread_settings: tuple[int, ...] = (1, 2),
    concurrent_clients: int = 2,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    items = workloads(megapixels, face_counts)
    source = jpeg_bytes(resized_to(open_rgb(image_path("obama2.jpg")), 1.0))
    seed_images = [jpeg_bytes(open_rgb(image_path(n))) for n in ("obama3.jpg", "biden.jpg", "group6.jpg")]
    results: list[dict[str, Any]] = []
    stage_rows: list[dict[str, Any]] = []
    concurrency: list[dict[str, Any]] = []
    for threads in progress(thread_settings, desc="latency: thread settings"):
        with tempfile.TemporaryDirectory() as tmp:
            services = Services(
                Settings(data_dir=Path(tmp), auth_mode="none", inference_threads=threads, audit_enabled=False)
            )
            with running_endpoint(services) as endpoint:
                client = rekognition_client(endpoint.url)
                _seed(client, "bench", seed_images)
                calls = _calls(client, "bench", source)
                for item in items:
                    for operation, call in calls.items():
                        call(item["bytes"])  # warm-up (first request per size pays allocator growth)
                        samples = []
                        for _ in range(iterations):
                            t0 = time.perf_counter()
                            call(item["bytes"])
                            samples.append(time.perf_counter() - t0)
                        results.append(
                            {
                                "operation": operation,
                                "workload": item["name"],
                                "sweep": item["sweep"],
                                "megapixels": item["megapixels"],
                                "faces": item["faces"],
                                "inference_threads": threads,
                                "clients": 1,
                                **summary(samples),
                            }
                        )
                    stage_samples: dict[str, list[float]] = {s: [] for s in STAGES}
                    found: list[float] = []
                    for _ in range(iterations):
                        timings = _stages(services, "bench", item["bytes"])
                        found.append(timings.pop("faces_found"))
                        for stage, value in timings.items():
                            stage_samples[stage].append(value)
                    stage_rows.append(
                        {
                            "workload": item["name"],
                            "sweep": item["sweep"],
                            "megapixels": item["megapixels"],
                            "faces": item["faces"],
                            "size": item["size"],
                            "jpeg_bytes": len(item["bytes"]),
                            "faces_found": statistics.median(found),
                            "inference_threads": threads,
                            "stages": {s: summary(v) for s, v in stage_samples.items()},
                        }
                    )
                    say(f"  latency {item['name']} threads={threads} done")
                if threads == 1 and concurrent_clients > 1:
                    concurrency = _concurrent(endpoint.url, items, source, iterations, concurrent_clients)
            services.close()
    return {
        "definition": {
            "inference_threads": "onnxruntime intra-op threads of detector and embedder; "
            "one sequential client",
            "clients": "boto3 clients calling at once against one server with inference_threads=1",
            "stages": "in-process on the same bytes; mesh (468-point landmarks, pose), align and embed "
            "are summed over all faces found",
        },
        "iterations": iterations,
        "http": results,
        "stages": stage_rows,
        "concurrent_clients": concurrency,
    }


def _concurrent(
    url: str, items: list[dict[str, Any]], source: bytes, iterations: int, clients: int
) -> list[dict[str, Any]]:
    """Each workload of the megapixel sweep, ``clients`` threads each sending ``iterations`` requests."""
    rows = []
    for item in items:
        if item["sweep"] != "megapixels":
            continue
        for operation in ("IndexFaces", "SearchFacesByImage"):
            samples: list[float] = []
            lock = threading.Lock()

            def worker(
                op: str = operation,
                data: bytes = item["bytes"],
                samples: list[float] = samples,
                lock: threading.Lock = lock,
            ) -> None:
                call = _calls(rekognition_client(url), "bench", source)[op]
                for _ in range(iterations):
                    t0 = time.perf_counter()
                    call(data)
                    with lock:
                        samples.append(time.perf_counter() - t0)

            started = time.perf_counter()
            threads = [threading.Thread(target=worker) for _ in range(clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - started
            rows.append(
                {
                    "operation": operation,
                    "workload": item["name"],
                    "megapixels": item["megapixels"],
                    "inference_threads": 1,
                    "clients": clients,
                    "requests_per_s": round(len(samples) / wall, 2),
                    **summary(samples),
                }
            )
    return rows
