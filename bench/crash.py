"""Crash consistency: kill -9 ``rekognito serve`` mid-write, restart, check; writes reports/crash.json.

Each round starts the server on the same data dir, runs two clients that index single and
group photos (IndexFaces of a group photo writes 6 faces in one transaction) and delete
faces, kills the server with SIGKILL at a random moment, runs ``PRAGMA integrity_check`` on
the SQLite file, restarts it and checks: no acknowledged face missing, no
acknowledged-deleted face present, no face twice, no image half-written.
Run: ``.venv/bin/python bench/crash.py --rounds 30``.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.server_process import ServerProcess
from tests.support.workload import (
    CrashLedger,
    adopt_store_state,
    check_crash_state,
    crash_client,
    group_photo,
    photo_pool,
)

from bench._progress import progress
from bench._report import write

COLLECTION = "crash"
STORE_FILE = "faces.sqlite3"


def integrity(path: Path) -> str:
    """``PRAGMA integrity_check`` of the store file as the killed process left it (WAL replayed)."""
    connection = sqlite3.connect(path, timeout=30)
    try:
        rows = connection.execute("PRAGMA integrity_check").fetchall()
        return ", ".join(str(row[0]) for row in rows)
    finally:
        connection.close()


def group_face_count(server: ServerProcess) -> int:
    client = server.client()
    client.create_collection(CollectionId="calibration")
    response = client.index_faces(
        CollectionId="calibration", Image={"Bytes": group_photo()}, QualityFilter="NONE", MaxFaces=100
    )
    client.delete_collection(CollectionId="calibration")
    return len(response["FaceRecords"])


def run_rounds(data_dir: Path, rounds: int, seed: int, max_kill_delay: float) -> dict[str, Any]:
    """Run the kill/restart rounds on ``data_dir``; returns the per-round outcome."""
    rng = random.Random(seed)
    ledger = CrashLedger()
    outcomes: list[dict[str, Any]] = []
    photo_pool()
    with ServerProcess(data_dir) as first:
        first.client().create_collection(CollectionId=COLLECTION)
        group_faces = group_face_count(first)
    for round_index in progress(range(rounds), desc="crash rounds", unit="round"):
        server = ServerProcess(data_dir).start()
        stop = threading.Event()
        clients = [
            threading.Thread(
                target=crash_client,
                args=(
                    server.url,
                    COLLECTION,
                    ledger,
                    random.Random(rng.random()),
                    stop.is_set,
                    group_faces,
                    f"r{round_index}c{i}",
                ),
            )
            for i in range(2)
        ]
        for thread in clients:
            thread.start()
        delay = rng.uniform(0.2, max_kill_delay)
        time.sleep(delay)
        server.kill()
        stop.set()
        for thread in clients:
            thread.join(timeout=60)
        check = integrity(data_dir / STORE_FILE)
        restarted = time.perf_counter()
        server = ServerProcess(data_dir).start()
        restart_s = time.perf_counter() - restarted
        client = server.client()
        problems = check_crash_state(client, COLLECTION, ledger)
        if check != "ok":
            problems.append(f"integrity_check: {check}")
        adopt_store_state(client, COLLECTION, ledger)
        server.stop()
        outcomes.append(
            {
                "round": round_index,
                "killed_after_s": round(delay, 2),
                "integrity_check": check,
                "restart_s": round(restart_s, 1),
                "faces_after": len(ledger.acknowledged - ledger.deleted),
                "problems": problems,
            }
        )
        print(f"round {round_index}: killed after {delay:.1f}s, {len(problems)} problems", file=sys.stderr)
    return {
        "group_photo_faces": group_faces,
        "rounds": outcomes,
        "index_requests": ledger.requests,
        "faces_acknowledged": len(ledger.acknowledged),
        "faces_deleted": len(ledger.deleted),
        "client_errors": ledger.failures,
        "rounds_with_problems": sum(1 for o in outcomes if o["problems"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="kill/restart rounds (default 30)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-kill-delay", type=float, default=6.0, help="kill within this many seconds")
    parser.add_argument("--report", default="crash")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rekognito-crash-") as tmp:
        result = run_rounds(Path(tmp) / "data", args.rounds, args.seed, args.max_kill_delay)
    report = {
        "command": " ".join(["bench/crash.py", *sys.argv[1:]]),
        "duration_s": round(time.perf_counter() - started, 1),
        "ingest_replay": "see bench/ingest_crash.py (kill -9 of the ingest worker against a durable queue)",
        **result,
    }
    path = write(args.report, report)
    print(f"{args.rounds} rounds, {result['rounds_with_problems']} with problems -> {path}")
    return 1 if result["rounds_with_problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
