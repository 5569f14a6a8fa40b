"""A collection's governance policy: its keys, how each is validated, and the retention cutoff.

``Collection.policy`` is a JSON object written by ``rekognito collection configure`` and read
by the operations and the stores:

* ``min_match_threshold`` (0-100) and ``threshold_mode`` (``refuse`` | ``clamp``);
* ``review_below`` (0-100);
* ``retention_days`` (a finite number of days, above 0 and at most :data:`MAX_RETENTION_DAYS`);
* ``require_consent_tag`` (a tag key);
* ``video_search`` (``allow`` | ``deny``: StartFaceSearch on the collection, docs/video.md).

Values are checked where they are written (:func:`check_change`); a value that got in some
other way (an older version, a hand-edited store) is reported by :func:`problems` and never
crashes a reader: :func:`retention_days` treats it as "no usable retention" and says so in
the log of the purge, and ``rekognito collection show`` lists it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

DAY_SECONDS = 86400
MAX_RETENTION_DAYS = 36500.0
THRESHOLD_MODES = ("refuse", "clamp")
MAX_TAG_KEY_LENGTH = 128
KEYS = (
    "min_match_threshold",
    "threshold_mode",
    "review_below",
    "retention_days",
    "require_consent_tag",
    "video_search",
)
VIDEO_SEARCH_VALUES = ("allow", "deny")


class PolicyError(ValueError):
    """A policy value that cannot be stored."""


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PolicyError(f"{key} must be a number, not {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise PolicyError(f"{key} must be a finite number, not {value!r}")
    return number


def check_value(key: str, value: Any) -> Any:
    """``value`` as it is stored for ``key``, or :class:`PolicyError`. ``None`` removes a key."""
    if value is None:
        return None
    if key in ("min_match_threshold", "review_below"):
        number = _number(key, value)
        if not 0 <= number <= 100:
            raise PolicyError(f"{key} must be between 0 and 100, not {number:g}")
        return number
    if key == "retention_days":
        number = _number(key, value)
        if not 0 < number <= MAX_RETENTION_DAYS:
            raise PolicyError(
                f"retention_days must be above 0 and at most {MAX_RETENTION_DAYS:g} (0 removes it), "
                f"not {number:g}"
            )
        return number
    if key == "threshold_mode":
        if value not in THRESHOLD_MODES:
            raise PolicyError(f"threshold_mode must be one of {', '.join(THRESHOLD_MODES)}, not {value!r}")
        return value
    if key == "require_consent_tag":
        if not isinstance(value, str) or not 1 <= len(value) <= MAX_TAG_KEY_LENGTH:
            raise PolicyError(
                f"require_consent_tag must be a tag key of 1 to {MAX_TAG_KEY_LENGTH} characters"
            )
        return value
    if key == "video_search":
        if value not in VIDEO_SEARCH_VALUES:
            raise PolicyError(f"video_search must be one of {', '.join(VIDEO_SEARCH_VALUES)}, not {value!r}")
        return value
    raise PolicyError(f"unknown policy key {key!r}: use one of {', '.join(KEYS)}")


def check_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """Refuse a new policy whose added or changed values are invalid.

    Values carried over unchanged are not re-checked, so that a collection holding a bad
    value from elsewhere can still be re-configured (and the bad value replaced).
    """
    for key, value in new.items():
        if key in old and _same(old[key], value):
            continue
        check_value(key, value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b) and type(a) is type(b)


def problems(policy: Mapping[str, Any]) -> list[str]:
    """What is wrong with a stored policy (empty when every value is valid)."""
    found = []
    for key, value in policy.items():
        try:
            check_value(key, value)
        except PolicyError as error:
            found.append(str(error))
    return found


def retention_days(policy: Mapping[str, Any]) -> float | None:
    """The collection's retention in days, or None when it has none or its value is unusable."""
    try:
        days = check_value("retention_days", policy.get("retention_days"))
    except PolicyError:
        return None
    return float(days) if days is not None else None


def percent_floor(policy: Mapping[str, Any], key: str) -> float | None:
    """A 0-100 policy value (``min_match_threshold``, ``review_below``), failing closed.

    A stored value that is not a valid percentage (from an older version or a hand-edited
    store) reads as 100: the strictest setting, never a silently disabled guardrail.
    """
    try:
        value = check_value(key, policy.get(key))
    except PolicyError:
        return 100.0
    return None if value is None else float(value)


def retention_cutoff(policy: Mapping[str, Any], now: float) -> float | None:
    """Faces created before this epoch time are past retention (None: no retention)."""
    days = retention_days(policy)
    return None if days is None else now - days * DAY_SECONDS


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as strings (``"nan"``, ``"inf"``), for strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
