"""PNG plots of a benchmarks report (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _save(figure: Any, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def latency(report: dict[str, Any], folder: Path) -> list[Path]:
    rows = report.get("http", [])
    paths = []
    for sweep, key, label, name in (
        ("megapixels", "megapixels", "photo size (megapixels, 1 face)", "latency_megapixels.png"),
        ("faces", "faces", "faces in a 2 MP photo", "latency_faces.png"),
    ):
        selected = [r for r in rows if r["sweep"] == sweep]
        if not selected:
            continue
        figure, axis = plt.subplots(figsize=(7, 4.2))
        for operation in dict.fromkeys(r["operation"] for r in selected):
            for threads in sorted({r["inference_threads"] for r in selected}):
                points = sorted(
                    (r[key], r["p50_ms"])
                    for r in selected
                    if r["operation"] == operation and r["inference_threads"] == threads
                )
                style = "-" if threads == 1 else "--"
                axis.plot(
                    [p[0] for p in points],
                    [p[1] for p in points],
                    style,
                    marker="o",
                    label=f"{operation}, {threads} thread{'s' if threads > 1 else ''}",
                )
        if sweep == "megapixels":
            axis.set_xscale("log")
        axis.set_xlabel(label)
        axis.set_ylabel("p50 latency over HTTP (ms)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7, ncol=2)
        paths.append(_save(figure, folder, name))
    stages = [r for r in report.get("stages", []) if r["inference_threads"] == 1]
    if stages:
        figure, axis = plt.subplots(figsize=(8, 4.2))
        bottoms = [0.0] * len(stages)
        for stage in ("decode", "detect", "mesh", "align", "embed", "store", "search"):
            values = [r["stages"][stage].get("p50_ms", 0.0) for r in stages if stage in r["stages"]]
            if len(values) != len(stages):
                continue
            axis.bar(range(len(stages)), values, bottom=bottoms, label=stage)
            bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
        axis.set_xticks(
            range(len(stages)), [r["workload"] for r in stages], rotation=30, ha="right", fontsize=8
        )
        axis.set_ylabel("p50 per stage, in-process (ms)")
        axis.legend(fontsize=8)
        axis.grid(axis="y", alpha=0.3)
        paths.append(_save(figure, folder, "stages.png"))
    return paths


def scale(report: dict[str, Any], folder: Path) -> list[Path]:
    curves = {k: v["rows"] for k, v in report.items() if isinstance(v, dict) and v.get("rows")}
    if not curves:
        return []
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for rows in curves.values():
        label = rows[0]["backend"]
        x = [r["faces"] for r in rows]
        left.plot(x, [r["p50_ms"] for r in rows], marker="o", label=f"{label} p50")
        left.plot(x, [r["p95_ms"] for r in rows], marker=".", linestyle=":", label=f"{label} p95")
        right.plot(x, [r["memory_delta_bytes"] / 2**20 for r in rows], marker="o", label=label)
    for axis in (left, right):
        axis.set_xscale("log")
        axis.set_xlabel("faces in the collection")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    left.set_yscale("log")
    left.set_ylabel("store.search latency (ms)")
    right.set_ylabel("memory added by the collection (MiB, RSS)")
    return [_save(figure, folder, "scale.png")]


def accuracy(report: dict[str, Any], folder: Path) -> list[Path]:
    ours = report.get("systems", {}).get("rekognito")
    if not ours:
        return []
    thresholds = list(ours["at_threshold"])
    fnmr_all = [ours["at_threshold"][t]["all_genuine"]["false_non_match_rate"] * 100 for t in thresholds]
    fnmr_distinct = [
        ours["at_threshold"][t]["distinct_photos_only"]["false_non_match_rate"] * 100 for t in thresholds
    ]
    fmr = [ours["at_threshold"][t]["all_genuine"]["false_match_rate"] * 100 for t in thresholds]
    figure, axis = plt.subplots(figsize=(7, 4))
    positions = range(len(thresholds))
    axis.bar([p - 0.27 for p in positions], fmr, width=0.27, label="FMR (impostor pairs)")
    axis.bar(list(positions), fnmr_all, width=0.27, label="FNMR (all genuine pairs)")
    axis.bar([p + 0.27 for p in positions], fnmr_distinct, width=0.27, label="FNMR (distinct photos only)")
    peer = report.get("systems", {}).get("face_recognition")
    if peer:
        rule = next(iter(peer["at_threshold"]))
        rates = peer["at_threshold"][rule]["all_genuine"]
        axis.axhline(
            rates["false_non_match_rate"] * 100,
            color="grey",
            linestyle="--",
            label=f"face_recognition FNMR at {rule}",
        )
    axis.set_xticks(list(positions), [f"Similarity >= {t}" for t in thresholds])
    axis.set_ylabel("rate (%)")
    axis.grid(axis="y", alpha=0.3)
    axis.legend(fontsize=8)
    return [_save(figure, folder, "accuracy.png")]


def peer(report: dict[str, Any], folder: Path) -> list[Path]:
    rows = report.get("rows") or []
    if not rows:
        return []
    figure, axis = plt.subplots(figsize=(8, 4))
    names = [r["image"] for r in rows]
    width = 0.38
    for offset, system, stages in (
        (-width / 2, "rekognito", ("detect", "align", "embed")),
        (width / 2, "face_recognition", ("detect", "landmarks", "encode")),
    ):
        bottoms = [0.0] * len(rows)
        for stage in stages:
            values = [r["p50"][f"{system}_{stage}_ms"] for r in rows]
            axis.bar(
                [i + offset for i in range(len(rows))],
                values,
                width=width,
                bottom=bottoms,
                label=f"{system} {stage}",
            )
            bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    axis.set_xticks(range(len(rows)), names, fontsize=8)
    axis.set_ylabel("p50 per image (ms)")
    axis.grid(axis="y", alpha=0.3)
    axis.legend(fontsize=7, ncol=2)
    return [_save(figure, folder, "peer_speed.png")]
