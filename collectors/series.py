"""Compact, append-only scalar series.

A series keeps three parallel numpy arrays: ``steps`` (int64), ``values`` (float32, which is
exactly what a TensorBoard ``simple_value`` holds) and ``wall`` (float32 seconds relative to the
series' first wall time, which keeps sub-millisecond resolution for a day-long run and 0.25 s for a
month). That is 16 bytes per point; the buffers grow by 1.5x, so a series never holds more than
24 bytes per stored point, and :meth:`ScalarSeries.compact` trims a finished run to exactly 16.

Snapshots get read-only *views* of the filled part of the buffers. Appending writes only past the
filled part and a purge (a restarted writer going back in steps) copies into fresh buffers, so a
view handed out earlier never changes under its reader.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

GROWTH = 1.5
MIN_CAPACITY = 64
BYTES_PER_POINT = 16  # int64 step + float32 value + float32 relative wall time


class SeriesView(NamedTuple):
    """An immutable view of one tag's points, in step order."""

    steps: np.ndarray  # int64
    values: np.ndarray  # float32
    wall: np.ndarray  # float64 unix seconds (materialised on demand by ScalarSeries.view)

    def __len__(self) -> int:
        return len(self.steps)


class ScalarSeries:
    """One tag's points, stored compactly. Not thread-safe: one owner (the run's reader)."""

    __slots__ = ("_steps", "_values", "_wall", "_n", "wall0", "_view")

    def __init__(self) -> None:
        self._steps = np.empty(0, np.int64)
        self._values = np.empty(0, np.float32)
        self._wall = np.empty(0, np.float32)
        self._n = 0
        self.wall0 = 0.0
        self._view: SeriesView | None = None

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        """Bytes held by the buffers (capacity, not just the filled part)."""
        return self._steps.nbytes + self._values.nbytes + self._wall.nbytes

    @property
    def last_step(self) -> int:
        return int(self._steps[self._n - 1]) if self._n else -1

    @property
    def last_value(self) -> float:
        return float(self._values[self._n - 1]) if self._n else float("nan")

    @property
    def last_wall(self) -> float:
        return self.wall0 + float(self._wall[self._n - 1]) if self._n else 0.0

    def steps(self) -> np.ndarray:
        return self._steps[: self._n]

    def values(self) -> np.ndarray:
        return self._values[: self._n]

    def view(self) -> SeriesView:
        """Read-only view of the points; cached until the next change."""
        if self._view is None:
            steps = self._steps[: self._n]
            values = self._values[: self._n]
            wall = self._wall[: self._n].astype(np.float64)
            wall += self.wall0
            for a in (steps, values, wall):
                a.flags.writeable = False
            self._view = SeriesView(steps, values, wall)
        return self._view

    # -- writing -----------------------------------------------------------------------------

    def extend(self, steps: np.ndarray, values: np.ndarray, wall: np.ndarray) -> int:
        """Append points in file order, purging orphaned data when the step goes back.

        TensorBoard's rule: when a point's step is lower than the last one seen, the writer was
        restarted from an earlier state, so every stored point at or after that step is dropped
        and the newer data wins from there on. Returns the number of points purged.
        """
        if len(steps) == 0:
            return 0
        purged = 0
        if self._n == 0:
            self.wall0 = float(wall[0])
        # Split the batch where the step goes back; each piece purges what it overlaps.
        back = np.flatnonzero(np.diff(steps) < 0) + 1
        start = 0
        for end in [*back.tolist(), len(steps)]:
            first = int(steps[start])
            if self._n and first < self.last_step:
                purged += self._purge_from(first)
            self._append(steps[start:end], values[start:end], wall[start:end])
            start = end
        return purged

    def _append(self, steps: np.ndarray, values: np.ndarray, wall: np.ndarray) -> None:
        k = len(steps)
        need = self._n + k
        if need > len(self._steps):
            self._grow(max(need, int(len(self._steps) * GROWTH), MIN_CAPACITY))
        n = self._n
        self._steps[n:need] = steps
        self._values[n:need] = values
        np.subtract(wall, self.wall0, out=self._wall[n:need], casting="unsafe")
        self._n = need
        self._view = None

    def _grow(self, capacity: int) -> None:
        for name in ("_steps", "_values", "_wall"):
            old = getattr(self, name)
            new = np.empty(capacity, old.dtype)
            new[: self._n] = old[: self._n]
            setattr(self, name, new)

    def _purge_from(self, step: int) -> int:
        keep = int(np.searchsorted(self._steps[: self._n], step, side="left"))
        purged = self._n - keep
        # Fresh buffers: views handed out earlier must not see the overwrite.
        cap = len(self._steps)
        for name in ("_steps", "_values", "_wall"):
            old = getattr(self, name)
            new = np.empty(cap, old.dtype)
            new[:keep] = old[:keep]
            setattr(self, name, new)
        self._n = keep
        self._view = None
        return purged

    def compact(self) -> None:
        """Trim the buffers to the filled length (for runs that will not grow any more)."""
        if len(self._steps) != self._n:
            self._grow(self._n)
            self._view = None
