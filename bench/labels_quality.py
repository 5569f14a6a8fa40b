"""DetectLabels quality on the labelled photos of tests/data/labels_expected.json.

For every photo: does the obvious label come back at >= 55, which labels come back that are
wrong (at >= 55 and >= 80), and how well the instance boxes overlap the hand-marked ones.
Precision of labels at >= 80 is reported per split ("fit" photos were used to fit the
calibration curves, "holdout" photos were not). Latency: DetectLabels (the operation, image
bytes in) on a ~1 MP photo, p50 over repeats, one inference thread.

    python bench/labels_quality.py [--quick] [--fit]

``--fit`` refits the calibration curves of rekognito.inference.label_calibration on the fit
photos, prints them (paste them into CURVES) and evaluates with them. Writes
reports/labels_quality.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.labels_photos import Photo, load_photos

from bench import _report
from rekognito.inference import label_calibration
from rekognito.inference.label_calibration import (
    CLASSIFIER_GENERAL,
    CLASSIFIER_SPECIFIC,
    DETECTOR_OTHER,
    DETECTOR_PERSON,
    FACE,
    Curve,
    fit_curve,
)
from rekognito.inference.labels import LabelDetector, LabelEvidence, LabelResult, person_faces
from rekognito.operations.labels import detect_labels
from rekognito.request import RequestContext
from rekognito.services import Services
from rekognito.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
LATENCY_PHOTO = "insightface/group6"  # 1280x886, 1.13 MP


@dataclass
class Sample:
    source: str
    score: float
    right: bool
    greyscale: bool


def samples(photo: Photo, evidence: LabelEvidence, detector: LabelDetector) -> list[Sample]:
    """One sample per (label, source): the source's best score for that label."""
    out: list[Sample] = []

    def add(source: str, label: str, score: float) -> None:
        verdict = photo.judge(label)
        if verdict is not None:
            out.append(Sample(source, score, verdict, evidence.greyscale))

    for label, mass in evidence.classifier.items():
        general = detector.classifier_curve(label) is label_calibration.CURVES[CLASSIFIER_GENERAL]
        add(CLASSIFIER_GENERAL if general else CLASSIFIER_SPECIFIC, label, mass)
    best: dict[str, float] = {}
    for label, detection in evidence.detections:
        best[label] = max(best.get(label, 0.0), detection.score)
    for label, score in best.items():
        add(DETECTOR_PERSON if label == "Person" else DETECTOR_OTHER, label, score)
    faces = person_faces(evidence)
    if faces:
        add(FACE, "Face", max(score for _, score in faces))
    return out


def fit(all_samples: list[Sample]) -> dict[str, Curve]:
    curves: dict[str, Curve] = {}
    for source in label_calibration.SOURCES:
        chosen = [s for s in all_samples if s.source == source]
        if not chosen:
            curves[source] = label_calibration.CURVES[source]
            continue
        curves[source] = fit_curve(
            [s.score for s in chosen],
            [s.right for s in chosen],
            [s.greyscale for s in chosen] if source.startswith("classifier") else None,
        )
    return curves


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def evaluate(photo: Photo, labels: list[LabelResult]) -> dict[str, Any]:
    shown = [label for label in labels if label.confidence >= 55.0]
    verdicts = {label.name: photo.judge(label.name) for label in shown}
    obvious = [label for label in shown if label.name in photo.obvious]
    ious: dict[str, float] = {}
    for name, boxes in photo.boxes.items():
        found = next((label for label in labels if label.name == name), None)
        for truth in boxes:
            best = 0.0
            for box, conf in found.instances if found else []:
                if conf >= 55.0:
                    best = max(
                        best, _iou((box.left, box.top, box.left + box.width, box.top + box.height), truth)
                    )
            ious[name] = best
    return {
        "id": photo.id,
        "split": photo.split,
        "acceptance": photo.acceptance,
        "obvious": photo.obvious,
        "obvious_hit": bool(obvious) if photo.obvious else None,
        "obvious_confidence": round(max((label.confidence for label in obvious), default=0.0), 1),
        "labels": [
            {"name": label.name, "confidence": round(label.confidence, 1), "right": verdicts[label.name]}
            for label in shown
        ],
        "wrong_55": [label.name for label in shown if verdicts[label.name] is False],
        "wrong_80": [
            label.name for label in shown if verdicts[label.name] is False and label.confidence >= 80
        ],
        "right_80": sum(1 for label in shown if verdicts[label.name] is True and label.confidence >= 80),
        "instance_iou": {k: round(v, 3) for k, v in ious.items()},
    }


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    with_obvious = [r for r in rows if r["obvious_hit"] is not None]
    wrong_80 = sum(len(r["wrong_80"]) for r in rows)
    right_80 = sum(r["right_80"] for r in rows)
    return {
        "photos": len(rows),
        "obvious_hits": sum(1 for r in with_obvious if r["obvious_hit"]),
        "photos_with_an_obvious_label": len(with_obvious),
        "wrong_labels_55": sum(len(r["wrong_55"]) for r in rows),
        "wrong_labels_80": wrong_80,
        "right_labels_80": right_80,
        "precision_80": round(right_80 / (right_80 + wrong_80), 3) if right_80 + wrong_80 else None,
        "missed": [r["id"] for r in with_obvious if not r["obvious_hit"]],
    }


def latency(photo: Photo, repeat: int) -> dict[str, Any]:
    services = Services(Settings(data_dir=ROOT / ".cache" / "bench-data", inference_threads=1))
    ctx = RequestContext(services=services, request_id="bench", operation="bench")
    data = photo.path.read_bytes()

    def call() -> None:
        detect_labels(ctx, {"Image": {"Bytes": data}})

    call()  # warm-up: sessions, first-run allocations
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    services.close()
    with Image.open(photo.path) as image:
        size = image.size
    return {"photo": photo.id, "size": list(size), **_report.summary(times)}


def _curve_source(curves: dict[str, Curve]) -> str:
    lines = ["CURVES: dict[str, Curve] = {"]
    names = {
        CLASSIFIER_GENERAL: "CLASSIFIER_GENERAL",
        CLASSIFIER_SPECIFIC: "CLASSIFIER_SPECIFIC",
        DETECTOR_PERSON: "DETECTOR_PERSON",
        DETECTOR_OTHER: "DETECTOR_OTHER",
        FACE: "FACE",
    }
    for source, curve in curves.items():
        numbers = f"slope={curve.slope:.3f}, offset={curve.offset:.3f}, grey={curve.grey:.3f}"
        lines.append(f"    {names[source]}: Curve({numbers}),")
    lines.append("}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 latency repeats instead of 15")
    parser.add_argument("--fit", action="store_true", help="refit the calibration curves first")
    args = parser.parse_args()
    photos = load_photos()
    detector = LabelDetector.from_settings(
        Settings(data_dir=ROOT / ".cache" / "bench-data", inference_threads=1)
    )
    evidence: dict[str, LabelEvidence] = {}
    for photo in photos:
        with Image.open(photo.path) as image:
            evidence[photo.id] = detector.evidence(image.convert("RGB"))
    curves = dict(label_calibration.CURVES)
    if args.fit:
        fit_samples = [s for p in photos if p.split == "fit" for s in samples(p, evidence[p.id], detector)]
        curves = fit(fit_samples)
        sys.stdout.write(_curve_source(curves) + "\n")
        label_calibration.CURVES.update(curves)
    rows = [evaluate(photo, detector.score(evidence[photo.id])) for photo in photos]
    report: dict[str, Any] = {
        "benchmark": "labels_quality",
        "data": "tests/data/labels_expected.json",
        "curves": {k: vars(v) for k, v in curves.items()},
        "summary": {
            "all": summarise(rows),
            "fit": summarise([r for r in rows if r["split"] == "fit"]),
            "holdout": summarise([r for r in rows if r["split"] == "holdout"]),
            "acceptance": summarise([r for r in rows if r["acceptance"]]),
        },
        "latency": latency(next(p for p in photos if p.id == LATENCY_PHOTO), 3 if args.quick else 15),
        "photos": rows,
    }
    path = _report.write("labels_quality", report)
    sys.stdout.write(json.dumps(report["summary"], indent=2) + "\n")
    sys.stdout.write(json.dumps(report["latency"]) + "\n")
    for row in rows:
        shown = ", ".join(
            f"{x['name']} {x['confidence']}{'' if x['right'] else ('?' if x['right'] is None else ' WRONG')}"
            for x in row["labels"][:8]
        )
        hit = {True: "HIT ", False: "MISS", None: "-   "}[row["obvious_hit"]]
        sys.stdout.write(f"{row['id']:<40} {hit} {shown}\n")
    sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
