"""Issue 16: a three-node OpenSearch cluster loses a node mid-run and no acknowledged face.

Three real nodes on loopback (``tests/support/opensearch_node.start_cluster``, 512 MiB heap
each), the store as the application builds it (every node's URL, one replica per shard).
While faces are being indexed and searched, the node holding the primary shard of the
collection's index is killed with SIGKILL. The benchmark ``bench/opensearch_cluster.py`` runs
the same scenario bigger and reports it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.cluster_run import kill_one_node_while_indexing
from tests.support.opensearch_node import NodeError, RunningCluster, start_cluster

pytestmark = [pytest.mark.opensearch, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster() -> Iterator[RunningCluster]:
    if os.environ.get("REKOGNITO_SKIP_OPENSEARCH") == "1":
        pytest.skip("REKOGNITO_SKIP_OPENSEARCH=1")
    try:
        running = start_cluster(3, heap="512m")
    except (NodeError, OSError) as exc:
        pytest.fail(
            f"could not start the OpenSearch cluster (set REKOGNITO_SKIP_OPENSEARCH=1 to skip): {exc}"
        )
    try:
        yield running
    finally:
        running.stop()


def test_killing_the_primary_node_loses_no_acknowledged_face(cluster: RunningCluster) -> None:
    run = kill_one_node_while_indexing(cluster, batches=6, batch_size=40, kill_after_batches=2)

    summary = run.summary()
    assert len(cluster.alive()) == 2
    assert summary["health_after"]["number_of_nodes"] == 2
    # Every batch before the kill was acknowledged, and the cluster took writes again after it.
    assert summary["acknowledged_faces"] >= 3 * 40, summary
    assert run.lost == [], summary
    assert run.not_found_by_search == [], summary
    # Searches kept answering through the kill.
    assert run.searches_after_kill_ok > 0, summary
