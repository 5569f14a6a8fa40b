"""DetectLabels' IMAGE_PROPERTIES: quality measures and dominant colours, in numpy.

* Brightness: mean luma (Rec. 601), as 0-100.
* Contrast: standard deviation of luma relative to its largest possible value, 0-100.
* Sharpness: mean absolute Laplacian response of the luma at 512 px, mapped to 0-100 with
  a saturating curve (a heuristic scale, not Rekognition's).
* Dominant colours: k-means (k=``MAX_CLUSTERS``, fixed seed) on a 64x64 thumbnail, each
  cluster named by the nearest CSS colour and by a simplified colour family.
* Foreground/background: the centre ellipse of the image and the rest (a cheap proxy, no
  segmentation model).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

FloatArray = npt.NDArray[np.float64]

MAX_CLUSTERS = 10
_SHARPNESS_SCALE = 12.0
_KMEANS_ITERATIONS = 12

# A subset of the CSS named colours (name -> RGB) and the simplified family of each.
_CSS_COLORS: dict[str, tuple[tuple[int, int, int], str]] = {
    "black": ((0, 0, 0), "black"),
    "dim_grey": ((105, 105, 105), "grey"),
    "grey": ((128, 128, 128), "grey"),
    "dark_grey": ((169, 169, 169), "grey"),
    "silver": ((192, 192, 192), "grey"),
    "light_grey": ((211, 211, 211), "grey"),
    "gainsboro": ((220, 220, 220), "white"),
    "white_smoke": ((245, 245, 245), "white"),
    "white": ((255, 255, 255), "white"),
    "maroon": ((128, 0, 0), "red"),
    "dark_red": ((139, 0, 0), "red"),
    "red": ((255, 0, 0), "red"),
    "firebrick": ((178, 34, 34), "red"),
    "crimson": ((220, 20, 60), "red"),
    "indian_red": ((205, 92, 92), "red"),
    "salmon": ((250, 128, 114), "pink"),
    "pink": ((255, 192, 203), "pink"),
    "hot_pink": ((255, 105, 180), "pink"),
    "orange_red": ((255, 69, 0), "orange"),
    "dark_orange": ((255, 140, 0), "orange"),
    "orange": ((255, 165, 0), "orange"),
    "chocolate": ((210, 105, 30), "brown"),
    "saddle_brown": ((139, 69, 19), "brown"),
    "sienna": ((160, 82, 45), "brown"),
    "brown": ((165, 42, 42), "brown"),
    "peru": ((205, 133, 63), "brown"),
    "tan": ((210, 180, 140), "brown"),
    "burly_wood": ((222, 184, 135), "brown"),
    "wheat": ((245, 222, 179), "beige"),
    "beige": ((245, 245, 220), "beige"),
    "gold": ((255, 215, 0), "yellow"),
    "yellow": ((255, 255, 0), "yellow"),
    "khaki": ((240, 230, 140), "yellow"),
    "olive": ((128, 128, 0), "green"),
    "olive_drab": ((107, 142, 35), "green"),
    "dark_green": ((0, 100, 0), "green"),
    "green": ((0, 128, 0), "green"),
    "forest_green": ((34, 139, 34), "green"),
    "lime_green": ((50, 205, 50), "green"),
    "dark_olive_green": ((85, 107, 47), "green"),
    "sea_green": ((46, 139, 87), "green"),
    "teal": ((0, 128, 128), "teal"),
    "dark_cyan": ((0, 139, 139), "teal"),
    "cyan": ((0, 255, 255), "teal"),
    "turquoise": ((64, 224, 208), "teal"),
    "steel_blue": ((70, 130, 180), "blue"),
    "sky_blue": ((135, 206, 235), "blue"),
    "royal_blue": ((65, 105, 225), "blue"),
    "blue": ((0, 0, 255), "blue"),
    "navy": ((0, 0, 128), "blue"),
    "midnight_blue": ((25, 25, 112), "blue"),
    "slate_grey": ((112, 128, 144), "grey"),
    "dark_slate_grey": ((47, 79, 79), "grey"),
    "purple": ((128, 0, 128), "purple"),
    "indigo": ((75, 0, 130), "purple"),
    "medium_purple": ((147, 112, 219), "purple"),
    "violet": ((238, 130, 238), "purple"),
    "plum": ((221, 160, 221), "purple"),
    "magenta": ((255, 0, 255), "magenta"),
}
_CSS_NAMES = list(_CSS_COLORS)
_CSS_RGB = np.array([_CSS_COLORS[n][0] for n in _CSS_NAMES], dtype=np.float64)


@dataclass(frozen=True)
class DominantColor:
    red: int
    green: int
    blue: int
    pixel_percent: float

    @property
    def hex_code(self) -> str:
        return f"#{self.red:02x}{self.green:02x}{self.blue:02x}"

    @property
    def css_name(self) -> str:
        rgb = np.array([self.red, self.green, self.blue], dtype=np.float64)
        return _CSS_NAMES[int(np.argmin(((_CSS_RGB - rgb) ** 2).sum(axis=1)))]

    @property
    def simplified(self) -> str:
        return _CSS_COLORS[self.css_name][1]


@dataclass(frozen=True)
class Quality:
    brightness: float
    sharpness: float
    contrast: float


@dataclass(frozen=True)
class RegionProperties:
    quality: Quality
    colors: list[DominantColor]


@dataclass(frozen=True)
class ImageProperties:
    whole: RegionProperties
    foreground: RegionProperties
    background: RegionProperties


def _luma(rgb: FloatArray) -> FloatArray:
    return np.asarray(rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114, dtype=np.float64)


def _quality(luma: FloatArray, mask: npt.NDArray[np.bool_]) -> Quality:
    values = luma[mask]
    if values.size == 0:
        return Quality(0.0, 0.0, 0.0)
    brightness = float(values.mean() / 255.0 * 100.0)
    contrast = float(min(100.0, values.std() / 127.5 * 100.0))
    laplacian = np.zeros_like(luma)
    laplacian[1:-1, 1:-1] = (
        luma[:-2, 1:-1] + luma[2:, 1:-1] + luma[1:-1, :-2] + luma[1:-1, 2:] - 4.0 * luma[1:-1, 1:-1]
    )
    inner = mask.copy()
    inner[[0, -1], :] = False
    inner[:, [0, -1]] = False
    response = float(np.abs(laplacian[inner]).mean()) if inner.any() else 0.0
    sharpness = float(100.0 * (1.0 - np.exp(-response / _SHARPNESS_SCALE)))
    return Quality(brightness, sharpness, contrast)


def _kmeans(pixels: FloatArray, k: int) -> list[DominantColor]:
    if pixels.shape[0] == 0 or k <= 0:
        return []
    k = min(k, pixels.shape[0])
    rng = np.random.default_rng(0)
    # k-means++ seeding for stable, well-spread clusters.
    centres = [pixels[rng.integers(pixels.shape[0])]]
    for _ in range(1, k):
        distance = np.min(((pixels[:, None, :] - np.array(centres)[None]) ** 2).sum(axis=2), axis=1)
        total = distance.sum()
        if total <= 0:
            break
        centres.append(pixels[rng.choice(pixels.shape[0], p=distance / total)])
    centre_array = np.array(centres)
    for _ in range(_KMEANS_ITERATIONS):
        assign = np.argmin(((pixels[:, None, :] - centre_array[None]) ** 2).sum(axis=2), axis=1)
        for index in range(centre_array.shape[0]):
            members = pixels[assign == index]
            if members.size:
                centre_array[index] = members.mean(axis=0)
    assign = np.argmin(((pixels[:, None, :] - centre_array[None]) ** 2).sum(axis=2), axis=1)
    counts = np.bincount(assign, minlength=centre_array.shape[0])
    colors = [
        DominantColor(
            round(centre_array[i, 0]),
            round(centre_array[i, 1]),
            round(centre_array[i, 2]),
            float(100.0 * counts[i] / pixels.shape[0]),
        )
        for i in range(centre_array.shape[0])
        if counts[i] > 0
    ]
    return sorted(colors, key=lambda c: -c.pixel_percent)


def analyse(image: Image.Image, max_colors: int = MAX_CLUSTERS) -> ImageProperties:
    """Quality and dominant colours of the whole image, its centre and its surround."""
    scale = min(1.0, 512 / max(image.size))
    work = (
        image
        if scale >= 1.0
        else image.resize(
            (max(1, round(image.width * scale)), max(1, round(image.height * scale))),
            Image.Resampling.BILINEAR,
        )
    )
    rgb = np.asarray(work, dtype=np.float64)
    luma = _luma(rgb)
    h, w = luma.shape
    yy, xx = np.mgrid[0:h, 0:w]
    centre = ((yy - h / 2) / (h * 0.35)) ** 2 + ((xx - w / 2) / (w * 0.35)) ** 2 <= 1.0
    everything = np.ones_like(centre)

    thumb = np.asarray(image.resize((64, 64), Image.Resampling.BILINEAR), dtype=np.float64)
    ty, tx = np.mgrid[0:64, 0:64]
    thumb_centre = ((ty - 32) / (64 * 0.35)) ** 2 + ((tx - 32) / (64 * 0.35)) ** 2 <= 1.0
    flat = thumb.reshape(-1, 3)
    k = min(max_colors, MAX_CLUSTERS) if max_colors else 0

    def region(mask: npt.NDArray[np.bool_], thumb_mask: npt.NDArray[np.bool_]) -> RegionProperties:
        return RegionProperties(_quality(luma, mask), _kmeans(flat[thumb_mask.reshape(-1)], k))

    return ImageProperties(
        whole=region(everything, np.ones_like(thumb_centre)),
        foreground=region(centre, thumb_centre),
        background=region(~centre, ~thumb_centre),
    )
