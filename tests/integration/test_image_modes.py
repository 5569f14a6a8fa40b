"""Issue 15 row 12: images in every mode JPEG/PNG allow reach the models with their full range."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from rekognito.images import decode_image

LIMITS = {"max_pixels": 80_000_000, "max_bytes": 15 * 1024 * 1024}


def png(image: Image.Image, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **options)
    return buffer.getvalue()


def sixteen_bit_gray(photo: bytes) -> tuple[bytes, np.ndarray]:
    """A full-range 16-bit grayscale PNG of ``photo``, and its 8-bit grayscale pixels."""
    gray = np.asarray(Image.open(io.BytesIO(photo)).convert("L"))
    return png(Image.fromarray(gray.astype(np.uint16) * 257)), gray


def test_a_sixteen_bit_grayscale_png_is_scaled_not_clipped(photo: Any) -> None:
    data, gray = sixteen_bit_gray(photo("obama.jpg"))
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    decoded = decode_image(data, **LIMITS)
    assert decoded.rgb.dtype == np.uint8
    assert np.abs(decoded.rgb[..., 1].astype(int) - gray).max() == 0


def test_big_endian_sixteen_bit_and_float_modes_keep_their_range() -> None:
    from rekognito.images import to_rgb

    ramp = np.linspace(0, 65535, 256).astype(np.uint16).reshape(16, 16)
    big_endian = Image.frombytes("I;16B", (16, 16), ramp.astype(">u2").tobytes())
    assert np.asarray(to_rgb(big_endian))[..., 0].max() == 255
    assert np.asarray(to_rgb(big_endian))[..., 0].min() == 0
    assert len(np.unique(np.asarray(to_rgb(big_endian)))) > 200
    floats = Image.fromarray(np.full((4, 4), 127.6, dtype=np.float32), "F")
    assert np.asarray(to_rgb(floats))[0, 0].tolist() == [128, 128, 128]


def test_transparent_pixels_become_white_not_their_hidden_colour() -> None:
    rgba = Image.new("RGBA", (8, 8), (0, 0, 0, 0))  # transparent, black underneath
    rgba.putpixel((0, 0), (200, 10, 10, 255))
    decoded = decode_image(png(rgba), **LIMITS)
    assert decoded.rgb[1, 1].tolist() == [255, 255, 255]
    assert decoded.rgb[0, 0].tolist() == [200, 10, 10]
    gray_alpha = decode_image(png(Image.new("LA", (4, 4), (0, 0))), **LIMITS)
    assert gray_alpha.rgb[0, 0].tolist() == [255, 255, 255]
    palette = Image.new("P", (4, 4), 0)
    palette.putpalette([0, 0, 0, 50, 60, 70] + [0] * 762)
    palette.putpixel((0, 0), 1)
    decoded = decode_image(png(palette, transparency=0), **LIMITS)
    assert decoded.rgb[1, 1].tolist() == [255, 255, 255]
    assert decoded.rgb[0, 0].tolist() == [50, 60, 70]


def test_cmyk_jpeg_is_converted() -> None:
    buffer = io.BytesIO()
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(buffer, "JPEG", quality=95)
    decoded = decode_image(buffer.getvalue(), **LIMITS)
    red, green, blue = decoded.rgb[4, 4].tolist()
    assert red > 200 and green < 60 and blue < 60


def test_the_face_in_a_sixteen_bit_png_is_found_over_http(client: Any, photo: Any) -> None:
    # Given a full-range 16-bit grayscale PNG of a photo with one face, and its 8-bit copy
    data, gray = sixteen_bit_gray(photo("obama.jpg"))
    eight_bit = png(Image.fromarray(gray))
    # When both are sent to DetectFaces
    faces_16 = client.detect_faces(Image={"Bytes": data})["FaceDetails"]
    faces_8 = client.detect_faces(Image={"Bytes": eight_bit})["FaceDetails"]
    # Then the 16-bit one finds the same face (it found none when values were clipped)
    assert len(faces_8) == 1
    assert len(faces_16) == 1
    assert abs(faces_16[0]["Confidence"] - faces_8[0]["Confidence"]) < 0.5
