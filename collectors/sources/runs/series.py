"""Compact, append-only scalar series.

A series keeps three parallel numpy arrays: ``steps`` (int64), ``values`` (float32, which is
exactly what a TensorBoard ``simple_value`` holds) and ``wall`` (float32 seconds relative to the
series' first wall time, which keeps sub-millisecond resolution for a day-long run and 0.25 s for a
month). That is 16 bytes per point; the buffers grow by 1.5x, so a series never holds more than
24 bytes per stored point, and :meth:`ScalarSeries.compact` trims a finished run to exactly 16.

Memory is bounded per series: past ``max_points`` (default 20,000, a hundred times what a real
100M-step HARL run logs per tag) the stored points are thinned to every other one and from then
on one point in ``stride`` is kept, so the history stays evenly sampled over the whole run. The
newest point is always known exactly (``last_step``, ``last_value``, ``last_wall``).

Snapshots get read-only *views* of the filled part of the buffers. Appending writes only past the
filled part and a purge (a restarted writer going back in steps) copies into fresh buffers, so a
view handed out earlier never changes under its reader.
"""

from __future__ import annotations

import numpy as np

from collectors.model.series import SeriesView

GROWTH = 1.5
MIN_CAPACITY = 64
DEFAULT_MAX_POINTS = 20_000
BYTES_PER_POINT = 16  # int64 step + float32 value + float32 relative wall time


class ScalarSeries:
    """One tag's points, stored compactly. Not thread-safe: one owner (the run's reader)."""

    __slots__ = (
        "_steps",
        "_values",
        "_wall",
        "_n",
        "wall0",
        "_view",
        "max_points",
        "stride",
        "_phase",
        "_last",
        "offered",
        "nonfinite",
        "first_nonfinite_step",
    )

    def __init__(self, max_points: int | None = DEFAULT_MAX_POINTS) -> None:
        self._steps = np.empty(0, np.int64)
        self._values = np.empty(0, np.float32)
        self._wall = np.empty(0, np.float32)
        self._n = 0
        self.wall0 = 0.0
        self._view: SeriesView | None = None
        self.max_points = max_points  # None: unbounded
        self.stride = 1  # keep one point in `stride` (grows when the series is thinned)
        self._phase = 0  # points to skip before the next kept one
        self._last: tuple[int, float, float] | None = None  # newest point seen (step, value, wall)
        self.offered = 0  # points given to this series, kept or not
        # NaN/inf seen, kept or thinned away (analysis must not miss them)
        self.nonfinite = 0
        self.first_nonfinite_step: int | None = None

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        """Bytes held by the buffers (capacity, not just the filled part)."""
        return self._steps.nbytes + self._values.nbytes + self._wall.nbytes

    @property
    def last_step(self) -> int:
        return self._last[0] if self._last else -1

    @property
    def last_value(self) -> float:
        return self._last[1] if self._last else float("nan")

    @property
    def last_wall(self) -> float:
        return self._last[2] if self._last else 0.0

    def steps(self) -> np.ndarray:
        return self._steps[: self._n]

    def values(self) -> np.ndarray:
        return self._values[: self._n]

    def view(self) -> SeriesView:
        """Read-only view of the points; cached until the next change."""
        if self._view is None:
            steps = self._steps[: self._n]
            values = self._values[: self._n]
            rel = self._wall[: self._n]
            for a in (steps, values, rel):
                a.flags.writeable = False
            self._view = SeriesView(steps, values, rel, self.wall0)
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
        if (self._n == 0 or steps[0] >= self._steps[self._n - 1]) and (
            len(steps) == 1 or (steps[1:] >= steps[:-1]).all()
        ):
            self._append(steps, values, wall)  # the usual case: moving forward
            return 0
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
        self._last = (int(steps[-1]), float(values[-1]), float(wall[-1]))
        self.offered += len(steps)
        if not np.isfinite(values.sum(dtype=np.float64)):  # one reduction; exact check if needed
            bad = ~np.isfinite(values)
            if bad.any():
                self.nonfinite += int(bad.sum())
                if self.first_nonfinite_step is None:
                    self.first_nonfinite_step = int(steps[int(np.argmax(bad))])
        if self.stride > 1:
            keep = np.arange(len(steps)) % self.stride == self._phase
            self._phase = (self._phase - len(steps)) % self.stride
            steps, values, wall = steps[keep], values[keep], wall[keep]
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
        if self.max_points and self._n > self.max_points:
            self._thin()

    def _thin(self) -> None:
        """Keep every other stored point (fresh buffers) and halve the rate of keeping new ones."""
        while self._n > self.max_points:  # type: ignore[operator]
            n = self._n
            kept = (n + 1) // 2
            cap = max(int(kept * GROWTH), MIN_CAPACITY)
            for name in ("_steps", "_values", "_wall"):
                old = getattr(self, name)
                new = np.empty(cap, old.dtype)
                new[:kept] = old[:n:2]
                setattr(self, name, new)
            self._phase = 0  # keep the next point: the grid restarts from here
            self.stride *= 2
            self._n = kept
        self._view = None

    def _grow(self, capacity: int) -> None:
        for name in ("_steps", "_values", "_wall"):
            old = getattr(self, name)
            new = np.empty(capacity, old.dtype)
            if self._n:  # nothing to copy into a new series (a cold load makes thousands)
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
        self.offered = max(self.offered - purged * self.stride, keep)
        if keep:
            self._last = (
                int(self._steps[keep - 1]),
                float(self._values[keep - 1]),
                self.wall0 + float(self._wall[keep - 1]),
            )
        else:
            self._last = None
        return purged

    def compact(self) -> None:
        """Trim the buffers to the filled length (for runs that will not grow any more)."""
        if len(self._steps) != self._n:
            self._grow(self._n)
            self._view = None
