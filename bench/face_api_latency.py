"""IndexFaces / SearchFacesByImage latency (p50/p95) and search latency at scale.

Writes reports/face_api_latency.json. Run: ``.venv/bin/python bench/face_api_latency.py``
(``--faces 100000`` sets the size of the filled collection; ``--iterations`` the samples;
``--quick`` is a short smoke run). Inference runs on one thread
(``REKOGNITO_INFERENCE_THREADS=1``), as the targets ask. Per-stage times: decode, detect, mesh
(468-point landmarks, every face), align, embed; and, for ``DetectionAttributes=["ALL"]``,
the attributes stage (iris, expression model and pixel measures) and that IndexFaces call.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.endpoint import rekognition_client, running_endpoint
from tests.support.test_data import image_path

from bench._progress import progress
from bench._report import summary, write
from rekognito.domain import BoundingBox, StoredFace
from rekognito.services import Services
from rekognito.settings import Settings


def one_megapixel(name: str) -> bytes:
    image = Image.open(image_path(name)).convert("RGB")
    scale = (1_000_000 / (image.width * image.height)) ** 0.5
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def fill(services: Services, collection_id: str, count: int, dimension: int) -> float:
    rng = np.random.default_rng(0)
    box = BoundingBox(0.1, 0.1, 0.2, 0.2)
    started = time.perf_counter()
    for start in progress(range(0, count, 2000), desc=f"filling {count} faces", unit="batch"):
        vectors = rng.standard_normal((min(2000, count - start), dimension)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        services.store.put_faces(
            collection_id,
            [
                StoredFace(str(uuid.uuid4()), collection_id, f"filler-{start + i}", box, 99.0, v, time.time())
                for i, v in enumerate(vectors)
            ],
        )
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--faces", type=int, default=100_000)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="2,000 faces, 5 iterations")
    args = parser.parse_args()
    if args.quick:
        args.faces, args.iterations = 2000, 5

    with tempfile.TemporaryDirectory() as tmp:
        services = Services(Settings(data_dir=Path(tmp), auth_mode="none", inference_threads=1))
        index_photo = one_megapixel("obama.jpg")
        query_photo = one_megapixel("obama2.jpg")
        with running_endpoint(services) as endpoint:
            client = rekognition_client(endpoint.url)
            client.create_collection(CollectionId="bench")
            client.index_faces(CollectionId="bench", Image={"Bytes": index_photo})  # warm-up
            index_s, index_all_s, search_s = [], [], []
            for _ in range(args.iterations):
                t0 = time.perf_counter()
                client.index_faces(CollectionId="bench", Image={"Bytes": index_photo})
                index_s.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                client.index_faces(
                    CollectionId="bench", Image={"Bytes": index_photo}, DetectionAttributes=["ALL"]
                )
                index_all_s.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                client.search_faces_by_image(CollectionId="bench", Image={"Bytes": query_photo})
                search_s.append(time.perf_counter() - t0)

            # Per-stage timings in-process, on the same photo.
            analyzer = services.face_analyzer
            image = Image.open(io.BytesIO(index_photo)).convert("RGB")
            names = ("decode", "detect", "mesh", "align", "embed", "attributes_all")
            stages: dict[str, list[float]] = {name: [] for name in names}
            for _ in range(args.iterations):
                t0 = time.perf_counter()
                Image.open(io.BytesIO(index_photo)).convert("RGB")
                stages["decode"].append(time.perf_counter() - t0)
                faces = analyzer.analyze(image, embed=True)
                for stage in ("detect", "mesh", "align", "embed"):
                    stages[stage].append(faces[0].timings[stage])
                every = analyzer.analyze(image, embed=False, attributes=frozenset({"ALL"}))
                stages["attributes_all"].append(every[0].timings["attributes"])

            client.create_collection(CollectionId="big")
            fill_s = fill(services, "big", args.faces, analyzer.embedder.spec.dimension)
            client.index_faces(CollectionId="big", Image={"Bytes": index_photo})
            first = time.perf_counter()
            client.search_faces_by_image(CollectionId="big", Image={"Bytes": query_photo})
            first_search_s = time.perf_counter() - first
            big_api_s, big_store_s = [], []
            query = analyzer.analyze(Image.open(io.BytesIO(query_photo)).convert("RGB"), embed=True)[
                0
            ].embedding
            assert query is not None
            for _ in range(args.iterations):
                t0 = time.perf_counter()
                result = client.search_faces_by_image(CollectionId="big", Image={"Bytes": query_photo})
                big_api_s.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                services.store.search("big", query, limit=80, min_cosine=0.5)
                big_store_s.append(time.perf_counter() - t0)
            assert result["FaceMatches"], "the real face was not found among the filler"
        services.close()

    report = {
        "photo": {
            "megapixels": round(image.width * image.height / 1e6, 2),
            "size": [image.width, image.height],
        },
        "inference_threads": 1,
        "index_faces_http": summary(index_s),
        "index_faces_all_attributes_http": summary(index_all_s),
        "search_faces_by_image_http": summary(search_s),
        "stages": {stage: summary(values) for stage, values in stages.items()},
        "scale": {
            "faces": args.faces + 1,
            "fill_seconds": round(fill_s, 1),
            "first_search_ms_including_matrix_load": round(first_search_s * 1000, 1),
            "search_faces_by_image_http": summary(big_api_s),
            "store_search_only": summary(big_store_s),
        },
        "targets": {"index_faces_p50_ms": 80, "search_100k_p50_ms": 100},
    }
    path = write("face_api_latency", report)
    print(path)
    print(
        f"IndexFaces p50 {report['index_faces_http']['p50_ms']} ms, "
        f"SearchFacesByImage p50 {report['search_faces_by_image_http']['p50_ms']} ms, "
        f"store search at {args.faces + 1} faces p50 {report['scale']['store_search_only']['p50_ms']} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
