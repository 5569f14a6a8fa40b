"""What write-ahead auditing and the replay cache cost per change; writes reports/audit_overhead.json.

Each sample stores one face (512-d) in the embedded store, as IndexFaces does after inference:

* ``raw``: the store alone (one SQLite transaction, ``synchronous=FULL``);
* ``audited``: through ``AuditedStore`` with the file sink: the intent entry (append, fsync,
  authenticated head, fsync) then the store write;
* ``request_entry``: the request's own entry that follows (same file sink);
* ``replay``: claiming and finishing one replay-cache row.

Run: ``.venv/bin/python bench/audit_overhead.py`` (``--quick``: 50 samples instead of 300).
Timings depend on the disk's fsync latency; the report records the machine and its load.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._report import summary, write
from rekognito.adapters.embedded_store import EmbeddedFaceStore
from rekognito.api.replay import ReplayCache, replay_key
from rekognito.domain import BoundingBox, Collection, StoredFace
from rekognito.identity import Principal
from rekognito.request import RequestContext
from rekognito.security.audit import FileAuditSink, audit_scope
from rekognito.security.audit.store import AuditedStore
from rekognito.services import Services
from rekognito.settings import Settings


def one_face(rng: np.random.Generator) -> StoredFace:
    vector = rng.standard_normal(512).astype(np.float32)
    vector /= np.linalg.norm(vector)
    return StoredFace(
        face_id=str(uuid.uuid4()),
        collection_id="bench",
        image_id=str(uuid.uuid4()),
        bounding_box=BoundingBox(0.2, 0.3, 0.1, 0.1),
        confidence=99.0,
        embedding=vector,
        created_at=time.time(),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="50 samples")
    args = parser.parse_args()
    samples = 50 if args.quick else args.samples
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory(prefix="rekognito-audit-bench-") as tmp:
        root = Path(tmp)
        raw = EmbeddedFaceStore(root / "raw")
        raw.create_collection(Collection("bench", "arn", "edgeface-s", time.time()))
        sink = FileAuditSink(root / "audited")
        audited = AuditedStore(EmbeddedFaceStore(root / "audited"), lambda: sink)
        audited.create_collection(Collection("bench", "arn", "edgeface-s", time.time()))
        cache = ReplayCache(root / "replay.sqlite3")
        ctx = RequestContext(
            Services(Settings(data_dir=root / "ctx")), "r", "IndexFaces", Principal("bench", "AKRKBENCH")
        )
        timings: dict[str, list[float]] = {"raw": [], "audited": [], "request_entry": [], "replay": []}
        for i in range(samples):
            started = time.perf_counter()
            raw.put_faces("bench", [one_face(rng)])
            timings["raw"].append(time.perf_counter() - started)

            face = one_face(rng)
            started = time.perf_counter()
            with audit_scope(ctx.principal, f"r{i}", "IndexFaces"):
                audited.put_faces("bench", [face])
            timings["audited"].append(time.perf_counter() - started)

            started = time.perf_counter()
            sink.record(
                ctx, {"CollectionId": "bench"}, {"FaceRecords": [{"Face": {"FaceId": face.face_id}}]}, None
            )
            timings["request_entry"].append(time.perf_counter() - started)

            started = time.perf_counter()
            key = replay_key("bench", str(uuid.uuid4()), b"{}")
            cache.claim(key, f"r{i}")
            cache.finish(key, 200, '{"FaceRecords":[]}')
            timings["replay"].append(time.perf_counter() - started)
        verified = sink.verify()
        raw.close()
        audited.inner.close()
        cache.close()
    report = {
        "samples": samples,
        "timings": {name: summary(values) for name, values in timings.items()},
        "audit_entries": verified.entries,
        "audit_intact": verified.ok,
    }
    path = write("audit_overhead", report)
    for name, stats in report["timings"].items():
        print(f"{name:14s} p50 {stats['p50_ms']:7.2f} ms  p95 {stats['p95_ms']:7.2f} ms")
    print(f"wrote {path}")
    return 0 if verified.ok else 1


if __name__ == "__main__":
    sys.exit(main())
