"""Training rules: the reward by quarter, each agent's entropy and actor grad norm, the value loss.

"Current" levels are the rolling median of the last ``window`` points; trends compare the last
quarter with the first (quarters as in :mod:`collectors.analysis.quarters`, each needing
``min_quarter_points`` points). Every finding carries the value it was judged on and its band.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from collectors import fmt
from collectors.analysis.health.messages import agent_of, edge_text, value_text
from collectors.analysis.health.registry import Context, Rule
from collectors.analysis.health.stretch import current_level, trailing_stretch
from collectors.analysis.health.thresholds import ORDERS as TRAINING_ORDERS
from collectors.analysis.health.thresholds import THRESHOLDS as TRAINING_THRESHOLDS
from collectors.analysis.quarters import (
    DEGRADING,
    LOWER_IS_BETTER,
    NO_DIRECTION,
    RECOVERING,
    RISING,
    Quarter,
    QuarterTable,
    clip_value,
    quarter_table,
)
from collectors.analysis.reward import MIXED, reward_verdict
from collectors.model.findings import BAD, OK, WARN, Band, Finding
from collectors.model.run import RunSnapshot
from collectors.model.run_config import lookup

FAMILY = "training"

# Declared in thresholds.py, without numpy: a config file is checked without the rules.
THRESHOLDS, ORDERS = TRAINING_THRESHOLDS, TRAINING_ORDERS
_QUARTERS = ("min_quarter_points", "flat_noise", "flat_relative")


# 0.5 * ln(2 pi e): the entropy of a unit normal, per action dimension.
_HALF_LOG_2PIE = 0.5 * math.log(2.0 * math.pi * math.e)


@dataclass(frozen=True, slots=True)
class SigmaCap:
    """What an entropy value says about a HARL Gaussian policy's sigma."""

    dims: int  # action dimensions (inferred)
    cap: float  # std_y_coef: sigma's maximum

    def sigma(self, entropy_value: float) -> float:
        """The (geometric mean) sigma of an entropy value: H = d * (0.5 ln(2 pi e) + ln sigma)."""
        return math.exp(entropy_value / self.dims - _HALF_LOG_2PIE)

    def share(self, entropy_value: float) -> float:
        return self.sigma(entropy_value) / self.cap


def sigma_cap(run: RunSnapshot, tag: str) -> SigmaCap | None:
    """The sigma cap of the agent logging ``tag``, when the config and the first entropy value
    allow it (else None: judge the entropy by the configurable band).

    HARL's DiagGaussian (harl/models/base/distributions.py) has ``log_std`` initialised to
    ``std_x_coef`` and ``sigma = sigmoid(log_std / std_x_coef) * std_y_coef``: sigma starts at
    ``sigmoid(1) * std_y_coef`` and never exceeds ``std_y_coef``. FixedNormal.entropy sums over
    the action dimensions, so the first logged entropy is about ``d * (0.5 ln(2 pi e) +
    ln(sigmoid(1) std_y_coef))``; ``d`` is read from it and accepted only when it comes out
    within 0.15 of a whole number. Needs ``std_y_coef`` in the config (a Box action space:
    harl/models/base/act.py ``ACTLayer`` uses DiagGaussian for ``Box``).
    """
    y = lookup(run.config, "std_y_coef")
    if isinstance(y, bool) or not isinstance(y, (int, float)) or not y > 0:
        return None
    view = run.series.get(tag)
    if view is None or len(view) == 0:
        return None
    first = float(view.values[0])
    per_dim = _HALF_LOG_2PIE + math.log(float(y) / (1.0 + math.exp(-1.0)))
    if not math.isfinite(first) or per_dim <= 0.05:
        return None
    d = first / per_dim
    k = round(d)
    if k < 1 or k > 256 or abs(d - k) > 0.15:
        return None
    return SigmaCap(int(k), float(y))


def entropy(ctx: Context) -> list[Finding]:
    run, t = ctx.run, ctx.t
    out = []
    lo, hi, mn, mx = t["entropy_low"], t["entropy_high"], t["entropy_min"], t["entropy_max"]
    band = Band(lo, hi, mn, mx)
    w = int(t["window"])
    for tag in ctx.groups["entropy"]:
        cap = sigma_cap(run, tag)
        if cap is not None:
            found = _entropy_capped(ctx, tag, cap)
            if found is not None:
                out.append(found)
            continue
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


def _entropy_capped(ctx: Context, tag: str, cap: SigmaCap) -> Finding | None:
    """The entropy of a Gaussian policy judged as sigma against its cap (see :func:`sigma_cap`):
    too random above ``sigma_cap_max`` of it, warn above ``sigma_cap_high``; the low side keeps
    the configurable band (too deterministic below entropy_min, warn below entropy_low)."""
    t = ctx.t
    view = ctx.run.series[tag]
    values = view.values
    w = int(t["window"])
    now = current_level(values, w)
    if not math.isfinite(now):
        return None
    who = agent_of(tag)
    # entropy edges equivalent to the sigma shares: H = d * (0.5 ln(2 pi e) + ln(share * cap))
    e_high = cap.dims * (_HALF_LOG_2PIE + math.log(t["sigma_cap_high"] * cap.cap))
    e_max = cap.dims * (_HALF_LOG_2PIE + math.log(t["sigma_cap_max"] * cap.cap))
    lo, mn = t["entropy_low"], t["entropy_min"]
    band = Band(min(lo, e_high), e_high, min(mn, e_max), e_max)
    share = cap.share(now)
    sig = f"sigma {cap.sigma(now):.3g} = {share * 100:.0f}% of its cap {cap.cap:g}"
    step = int(view.steps[-1])
    if now > e_max:
        st = trailing_stretch(values, -math.inf, e_max, w)
        step = int(view.steps[st[0]]) if st is not None else step
        msg = f"{who} entropy {value_text(now)}: {sig}: too random since {fmt.steps(step)}"
        lvl = BAD
    elif now > e_high:
        st = trailing_stretch(values, -math.inf, e_high, w)
        step = int(view.steps[st[0]]) if st is not None else step
        msg = f"{who} entropy {value_text(now)}: {sig} since {fmt.steps(step)}"
        lvl = WARN
    elif now < mn:
        msg = f"{who} entropy {value_text(now)} < {edge_text(mn)}: too deterministic ({sig})"
        lvl = BAD
    elif now < lo:
        msg = f"{who} entropy {value_text(now)} below {edge_text(lo)} ({sig})"
        lvl = WARN
    else:
        msg = f"{who} entropy {value_text(now)}: {sig}"
        lvl = OK
    return Finding(
        "entropy", lvl, msg, step, tag, value=now, band=band, metric="entropy", agent=who
    )


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


def _networks(ctx: Context) -> list[tuple[str, str, str]]:
    """(tag, who, metric) of every network whose grad norm is logged: each actor, the critic."""
    out = [(t, agent_of(t), "actor_grad_norm") for t in ctx.groups["actor_grad_norm"]]
    out += [(t, "critic", "critic_grad_norm") for t in ctx.groups["critic_grad_norm"]]
    return [x for x in out if len(ctx.run.series[x[0]])]


def clipping(ctx: Context) -> list[Finding]:
    """How often HARL's gradient clip was active, per network.

    HARL logs the return value of ``torch.nn.utils.clip_grad_norm_``: the norm *before*
    clipping, averaged over the PPO epochs and mini-batches (harl/algorithms/actors/
    on_policy_base.py ``OnPolicyBase.update`` and ``train``, harl/algorithms/actors/happo.py
    ``HAPPO.update``; the critic the same way with the same ``max_grad_norm``,
    harl/algorithms/critics/v_critic.py ``VCritic.update``). The update applied never exceeds
    ``max_grad_norm``: a logged norm above it is not an error, it says the clip set the step
    size. Never ``bad``: the finding reports the share of logged updates above the clip.
    """
    clip = clip_value(ctx.run.config)
    if clip is None:
        return []
    out = []
    band = Band(high=clip)
    for tag, who, metric in _networks(ctx):
        view = ctx.run.series[tag]
        values = view.values
        finite = values[np.isfinite(values)]
        if len(finite) == 0:
            continue
        share = float(np.count_nonzero(finite > clip)) / len(finite)
        pct = f"{share * 100:.0f}%" if share >= 0.01 else f"{share * 100:.1g}%"
        if share == 0:
            msg = f"{who} never clipped (grad norm <= max_grad_norm {clip:g})"
        elif share >= 0.5:
            msg = f"{pct} of {who} updates clipped: step size set by max_grad_norm"
        else:
            msg = f"{pct} of {who} updates clipped (max_grad_norm {clip:g})"
        out.append(
            Finding(
                "clipping",
                OK,
                msg,
                int(view.steps[-1]),
                tag,
                value=share,
                band=band,
                metric=metric,
                agent=who,
            )
        )
    return out


def row_medians(rows: np.ndarray) -> np.ndarray:
    """``np.median(rows, axis=1)`` for rows without NaN, by one partition: np.median's own
    checks cost about 70 us a call, most of the spike rule on a server's many short series
    (300 runs x 3 networks: 0.1 s of a cold collect)."""
    k = rows.shape[1]
    lo, hi = (k - 1) // 2, k // 2
    part = np.partition(rows, (lo, hi) if lo != hi else lo, axis=1)
    return (part[:, lo] + part[:, hi]) / 2


def spike_indices(values: np.ndarray, factor: float, window: int) -> np.ndarray:
    """Indices of the points above ``factor`` times the median of the ``window`` points before
    them (points with fewer than ``window`` before them, or a NaN among those, are not judged).

    Exact and cheap: a point can only be above ``factor`` times the median when it is above
    ``factor`` times the minimum of its window, and so above ``factor`` times the minimum of
    the (at most two) aligned blocks of ``window`` points that hold the window: block minima
    are one contiguous reduction, and exact medians are taken for those candidates only
    (measured: 100k points in about 1 ms).
    """
    n = len(values)
    if n <= window:
        return np.zeros(0, dtype=np.int64)
    with np.errstate(invalid="ignore"):
        m = -(-n // window)
        padded = np.full(m * window, np.inf, dtype=np.float64)
        padded[:n] = values
        block_min = padded.reshape(m, window).min(axis=1)  # NaN propagates: not judged
        i = np.arange(window, n)
        bound = np.minimum(block_min[(i - window) // window], block_min[(i - 1) // window])
        candidates = i[values[window:] > factor * bound]
        if len(candidates) == 0:
            return candidates
        windows = sliding_window_view(values[:-1], window)  # row j: the points before j + window
        med = row_medians(windows[candidates - window])  # no NaN: their bounds are finite
        hits = candidates[values[candidates] > factor * med]
    return hits


def grad_spike(ctx: Context) -> list[Finding]:
    """Gradient spikes against the run's own recent median, per network (the logged norm is
    the pre-clip norm: see :func:`clipping`). A spike in the last ``window`` points is a
    current warning; older ones are the run's history (``current=False``)."""
    factor, width = ctx.t["grad_spike_factor"], int(ctx.t["grad_spike_window"])
    recent = int(ctx.t["window"])
    out = []
    for tag, who, metric in _networks(ctx):
        view = ctx.run.series[tag]
        hits = spike_indices(view.values, factor, width)
        if len(hits) == 0:
            continue
        last = int(hits[-1])
        n = len(view.values)
        lo = max(0, last - width)
        med = float(np.nanmedian(view.values[lo:last]))
        size = float(view.values[last]) / med if med > 0 else math.inf
        name = "critic" if who == "critic" else who
        now = last >= n - recent
        when = "now" if now else "last"
        msg = (
            f"{name} grad norm spike{'s' if len(hits) > 1 else ''}: {len(hits)} "
            f"> {factor:g}x recent median, {when} at {fmt.steps(int(view.steps[last]))} "
            f"({size:.1f}x)"
        )
        out.append(
            Finding(
                "grad_spike",
                WARN,
                msg,
                int(view.steps[last]),
                tag,
                value=size,
                band=Band(high=factor),
                metric=metric,
                agent=who,
                current=now,
            )
        )
    return out


def value_loss(ctx: Context) -> list[Finding]:
    run = ctx.run
    out = []
    limit = ctx.t["value_loss_max"]
    band = Band(high=limit)
    w = int(ctx.t["window"])
    normalised = lookup(run.config, "use_valuenorm") is True
    for tag in ctx.groups["value_loss"]:
        view = run.series[tag]
        values = view.values
        if len(values) == 0:
            continue
        now = current_level(values, w)
        if not math.isfinite(now):
            continue
        if normalised:
            # HARL's VCritic.cal_value_loss (harl/algorithms/critics/v_critic.py) computes the
            # loss on value_normalizer.normalize(return_batch) when use_valuenorm is on: the
            # scale is the normalised returns', a fixed limit says little. The trend rule
            # (value_loss_trend) judges it.
            msg = f"value loss {value_text(now)} (normalised returns: judged by its trend)"
            out.append(
                Finding(
                    "value_loss",
                    OK,
                    msg,
                    int(view.steps[-1]),
                    tag,
                    value=now,
                    metric="value_loss",
                )
            )
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
    """The reward verdict of :func:`collectors.analysis.reward.reward_verdict`: quarters of the
    episode reward and of the per-step reward; degrading only when both agree, mixed when they
    disagree (HARL's episode reward depends on the episodes' length: base_logger.py)."""
    run, t = ctx.run, ctx.t
    if not ctx.span:
        return []
    rv = reward_verdict(
        run, span=ctx.span, flat_noise=t["flat_noise"], flat_relative=t["flat_relative"]
    )
    table = rv.main
    if table is None:
        return []
    mp = int(t["min_quarter_points"])
    filled = table.with_data(mp)
    if len(filled) < 2 or table.baseline is None or filled[0].index != table.baseline:
        return []
    tag = table.tag
    base, last = filled[0], filled[-1]
    b, m = base.mean or 0.0, last.mean or 0.0
    pct = f" ({last.change_pct:+.0f}%)" if last.change_pct is not None else ""
    verdict = rv.verdict if rv.verdict == MIXED else last.verdict

    def finding(level: str, msg: str, step: int) -> Finding:
        return Finding(
            "reward", level, msg, step, tag, value=last.mean, metric="reward", verdict=verdict
        )

    if verdict == MIXED:
        msg = f"reward mixed: {rv.reason}"
        return [finding(WARN, msg, int(last.last_step or 0))]
    if verdict in (DEGRADING, RECOVERING):
        # Where it started: the first quarter after the baseline that was worse than it.
        first = next(
            (q for q in filled[1:] if q.verdict in (DEGRADING, RECOVERING)),
            last,
        )
        worst_q = min(filled, key=lambda q: q.mean or 0.0)
        step = int(first.first_step or 0)
        if verdict == DEGRADING:
            msg = f"reward degrading: {base.label} {b:.2f} -> {last.label} {m:.2f}{pct}"
            return [finding(BAD, msg, step)]
        msg = (
            f"reward recovering: {last.label} {m:.2f}{pct} vs {base.label} {b:.2f}, "
            f"low {worst_q.label} {worst_q.mean or 0.0:.2f}"
        )
        return [finding(WARN, msg, step)]
    msg = f"reward {verdict}: {base.label} {b:.2f} -> {last.label} {m:.2f}"
    dips = [q for q in filled[1:-1] if q.verdict in (DEGRADING, RECOVERING)]
    if dips:  # a quarter in between was worse than Q1: say so, the verdict is the last one's
        low = min(dips, key=lambda q: q.mean or 0.0)
        pct_low = f" ({low.change_pct:+.0f}%)" if low.change_pct is not None else ""
        msg += f", low {low.label} {low.mean or 0.0:.2f}{pct_low}"
    return [finding(OK, msg, int(last.last_step or 0))]


RULES = (
    Rule(
        "reward",
        FAMILY,
        "bad: the reward's last quarter is degrading against Q1 (the episode reward and, when "
        "logged, the per-step reward agree); warn: recovering (still below Q1) or mixed (the "
        "two disagree: episodes changed length); ok otherwise",
        _QUARTERS,
        reward,
    ),
    Rule(
        "entropy",
        FAMILY,
        "per agent, the current entropy: bad below entropy_min or above entropy_max, warn "
        "outside [entropy_low, entropy_high], ok inside. A Gaussian policy whose action "
        "dimension the first entropy value gives (HARL caps sigma at std_y_coef): the high "
        "side is sigma against its cap instead (warn above sigma_cap_high, bad above "
        "sigma_cap_max)",
        (
            "entropy_low",
            "entropy_high",
            "entropy_min",
            "entropy_max",
            "sigma_cap_high",
            "sigma_cap_max",
            "window",
        ),
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
        "clipping",
        FAMILY,
        "per network (each actor, the critic), when the run clips: ok, with the share of logged "
        "updates whose pre-clip grad norm is above max_grad_norm (HARL logs the norm before "
        "clipping; the applied update never exceeds the clip)",
        (),
        clipping,
    ),
    Rule(
        "grad_spike",
        FAMILY,
        "per network: warn when a grad norm point is above grad_spike_factor times the median "
        "of the grad_spike_window points before it (current when in the last window points, "
        "the run's history otherwise)",
        ("grad_spike_factor", "grad_spike_window", "window"),
        grad_spike,
    ),
    Rule(
        "value_loss",
        FAMILY,
        "warn: the current value loss is above value_loss_max; ok otherwise. With "
        "use_valuenorm (loss on normalised returns) no limit: ok, value_loss_trend judges it",
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
