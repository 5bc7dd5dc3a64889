"""When a run reached a step: the wall times of its own logged points (the reward's, else the
longest series'), which travel with the files and mean the same after a copy."""

from __future__ import annotations

from collectors.analysis.compare import value_at_or_after
from collectors.analysis.quarters import reward_tag
from collectors.model.run import RunSnapshot
from collectors.model.series import SeriesView


def clock_view(run: RunSnapshot) -> SeriesView | None:
    """The series whose wall times date the steps: the reward, else the longest."""
    tag = reward_tag(run)
    if tag and len(run.series[tag]) >= 1:
        return run.series[tag]
    return max(run.series.values(), key=len, default=None)


def time_at_step(run: RunSnapshot, step: float) -> float | None:
    """Wall time of the first logged point at or after ``step``."""
    view = clock_view(run)
    if view is None or len(view) == 0:
        return None
    i = value_at_or_after(view.steps, step)
    return None if i is None else float(view.wall[i])
