"""A three-node OpenSearch cluster loses a node mid-run: is every acknowledged face still there?

Not a test (the suite's small version is tests/integration/test_opensearch_cluster.py): a
measurement written to ``reports/opensearch_cluster.json``. Three nodes on loopback
(``tests/support/opensearch_node.start_cluster``), one replica per shard, the store as the
application builds it (every node's URL in ``REKOGNITO_OPENSEARCH_URL``). ``--preload`` faces
are loaded first; then a writer puts ``--batches`` batches while a searcher searches without
pause, and after ``--kill-after`` batches the node holding the primary shard of the face index
is killed with SIGKILL. Reported: acknowledged faces, those lost (not readable by id) and not
found by searching their own vector, failed batches and searches, the first successful search
after the kill, search latency, and the cluster's health afterwards.

    python bench/opensearch_cluster.py                      # 20k preloaded, 20 batches of 100
    python bench/opensearch_cluster.py --quick              # 2k preloaded, 8 batches of 50
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.support.cluster_run import kill_one_node_while_indexing  # noqa: E402
from tests.support.opensearch_node import start_cluster  # noqa: E402

from bench._report import machine  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--heap", default="512m", help="heap per node")
    parser.add_argument("--preload", type=int, default=20_000)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--kill-after", type=int, default=8, help="batches written before the kill")
    parser.add_argument("--search-sample", type=int, default=1000, help="preloaded faces searched afterwards")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "opensearch_cluster.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.preload, args.batches, args.batch_size, args.kill_after, args.search_sample = 2000, 8, 50, 3, 200
    report: dict[str, object] = {
        "machine_before": machine(),
        "parameters": vars(args) | {"out": str(args.out)},
    }
    began = time.perf_counter()
    with start_cluster(args.nodes, heap=args.heap) as cluster:
        report["cluster_start_s"] = round(cluster.start_seconds, 1)
        run = kill_one_node_while_indexing(
            cluster,
            batches=args.batches,
            batch_size=args.batch_size,
            kill_after_batches=args.kill_after,
            preload=args.preload,
            search_sample=args.search_sample,
        )
    report["run"] = run.summary()
    report["verdict"] = {
        "acknowledged_faces_lost": len(run.lost),
        "acknowledged_faces_not_found_by_search": len(run.not_found_by_search),
        "searches_kept_answering": run.searches_after_kill_ok > 0,
    }
    report["machine"] = machine()
    report["total_s"] = round(time.perf_counter() - began, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0 if not run.lost and not run.not_found_by_search else 1


if __name__ == "__main__":
    sys.exit(main())
