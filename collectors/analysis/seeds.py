"""Seed groups: runs whose configs differ only by the seed (and by what does not change the
training: paths, the experiment's name, the planned length) are repeats of one configuration.

Their spread per quarter is the noise a difference between configurations must beat: two
repeats of the same safe configuration (100M and 200M steps) differ by 6.5 reward over
50-100M steps in the real runs, more than the basic-vs-safe gap. :func:`seed_groups` finds the
groups, :func:`group_quarters` gives each group's mean and spread per quarter (of the shortest
planned length in the comparison, so that every run covers the same steps) and
:func:`settled` says whether a gap between two groups is larger than the seed-to-seed spread.

Pure data layer: no Textual, Rich or plotext.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from collectors.analysis.config_diff import diff_configs
from collectors.analysis.quarters import reward_quarters
from collectors.model.run import RunSnapshot
from collectors.model.series import SeriesView

# Keys that do not change what a run trains: the seed, where it writes, what it is called, how
# long it is planned to run (quarters are compared over the same steps), the checkpoint it
# starts from.
NOT_CONFIG = (
    "*seed",
    "*seed_specify",
    "*log_dir",
    "*model_dir",
    "*exp_name",
    "*num_env_steps",
    "*load_config",
    "*cuda_deterministic",
)


@dataclass(frozen=True, slots=True)
class GroupQuarter:
    """One quarter of a seed group: the mean over its runs of their quarter means, and the
    spread (max - min) between them (0 for a single run)."""

    mean: float | None
    spread: float
    runs: int  # runs with data in the quarter


@dataclass(frozen=True, slots=True)
class SeedGroup:
    runs: tuple[int, ...]  # indices into the runs given
    seeds: tuple[object, ...]
    span: int
    quarters: tuple[GroupQuarter, GroupQuarter, GroupQuarter, GroupQuarter]

    @property
    def size(self) -> int:
        return len(self.runs)


def _seed(run: RunSnapshot) -> object:
    for k in ("algo_args.seed.seed", "seed"):
        if k in run.config:
            return run.config[k]
    return None


def seed_groups(runs: Sequence[RunSnapshot]) -> list[list[int]]:
    """Indices of the runs grouped by configuration, seeds (and NOT_CONFIG keys) aside, in the
    order of their first run. A run without a readable config is a group of its own."""
    groups: list[list[int]] = []
    for i, r in enumerate(runs):
        for g in groups:
            other = runs[g[0]]
            if r.config and other.config and not diff_configs([other.config, r.config], NOT_CONFIG):
                g.append(i)
                break
        else:
            groups.append([i])
    return groups


def _spans(runs: Iterable[RunSnapshot]) -> list[int]:
    return [int(r.total_steps or r.step) for r in runs if (r.total_steps or r.step)]


def group_quarters(runs: Sequence[RunSnapshot], span: int | None = None) -> list[SeedGroup]:
    """Every seed group's reward mean and spread per quarter of ``span`` (default: the shortest
    planned length among ``runs``)."""
    spans = _spans(runs)
    s = span or (min(spans) if spans else None)
    if not s:
        return []
    out = []
    for members in seed_groups(runs):
        tables = [reward_quarters(runs[i], span=s) for i in members]
        qs = []
        for q in range(4):
            means = [
                t.quarters[q].mean
                for t in tables
                if t is not None and t.quarters[q].mean is not None
            ]
            vals = [float(m) for m in means if m is not None and math.isfinite(m)]
            qs.append(
                GroupQuarter(
                    sum(vals) / len(vals) if vals else None,
                    (max(vals) - min(vals)) if len(vals) > 1 else 0.0,
                    len(vals),
                )
            )
        out.append(
            SeedGroup(
                tuple(members),
                tuple(_seed(runs[i]) for i in members),
                int(s),
                (qs[0], qs[1], qs[2], qs[3]),
            )
        )
    return out


def seed_spread(groups: Sequence[SeedGroup], q: int) -> float | None:
    """The largest spread between repeats in quarter ``q`` (None: no group has two runs)."""
    spreads = [g.quarters[q].spread for g in groups if g.quarters[q].runs >= 2]
    return max(spreads) if spreads else None


def settled(groups: Sequence[SeedGroup], a: int, b: int, q: int) -> tuple[float, str] | None:
    """The gap between groups ``a`` and ``b`` in quarter ``q`` and what it means: whether it is
    larger than the seed-to-seed spread. None when a group has no data there."""
    ma, mb = groups[a].quarters[q].mean, groups[b].quarters[q].mean
    if ma is None or mb is None:
        return None
    gap = ma - mb
    spread = seed_spread(groups, q)
    if spread is None:
        return gap, "one run per configuration: the seed-to-seed spread is unknown, not settled"
    if abs(gap) <= spread:
        return gap, f"smaller than the spread between seeds ({spread:.2f}): not settled"
    return gap, f"larger than the spread between seeds ({spread:.2f})"


def seed_band(
    runs: Sequence[RunSnapshot], members: Sequence[int], tag: str
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray] | None:
    """The spread of a seed group's ``tag`` as a band: (index of the run whose steps it uses,
    the indices of its points, min, max over the members at those steps, interpolated). Only
    for groups of two runs or more, over the steps they all cover. None otherwise."""
    views: list[tuple[int, SeriesView]] = []
    for i in members:
        v = runs[i].series.get(tag)
        if v is not None and len(v) >= 2:
            views.append((i, v))
    if len(views) < 2:
        return None
    end = min(int(v.steps[-1]) for _, v in views)
    base_i, base = views[0]
    keep = np.flatnonzero(base.steps <= end)
    if len(keep) < 2:
        return None
    x = base.steps[keep].astype(np.float64)
    with np.errstate(invalid="ignore"):
        stack = np.vstack(
            [
                np.interp(x, v.steps.astype(np.float64), v.values.astype(np.float64))
                for _, v in views
            ]
        )
    return base_i, keep, np.nanmin(stack, axis=0), np.nanmax(stack, axis=0)


__all__ = [
    "NOT_CONFIG",
    "GroupQuarter",
    "SeedGroup",
    "group_quarters",
    "seed_band",
    "seed_groups",
    "seed_spread",
    "settled",
]
