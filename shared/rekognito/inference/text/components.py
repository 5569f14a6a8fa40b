"""Connected components of a binary mask, vectorised over runs (no per-pixel Python loop).

Each row of the mask is cut into runs of set pixels; runs on neighbouring rows that touch
(8-connectivity, diagonals included) are joined with a vectorised union-find (hooking and
pointer jumping). Pixel-level results come from the runs, so the cost grows with the number
of runs, not of pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Runs:
    """Runs of set pixels: ``row``, ``start`` and ``end`` (exclusive) columns, and a
    component ``label`` (0..count-1) per run."""

    row: IntArray
    start: IntArray
    end: IntArray
    label: IntArray
    count: int

    def pixels(self) -> IntArray:
        """Number of pixels of each component."""
        return np.bincount(self.label, weights=self.end - self.start, minlength=self.count).astype(np.int64)

    def groups(self, labels: list[int] | None = None) -> list[IntArray]:
        """Indices of the runs of each component (of ``labels`` only, if given)."""
        order = np.argsort(self.label, kind="stable")
        bounds = np.searchsorted(self.label[order], np.arange(self.count + 1))
        wanted = range(self.count) if labels is None else labels
        return [order[bounds[k] : bounds[k + 1]] for k in wanted]


def find_runs(mask: npt.NDArray[np.bool_]) -> tuple[IntArray, IntArray, IntArray]:
    """Rows, start and end columns of the runs of ``mask``, ordered by row then column."""
    height, width = mask.shape
    padded = np.zeros((height, width + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    change = np.diff(padded, axis=1)  # +1 where a run starts, -1 just after it ends
    rows_s, starts = np.nonzero(change == 1)
    _, ends = np.nonzero(change == -1)
    return rows_s.astype(np.int64), starts.astype(np.int64), ends.astype(np.int64)


def _touching_pairs(row: IntArray, start: IntArray, end: IntArray, width: int) -> tuple[IntArray, IntArray]:
    """Pairs (a, b) of runs where b is on the row below a and touches it (diagonals too)."""
    stride = width + 2
    start_key = row * stride + start
    end_key = row * stride + end
    # Runs of the next row that touch run a: b.end >= a.start and b.start <= a.end (end exclusive,
    # so a diagonal neighbour has b.start == a.end). Both keys are sorted, as runs are.
    lo = np.searchsorted(end_key, (row + 1) * stride + start, side="left")
    hi = np.searchsorted(start_key, (row + 1) * stride + end, side="right")
    counts = np.maximum(hi - lo, 0)
    a = np.repeat(np.arange(len(row)), counts)
    offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    b = np.repeat(lo, counts) + offsets
    return a.astype(np.int64), b.astype(np.int64)


def _union(n: int, a: IntArray, b: IntArray) -> IntArray:
    """Root (smallest index) of each node's component, for edges a-b."""
    parent = np.arange(n, dtype=np.int64)
    while True:
        ra, rb = parent[a], parent[b]
        differ = ra != rb
        if not differ.any():
            return parent
        np.minimum.at(parent, np.maximum(ra, rb)[differ], np.minimum(ra, rb)[differ])
        while True:  # pointer jumping until every node points at its root
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped


def label_runs(mask: npt.NDArray[np.bool_]) -> Runs:
    """The runs of ``mask`` with their connected-component labels."""
    row, start, end = find_runs(mask)
    if len(row) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Runs(empty, empty, empty, empty, 0)
    a, b = _touching_pairs(row, start, end, mask.shape[1])
    roots = _union(len(row), a, b)
    _, label = np.unique(roots, return_inverse=True)
    label = label.astype(np.int64).reshape(-1)
    return Runs(row, start, end, label, int(label.max()) + 1)


def run_sums(values: npt.NDArray[np.float32], runs: Runs) -> npt.NDArray[np.float64]:
    """Sum of ``values`` over the pixels of each component."""
    height, width = values.shape
    cumulative = np.zeros((height, width + 1), dtype=np.float64)
    np.cumsum(values, axis=1, out=cumulative[:, 1:])
    per_run = cumulative[runs.row, runs.end] - cumulative[runs.row, runs.start]
    sums: npt.NDArray[np.float64] = np.bincount(runs.label, weights=per_run, minlength=runs.count).astype(
        np.float64
    )
    return sums
