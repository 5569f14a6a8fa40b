"""Plots of the scale reports: OpenSearch misses and latency against ``k``, the scale curves.

Reads ``reports/opensearch_recall*.json`` and ``reports/scale_*.json`` (or the files given)
and writes ``docs/plots/opensearch_recall.png`` and ``docs/plots/store_scale.png``::

    python bench/plot_scale.py
    python bench/plot_scale.py --recall docs/reports/opensearch_recall_100k.json \
        --scale docs/reports/scale_*.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench._plots import _save, plt  # noqa: E402


def recall_plot(reports: list[dict[str, Any]], folder: Path) -> Path:
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for report in reports:
        n = report["data"]["n"]
        loaded = report["opensearch"]["indexing"].get("segments", 0)
        for data, marker in (("synthetic", "o"), ("faces", "s")):
            for segments in sorted({r.get("segments", loaded) for r in report["opensearch"]["search"]}):
                rows = [
                    r
                    for r in report["opensearch"]["search"]
                    if r["data"] == data and r.get("segments", loaded) == segments
                ]
                if not rows:
                    continue
                spec = report["opensearch"]
                label = f"{n // 1000}k m{spec['m']} efc{spec['ef_construction']}, {segments} seg., {data}"
                k = [r["k"] for r in rows]
                left.plot(k, [100 * r["miss_rate"] for r in rows], marker=marker, label=label)
                right.plot(k, [r["store_p50_ms"] for r in rows], marker=marker, label=label)
    left.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    floors = sorted({r["data"].get("min_cosine") for r in reports})
    left.set_ylabel(f"true matches missed, cosine >= {', '.join(map(str, floors))} (%)")
    right.set_ylabel("store.search p50 (ms)")
    for axis in (left, right):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("k (ef_search): HNSW candidates")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=6)
    return _save(figure, folder, "opensearch_recall.png")


def scale_plot(reports: list[dict[str, Any]], folder: Path) -> Path:
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for report in reports:
        label = report["backend"] + (f" ({report['index']})" if report.get("index") else "")
        rows = report["rows"]
        x = [r["faces"] for r in rows]
        for data, style in (("faces", "-"), ("synthetic", ":")):
            p50 = [next(s["p50_ms"] for s in r["search"] if s["data"] == data) for r in rows]
            left.plot(x, p50, marker="o", linestyle=style, label=f"{label}, {data} queries")
        memory = [
            (r["vector_bytes"] if r.get("vector_bytes") is not None else r["rss_bytes"]) / 2**20 for r in rows
        ]
        what = "vectors in RAM" if rows[0].get("vector_bytes") is not None else "JVM RSS"
        right.plot(x, memory, marker="o", label=f"{label}: {what}")
    for axis in (left, right):
        axis.set_xscale("log")
        axis.set_xlabel("faces in the collection")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=6)
    left.set_yscale("log")
    floors = sorted({r.get("min_cosine") for r in reports})
    left.set_ylabel(f"store.search p50 (ms), limit 80, cosine >= {', '.join(map(str, floors))}")
    right.set_ylabel("MiB")
    return _save(figure, folder, "store_scale.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    reports = REPO_ROOT / "reports"
    parser.add_argument(
        "--recall", nargs="*", type=Path, default=sorted(reports.glob("opensearch_recall*.json"))
    )
    parser.add_argument("--scale", nargs="*", type=Path, default=sorted(reports.glob("scale_*.json")))
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "plots")
    args = parser.parse_args(argv)
    if args.recall:
        print(recall_plot([json.loads(p.read_text()) for p in args.recall], args.out))
    if args.scale:
        print(scale_plot([json.loads(p.read_text()) for p in args.scale], args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
