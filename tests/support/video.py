"""Test videos composed from the pinned test photos, encoded with PyAV (H.264 in MP4 or MOV).

Nothing is committed: each test renders what it needs into its temporary directory. The
scene (:data:`SCENE`) has people entering and leaving at different sizes and places:

=========  ==================================  ============  =====================
who        photo (crop around the head)        on screen      size
=========  ==================================  ============  =====================
obama      obama.jpg                           2.0 - 11.0 s   growing, left
biden      biden.jpg                           6.0 - 16.0 s   shrinking, moving left
group      group6.jpg (six other people)       13.0 - 18.0 s  whole photo, small faces
=========  ==================================  ============  =====================

The collection in the tests holds obama from a *different* photo (obama2.jpg) and biden
from biden.jpg (the only photo of him in the pinned packages).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import av
from PIL import Image, ImageDraw

from tests.support.test_data import image_path


@dataclass(frozen=True)
class Appearance:
    name: str
    photo: str
    crop: tuple[float, float, float, float]  # left, top, right, bottom as ratios of the photo
    start_s: float
    end_s: float
    x: tuple[float, float]  # left edge at start and at end, as ratios of the frame width
    y: float  # top edge, ratio of the frame height
    height: tuple[float, float]  # at start and at end, ratios of the frame height


SCENE = (
    Appearance("obama", "obama.jpg", (0.25, 0.0, 0.83, 0.6), 2.0, 11.0, (0.05, 0.05), 0.15, (0.4, 0.7)),
    Appearance("biden", "biden.jpg", (0.3, 0.0, 0.88, 0.42), 6.0, 16.0, (0.72, 0.55), 0.2, (0.6, 0.38)),
    Appearance("group", "group6.jpg", (0.0, 0.0, 1.0, 1.0), 13.0, 18.0, (0.03, 0.03), 0.4, (0.55, 0.55)),
)
DURATION_S = 20.0


def first_frame_ms(appearance: Appearance, fps: int) -> int:
    """When the appearance's first frame is shown."""
    return int(math.ceil(appearance.start_s * fps) * 1000 / fps)


def _background(width: int, height: int, t: float) -> Image.Image:
    image = Image.new("RGB", (width, height), (96, 104, 112))
    draw = ImageDraw.Draw(image)
    for row in range(0, height, 8):
        shade = 80 + int(60 * row / height)
        draw.rectangle((0, row, width, row + 8), fill=(shade, shade + 8, shade + 16))
    # Something that moves, so that frames differ even without people.
    x = int((t * 0.05 % 1.0) * width)
    draw.rectangle((x, int(height * 0.85), x + width // 10, height), fill=(150, 120, 90))
    return image


def render(
    path: Path,
    *,
    width: int = 640,
    height: int = 360,
    fps: int = 15,
    duration_s: float = DURATION_S,
    scene: tuple[Appearance, ...] = SCENE,
    container_format: str | None = None,
) -> Path:
    """Write the scene as H.264 (yuv420p) into ``path`` (MP4, or MOV for ``.mov``)."""
    photos = {}
    for appearance in scene:
        photo = Image.open(image_path(appearance.photo)).convert("RGB")
        left, top, right, bottom = appearance.crop
        photos[appearance.name] = photo.crop(
            (
                int(left * photo.width),
                int(top * photo.height),
                int(right * photo.width),
                int(bottom * photo.height),
            )
        )
    with av.open(str(path), mode="w", format=container_format) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "20"}
        for index in range(int(duration_s * fps)):
            t = index / fps
            frame = _background(width, height, t)
            for appearance in scene:
                if not appearance.start_s <= t < appearance.end_s:
                    continue
                progress = (t - appearance.start_s) / (appearance.end_s - appearance.start_s)
                photo = photos[appearance.name]
                h = int(
                    height * (appearance.height[0] + progress * (appearance.height[1] - appearance.height[0]))
                )
                w = int(photo.width * h / photo.height)
                x = int(width * (appearance.x[0] + progress * (appearance.x[1] - appearance.x[0])))
                frame.paste(photo.resize((w, h), Image.Resampling.BILINEAR), (x, int(height * appearance.y)))
            for packet in stream.encode(av.VideoFrame.from_image(frame)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def corrupt_copy(source: Path, target: Path) -> Path:
    """The first 32 KiB of a real video followed by noise: the header promises a video."""
    data = source.read_bytes()[: 32 * 1024]
    noise = random.Random(7).randbytes(256 * 1024)
    target.write_bytes(data + noise)
    return target


def render_text(
    path: Path, text: str, *, start_s: float, end_s: float, duration_s: float = 4.0, fps: int = 10
) -> Path:
    """A white 640x360 video showing ``text`` in large black letters between two times."""
    from PIL import ImageFont

    font = ImageFont.load_default(size=56)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for index in range(int(duration_s * fps)):
            frame = Image.new("RGB", (640, 360), (255, 255, 255))
            if start_s <= index / fps < end_s:
                ImageDraw.Draw(frame).text((60, 140), text, fill=(0, 0, 0), font=font)
            for packet in stream.encode(av.VideoFrame.from_image(frame)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
