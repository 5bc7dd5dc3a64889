"""A read-only view of one tag's points: what a snapshot hands to charts and analysis."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the views are made by the readers, which import numpy themselves
    import numpy as np


class SeriesView:
    """An immutable view of one tag's points, in step order: ``steps`` (int64), ``values``
    (float32) and ``wall`` (float64 unix seconds, materialised on first use)."""

    __slots__ = ("steps", "values", "_rel", "_wall0", "_wall")

    def __init__(self, steps: np.ndarray, values: np.ndarray, rel: np.ndarray, wall0: float):
        self.steps = steps
        self.values = values
        self._rel = rel
        self._wall0 = wall0
        self._wall: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def wall(self) -> np.ndarray:
        if self._wall is None:
            wall = self._rel.astype("float64")
            wall += self._wall0
            wall.flags.writeable = False
            self._wall = wall
        return self._wall

    def __iter__(self):  # steps, values, wall = view
        return iter((self.steps, self.values, self.wall))
