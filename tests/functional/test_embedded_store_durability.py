"""The embedded store under kill -9 and concurrent writers (real SQLite files)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

from rekognito.adapters.embedded_store import EmbeddedFaceStore
from rekognito.domain import BoundingBox, Collection, StoredFace

WRITER = textwrap.dedent(
    """
    import sys, time, uuid
    from pathlib import Path
    import numpy as np
    from rekognito.adapters.embedded_store import EmbeddedFaceStore
    from rekognito.domain import BoundingBox, Collection, StoredFace
    store = EmbeddedFaceStore(Path(sys.argv[1]))
    try:
        store.create_collection(Collection("c", "arn", "edgeface-s", time.time()))
    except Exception:
        pass
    rng = np.random.default_rng(int(sys.argv[2]))
    box = BoundingBox(0.1, 0.1, 0.1, 0.1)
    while True:
        image_id = str(uuid.uuid4())
        faces = []
        for _ in range(6):
            vector = rng.standard_normal(512).astype(np.float32)
            vector /= np.linalg.norm(vector)
            faces.append(StoredFace(str(uuid.uuid4()), "c", image_id, box, 99.0, vector, time.time()))
        store.put_faces("c", faces)
        print(image_id, flush=True)
    """
)


def test_kill_during_indexing_leaves_whole_images_only(tmp_path: Path) -> None:
    acknowledged: set[str] = set()
    for round_number in range(6):
        process = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), str(round_number)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        deadline = time.time() + 0.3 + 0.15 * round_number
        while time.time() < deadline:
            line = process.stdout.readline()
            if line:
                acknowledged.add(line.strip())
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        acknowledged.update(line.strip() for line in process.stdout.read().splitlines() if line.strip())

    store = EmbeddedFaceStore(tmp_path)
    faces = store.list_faces("c", limit=1_000_000)
    per_image = Counter(face.image_id for face in faces)
    assert acknowledged, "the writer never acknowledged anything"
    assert set(per_image.values()) == {6}, "an image is half-indexed"
    assert acknowledged <= set(per_image), "an acknowledged image is missing"
    assert len({face.face_id for face in faces}) == len(faces)
    for face in faces:
        assert face.embedding.shape == (512,)
        assert abs(float(np.linalg.norm(face.embedding)) - 1.0) < 1e-4


def test_concurrent_writers_lose_nothing_and_search_stays_exact(tmp_path: Path) -> None:
    store = EmbeddedFaceStore(tmp_path)
    store.create_collection(Collection("c", "arn", "edgeface-s", time.time()))
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((400, 512)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    box = BoundingBox(0.1, 0.1, 0.1, 0.1)

    def write(offset: int) -> None:
        for i in range(offset, 400, 4):
            store.put_faces(
                "c", [StoredFace(f"face-{i:04d}", "c", f"img-{i}", box, 99.0, vectors[i], time.time())]
            )
            if i % 5 == 0:
                store.search("c", vectors[i], limit=3, min_cosine=0.99)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.count_faces("c") == 400
    for i in (0, 123, 399):
        best = store.search("c", vectors[i], limit=1, min_cosine=0.0)
        assert best[0].face.face_id == f"face-{i:04d}"
    # A second process (a fresh store on the same files) sees the same.
    other = EmbeddedFaceStore(tmp_path)
    assert other.count_faces("c") == 400
    deleted = store.delete_faces("c", [f"face-{i:04d}" for i in range(0, 400, 2)])
    assert len(deleted) == 200
    assert other.search("c", vectors[0], limit=1, min_cosine=0.99) == []
    assert other.search("c", vectors[1], limit=1, min_cosine=0.99)[0].face.face_id == "face-0001"
