"""Memory stays bounded while indexing many images; writes reports/memory.json.

Generates N variants of the real test photos (resized, cropped, flipped) in a temporary
folder, indexes them with ``rekognito import DIR --collection C`` (or, with ``--via api``,
through IndexFaces against ``rekognito serve``) and samples the indexing process's resident
memory (VmRSS) every second. Reports the peak and the slope of RSS over the second half of
the run (MB per 1,000 images; ~0 means no leak).
Run: ``.venv/bin/python bench/memory.py --images 10000``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.server_process import ServerProcess
from tests.support.workload import PHOTOS, make_client, variant

from bench._progress import progress
from bench._report import write

COLLECTION = "memory"


def rss_of(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def generate(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index in progress(range(count), desc="generating photos", unit="photo"):
        (folder / f"img{index:06d}.jpg").write_bytes(variant(PHOTOS[index % len(PHOTOS)], index, width=320))


class Sampler:
    def __init__(self, pid: int, progress: Any = None) -> None:
        self.pid = pid
        self.samples: list[tuple[float, int, int]] = []  # (seconds, rss bytes, images done)
        self.progress = progress or (lambda: 0)
        self._stop = threading.Event()
        self._started = time.perf_counter()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            rss = rss_of(self.pid)
            if rss:
                self.samples.append((time.perf_counter() - self._started, rss, self.progress()))

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def slope_mb_per_1000(samples: list[tuple[float, int, int]], images: int) -> float:
    """Least-squares slope of RSS against time over the second half, as MB per 1,000 images."""
    half = samples[len(samples) // 2 :]
    if len(half) < 3:
        return 0.0
    xs = [s[0] for s in half]
    ys = [s[1] / 2**20 for s in half]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mean_x) ** 2 for x in xs)
    per_second = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0
    images_per_second = images / samples[-1][0] if samples[-1][0] else 0.0
    return round(per_second / images_per_second * 1000, 2) if images_per_second else 0.0


def via_import(folder: Path, data_dir: Path) -> tuple[list[tuple[float, int, int]], float, str]:
    command = [
        str(Path(sys.executable).parent / "rekognito"),
        "import",
        str(folder),
        "--collection",
        COLLECTION,
        "--create",
        "--data-dir",
        str(data_dir),
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with Sampler(process.pid) as sampler:
        process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"rekognito import exited with {process.returncode}")
    return (
        sampler.samples,
        time.perf_counter() - started,
        f"rekognito import DIR --collection {COLLECTION} --create",
    )


def via_api(folder: Path, data_dir: Path) -> tuple[list[tuple[float, int, int]], float, str]:
    done = [0]
    with ServerProcess(data_dir) as server:
        client = make_client(server.url, max_attempts=10)
        client.create_collection(CollectionId=COLLECTION)
        started = time.perf_counter()
        with Sampler(server.pid, progress=lambda: done[0]) as sampler:
            for path in sorted(folder.iterdir()):
                client.index_faces(CollectionId=COLLECTION, Image={"Bytes": path.read_bytes()}, MaxFaces=1)
                done[0] += 1
        return sampler.samples, time.perf_counter() - started, "IndexFaces through rekognito serve"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--images", type=int, default=10_000, help="images to generate and index (default 10000)"
    )
    parser.add_argument("--via", choices=("import", "api"), default="import")
    parser.add_argument("--report", default="memory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rekognito-memory-") as tmp:
        folder = Path(tmp) / "images"
        began = time.perf_counter()
        generate(folder, args.images)
        generated_s = time.perf_counter() - began
        run = via_import if args.via == "import" else via_api
        samples, duration, how = run(folder, Path(tmp) / "data")
        faces = len(make_faces_probe(Path(tmp) / "data"))
    rss_mb = [s[1] / 2**20 for s in samples]
    report = {
        "command": " ".join(["bench/memory.py", *sys.argv[1:]]),
        "images": args.images,
        "indexed_with": how,
        "faces_in_collection": faces,
        "generate_s": round(generated_s, 1),
        "index_s": round(duration, 1),
        "images_per_s": round(args.images / duration, 2) if duration else None,
        "rss_first_mb": round(rss_mb[0], 1) if rss_mb else None,
        "rss_peak_mb": round(max(rss_mb), 1) if rss_mb else None,
        "rss_last_mb": round(rss_mb[-1], 1) if rss_mb else None,
        "rss_slope_second_half_mb_per_1000_images": slope_mb_per_1000(samples, args.images),
        "rss_samples_mb": [round(v, 1) for v in rss_mb[:: max(1, len(rss_mb) // 120)]],
    }
    path = write(args.report, report)
    print(f"{args.images} images in {duration:.0f}s, peak RSS {report['rss_peak_mb']} MB -> {path}")
    return 0


def make_faces_probe(data_dir: Path) -> list[str]:
    """Face ids in the collection, read from the store file after the run."""
    import sqlite3

    connection = sqlite3.connect(data_dir / "faces.sqlite3")
    try:
        return [
            row[0]
            for row in connection.execute("SELECT face_id FROM faces WHERE collection_id = ?", (COLLECTION,))
        ]
    finally:
        connection.close()


if __name__ == "__main__":
    sys.exit(main())
