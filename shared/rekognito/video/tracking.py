"""Faces followed between sampled frames, so that a person keeps one index through a video.

Two observations belong to the same person when

* they are close in time (at most :data:`MAX_GAP_SAMPLES` sampling intervals apart), their
  boxes overlap (IoU >= :data:`MIN_IOU`) and their embeddings do not contradict it
  (cosine >= :data:`MIN_COSINE_WITH_OVERLAP`), or
* their embeddings agree strongly (cosine >= :data:`REID_COSINE`), whatever the gap: the
  person left the frame and came back, or a segment boundary cut the track.

:data:`REID_COSINE` sits above the highest cosine measured between different people with
EdgeFace-S on 185k pairs (about 0.49, docs/similarity.md); two tracks seen at the same
moment are never merged. Tracks are built per segment (:class:`FaceTracker`) and linked
over the whole video (:func:`link_tracks`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]
Box = tuple[float, float, float, float]  # left, top, right, bottom as ratios of the frame

MIN_IOU = 0.3
MIN_COSINE_WITH_OVERLAP = 0.2
REID_COSINE = 0.5
MAX_GAP_SAMPLES = 2


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _unit(vector: Vector) -> Vector:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


@dataclass
class Observation:
    """One face at one sampled timestamp, with whatever the job computed for it."""

    timestamp_ms: int
    box: Box
    embedding: Vector | None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Track:
    observations: list[Observation] = field(default_factory=list)
    _sum: Vector | None = None

    @property
    def first(self) -> Observation:
        return self.observations[0]

    @property
    def last(self) -> Observation:
        return self.observations[-1]

    @property
    def centroid(self) -> Vector | None:
        return None if self._sum is None else _unit(self._sum)

    def add(self, observation: Observation) -> None:
        self.observations.append(observation)
        if observation.embedding is not None:
            self._sum = (
                observation.embedding.copy() if self._sum is None else self._sum + observation.embedding
            )

    def absorb(self, other: Track) -> None:
        self.observations = sorted(self.observations + other.observations, key=lambda o: o.timestamp_ms)
        if other._sum is not None:
            self._sum = other._sum.copy() if self._sum is None else self._sum + other._sum

    def timestamps(self) -> set[int]:
        return {o.timestamp_ms for o in self.observations}


def _cosine(a: Vector | None, b: Vector | None) -> float | None:
    if a is None or b is None:
        return None
    return float(np.dot(_unit(a), _unit(b)))


def _continues(track: Track, obs: Observation, interval_ms: int) -> float | None:
    """A score (higher is better) if ``obs`` can continue ``track``, else None."""
    gap = obs.timestamp_ms - track.last.timestamp_ms
    if gap <= 0:
        return None
    cosine = _cosine(track.centroid, obs.embedding)
    overlap = iou(track.last.box, obs.box)
    close = gap <= MAX_GAP_SAMPLES * interval_ms and overlap >= MIN_IOU
    if close and (cosine is None or cosine >= MIN_COSINE_WITH_OVERLAP):
        return 1.0 + overlap + (cosine or 0.0)
    if cosine is not None and cosine >= REID_COSINE:
        return cosine
    return None


class FaceTracker:
    """Assigns the faces of consecutive sampled frames to tracks (greedy, best score first)."""

    def __init__(self, interval_ms: int) -> None:
        self.interval_ms = interval_ms
        self.tracks: list[Track] = []

    def predict(self, observations: list[Observation]) -> list[int | None]:
        """The track each observation would continue (by what it carries now), or None."""
        assigned = self._assign(observations)
        return [assigned.get(i) for i in range(len(observations))]

    def update(self, observations: list[Observation]) -> list[int]:
        """Add one frame's faces; returns the track number of each, in order."""
        assigned = self._assign(observations)
        result = []
        for o_index, obs in enumerate(observations):
            found = assigned.get(o_index)
            if found is None:
                self.tracks.append(Track())
                found = len(self.tracks) - 1
            self.tracks[found].add(obs)
            result.append(found)
        return result

    def _assign(self, observations: list[Observation]) -> dict[int, int]:
        pairs: list[tuple[float, int, int]] = []
        for o_index, obs in enumerate(observations):
            for t_index, track in enumerate(self.tracks):
                score = _continues(track, obs, self.interval_ms)
                if score is not None:
                    pairs.append((score, o_index, t_index))
        pairs.sort(reverse=True)
        assigned: dict[int, int] = {}
        used: set[int] = set()
        for _, o_index, t_index in pairs:
            if o_index in assigned or t_index in used:
                continue
            assigned[o_index] = t_index
            used.add(t_index)
        return assigned


def link_tracks(tracks: list[Track], interval_ms: int) -> list[Track]:
    """Merge tracks of one person (across segment boundaries, exits and re-entries).

    Greedy by first appearance: each track joins the earliest existing person it can
    continue and never shares a timestamp with. Returns the persons ordered by first
    appearance.
    """
    persons: list[Track] = []
    for track in sorted(tracks, key=lambda t: (t.first.timestamp_ms, t.first.box)):
        best: tuple[float, int] | None = None
        seen = track.timestamps()
        for index, person in enumerate(persons):
            if person.timestamps() & seen:
                continue
            score = (
                _continues(person, track.first, interval_ms)
                if person.last.timestamp_ms < track.first.timestamp_ms
                else None
            )
            cosine = _cosine(person.centroid, track.centroid)
            if score is None and cosine is not None and cosine >= REID_COSINE:
                score = cosine
            if score is not None and (best is None or score > best[0]):
                best = (score, index)
        if best is None:
            persons.append(track)
        else:
            persons[best[1]].absorb(track)
    return persons
