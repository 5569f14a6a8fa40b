"""Progress bars for the long loops of the benchmarks: tqdm on stderr, off when stderr is not a
terminal (CI logs, reports piped to files), never in the JSON reports."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(items: Iterable[T], *, desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    yield from tqdm(items, desc=desc, total=total, unit=unit, file=sys.stderr, disable=None, leave=False)


def bar(*, desc: str, total: float, unit: str = "it") -> tqdm:  # type: ignore[type-arg]
    """A bar to advance by hand (``.update(n)``; close it, or use it as a context manager)."""
    return tqdm(desc=desc, total=total, unit=unit, file=sys.stderr, disable=None, leave=False)
