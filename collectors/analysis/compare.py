"""What the compare view sets side by side: the config keys that differ between runs, and the
point of a series at a given step. Pure functions of model values."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from collectors.analysis.config_diff import LABEL_IGNORE, diff_configs
from collectors.model.run import RunSnapshot


def config_differences(runs: Sequence[RunSnapshot]) -> list[tuple[str, list[str]]]:
    """The flat config keys whose values differ between ``runs``, with each run's value as text
    (``-`` where a run lacks the key), sorted by key. Paths are left out."""
    rows = diff_configs([r.config for r in runs], ignore=LABEL_IGNORE)
    return [(row.key, list(row.cells())) for row in rows]


def value_at_or_after(steps: npt.ArrayLike, step: float) -> int | None:
    """Index of the first point at or after ``step`` (None when the series ends before)."""
    arr = np.asarray(steps)
    i = int(np.searchsorted(arr, step, side="left"))
    return i if i < len(arr) else None
