"""Health rules: what the seed document checked by hand, evaluated on every change of a run.

:func:`evaluate` turns a :class:`~collectors.model.RunSnapshot` into findings (rule, level ok /
warn / bad, a short message, the step where the trouble started, the tag). It works on the
snapshot's read-only numpy views, vectorised, and only looks at the tail of a series for the
"current level" rules, so it is cheap enough to run on every poll: measured about 0.25 ms for a
run of 13 tags x 200 points, 0.4 ms for 13 x 10k, 2.5 ms for 13 x 100k (uncapped series); the
worst case (three series out of band over the whole run, so the stretch search walks all of it)
0.4 / 1.6 / 8 ms for 13 x 200 / 20k / 100k.

Rules (``rule`` names as they appear in findings):

``nonfinite``      bad: NaN or inf in any series (from its first such step).
``entropy``        per agent, the current entropy (rolling median of the last ``window`` points):
                   bad below ``entropy_min`` (too deterministic) or above ``entropy_max`` (too
                   random); warn outside [``entropy_low``, ``entropy_high``]; ok inside.
``entropy_trend``  warn: entropy rising from Q1 to the last quarter (a policy getting more random
                   over training) by more than the flat tolerance and ``entropy_rise_min``.
``grad_norm``      per agent, when the run clips (``use_max_grad_norm``, ``max_grad_norm``):
                   warn when the logged actor grad norm goes above the clip value (HARL logs the
                   norm before clipping, so the update itself was clipped); bad when it goes above
                   ``grad_norm_far_factor`` times the clip value; ok otherwise.
``value_loss``     warn: current value loss (rolling median) above ``value_loss_max``; ok otherwise.
``value_loss_trend`` warn: value loss rising from Q1 to the last quarter.
``reward``         bad: the reward's last quarter is degrading against Q1; warn: recovering (still
                   below Q1); ok otherwise. Quarters as in :mod:`collectors.analysis`; both
                   quarters need ``min_quarter_points`` points.
``stall``          warn: the run is ``stalled`` (no new data for longer than its stall period).
``crashed``        bad: the run is ``crashed`` (silent for long: presumed dead before its last step).
``process``        bad: the run's process has exited before the last step (from
                   ``run.process``, a mapping or a ProcessInfo: ``alive`` false, or ``status``
                   ``dead`` / ``zombie``; ``pid`` and ``exit_code`` are quoted when present).
                   Nothing when ``process`` is None.
``stopped``        ok: the run was stopped before its last step.

Thresholds (the YAML ``thresholds:`` mapping; every key optional, defaults from the seed):

=====================  =======  ==========================================================
key                    default  meaning
=====================  =======  ==========================================================
entropy_low            1.0      healthy entropy band, lower edge (warn below)
entropy_high           2.0      healthy entropy band, upper edge (warn above)
entropy_min            0.5      bad below: policy too deterministic
entropy_max            3.0      bad above: policy too random
entropy_rise_min       0.2      smallest Q1 -> last-quarter entropy rise that is a warning
value_loss_max         1.0      warn when the current value loss is above
grad_norm_far_factor   3.0      bad when a grad norm exceeds this many times the clip value
window                 5        points in the rolling median that gives a "current" level
min_quarter_points     5        points a quarter needs before its verdict is used
flat_noise             0.5      quarter changes within this many pooled std devs are flat
flat_relative          0.02     ... or within this fraction of the Q1 mean
reward_noise_max       0.05     report: "smooth curve" when point-to-point reward noise is at
                                most this fraction of the mean |reward| (single run)
=====================  =======  ==========================================================

Check a mapping with :func:`validate_thresholds` (unknown keys, non-numbers, out-of-order
bands). Pure data layer: no Textual, Rich or plotext.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from collectors import fmt
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
    metric_tags,
    quarter_span,
    quarter_table,
    reward_tag,
)
from collectors.model.run import CRASHED, FINISHED, STALLED, STOPPED, Finding, RunSnapshot

OK = "ok"
WARN = "warn"
BAD = "bad"
LEVELS = (OK, WARN, BAD)
_RANK = {OK: 0, WARN: 1, BAD: 2}

DEFAULT_THRESHOLDS: dict[str, float] = {
    "entropy_low": 1.0,
    "entropy_high": 2.0,
    "entropy_min": 0.5,
    "entropy_max": 3.0,
    "entropy_rise_min": 0.2,
    "value_loss_max": 1.0,
    "grad_norm_far_factor": 3.0,
    "window": 5,
    "min_quarter_points": 5,
    "flat_noise": 0.5,
    "flat_relative": 0.02,
    "reward_noise_max": 0.05,
}

_INTEGER_KEYS = ("window", "min_quarter_points")
# The runs collector calls a run crashed from files alone after this many stall periods of
# silence (collectors.runs.DEAD_FACTOR); a crashed run silent for less was judged by its process.
DEAD_AFTER_STALLS = 3.0
_TAIL = 64  # points examined first when looking for the start of a trailing stretch


def validate_thresholds(mapping: Mapping[str, Any] | None) -> list[str]:
    """Problems with a ``thresholds:`` mapping, one message each (empty when it is fine)."""
    if not mapping:
        return []
    problems: list[str] = []
    known = ", ".join(sorted(DEFAULT_THRESHOLDS))
    for key, value in mapping.items():
        if key not in DEFAULT_THRESHOLDS:
            problems.append(f"unknown threshold '{key}' (known: {known})")
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            problems.append(f"threshold '{key}' must be a number, got {value!r}")
            continue
        if value < 0:
            problems.append(f"threshold '{key}' must not be negative, got {value!r}")
        elif key in _INTEGER_KEYS and (value < 1 or value != int(value)):
            problems.append(f"threshold '{key}' must be a whole number >= 1, got {value!r}")
        elif key == "grad_norm_far_factor" and value < 1:
            problems.append(f"threshold 'grad_norm_far_factor' must be >= 1, got {value!r}")
    if not problems:
        t = thresholds_with_defaults(mapping)
        order = ("entropy_min", "entropy_low", "entropy_high", "entropy_max")
        values = [t[k] for k in order]
        if any(a > b for a, b in zip(values, values[1:], strict=False)):
            problems.append(
                "entropy thresholds must satisfy entropy_min <= entropy_low <= entropy_high"
                f" <= entropy_max, got {', '.join(f'{k}={t[k]:g}' for k in order)}"
            )
    return problems


def thresholds_with_defaults(mapping: Mapping[str, Any] | None) -> dict[str, float]:
    """The defaults with ``mapping`` on top (unknown keys are ignored here: validate first)."""
    t = dict(DEFAULT_THRESHOLDS)
    if mapping:
        for k, v in mapping.items():
            if k in t and isinstance(v, (int, float)) and not isinstance(v, bool):
                t[k] = float(v)
    return t


def worst(findings: tuple[Finding, ...] | list[Finding]) -> str:
    """The worst level among findings ('ok' when there are none)."""
    level = OK
    for f in findings:
        if _RANK.get(f.level, 0) > _RANK[level]:
            level = f.level
    return level


# -- helpers -------------------------------------------------------------------------------------


def _v(x: float) -> str:
    """A compact value for a message: 3 significant digits."""
    if not math.isfinite(x):
        return fmt.value(x)
    return f"{x:.3g}" if abs(x) < 1000 else fmt.steps(x)


def _b(x: float) -> str:
    """A threshold: 1.0, 0.5, 2.25."""
    return f"{x:.1f}" if x == round(x, 1) else f"{x:g}"


def _agent(tag: str) -> str:
    return tag.split("/", 1)[0]


def current_level(values: np.ndarray, window: int) -> float:
    """The median of the last ``window`` finite points (NaN when there are none).

    Pure Python on a handful of numbers: far cheaper than numpy calls for small windows.
    """
    tail = [x for x in values[-max(1, int(window)) :].tolist() if math.isfinite(x)]
    if not tail:
        return math.nan
    tail.sort()
    k = len(tail)
    return tail[k // 2] if k % 2 else (tail[k // 2 - 1] + tail[k // 2]) / 2.0


def _window_counts(flags: np.ndarray, w: int) -> np.ndarray:
    """Number of true flags in each window of ``w`` consecutive points (len - w + 1 windows)."""
    c = np.cumsum(flags, dtype=np.int64)
    out = c[w - 1 :].copy()
    out[1:] -= c[: len(c) - w]
    return out


def trailing_stretch(
    values: np.ndarray, lo: float, hi: float, window: int
) -> tuple[int, float] | None:
    """Where the current stretch outside [lo, hi] started, and the current level.

    A window of ``window`` points is *out* when more than half of its points are below ``lo``,
    or more than half above ``hi`` (for an odd window: its median is outside). Returns None when
    the last window is not out; else ``(index of the first point of the stretch, current
    level)``: the first out-of-band point of the first window of the trailing run of out
    windows, and the median of the last ``window`` points. Works on the tail first (64 windows)
    and only looks further back while the whole tail is out, so the usual cost is tiny.
    """
    n = len(values)
    if n == 0:
        return None
    w = max(1, min(int(window), n))
    k = min(_TAIL, n - w + 1)
    while True:
        base = n - (k + w - 1)
        seg = values[base:]
        below = seg < lo
        above = seg > hi
        out = (2 * _window_counts(below, w) > w) | (2 * _window_counts(above, w) > w)
        if not out[-1]:
            return None
        inside = np.flatnonzero(~out)
        if len(inside) or k == n - w + 1:
            first = int(inside[-1]) + 1 if len(inside) else 0
            pts = np.flatnonzero((below | above)[first : first + w])
            start = base + first + (int(pts[0]) if len(pts) else w - 1)
            return start, current_level(values, w)
        k = min(k * 4, n - w + 1)


# -- the rules -----------------------------------------------------------------------------------


def _nonfinite(run: RunSnapshot) -> list[Finding]:
    out = []
    for tag, view in run.series.items():
        values = view.values
        if all_finite(values):
            seen = run.scalars.get(tag)
            if seen is not None and seen.nonfinite and seen.first_nonfinite_step is not None:
                # In a stretch the series has since thinned away: still reported.
                step = seen.first_nonfinite_step
                out.append(
                    Finding(
                        "nonfinite",
                        BAD,
                        f"NaN/inf in {tag} from {fmt.steps(step)} ({seen.nonfinite} pts)",
                        step,
                        tag,
                    )
                )
            continue
        bad = ~np.isfinite(values)
        i = int(np.argmax(bad))
        kinds = []
        if np.isnan(values[bad]).any():
            kinds.append("NaN")
        if np.isinf(values[bad]).any():
            kinds.append("inf")
        step = int(view.steps[i])
        count = int(np.count_nonzero(bad))
        out.append(
            Finding(
                "nonfinite",
                BAD,
                f"{'/'.join(kinds)} in {tag} from {fmt.steps(step)} ({count} pts)",
                step,
                tag,
            )
        )
    return out


def _entropy(run: RunSnapshot, tags: list[str], t: Mapping[str, float]) -> list[Finding]:
    out = []
    lo, hi, mn, mx = t["entropy_low"], t["entropy_high"], t["entropy_min"], t["entropy_max"]
    w = int(t["window"])
    for tag in tags:
        view = run.series[tag]
        values = view.values
        if len(values) == 0:
            continue
        who = _agent(tag)
        now = current_level(values, w)
        if not math.isfinite(now):
            continue
        if now < mn or now > mx:
            hard = trailing_stretch(values, mn, mx, w)
            i, level = hard if hard is not None else (len(values) - 1, now)
            what = "too deterministic" if level < mn else "too random"
            edge = f"< {_b(mn)}" if level < mn else f"> {_b(mx)}"
            out.append(
                Finding(
                    "entropy",
                    BAD,
                    f"{who} entropy {_v(level)} {edge}: {what} since {fmt.steps(view.steps[i])}",
                    int(view.steps[i]),
                    tag,
                )
            )
        elif now < lo or now > hi:
            soft = trailing_stretch(values, lo, hi, w)
            i, level = soft if soft is not None else (len(values) - 1, now)
            side = "below" if level < lo else "above"
            out.append(
                Finding(
                    "entropy",
                    WARN,
                    f"{who} entropy {_v(level)} {side} {_b(lo)}-{_b(hi)} since "
                    f"{fmt.steps(view.steps[i])}",
                    int(view.steps[i]),
                    tag,
                )
            )
        else:
            out.append(
                Finding(
                    "entropy",
                    OK,
                    f"{who} entropy {_v(now)} in {_b(lo)}-{_b(hi)}",
                    int(view.steps[-1]),
                    tag,
                )
            )
    return out


def _filled_quarters(
    run: RunSnapshot, tag: str, span: int, direction: int, t: Mapping[str, float]
) -> tuple[QuarterTable, list[Quarter]] | None:
    """The quarter table of ``tag`` and its quarters with enough points, when at least two have
    and the first of them is the baseline (Q1); else None: too early to judge a trend."""
    view = run.series[tag]
    table = quarter_table(
        view.steps,
        view.values,
        span,
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
    return f"{base.label} {_v(base.mean or 0.0)} -> {last.label} {_v(last.mean or 0.0)}"


def _rising(
    run: RunSnapshot,
    tag: str,
    span: int,
    direction: int,
    t: Mapping[str, float],
    min_rise: float = 0.0,
) -> tuple[QuarterTable, int] | None:
    """The quarter table and the first step of the rise, when the series rose Q1 -> last."""
    found = _filled_quarters(run, tag, span, direction, t)
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


def _entropy_trend(
    run: RunSnapshot, tags: list[str], span: int | None, t: Mapping[str, float]
) -> list[Finding]:
    if not span:
        return []
    out = []
    for tag in tags:
        r = _rising(run, tag, span, NO_DIRECTION, t, t["entropy_rise_min"])
        if r is None:
            continue
        table, step = r
        out.append(
            Finding(
                "entropy_trend",
                WARN,
                f"{_agent(tag)} entropy rising: {_rise_text(table)}",
                step,
                tag,
            )
        )
    return out


def _grad_norm(run: RunSnapshot, tags: list[str], t: Mapping[str, float]) -> list[Finding]:
    clip = clip_value(run.config)
    if clip is None:
        return []
    far = clip * t["grad_norm_far_factor"]
    out = []
    for tag in tags:
        view = run.series[tag]
        values = view.values
        if len(values) == 0:
            continue
        above = values > clip  # NaN compares False: the nonfinite rule reports those
        count = int(np.count_nonzero(above))
        who = _agent(tag)
        if count == 0:
            top = float(values.max()) if all_finite(values) else _finite_max(values)
            out.append(
                Finding(
                    "grad_norm",
                    OK,
                    f"{who} grad norm <= clip {clip:g} (max {_v(top)})",
                    int(view.steps[-1]),
                    tag,
                )
            )
            continue
        i = int(np.argmax(above))
        top = _finite_max(values)
        step = int(view.steps[i])
        if top > far:
            j = int(np.argmax(values > far))
            step = int(view.steps[j])
            msg = (
                f"{who} grad norm {_v(top)} = {top / clip:.1f}x clip {clip:g}, "
                f"far above it from {fmt.steps(step)}"
            )
            out.append(Finding("grad_norm", BAD, msg, step, tag))
        else:
            msg = (
                f"{who} grad norm above clip {clip:g} at {count}/{len(values)} pts "
                f"from {fmt.steps(step)} (max {_v(top)})"
            )
            out.append(Finding("grad_norm", WARN, msg, step, tag))
    return out


def _finite_max(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if len(finite) else float("nan")


def _value_loss(
    run: RunSnapshot, tags: list[str], span: int | None, t: Mapping[str, float]
) -> list[Finding]:
    out = []
    limit = t["value_loss_max"]
    w = int(t["window"])
    for tag in tags:
        view = run.series[tag]
        values = view.values
        if len(values) == 0:
            continue
        now = current_level(values, w)
        if math.isfinite(now) and now > limit:
            high = trailing_stretch(values, -math.inf, limit, w)
            i, level = high if high is not None else (len(values) - 1, now)
            out.append(
                Finding(
                    "value_loss",
                    WARN,
                    f"value loss {_v(level)} > {_b(limit)} since {fmt.steps(view.steps[i])}",
                    int(view.steps[i]),
                    tag,
                )
            )
        elif math.isfinite(now):
            out.append(
                Finding(
                    "value_loss",
                    OK,
                    f"value loss {_v(now)} <= {_b(limit)}",
                    int(view.steps[-1]),
                    tag,
                )
            )
        if span:
            r = _rising(run, tag, span, LOWER_IS_BETTER, t)
            if r is not None:
                table, step = r
                out.append(
                    Finding(
                        "value_loss_trend",
                        WARN,
                        f"value loss rising: {_rise_text(table)}",
                        step,
                        tag,
                    )
                )
    return out


def _reward(run: RunSnapshot, span: int | None, t: Mapping[str, float]) -> list[Finding]:
    tag = reward_tag(run)
    if tag is None or not span:
        return []
    found = _filled_quarters(run, tag, span, HIGHER_IS_BETTER, t)
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
            return [Finding("reward", BAD, msg, step, tag)]
        msg = (
            f"reward recovering: {last.label} {m:.2f}{pct} vs {base.label} {b:.2f}, "
            f"low {worst_q.label} {worst_q.mean or 0.0:.2f}"
        )
        return [Finding("reward", WARN, msg, step, tag)]
    return [
        Finding(
            "reward",
            OK,
            f"reward {last.verdict}: {base.label} {b:.2f} -> {last.label} {m:.2f}",
            int(last.last_step or 0),
            tag,
        )
    ]


def _pget(process: Any, key: str) -> Any:
    """A field of ``run.process``: a mapping or an object (collectors.processes.ProcessInfo)."""
    if process is None:
        return None
    if isinstance(process, Mapping):
        return process.get(key)
    return getattr(process, key, None)


def _process_dead(process: Any) -> bool:
    if process is None:
        return False
    if _pget(process, "alive") is False:
        return True
    status = _pget(process, "status")
    return isinstance(status, str) and status.lower() in ("dead", "zombie")


def _process_alive(process: Any) -> bool:
    return process is not None and not _process_dead(process)


def _ended_early(run: RunSnapshot) -> bool:
    if run.state == FINISHED:
        return False
    return run.total_steps is None or run.step < run.total_steps


def _state(run: RunSnapshot, now: float) -> list[Finding]:
    out = []
    since = fmt.clock(run.last_data, now) if run.last_data else "start"
    proc = run.process
    pid = _pget(proc, "pid")
    who = f"process {pid}" if pid is not None else "process"
    total = f" of {fmt.steps(run.total_steps)}" if run.total_steps else ""
    dead = _process_dead(proc) and _ended_early(run)
    if dead:
        code = _pget(proc, "exit_code")
        if code is None:
            code = _pget(proc, "returncode")
        exit_text = f" (exit {code})" if code is not None else ""
        out.append(
            Finding(
                "process",
                BAD,
                f"{who} exited{exit_text} at {fmt.steps(run.step)}{total}",
                run.step,
                None,
            )
        )
    if run.state == STALLED:
        extra = f"; {who} alive" if _process_alive(proc) else ""
        out.append(
            Finding(
                "stall",
                WARN,
                f"no new data since {since} (limit {fmt.duration(run.stall_after)}){extra}",
                run.step,
                None,
            )
        )
    elif run.state == CRASHED and not dead:
        silent = now - run.last_data if run.last_data else math.inf
        if _process_alive(proc):
            msg = f"no data since {since}; {who} alive but silent"
        elif silent < DEAD_AFTER_STALLS * run.stall_after:
            # Not silent for long: the process collector saw the process gone.
            msg = f"process gone at {fmt.steps(run.step)}{total} (last data {since})"
        else:
            msg = f"no data since {since}: process presumed dead before the last step"
        out.append(Finding("crashed", BAD, msg, run.step, None))
    elif run.state == STOPPED and _ended_early(run):
        out.append(Finding("stopped", OK, f"stopped at {fmt.steps(run.step)}{total}", run.step))
    return out


def evaluate(
    run: RunSnapshot,
    thresholds: Mapping[str, float] | None = None,
    *,
    now: float | None = None,
) -> tuple[Finding, ...]:
    """All health findings of a run, worst first (bad, warn, ok; rule order within a level).

    ``thresholds``: the YAML ``thresholds:`` mapping (missing keys take the defaults; unknown
    keys are ignored, see :func:`validate_thresholds`). ``now`` only chooses between 'HH:MM'
    and 'MM-DD HH:MM' in the stall messages.
    """
    t = thresholds_with_defaults(thresholds)
    now = time.time() if now is None else now
    span = quarter_span(run)
    groups = metric_tags(run.series)
    findings: list[Finding] = []
    with np.errstate(invalid="ignore", over="ignore"):
        findings += _state(run, now)
        findings += _nonfinite(run)
        findings += _reward(run, span, t)
        findings += _entropy(run, groups["entropy"], t)
        findings += _entropy_trend(run, groups["entropy"], span, t)
        findings += _grad_norm(run, groups["actor_grad_norm"], t)
        findings += _value_loss(run, groups["value_loss"], span, t)
    findings.sort(key=lambda f: -_RANK.get(f.level, 0))
    return tuple(findings)
