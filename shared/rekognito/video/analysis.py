"""What each video job computes: per segment (on sampled frames), then merged per job.

A job type is an :class:`Analysis`: ``segment`` turns the sampled frames of one segment into
a JSON-able partial result, ``merge`` turns the partial results of all segments (in order)
into the job's result: ``{"items": [...], ...}`` where each item is one element of the Get
operation's list (``Faces``, ``Persons``, ``Labels``, ``TextDetections``,
``ModerationLabels``), already in Rekognition's shape. Partial results may hold face
embeddings (to link tracks across segments); they are deleted when the job finishes and
never leave the server.

Models are the photo operations' own, through their public classes and the same service
components (``face_analyzer``, ``label_detector``, ``text_reader``, ``nsfw_classifier``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from rekognito.api._generated import ResourceNotFoundException
from rekognito.operations._faces import (
    check_model,
    face_record,
    mark_review,
    min_cosine,
    quality_reasons,
    similarity,
)
from rekognito.ports import Runtime
from rekognito.request import RequestContext
from rekognito.video.decode import SampledFrame
from rekognito.video.jobs import Job
from rekognito.video.tracking import FaceTracker, Observation, Track, link_tracks

# A track is reported as a collection face when at least this share of its searchable
# frames matched that face (one stray frame does not make an identification).
MIN_MATCH_SHARE = 0.25
MAX_MATCHES_PER_FRAME = 10
# A tracked face (same place as in the previous sample) is embedded and searched again
# only every this many samples; in between it carries the identity of its last search.
RESEARCH_EVERY = 4
# Faces under this quality level are tracked but not searched (tiny or blurred faces give
# embeddings that match nobody reliably).
SEARCH_QUALITY = "LOW"
DEFAULT_LABEL_CONFIDENCE = 50.0
DEFAULT_MODERATION_CONFIDENCE = 50.0


class Analysis(Protocol):
    def segment(
        self, services: Runtime, job: Job, frames: Iterable[SampledFrame], interval_ms: int
    ) -> Any: ...

    def merge(self, services: Runtime, job: Job, parts: list[Any], interval_ms: int) -> dict[str, Any]: ...


def _box_ratios(box: dict[str, float]) -> tuple[float, float, float, float]:
    return (box["Left"], box["Top"], box["Left"] + box["Width"], box["Top"] + box["Height"])


def _concat(parts: list[Any]) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    for part in parts:
        items.extend(part or [])
    return {"items": items}


class FaceDetectionAnalysis:
    def segment(self, services: Runtime, job: Job, frames: Iterable[SampledFrame], interval_ms: int) -> Any:
        analyzer = services.face_analyzer
        items = []
        for frame in frames:
            for face in analyzer.analyze(frame.image, embed=False):
                items.append({"Timestamp": frame.timestamp_ms, "Face": face.face_detail()})
        return items

    def merge(self, services: Runtime, job: Job, parts: list[Any], interval_ms: int) -> dict[str, Any]:
        return _concat(parts)


def _search_context(services: Runtime, job: Job) -> RequestContext:
    return RequestContext(services=services, request_id=job.job_id, operation="StartFaceSearch")


class FaceSearchAnalysis:
    """Faces tracked per segment, searched when new and every few samples, identified per person."""

    def segment(self, services: Runtime, job: Job, frames: Iterable[SampledFrame], interval_ms: int) -> Any:
        collection_id = str(job.collection_id)
        store = services.store
        collection = store.get_collection(collection_id)
        spec = check_model(_search_context(services, job), collection)
        threshold = float(job.params["_threshold"])
        floor = min_cosine(threshold, spec)
        analyzer = services.face_analyzer
        tracker = FaceTracker(interval_ms)
        last_search: dict[int, tuple[int, list[list[Any]]]] = {}  # track -> (sample no., matches)
        for sample, frame in enumerate(frames):
            faces = analyzer.analyze(frame.image, embed=False)
            observations = []
            for face in faces:
                detail = face.face_detail()
                observations.append(
                    Observation(
                        frame.timestamp_ms,
                        _box_ratios(detail["BoundingBox"]),
                        None,
                        {"face": detail, "matches": [], "searchable": False},
                    )
                )
            continuing = tracker.predict(observations)
            for face, obs, track_no in zip(faces, observations, continuing, strict=True):
                recent = last_search.get(track_no) if track_no is not None else None
                if recent is not None and sample - recent[0] < RESEARCH_EVERY:
                    # The same face as a moment ago (boxes overlap): its identity carries over.
                    obs.data["matches"] = [list(m) for m in recent[1]]
                    obs.data["carried"] = True
                    continue
                if quality_reasons(face, SEARCH_QUALITY):
                    continue
                obs.embedding = analyzer.embed(face)
                obs.data["searchable"] = True
                for candidate in store.search(
                    collection_id, obs.embedding, limit=MAX_MATCHES_PER_FRAME, min_cosine=floor
                ):
                    score = similarity(candidate.cosine, spec)
                    if score >= threshold:
                        obs.data["matches"].append([candidate.face.face_id, score])
            for obs, track_no in zip(observations, tracker.update(observations), strict=True):
                if obs.data["searchable"]:
                    last_search[track_no] = (sample, obs.data["matches"])
        tracks = []
        for track in tracker.tracks:
            centroid = track.centroid
            tracks.append(
                {
                    "centroid": None if centroid is None else [round(float(v), 6) for v in centroid],
                    "embedded": sum(1 for o in track.observations if o.embedding is not None),
                    "obs": [{"t": o.timestamp_ms, "box": list(o.box), **o.data} for o in track.observations],
                }
            )
        return tracks

    @staticmethod
    def _track(data: dict[str, Any]) -> Track:
        track = Track()
        for obs in data["obs"]:
            track.add(Observation(int(obs["t"]), tuple(obs["box"]), None, obs))  # type: ignore[arg-type]
        if data["centroid"] is not None:
            track._sum = np.asarray(data["centroid"], dtype=np.float32) * max(1, int(data["embedded"]))
        return track

    def merge(self, services: Runtime, job: Job, parts: list[Any], interval_ms: int) -> dict[str, Any]:
        collection_id = str(job.collection_id)
        store = services.store
        try:
            collection = store.get_collection(collection_id)
        except ResourceNotFoundException:
            raise
        tracks = [self._track(data) for part in parts for data in (part or [])]
        persons = link_tracks(tracks, interval_ms)
        items: list[dict[str, Any]] = []
        identified: dict[str, dict[str, Any]] = {}
        matched_ids: set[str] = set()
        for index, person in enumerate(persons):
            votes: Counter[str] = Counter()
            searchable = 0
            for obs in person.observations:
                if obs.data.get("searchable"):
                    searchable += 1
                    votes.update({face_id for face_id, _ in obs.data["matches"]})
            needed = max(1, math.ceil(MIN_MATCH_SHARE * searchable))
            accepted = {face_id for face_id, n in votes.items() if n >= needed}
            if not accepted:
                continue
            matched_ids |= accepted
            for obs in person.observations:
                frame_matches = sorted(
                    ((face_id, score) for face_id, score in obs.data["matches"] if face_id in accepted),
                    key=lambda m: -m[1],
                )
                if not frame_matches:
                    continue
                items.append(
                    {
                        "Timestamp": obs.timestamp_ms,
                        "Person": {
                            "Index": index,
                            "BoundingBox": obs.data["face"]["BoundingBox"],
                            "Face": obs.data["face"],
                        },
                        "_matches": frame_matches,
                    }
                )
            identified[str(index)] = {
                "face_ids": sorted(accepted),
                "first_ms": person.first.timestamp_ms,
                "last_ms": person.last.timestamp_ms,
            }
        faces = {f.face_id: f for f in store.get_faces(collection_id, sorted(matched_ids))}
        kept = []
        for item in items:
            matches = [
                mark_review(
                    collection,
                    {"Similarity": score, "Face": face_record(faces[face_id], collection.face_model_version)},
                )
                for face_id, score in item.pop("_matches")
                if face_id in faces
            ]
            if matches:
                item["FaceMatches"] = matches
                kept.append(item)
        return {"items": kept, "persons": identified, "persons_seen": len(persons)}


def _label_item(timestamp: int, label: Any) -> dict[str, Any]:
    return {
        "Timestamp": timestamp,
        "Label": {
            "Name": label.name,
            "Confidence": float(label.confidence),
            "Instances": [
                {
                    "BoundingBox": {
                        "Width": float(box.width),
                        "Height": float(box.height),
                        "Left": float(box.left),
                        "Top": float(box.top),
                    },
                    "Confidence": float(conf),
                }
                for box, conf in label.instances
            ],
            "Parents": [{"Name": p} for p in label.parents],
            "Aliases": [{"Name": a} for a in label.aliases],
            "Categories": [{"Name": c} for c in label.categories],
        },
    }


def _label_filter(params: dict[str, Any]) -> Any:
    general = (params.get("Settings") or {}).get("GeneralLabels") or {}

    def values(key: str) -> set[str]:
        return {str(v).lower() for v in general.get(key) or []}

    include, exclude = values("LabelInclusionFilters"), values("LabelExclusionFilters")
    include_cat, exclude_cat = (
        values("LabelCategoryInclusionFilters"),
        values("LabelCategoryExclusionFilters"),
    )

    def keep(label: Any) -> bool:
        name = label.name.lower()
        categories = {c.lower() for c in label.categories}
        if name in exclude or categories & exclude_cat:
            return False
        if include or include_cat:
            return name in include or bool(categories & include_cat)
        return True

    return keep


class LabelDetectionAnalysis:
    def segment(self, services: Runtime, job: Job, frames: Iterable[SampledFrame], interval_ms: int) -> Any:
        detector = services.label_detector
        min_confidence = float(job.params.get("MinConfidence", DEFAULT_LABEL_CONFIDENCE))
        keep = _label_filter(job.params)
        items = []
        for frame in frames:
            for label in detector.detect(frame.image):
                if label.confidence >= min_confidence and keep(label):
                    items.append(_label_item(frame.timestamp_ms, label))
        return items

    def merge(self, services: Runtime, job: Job, parts: list[Any], interval_ms: int) -> dict[str, Any]:
        return _concat(parts)


class TextDetectionAnalysis:
    def segment(self, services: Runtime, job: Job, frames: Iterable[SampledFrame], interval_ms: int) -> Any:
        # The same lines, words, rotated polygons, Filters and 100-word limit as DetectText,
        # per frame.
        from rekognito.operations.text import TextFilters, text_detections

        reader = services.text_reader
        filters = job.params.get("Filters") or {}
        items = []
        for frame in frames:
            width, height = frame.image.width, frame.image.height
            lines = reader.read(frame.image)
            for detection in text_detections(
                lines, TextFilters.from_params(filters, width, height), width, height
            ):
                items.append({"Timestamp": frame.timestamp_ms, "TextDetection": detection})
        return items

    def merge(self, services: Runtime, job: Job, parts: list[Any], interval_ms: int) -> dict[str, Any]:
        return _concat(parts)


class ContentModerationAnalysis:
    def segment(self, services: Runtime, job: Job, frames: Iterable[SampledFrame], interval_ms: int) -> Any:
        classifier = services.moderation_classifier
        min_confidence = float(job.params.get("MinConfidence", DEFAULT_MODERATION_CONFIDENCE))
        items = []
        for frame in frames:
            for label in classifier.moderate(frame.image, min_confidence):
                items.append(
                    {
                        "Timestamp": frame.timestamp_ms,
                        "ModerationLabel": {
                            "Confidence": float(label.confidence),
                            "Name": label.name,
                            "ParentName": label.parent,
                            "TaxonomyLevel": label.level,
                        },
                        "ContentTypes": [],
                    }
                )
        return items

    def merge(self, services: Runtime, job: Job, parts: list[Any], interval_ms: int) -> dict[str, Any]:
        return _concat(parts)


@dataclass(frozen=True)
class JobType:
    """One Start/Get pair: its notification ``API`` name, analysis and result list key."""

    api: str
    start: str
    get: str
    items_key: str
    analysis: Analysis


JOB_TYPES: dict[str, JobType] = {
    t.api: t
    for t in (
        JobType("FACE_DETECTION", "StartFaceDetection", "GetFaceDetection", "Faces", FaceDetectionAnalysis()),
        JobType("FACE_SEARCH", "StartFaceSearch", "GetFaceSearch", "Persons", FaceSearchAnalysis()),
        JobType(
            "LABEL_DETECTION", "StartLabelDetection", "GetLabelDetection", "Labels", LabelDetectionAnalysis()
        ),
        JobType(
            "TEXT_DETECTION",
            "StartTextDetection",
            "GetTextDetection",
            "TextDetections",
            TextDetectionAnalysis(),
        ),
        JobType(
            "CONTENT_MODERATION",
            "StartContentModeration",
            "GetContentModeration",
            "ModerationLabels",
            ContentModerationAnalysis(),
        ),
    )
}
