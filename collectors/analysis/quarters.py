"""Quarter (phase) analysis of a run's series: means per quarter, change from Q1, a verdict.

The seed document splits the basic run into four quarters of 25M steps and reads the mean reward
of each (-15.00 / -16.74 / -19.49 / -17.73): best first, worst third, a partial recovery at the
end. This module does that for any series, on the read-only numpy views of a
:class:`~collectors.model.RunSnapshot`, and is shared by the health rules, the report and the TUI.

Quarters
    Quarter ``q`` (0..3) holds the points with ``q*S/4 < step <= (q+1)*S/4``. ``S`` is
    :func:`quarter_span`: the planned length (``num_env_steps``) for a finished run, the last
    logged step otherwise (so the quarters of a live run are quarters of what it has done so far).
    A caller may pass its own ``S`` (the report uses the planned length to compare runs at the
    same steps). Points at step 0 or below, and above ``S``, belong to no quarter.
    NaN and inf values are counted per quarter (``nonfinite``) and left out of the statistics.

Verdict of quarter ``q`` against the baseline (Q1, or the first quarter with data when Q1 has
none), for a series with a direction (+1: higher is better, like a reward; -1: lower is better,
like a value loss):

    tolerance = max(flat_noise * pooled_std, flat_relative * |baseline mean|)

    ``flat``        |mean_q - mean_base| <= tolerance
    ``improving``   better than the baseline by more than the tolerance
    ``recovering``  worse than the baseline, but better than the previous quarter with data by
                    more than the tolerance
    ``degrading``   worse than the baseline otherwise

``pooled_std`` is the within-quarter standard deviation pooled over the quarters with two or more
points (``sqrt(sum((n_i - 1) s_i^2) / sum(n_i - 1))``): the noise the means are read against.
With the defaults (0.5 and 2 %) a change of half the point-to-point spread, or 2 % of the
baseline, is needed before a quarter counts as different. A series with no direction (entropy,
grad norms) gets ``rising`` / ``falling`` / ``flat`` instead. The baseline quarter's verdict is
``baseline``; an empty quarter's is ``no data``.

The table's ``verdict`` is its last quarter's with data (``n/a`` with fewer than two such
quarters) and ``trend`` is the raw direction of the last quarter against the baseline.

Pure data layer: no Textual, Rich or plotext.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from collectors.model.run import FINISHED, RunSnapshot, pick_reward_tag
from collectors.model.run_config import lookup

HIGHER_IS_BETTER = 1
LOWER_IS_BETTER = -1
NO_DIRECTION = 0

FLAT_NOISE = 0.5  # a change within this many pooled standard deviations is flat ...
FLAT_RELATIVE = 0.02  # ... or within this fraction of the baseline mean

# Verdicts.
BASELINE = "baseline"
IMPROVING = "improving"
DEGRADING = "degrading"
RECOVERING = "recovering"
FLAT = "flat"
RISING = "rising"
FALLING = "falling"
NO_DATA = "no data"
NOT_AVAILABLE = "n/a"

# Per-agent and critic metrics of HARL (run-format.md section 4).
_AGENT_TAG = re.compile(r"^agent(\d+)/(dist_entropy|actor_grad_norm|policy_loss)$")
METRIC_GROUPS = ("entropy", "actor_grad_norm", "value_loss", "critic_grad_norm")
_GROUP_OF_AGENT_METRIC = {"dist_entropy": "entropy", "actor_grad_norm": "actor_grad_norm"}
METRIC_DIRECTION = {
    "entropy": NO_DIRECTION,
    "actor_grad_norm": NO_DIRECTION,
    "value_loss": LOWER_IS_BETTER,
    "critic_grad_norm": NO_DIRECTION,
}


@dataclass(frozen=True, slots=True)
class Quarter:
    """One quarter of a series. Statistics are over its finite points; None when it has none."""

    index: int  # 0..3
    lo: float  # exclusive lower step bound
    hi: float  # inclusive upper step bound
    count: int  # finite points
    nonfinite: int  # NaN / inf points (left out of the statistics)
    mean: float | None
    min: float | None
    max: float | None
    std: float | None  # sample standard deviation (ddof=1); 0.0 for a single point
    first_step: int | None
    last_step: int | None
    change: float | None  # mean - baseline mean
    change_pct: float | None  # change / |baseline mean| * 100 (None when the baseline is 0)
    verdict: str

    @property
    def label(self) -> str:
        return f"Q{self.index + 1}"

    def to_json(self) -> dict[str, Any]:
        return {
            "quarter": self.index + 1,
            "lo": self.lo,
            "hi": self.hi,
            "count": self.count,
            "nonfinite": self.nonfinite,
            "mean": self.mean,
            "min": self.min,
            "max": self.max,
            "std": self.std,
            "first_step": self.first_step,
            "last_step": self.last_step,
            "change": self.change,
            "change_pct": self.change_pct,
            "verdict": self.verdict,
        }


@dataclass(frozen=True, slots=True)
class QuarterTable:
    tag: str
    span: int  # S: the quarters split (0, S]
    direction: int  # HIGHER_IS_BETTER, LOWER_IS_BETTER or NO_DIRECTION
    quarters: tuple[Quarter, Quarter, Quarter, Quarter]
    baseline: int | None  # index of the baseline quarter (None: no data at all)
    noise: float  # pooled within-quarter standard deviation
    tolerance: float
    verdict: str  # the last quarter with data's verdict, or n/a
    trend: str  # rising / falling / flat: last quarter with data against the baseline

    @property
    def points(self) -> int:
        return sum(q.count for q in self.quarters)

    @property
    def nonfinite(self) -> int:
        return sum(q.nonfinite for q in self.quarters)

    @property
    def means(self) -> tuple[float | None, ...]:
        return tuple(q.mean for q in self.quarters)

    def with_data(self, min_points: int = 1) -> list[Quarter]:
        return [q for q in self.quarters if q.count >= min_points]

    @property
    def last(self) -> Quarter | None:
        """The last quarter with data."""
        filled = self.with_data()
        return filled[-1] if filled else None

    @property
    def best(self) -> Quarter | None:
        """The best quarter by mean (highest for NO_DIRECTION and HIGHER_IS_BETTER)."""
        filled = self.with_data()
        if not filled:
            return None
        sign = -1 if self.direction == LOWER_IS_BETTER else 1
        return max(filled, key=lambda q: sign * (q.mean or 0.0))

    @property
    def max(self) -> float | None:
        maxima = [q.max for q in self.quarters if q.max is not None]
        return max(maxima) if maxima else None

    def to_json(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "span": self.span,
            "direction": self.direction,
            "quarters": [q.to_json() for q in self.quarters],
            "baseline": self.baseline,
            "noise": self.noise,
            "tolerance": self.tolerance,
            "verdict": self.verdict,
            "trend": self.trend,
        }


# -- pure functions on arrays --------------------------------------------------------------------


def all_finite(values: np.ndarray) -> bool:
    """True when no value is NaN or inf (one reduction, no temporary array).

    A sum of +inf and -inf may raise numpy's "invalid value" warning: callers that care run
    under ``np.errstate(invalid="ignore")`` (evaluate and quarter_table do).
    """
    if len(values) == 0:
        return True
    if math.isfinite(values.sum(dtype=np.float64)):
        return True
    return bool(np.isfinite(values).all())  # an overflowing sum of finite values


def quarter_bounds(span: float) -> np.ndarray:
    """Step bounds 0, S/4, S/2, 3S/4, S."""
    return np.array([0.0, span / 4, span / 2, 3 * span / 4, float(span)])


def pooled_std(counts: list[int], stds: list[float | None]) -> float:
    num = 0.0
    den = 0
    for n, s in zip(counts, stds, strict=True):
        if n >= 2 and s is not None:
            num += (n - 1) * s * s
            den += n - 1
    return math.sqrt(num / den) if den else 0.0


def verdict(
    mean: float,
    base: float,
    previous: float | None,
    tolerance: float,
    direction: int,
) -> str:
    """A quarter's verdict (see the module docstring). ``previous``: the previous quarter with
    data, when it is not the baseline itself."""
    delta = mean - base
    if abs(delta) <= tolerance:
        return FLAT
    if direction == NO_DIRECTION:
        return RISING if delta > 0 else FALLING
    if direction * delta > 0:
        return IMPROVING
    if previous is not None and direction * (mean - previous) > tolerance:
        return RECOVERING
    return DEGRADING


def trend(delta: float, tolerance: float) -> str:
    if abs(delta) <= tolerance:
        return FLAT
    return RISING if delta > 0 else FALLING


def _quarter_stats(steps: np.ndarray, values: np.ndarray, bounds: np.ndarray) -> list[Any]:
    """Per quarter: (finite count, nonfinite count, mean, min, max, std, first, last step).

    Vectorised over the quarters (one reduceat per statistic), so the cost is a dozen numpy
    calls whatever the length; the standard deviation is two-pass (exact).
    """
    bad = [0, 0, 0, 0]
    if len(steps) and not all_finite(values):
        ok = np.isfinite(values)
        bad = np.diff(np.searchsorted(steps[~ok], bounds, side="right")).tolist()
        steps, values = steps[ok], values[ok]
    if len(steps) == 0:
        return [(0, bad[q], None, None, None, None, 0, 0) for q in range(4)]
    idx = np.searchsorted(steps, bounds, side="right").tolist()
    counts = [idx[q + 1] - idx[q] for q in range(4)]
    filled = [q for q in range(4) if counts[q]]
    if not filled:
        return [(0, bad[q], None, None, None, None, 0, 0) for q in range(4)]
    a, b = idx[0], idx[4]
    v = values[a:b].astype(np.float64)
    starts = [idx[q] - a for q in filled]
    ns = np.array([counts[q] for q in filled])
    means = np.add.reduceat(v, starts) / ns
    mins = np.minimum.reduceat(v, starts).tolist()
    maxs = np.maximum.reduceat(v, starts).tolist()
    dev = v - np.repeat(means, ns)
    var = (np.add.reduceat(dev * dev, starts) / np.maximum(ns - 1, 1)).tolist()
    means_l = means.tolist()
    out: list[Any] = [(0, bad[q], None, None, None, None, 0, 0) for q in range(4)]
    for j, q in enumerate(filled):
        n = counts[q]
        out[q] = (
            n,
            bad[q],
            means_l[j],
            mins[j],
            maxs[j],
            math.sqrt(var[j]) if n > 1 else 0.0,
            int(steps[idx[q]]),
            int(steps[idx[q + 1] - 1]),
        )
    return out


def quarter_table(
    steps: np.ndarray,
    values: np.ndarray,
    span: float,
    *,
    tag: str = "",
    direction: int = HIGHER_IS_BETTER,
    flat_noise: float = FLAT_NOISE,
    flat_relative: float = FLAT_RELATIVE,
) -> QuarterTable:
    """Quarter statistics of one series (``steps`` sorted ascending, as in a SeriesView)."""
    span = float(span) if span and span > 0 else 0.0
    bounds = quarter_bounds(span)
    with np.errstate(invalid="ignore", over="ignore"):
        raw = _quarter_stats(steps, values, bounds)
    counts = [r[0] for r in raw]
    noise = pooled_std(counts, [r[5] for r in raw])
    filled = [q for q in range(4) if counts[q] > 0]
    baseline = filled[0] if filled else None
    base_mean = raw[baseline][2] if baseline is not None else None
    tolerance = 0.0
    if base_mean is not None:
        tolerance = max(flat_noise * noise, flat_relative * abs(base_mean))
    quarters = []
    prev_mean: float | None = None  # previous quarter with data, excluding the baseline
    for q in range(4):
        n, bad, qmean, mn, mx, qstd, s0, s1 = raw[q]
        change: float | None = None
        change_pct: float | None = None
        if qmean is None or base_mean is None:
            v = NO_DATA
        elif q == baseline:
            v = BASELINE
            change = 0.0
            change_pct = 0.0
        else:
            v = verdict(qmean, base_mean, prev_mean, tolerance, direction)
            change = qmean - base_mean
            change_pct = change / abs(base_mean) * 100.0 if base_mean != 0 else None
        if qmean is not None and q != baseline:
            prev_mean = qmean
        quarters.append(
            Quarter(
                index=q,
                lo=float(bounds[q]),
                hi=float(bounds[q + 1]),
                count=n,
                nonfinite=bad,
                mean=qmean,
                min=mn,
                max=mx,
                std=qstd,
                first_step=s0 if n else None,
                last_step=s1 if n else None,
                change=change,
                change_pct=change_pct,
                verdict=v,
            )
        )
    if len(filled) >= 2 and base_mean is not None:
        last = quarters[filled[-1]]
        table_verdict = last.verdict
        table_trend = trend((last.mean or 0.0) - base_mean, tolerance)
    else:
        table_verdict = NOT_AVAILABLE
        table_trend = FLAT
    return QuarterTable(
        tag=tag,
        span=int(span),
        direction=direction,
        quarters=(quarters[0], quarters[1], quarters[2], quarters[3]),
        baseline=baseline,
        noise=noise,
        tolerance=tolerance,
        verdict=table_verdict,
        trend=table_trend,
    )


def point_noise(values: np.ndarray) -> float | None:
    """Point-to-point noise: ``std(diff(values)) / sqrt(2)`` over the finite values.

    For a slowly moving curve with independent noise of standard deviation sigma this estimates
    sigma without being inflated by the trend (the seed's "smooth learning curve" criterion).
    """
    with np.errstate(invalid="ignore", over="ignore"):
        v = values if all_finite(values) else values[np.isfinite(values)]
    if len(v) < 3:
        return None
    d = np.diff(v.astype(np.float64))
    return float(d.std(ddof=1) / math.sqrt(2.0))


# -- on runs -------------------------------------------------------------------------------------


def quarter_span(run: RunSnapshot) -> int | None:
    """S: the planned length for a finished run, the last logged step otherwise."""
    if run.state == FINISHED and run.total_steps and run.total_steps >= run.step:
        return int(run.total_steps)
    return int(run.step) if run.step > 0 else None


def reward_tag(run: RunSnapshot) -> str | None:
    """The reward series the collector chose (collectors.model.run.pick_reward_tag)."""
    if run.reward is not None and run.reward.tag in run.series:
        return run.reward.tag
    return pick_reward_tag(run.series)


def _agent_key(tag: str) -> tuple[int, str]:
    m = _AGENT_TAG.match(tag)
    return (int(m.group(1)), tag) if m else (1 << 30, tag)


def metric_tags(tags: Any) -> dict[str, list[str]]:
    """The health metrics present among ``tags``, by group, agents in numeric order.

    ``entropy`` and ``actor_grad_norm``: ``agent{i}/dist_entropy``, ``agent{i}/actor_grad_norm``;
    ``value_loss``: ``critic/value_loss``; ``critic_grad_norm``: ``critic/critic_grad_norm``.
    """
    groups: dict[str, list[str]] = {g: [] for g in METRIC_GROUPS}
    for tag in tags:
        m = _AGENT_TAG.match(tag)
        if m:
            group = _GROUP_OF_AGENT_METRIC.get(m.group(2))
            if group:
                groups[group].append(tag)
        elif tag == "critic/value_loss":
            groups["value_loss"].append(tag)
        elif tag == "critic/critic_grad_norm":
            groups["critic_grad_norm"].append(tag)
    for members in groups.values():
        members.sort(key=_agent_key)
    return groups


def run_quarters(
    run: RunSnapshot,
    tag: str,
    *,
    direction: int = HIGHER_IS_BETTER,
    span: int | None = None,
    flat_noise: float = FLAT_NOISE,
    flat_relative: float = FLAT_RELATIVE,
) -> QuarterTable | None:
    """Quarter table of one of the run's series; None when the tag or the span is missing."""
    view = run.series.get(tag)
    if view is None or len(view) == 0:
        return None
    s = span if span is not None else quarter_span(run)
    if not s:
        return None
    return quarter_table(
        view.steps,
        view.values,
        s,
        tag=tag,
        direction=direction,
        flat_noise=flat_noise,
        flat_relative=flat_relative,
    )


def reward_quarters(
    run: RunSnapshot,
    *,
    span: int | None = None,
    flat_noise: float = FLAT_NOISE,
    flat_relative: float = FLAT_RELATIVE,
) -> QuarterTable | None:
    tag = reward_tag(run)
    if tag is None:
        return None
    return run_quarters(
        run,
        tag,
        direction=HIGHER_IS_BETTER,
        span=span,
        flat_noise=flat_noise,
        flat_relative=flat_relative,
    )


def metric_quarters(
    run: RunSnapshot,
    *,
    span: int | None = None,
    flat_noise: float = FLAT_NOISE,
    flat_relative: float = FLAT_RELATIVE,
) -> dict[str, list[QuarterTable]]:
    """Quarter tables of the health metrics, by group (see :func:`metric_tags`)."""
    out: dict[str, list[QuarterTable]] = {}
    for group, tags in metric_tags(run.series).items():
        tables = []
        for tag in tags:
            t = run_quarters(
                run,
                tag,
                direction=METRIC_DIRECTION[group],
                span=span,
                flat_noise=flat_noise,
                flat_relative=flat_relative,
            )
            if t is not None:
                tables.append(t)
        if tables:
            out[group] = tables
    return out


def clip_value(config: Mapping[str, Any]) -> float | None:
    """The run's gradient clip value: ``max_grad_norm`` when ``use_max_grad_norm`` (HARL's
    default is on, so a missing ``use_max_grad_norm`` counts as on)."""
    use = lookup(config, "algo_args.algo.use_max_grad_norm")
    if use is None:
        use = lookup(config, "use_max_grad_norm")
    if use is False:
        return None
    v = lookup(config, "algo_args.algo.max_grad_norm")
    if v is None:
        v = lookup(config, "max_grad_norm")
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) and v > 0 else None


def value_at_or_after(steps: np.ndarray, step: float) -> int | None:
    """Index of the first point at or after ``step``; None when there is none."""
    i = int(np.searchsorted(steps, step, side="left"))
    return i if i < len(steps) else None
