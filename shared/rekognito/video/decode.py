"""Video probing and frame sampling with PyAV (FFmpeg's libraries, shipped in the ``av`` wheel).

Frames are sampled on a fixed grid (every ``interval_ms`` from the start of the video), so
that segments decoded by different workers line up: a segment ``[start_ms, end_ms)`` yields
the grid points inside it, each as the first decoded frame at or after that point. Every
frame is decoded (H.264 needs its references) but only sampled frames are converted to RGB,
which is where most of the cost of decoding would otherwise go.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from PIL import Image

log = logging.getLogger(__name__)

# FFmpeg's AVCOL_RANGE_JPEG: full-range (0-255) luma; anything else is reported LIMITED.
_FULL_RANGE = 2


class VideoDecodeError(Exception):
    """The object is not a video we can decode (corrupt, no video stream, unknown format)."""


class VideoSupportMissing(Exception):
    """PyAV is not installed (the ``video`` extra)."""


def require_video_support() -> Any:
    """The ``av`` module; raises :class:`VideoSupportMissing` when PyAV is not installed."""
    try:
        import av
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise VideoSupportMissing(
            "Video analysis is not available on this server: it needs PyAV (pip install "
            "'rekognito[video]') or, deployed, the video worker (VideoWorkerImageUri); see docs/video.md"
        ) from exc
    return av


@dataclass(frozen=True)
class VideoInfo:
    codec: str
    duration_ms: int
    format: str
    frame_rate: float
    width: int
    height: int
    color_range: str

    def to_api(self) -> dict[str, Any]:
        """Rekognition's ``VideoMetadata``."""
        return {
            "Codec": self.codec,
            "DurationMillis": self.duration_ms,
            "Format": self.format,
            "FrameRate": self.frame_rate,
            "FrameHeight": self.height,
            "FrameWidth": self.width,
            "ColorRange": self.color_range,
        }

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> VideoInfo:
        return cls(
            codec=str(data["Codec"]),
            duration_ms=int(data["DurationMillis"]),
            format=str(data["Format"]),
            frame_rate=float(data["FrameRate"]),
            width=int(data["FrameWidth"]),
            height=int(data["FrameHeight"]),
            color_range=str(data["ColorRange"]),
        )


def _open(path: Path) -> tuple[Any, Any]:
    av = require_video_support()
    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoDecodeError(f"the object is not a video FFmpeg can read ({type(exc).__name__})") from exc
    if not container.streams.video:
        container.close()
        raise VideoDecodeError("the object has no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return container, stream


def probe(path: Path) -> VideoInfo:
    """The metadata of the first video stream; raises :class:`VideoDecodeError`."""
    container, stream = _open(path)
    try:
        ctx = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate or 0
        if container.duration is not None:
            duration_ms = int(container.duration // 1000)  # AV_TIME_BASE is microseconds
        elif stream.duration is not None and stream.time_base is not None:
            duration_ms = int(stream.duration * stream.time_base * 1000)
        else:
            duration_ms = 0
        if not ctx.width or not ctx.height:
            raise VideoDecodeError("the video stream has no frame size")
        return VideoInfo(
            codec=str(ctx.name),
            duration_ms=max(0, duration_ms),
            format=str(container.format.long_name or container.format.name),
            frame_rate=round(float(rate), 3),
            width=int(ctx.width),
            height=int(ctx.height),
            color_range="FULL" if int(ctx.color_range or 0) == _FULL_RANGE else "LIMITED",
        )
    finally:
        container.close()


@dataclass(frozen=True)
class SampledFrame:
    timestamp_ms: int
    image: Image.Image


def _frame_ms(frame: Any, time_base: Fraction) -> int | None:
    if frame.pts is None:
        return None
    ms: int = math.floor(frame.pts * time_base * 1000)
    return ms


def sample_frames(
    path: Path, interval_ms: int, start_ms: int = 0, end_ms: int | None = None, max_width: int = 0
) -> Iterator[SampledFrame]:
    """The frames at the grid points ``k * interval_ms`` within ``[start_ms, end_ms)``.

    Raises :class:`VideoDecodeError` when the data cannot be decoded; frames yielded
    before the error stay valid.
    """
    if interval_ms <= 0:
        raise ValueError("interval_ms must be positive")
    av = require_video_support()
    container, stream = _open(path)
    time_base: Fraction = stream.time_base or Fraction(1, 1000)
    due = math.ceil(start_ms / interval_ms) * interval_ms
    try:
        if start_ms > 0:
            # Back to the key frame before start_ms; frames before it are decoded, not sampled.
            container.seek(int(start_ms / 1000 / time_base), stream=stream, backward=True, any_frame=False)
        for frame in container.decode(stream):
            ms = _frame_ms(frame, time_base)
            if ms is None or ms < due:
                continue
            if end_ms is not None and ms >= end_ms:
                break
            if max_width and frame.width > max_width:
                # Scaled by FFmpeg (swscale) while converting: the cost lever of REKOGNITO_VIDEO_MAX_WIDTH.
                height = max(2, round(frame.height * max_width / frame.width))
                yield SampledFrame(ms, frame.to_image(width=max_width, height=height))
            else:
                yield SampledFrame(ms, frame.to_image())
            # Skip grid points the frame already covered (variable frame rate, gaps).
            due = (ms // interval_ms + 1) * interval_ms
    except av.FFmpegError as exc:
        raise VideoDecodeError(f"the video could not be decoded ({type(exc).__name__}: {exc})") from exc
    finally:
        container.close()
