"""Bulk indexing decodes large JPEGs at a reduced DCT scale, never below the floor it is given."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from rekognito.images import INDEXING_MIN_SIDE, decode_image


def encoded(width: int, height: int, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (120, 80, 40)).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((4032, 3024), (2016, 1512)),
        ((8000, 2000), (2000, 500)),
        ((1920, 1080), (1920, 1080)),
        ((3000, 800), (3000, 800)),
    ],
)
def test_large_jpegs_decode_smaller_but_not_below_the_floor(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    image = decode_image(encoded(*size, "JPEG"), max_pixels=80_000_000, min_side=INDEXING_MIN_SIDE)

    assert (image.width, image.height) == expected
    assert max(image.width, image.height) >= min(INDEXING_MIN_SIDE, max(size))


def test_without_a_floor_and_for_png_the_full_image_is_decoded() -> None:
    assert decode_image(encoded(4032, 3024, "JPEG"), max_pixels=80_000_000).width == 4032
    assert decode_image(encoded(4032, 3024, "PNG"), max_pixels=80_000_000, min_side=1920).width == 4032
