"""Sample Lambda events (events/*.json), as AWS delivers them, for tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"


def load_event(name: str) -> dict[str, Any]:
    """The event stored as ``events/<name>.json``, e.g. ``load_event("ingest/s3_put")``.

    Each call returns a fresh dict, so a test may modify it.
    """
    path = (EVENTS_DIR / f"{name}.json").resolve()
    if EVENTS_DIR not in path.parents:
        raise ValueError(f"event name {name!r} points outside {EVENTS_DIR}")
    if not path.is_file():
        available = sorted(str(p.relative_to(EVENTS_DIR).with_suffix("")) for p in EVENTS_DIR.rglob("*.json"))
        raise FileNotFoundError(f"no event {name!r}; available: {', '.join(available)}")
    event: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return event
