"""Training rules: the reward by quarter, each agent's entropy and actor grad norm, the value loss.

"Current" levels are the rolling median of the last ``window`` points; trends compare the last
quarter with the first (quarters as in :mod:`collectors.analysis.quarters`, each needing
``min_quarter_points`` points). Every finding carries the value it was judged on and its band.
"""

from __future__ import annotations

import math

import numpy as np

from collectors import fmt
from collectors.analysis.health.messages import agent_of, edge_text, value_text
from collectors.analysis.health.registry import FACTOR, WHOLE, Context, Order, Rule, Threshold
from collectors.analysis.health.stretch import current_level, trailing_stretch
from collectors.analysis.quarters import (
    DEGRADING,
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    NO_DIRECTION,
    RECOVERING,
    RISING,
    Quarter,
    QuarterTable,
    all_finite,
    clip_value,
    quarter_table,
    reward_tag,
)
from collectors.model.findings import BAD, OK, WARN, Band, Finding

FAMILY = "training"

# In the order of the docs (the README table is generated from this).
THRESHOLDS = (
    Threshold("entropy_low", 1.0, "healthy entropy band, lower edge (warn below)"),
    Threshold("entropy_high", 2.0, "healthy entropy band, upper edge (warn above)"),
    Threshold("entropy_min", 0.5, "bad below: policy too deterministic"),
    Threshold("entropy_max", 3.0, "bad above: policy too random"),
    Threshold(
        "entropy_rise_min", 0.2, "smallest Q1 -> last-quarter entropy rise that is a warning"
    ),
    Threshold("value_loss_max", 1.0, "warn when the current value loss is above"),
    Threshold(
        "grad_norm_far_factor",
        3.0,
        "bad when a grad norm exceeds this many times the clip value",
        FACTOR,
    ),
    Threshold("window", 5, 'points in the rolling median that gives a "current" level', WHOLE),
    Threshold("min_quarter_points", 5, "points a quarter needs before its verdict is used", WHOLE),
    Threshold("flat_noise", 0.5, "quarter changes within this many pooled std devs are flat"),
    Threshold("flat_relative", 0.02, "... or within this fraction of the Q1 mean"),
    Threshold(
        "reward_noise_max",
        0.05,
        'report: "smooth curve" when point-to-point reward noise is at most this fraction of '
        "the mean |reward| (single run)",
    ),
)
ORDERS = (
    Order("entropy thresholds", ("entropy_min", "entropy_low", "entropy_high", "entropy_max")),
)
_QUARTERS = ("min_quarter_points", "flat_noise", "flat_relative")


def entropy(ctx: Context) -> list[Finding]:
    run, t = ctx.run, ctx.t
    out = []
    lo, hi, mn, mx = t["entropy_low"], t["entropy_high"], t["entropy_min"], t["entropy_max"]
    band = Band(lo, hi, mn, mx)
    w = int(t["window"])
    for tag in ctx.groups["entropy"]:
        view = run.series[tag]
        values = view.values
        if len(values) == 0:
            continue
        who = agent_of(tag)
        now = current_level(values, w)
        if not math.isfinite(now):
            continue
        if now < mn or now > mx:
            hard = trailing_stretch(values, mn, mx, w)
            i, level = hard if hard is not None else (len(values) - 1, now)
            what = "too deterministic" if level < mn else "too random"
            edge = f"< {edge_text(mn)}" if level < mn else f"> {edge_text(mx)}"
            since = fmt.steps(view.steps[i])
            msg = f"{who} entropy {value_text(level)} {edge}: {what} since {since}"
            lvl, step = BAD, int(view.steps[i])
        elif now < lo or now > hi:
            soft = trailing_stretch(values, lo, hi, w)
            i, level = soft if soft is not None else (len(values) - 1, now)
            side = "below" if level < lo else "above"
            msg = (
                f"{who} entropy {value_text(level)} {side} {edge_text(lo)}-{edge_text(hi)} since "
                f"{fmt.steps(view.steps[i])}"
            )
            lvl, step = WARN, int(view.steps[i])
        else:
            level = now
            msg = f"{who} entropy {value_text(now)} in {edge_text(lo)}-{edge_text(hi)}"
            lvl, step = OK, int(view.steps[-1])
        out.append(
            Finding(
                "entropy",
                lvl,
                msg,
                step,
                tag,
                value=level,
                band=band,
                metric="entropy",
                agent=who,
            )
        )
    return out


def _filled_quarters(
    ctx: Context, tag: str, direction: int
) -> tuple[QuarterTable, list[Quarter]] | None:
    """The quarter table of ``tag`` and its quarters with enough points, when at least two have
    and the first of them is the baseline (Q1); else None: too early to judge a trend."""
    t = ctx.t
    view = ctx.run.series[tag]
    assert ctx.span
    table = quarter_table(
        view.steps,
        view.values,
        ctx.span,
        tag=tag,
        direction=direction,
        flat_noise=t["flat_noise"],
        flat_relative=t["flat_relative"],
    )
    filled = table.with_data(int(t["min_quarter_points"]))
    if len(filled) < 2 or table.baseline is None or filled[0].index != table.baseline:
        return None
    return table, filled


def _rise_text(table: QuarterTable) -> str:
    """``Q1 1.43 -> Q4 2.06``: the baseline quarter against the last one."""
    base = table.quarters[table.baseline or 0]
    last = table.last
    assert last is not None
    return (
        f"{base.label} {value_text(base.mean or 0.0)} -> "
        f"{last.label} {value_text(last.mean or 0.0)}"
    )


def _rising(
    ctx: Context, tag: str, direction: int, min_rise: float = 0.0
) -> tuple[QuarterTable, int] | None:
    """The quarter table and the first step of the rise, when the series rose Q1 -> last."""
    found = _filled_quarters(ctx, tag, direction)
    if found is None:
        return None
    table, filled = found
    base = filled[0].mean or 0.0
    if table.trend != RISING or (filled[-1].mean or 0.0) - base < min_rise:
        return None
    first = next(
        (q for q in filled[1:] if (q.mean or 0.0) - base > table.tolerance),
        filled[-1],
    )
    return table, int(first.first_step or 0)


def _last_mean(table: QuarterTable) -> float | None:
    return table.last.mean if table.last is not None else None


def entropy_trend(ctx: Context) -> list[Finding]:
    if not ctx.span:
        return []
    out = []
    for tag in ctx.groups["entropy"]:
        r = _rising(ctx, tag, NO_DIRECTION, ctx.t["entropy_rise_min"])
        if r is None:
            continue
        table, step = r
        who = agent_of(tag)
        out.append(
            Finding(
                "entropy_trend",
                WARN,
                f"{who} entropy rising: {_rise_text(table)}",
                step,
                tag,
                value=_last_mean(table),
                metric="entropy",
                agent=who,
            )
        )
    return out


def _finite_max(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if len(finite) else float("nan")


def grad_norm(ctx: Context) -> list[Finding]:
    run = ctx.run
    clip = clip_value(run.config)
    if clip is None:
        return []
    far = clip * ctx.t["grad_norm_far_factor"]
    band = Band(high=clip, bad_high=far)
    out = []
    for tag in ctx.groups["actor_grad_norm"]:
        view = run.series[tag]
        values = view.values
        if len(values) == 0:
            continue
        above = values > clip  # NaN compares False: the nonfinite rule reports those
        count = int(np.count_nonzero(above))
        who = agent_of(tag)
        if count == 0:
            top = float(values.max()) if all_finite(values) else _finite_max(values)
            msg = f"{who} grad norm <= clip {clip:g} (max {value_text(top)})"
            level, step = OK, int(view.steps[-1])
        else:
            i = int(np.argmax(above))
            top = _finite_max(values)
            step = int(view.steps[i])
            if top > far:
                step = int(view.steps[int(np.argmax(values > far))])
                msg = (
                    f"{who} grad norm {value_text(top)} = {top / clip:.1f}x clip {clip:g}, "
                    f"far above it from {fmt.steps(step)}"
                )
                level = BAD
            else:
                msg = (
                    f"{who} grad norm above clip {clip:g} at {count}/{len(values)} pts "
                    f"from {fmt.steps(step)} (max {value_text(top)})"
                )
                level = WARN
        out.append(
            Finding(
                "grad_norm",
                level,
                msg,
                step,
                tag,
                value=top,
                band=band,
                metric="actor_grad_norm",
                agent=who,
            )
        )
    return out


def value_loss(ctx: Context) -> list[Finding]:
    run = ctx.run
    out = []
    limit = ctx.t["value_loss_max"]
    band = Band(high=limit)
    w = int(ctx.t["window"])
    for tag in ctx.groups["value_loss"]:
        view = run.series[tag]
        values = view.values
        if len(values) == 0:
            continue
        now = current_level(values, w)
        if not math.isfinite(now):
            continue
        if now > limit:
            high = trailing_stretch(values, -math.inf, limit, w)
            i, level = high if high is not None else (len(values) - 1, now)
            since = fmt.steps(view.steps[i])
            msg = f"value loss {value_text(level)} > {edge_text(limit)} since {since}"
            verdict, step = WARN, int(view.steps[i])
        else:
            level = now
            msg = f"value loss {value_text(now)} <= {edge_text(limit)}"
            verdict, step = OK, int(view.steps[-1])
        out.append(
            Finding(
                "value_loss", verdict, msg, step, tag, value=level, band=band, metric="value_loss"
            )
        )
    return out


def value_loss_trend(ctx: Context) -> list[Finding]:
    if not ctx.span:
        return []
    out = []
    for tag in ctx.groups["value_loss"]:
        if len(ctx.run.series[tag]) == 0:
            continue
        r = _rising(ctx, tag, LOWER_IS_BETTER)
        if r is None:
            continue
        table, step = r
        out.append(
            Finding(
                "value_loss_trend",
                WARN,
                f"value loss rising: {_rise_text(table)}",
                step,
                tag,
                value=_last_mean(table),
                metric="value_loss",
            )
        )
    return out


def reward(ctx: Context) -> list[Finding]:
    run = ctx.run
    tag = reward_tag(run)
    if tag is None or not ctx.span:
        return []
    found = _filled_quarters(ctx, tag, HIGHER_IS_BETTER)
    if found is None:
        return []
    filled = found[1]
    base, last = filled[0], filled[-1]
    b, m = base.mean or 0.0, last.mean or 0.0
    pct = f" ({last.change_pct:+.0f}%)" if last.change_pct is not None else ""
    if last.verdict in (DEGRADING, RECOVERING):
        # Where it started: the first quarter after the baseline that was worse than it.
        first = next(
            (q for q in filled[1:] if q.verdict in (DEGRADING, RECOVERING)),
            last,
        )
        worst_q = min(filled, key=lambda q: q.mean or 0.0)
        step = int(first.first_step or 0)
        if last.verdict == DEGRADING:
            msg = f"reward degrading: {base.label} {b:.2f} -> {last.label} {m:.2f}{pct}"
            return [Finding("reward", BAD, msg, step, tag, value=last.mean, metric="reward")]
        msg = (
            f"reward recovering: {last.label} {m:.2f}{pct} vs {base.label} {b:.2f}, "
            f"low {worst_q.label} {worst_q.mean or 0.0:.2f}"
        )
        return [Finding("reward", WARN, msg, step, tag, value=last.mean, metric="reward")]
    msg = f"reward {last.verdict}: {base.label} {b:.2f} -> {last.label} {m:.2f}"
    return [
        Finding("reward", OK, msg, int(last.last_step or 0), tag, value=last.mean, metric="reward")
    ]


RULES = (
    Rule(
        "reward",
        FAMILY,
        "bad: the reward's last quarter is degrading against Q1; warn: recovering (still below "
        "Q1); ok otherwise",
        _QUARTERS,
        reward,
    ),
    Rule(
        "entropy",
        FAMILY,
        "per agent, the current entropy: bad below entropy_min or above entropy_max, warn "
        "outside [entropy_low, entropy_high], ok inside",
        ("entropy_low", "entropy_high", "entropy_min", "entropy_max", "window"),
        entropy,
    ),
    Rule(
        "entropy_trend",
        FAMILY,
        "warn: entropy rising from Q1 to the last quarter by more than the flat tolerance and "
        "entropy_rise_min",
        ("entropy_rise_min", *_QUARTERS),
        entropy_trend,
    ),
    Rule(
        "grad_norm",
        FAMILY,
        "per agent, when the run clips: warn when the logged (pre-clip) actor grad norm goes "
        "above the clip value, bad above grad_norm_far_factor times it",
        ("grad_norm_far_factor",),
        grad_norm,
    ),
    Rule(
        "value_loss",
        FAMILY,
        "warn: the current value loss is above value_loss_max; ok otherwise",
        ("value_loss_max", "window"),
        value_loss,
    ),
    Rule(
        "value_loss_trend",
        FAMILY,
        "warn: value loss rising from Q1 to the last quarter",
        _QUARTERS,
        value_loss_trend,
    ),
)
