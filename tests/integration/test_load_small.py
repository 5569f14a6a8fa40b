"""Concurrent clients against ``rekognito serve``: nothing lost, nothing duplicated, no 5xx (issue 10).

A small, seeded version of ``bench/load.py``: 3 client threads x 15 operations each.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.server_process import ServerProcess
from tests.support.workload import run_worker, verify_faces

pytestmark = pytest.mark.slow


def test_concurrent_face_operations_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    # Given a server process with one collection
    with ServerProcess(tmp_path / "data", env={"REKOGNITO_MAX_INFLIGHT_REQUESTS": "2"}) as server:
        client = server.client()
        client.create_collection(CollectionId="load")

        # When 3 clients index, search, list and delete at once
        with ThreadPoolExecutor(3) as pool:
            results = list(
                pool.map(
                    lambda worker: run_worker(server.url, "load", worker, seed=7, operations=15), range(3)
                )
            )

        # Then no request failed on the server side and the store matches the acknowledgements
        assert not [e for r in results for e in r.server_errors]
        assert sum(len(samples) for r in results for samples in r.latencies.values()) >= 40
        verification = verify_faces(client, "load", results)
        assert verification.ok, verification.as_dict()
        assert verification.expected > 0 or sum(len(r.deleted) for r in results) > 0
    assert server.process is not None and server.process.returncode == 0
