"""Image decoding with Rekognition's limits.

Only JPEG and PNG are accepted, as by Rekognition. The header is read first and the pixel
count checked before any pixel is decoded, so a decompression bomb is refused cheaply. The
EXIF orientation is applied, so boxes are relative to the upright image.

Every mode Pillow decodes a JPEG or PNG into becomes 8-bit RGB by :func:`to_rgb`: 16-bit
grayscale (``I;16``, ``I;16B``, ``I``) is scaled, not clipped, to 0..255 (Pillow's own
conversion clips every value above 255 to white); images with transparency (``RGBA``,
``LA``, ``P``/``L``/``RGB`` with a transparent colour) are composited over white, so
transparent pixels do not show whatever colour happens to lie under them; CMYK and
palette images go through Pillow's conversion.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from rekognito.api._generated import ImageTooLargeException, InvalidImageFormatException

MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_S3_IMAGE_BYTES = 15 * 1024 * 1024
MIN_DIMENSION = 1
_FORMATS = ("JPEG", "PNG")
# Bulk indexing (import, drop folder) decodes a JPEG at a reduced DCT scale (Pillow's draft
# mode: 1/2, 1/4 or 1/8, far cheaper than a full decode plus resize) when the image is much
# larger than the face detector's 640 px input; the long side stays at least this many pixels.
INDEXING_MIN_SIDE = 1920
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_SIXTEEN_TO_EIGHT = 65535 / 255  # 257: 0 -> 0, 65535 -> 255


def to_rgb(image: Image.Image) -> Image.Image:
    """``image`` as 8-bit RGB, its full range kept (see the module docstring)."""
    mode = image.mode
    if mode in _SIXTEEN_BIT_MODES or mode == "F":
        values = np.asarray(image, dtype=np.float64)
        if mode != "F":
            values = values / _SIXTEEN_TO_EIGHT
        gray = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")
    if mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


@dataclass(frozen=True)
class DecodedImage:
    """An upright RGB image. ``rgb`` is HxWx3 uint8."""

    pil: Image.Image
    rgb: npt.NDArray[np.uint8]
    format: str

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def decode_image(
    data: bytes, *, max_pixels: int, max_bytes: int = MAX_IMAGE_BYTES, min_side: int | None = None
) -> DecodedImage:
    """Decode with Rekognition's limits. ``min_side``: a JPEG may be decoded smaller, keeping
    its long side >= ``min_side`` (see ``INDEXING_MIN_SIDE``); boxes are ratios, so unchanged."""
    if not data:
        raise InvalidImageFormatException("Request has invalid image format: the image is empty")
    if len(data) > max_bytes:
        raise ImageTooLargeException(
            f"Image size is too large: {len(data)} bytes exceeds the limit of {max_bytes} bytes"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=_FORMATS)
            width, height = image.size
            if width < MIN_DIMENSION or height < MIN_DIMENSION:
                raise InvalidImageFormatException("Request has invalid image format: empty image")
            if width * height > max_pixels:
                raise ImageTooLargeException(
                    f"Image dimensions {width}x{height} exceed the limit of {max_pixels} pixels"
                )
            if min_side is not None and image.format == "JPEG":
                _draft(image, min_side)
            image.load()
            upright: Image.Image = ImageOps.exif_transpose(image) or image
            rgb_image = to_rgb(upright)
    except (ImageTooLargeException, InvalidImageFormatException):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeException("Image dimensions exceed the supported limit") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, TypeError) as exc:
        raise InvalidImageFormatException(
            "Request has invalid image format: expected a complete JPEG or PNG image"
        ) from exc
    rgb = np.asarray(rgb_image, dtype=np.uint8)
    return DecodedImage(pil=rgb_image, rgb=rgb, format=str(image.format or "JPEG"))


def _draft(image: Image.Image, min_side: int) -> None:
    width, height = image.size
    scale = 1
    while scale < 8 and max(width, height) // (scale * 2) >= min_side:
        scale *= 2
    if scale > 1:
        image.draft("RGB", (width // scale, height // scale))
