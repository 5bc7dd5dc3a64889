"""The Markdown analysis of ``happo-top report``: the seed document, generated.

Sections, in the seed's order: overview per run, configuration differences, checkpoint timeline
(wall-clock times at the same steps for all runs), training speed, reward by quarter (per run,
and side by side over the planned length), health metrics by quarter, findings, and the seed's
success criteria evaluated for every run against the first run given (the reference).

Success criteria: :mod:`collectors.analysis.criteria`.

Charts are unicode block sparklines (no plotext). Pure data layer: no Textual, Rich or plotext.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence

import numpy as np

from collectors import fmt
from collectors.analysis.chains import chain_heads, segments, segments_text
from collectors.analysis.config_diff import LABEL_IGNORE, diff_configs, ignored, run_labels
from collectors.analysis.criteria import (
    FAIL,
    LIVE_STATES,
    NA,
    NOT_YET,
    PASS,
    planned_quarters,
    planned_steps,
    success_criteria,
)
from collectors.analysis.health import evaluate, thresholds_with_defaults
from collectors.analysis.quarters import (
    QuarterTable,
    clip_value,
    metric_quarters,
    reward_tag,
)
from collectors.analysis.reward import MIXED, best_reward, reward_verdict
from collectors.analysis.seeds import group_quarters, settled
from collectors.analysis.selection import unique_names
from collectors.analysis.timing import time_at_step
from collectors.model.findings import Band
from collectors.model.run import (
    Finding,
    RunSnapshot,
)
from collectors.model.series import SeriesView

BLOCKS = "▁▂▃▄▅▆▇█"
_MARK = {PASS: "✅", FAIL: "❌", NOT_YET: "⏳", NA: "➖"}
_LEVEL_MARK = {"bad": "❌", "warn": "⚠️", "ok": "✅"}
_METRIC_TITLES = {
    "entropy": "entropy",
    "actor_grad_norm": "actor grad norm",
    "value_loss": "value loss",
    "critic_grad_norm": "grad norm",  # shown after "critic"
}


# -- text charts ---------------------------------------------------------------------------------


def sparkline(
    steps: np.ndarray,
    values: np.ndarray,
    width: int,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    empty: str = " ",
) -> str:
    """A one-line chart: ``width`` bins over the step range, each the mean of its finite points.

    Bins with no points show ``empty``. ``y_range`` fixes the scale (to compare runs).
    """
    if width <= 0:
        return ""
    if len(steps) == 0:
        return empty * width
    x0, x1 = x_range if x_range else (float(steps[0]), float(steps[-1]))
    if x1 <= x0:
        x1 = x0 + 1.0
    v = values.astype(np.float64)
    ok = np.isfinite(v)
    s = steps[ok].astype(np.float64)
    v = v[ok]
    inside = (s >= x0) & (s <= x1)
    s, v = s[inside], v[inside]
    b = np.minimum(((s - x0) / (x1 - x0) * width).astype(np.int64), width - 1)
    sums = np.bincount(b, weights=v, minlength=width)
    counts = np.bincount(b, minlength=width)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts
    filled = counts > 0
    if not filled.any():
        return empty * width
    lo, hi = y_range if y_range else (float(means[filled].min()), float(means[filled].max()))
    span = hi - lo
    # A bin inside the data's range with no point of its own (sparse logging) repeats the
    # level before it; only bins before the first or after the last point are empty.
    idx = np.flatnonzero(filled)
    inner = np.zeros(width, dtype=bool)
    inner[idx[0] : idx[-1] + 1] = True
    carry = np.maximum.accumulate(np.where(filled, np.arange(width), 0))
    means = np.where(inner & ~filled, means[carry], means)
    filled = filled | inner
    out = []
    for m, has in zip(means, filled, strict=True):
        if not has:
            out.append(empty)
            continue
        k = 0 if span <= 0 else int(round((m - lo) / span * (len(BLOCKS) - 1)))
        out.append(BLOCKS[max(0, min(len(BLOCKS) - 1, k))])
    return "".join(out)


# -- helpers -------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |"]
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    for row in rows:
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return lines


def _b(x: float) -> str:
    """A threshold: 1.0, 0.5, 2.25."""
    return f"{x:.1f}" if x == round(x, 1) else f"{x:g}"


def _date(t: float | None) -> str:
    if t is None or not math.isfinite(t):
        return "-"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def _hm(t: float | None, day: float | None) -> str:
    """HH:MM on the day of ``day`` (the run's start), MM-DD HH:MM on another day."""
    return fmt.clock(t, day if day is not None else t)


def _end_time(run: RunSnapshot, now: float) -> float:
    if run.state in LIVE_STATES:
        return now
    return run.ended or run.last_data or now


def _checkpoint_every(run: RunSnapshot) -> int | None:
    steps = [c.step for c in run.checkpoints if c.step > 0]
    if len(steps) < 2:
        return None
    return int(np.median(np.diff(steps)))


# -- sections ------------------------------------------------------------------------------------


def _overview(
    runs: Sequence[RunSnapshot], names: list[str], labels: Mapping[str, str], now: float
) -> list[str]:
    out = ["## Training runs overview", ""]
    for i, r in enumerate(runs):
        end = _end_time(r, now)
        title = f"### Run {i + 1}: {names[i]} ({r.state.upper()})"
        out += [title]
        out.append(f"- **Directory**: `{r.path}`")
        out.append(f"- **Experiment**: {r.algo} / {r.env} / {r.task} / {r.exp_name}, seed {r.seed}")
        if labels.get(r.id):
            out.append(f"- **Differs by**: `{labels[r.id]}`")
        if r.resumed_from is not None or r.continued_by:  # a run chain (analysis.chains)
            seg = f"segment {r.chain.index(r.id) + 1} of {len(r.chain)}" if r.id in r.chain else ""
            how = [seg] if seg else []
            if r.resumed_from is not None:
                how.append(f"resumed from `{r.resumed_from.id}` at step {r.resumed_from.step:,}")
            if r.continued_by:
                how.append(f"continued by `{r.continued_by}`")
            out.append(f"- **Chain**: {', '.join(how)}")
        segs = segments(r)
        if segs:  # the chain as one run: each segment with its steps on the chain's axis
            out.append(f"- **Segments**: {len(segs)}: {_cell(segments_text(segs))}")
        # Clock times in the viewer's zone, with the run host's own where it differs.
        out.append(f"- **Started**: {fmt.dated_in_zones(r.started, r.utc_offset)}")
        if r.state in LIVE_STATES:
            out.append(f"- **Now**: {_date(now)} (last data {_date(r.last_data)})")
        else:
            out.append(f"- **Ended**: {fmt.dated_in_zones(r.ended or r.last_data, r.utc_offset)}")
        if r.started is not None:
            out.append(f"- **Duration**: {fmt.duration(end - r.started)}")
        pct = f" ({r.progress * 100:.1f}%)" if r.progress is not None else ""
        total = fmt.steps(r.total_steps) if r.total_steps else "?"
        out.append(f"- **Steps**: {fmt.steps(r.step)} / {total}{pct}")
        if r.steps_per_hour:
            out.append(f"- **Speed**: {fmt.steps(r.steps_per_hour)} steps/hour")
        if r.eta is not None:
            out.append(
                f"- **Estimated completion**: {_date(r.eta)} (in {fmt.duration(r.eta - now)})"
            )
        every = _checkpoint_every(r)
        if r.checkpoints:
            last = r.checkpoints[-1]
            cadence = f" (every {fmt.steps(every)} steps)" if every else ""
            out.append(
                f"- **Checkpoints**: {len(r.checkpoints)}{cadence}, last at "
                f"{fmt.steps(last.step)} ({fmt.dated_in_zones(last.time, r.utc_offset)})"
            )
        else:
            out.append("- **Checkpoints**: none")
        if r.reward is not None:
            best = best_reward(r)
            value = best.value if best is not None else r.reward.best
            at = best.step if best is not None else r.reward.best_step
            left = f" (leaves out {best.why})" if best is not None and best.why else ""
            out.append(
                f"- **Reward** (`{r.reward.tag}`): latest {fmt.reward(r.reward.latest)}, best "
                f"{fmt.reward(value)} at {fmt.steps(at)}{left}"
            )
        if r.process is not None:
            out.append(f"- **Process**: {r.process.pid}")
        if not r.config:
            out.append("- **Config**: none (no readable config.json)")
        for e in r.errors:
            out.append(f"- **Problem**: {e}")
        out.append("")
    return out


def _config_section(runs: Sequence[RunSnapshot], names: list[str]) -> list[str]:
    out = ["## Configuration differences", ""]
    if len(runs) < 2:
        return out + ["One run: nothing to compare.", ""]
    configs = [r.config for r in runs]
    rows = diff_configs(configs, ignore=LABEL_IGNORE)
    paths = [row for row in diff_configs(configs) if ignored(row.key, LABEL_IGNORE)]
    if not rows and not paths:
        return out + ["The configurations are identical.", ""]
    missing = [names[i] for i, r in enumerate(runs) if not r.config]
    if missing:
        out += [f"No config for {', '.join(missing)}: all its keys show as `-`.", ""]
    if rows:
        table = [[f"**{row.short}** (`{row.key}`)", *row.cells()] for row in rows]
        out += _table(["Parameter", *names], table)
    else:
        out.append("No training parameter differs.")
    if paths:
        keys = ", ".join(f"`{row.key}`" for row in paths)
        out += ["", f"Paths that differ too (see `happo-top diff`): {keys}."]
    return out + [""]


def timeline_steps(runs: Sequence[RunSnapshot], max_rows: int = 14) -> list[int]:
    """Steps for the checkpoint timeline: every checkpoint when they are few, else the first
    two, every tenth of the longest planned run (snapped to a checkpoint step nearby), and the
    current step of every live run."""
    cps = sorted({c.step for r in runs for c in r.checkpoints if c.step > 0})
    live = {r.step for r in runs if r.state in LIVE_STATES and r.step > 0}
    if len(set(cps) | live) <= max_rows:
        return sorted(set(cps) | live)
    planned = max((p for p in (planned_steps(r) for r in runs) if p), default=0)
    rows = set(cps[:2]) | live
    arr = np.array(cps, dtype=np.float64)
    for k in range(1, 11):
        target = planned * k / 10
        if len(arr):
            j = int(np.argmin(np.abs(arr - target)))
            gap = float(np.median(np.diff(arr))) if len(arr) > 1 else planned
            rows.add(int(arr[j]) if abs(arr[j] - target) <= gap / 2 else int(round(target)))
        else:
            rows.add(int(round(target)))
    return sorted(s for s in rows if s > 0)


def _timeline_cell(r: RunSnapshot, s: int, now: float) -> str:
    day = r.started
    cps = {c.step: c for c in r.checkpoints}
    if r.state in LIVE_STATES and s == r.step:
        return f"🔄 {_hm(r.last_data, day)} (now)"
    if s in cps:
        return f"✅ {_hm(cps[s].time, day)}"
    if s <= r.step:
        t = time_at_step(r, s)
        return f"✅ {_hm(t, day)}" if t is not None else "✅"
    if r.total_steps and s > r.total_steps:
        return "-"
    if r.state in LIVE_STATES:
        if r.steps_per_hour and r.last_data:
            est = r.last_data + (s - r.step) / r.steps_per_hour * 3600.0
            return f"⏳ ~{_hm(est, day)}"
        return "⏳ pending"
    return "❌ not reached"


def _timeline_section(runs: Sequence[RunSnapshot], names: list[str], now: float) -> list[str]:
    out = ["## Checkpoint timeline", ""]
    steps = timeline_steps(runs)
    if not steps:
        return out + ["No checkpoints or data yet.", ""]
    out.append(
        "Wall-clock time at which each run reached the step (its checkpoint's time: the wall "
        "time logged at that step, which HARL writes in the same update as the save; else the "
        "first log point at or after it); ⏳ are estimates from the current speed."
    )
    out += _zone_note(runs, names)
    out.append("")
    rows = [[fmt.steps(s), *(_timeline_cell(r, s, now) for r in runs)] for s in steps]
    out += _table(["Steps", *names], rows)
    return out + [""]


def _zone_note(runs: Sequence[RunSnapshot], names: list[str]) -> list[str]:
    """Where a run's host clock differs from the viewer's, say so under a table of times."""
    other = [
        f"{names[i]} ran at {fmt.offset_text(r.utc_offset)}"
        for i, r in enumerate(runs)
        if r.utc_offset is not None and fmt.other_zone(r.started, r.utc_offset)
    ]
    if not other:
        return []
    zone = fmt.viewer_zone(runs[0].started or 0.0)
    return ["", f"Times are in the viewer's zone ({zone}); {', '.join(other)}."]


def _speed_section(runs: Sequence[RunSnapshot], names: list[str], now: float) -> list[str]:
    out = ["## Training speed", ""]
    ref = runs[0].steps_per_hour
    rows = []
    for i, r in enumerate(runs):
        avg = None
        if r.started is not None and r.last_data and r.last_data > r.started and r.step:
            avg = r.step / (r.last_data - r.started) * 3600.0
        vs = "-"
        if i > 0 and ref and r.steps_per_hour:
            d = (r.steps_per_hour / ref - 1.0) * 100.0
            if abs(d) < 0.5:
                vs = "same"
            elif d > 1000:  # a run of a few seconds against hours: a ratio says it better
                vs = f"{d / 100 + 1:.0f}x faster"
            else:
                vs = f"{abs(d):.0f}% {'faster' if d > 0 else 'slower'}"
        elapsed = fmt.duration(_end_time(r, now) - r.started) if r.started else "-"
        rows.append(
            [
                names[i],
                f"{fmt.steps(r.steps_per_hour)}/h" if r.steps_per_hour else "-",
                f"{fmt.steps(avg)}/h" if avg else "-",
                elapsed,
                fmt.steps(r.step),
                vs,
            ]
        )
    out += _table(
        ["Run", "Steps/hour", "Average since start", "Elapsed", "Steps", "vs run 1"], rows
    )
    out += [
        "",
        "Steps/hour is the recent speed of a live run and the whole-run average of a finished one;"
        " the start is the main event file's creation (its name's epoch), not the directory name.",
        "",
    ]
    return out


def _quarter_rows(table: QuarterTable) -> list[list[str]]:
    rows = []
    for q in table.quarters:
        if q.change is None or q.verdict == "baseline":
            change = "-"
        else:
            pct = f" ({q.change_pct:+.1f}%)" if q.change_pct is not None else ""
            change = ("+" if q.change >= 0 else "") + fmt.reward(q.change) + pct
        bad = f" (+{q.nonfinite} NaN/inf)" if q.nonfinite else ""
        rows.append(
            [
                q.label,
                f"{fmt.steps(q.lo)}-{fmt.steps(q.hi)}",
                fmt.reward(q.mean),
                fmt.reward(q.min),
                fmt.reward(q.max),
                f"{q.count}{bad}",
                change,
                q.verdict,
            ]
        )
    return rows


def _reward_section(
    runs: Sequence[RunSnapshot],
    names: list[str],
    tol: Mapping[str, float],
    findings: list[tuple[Finding, ...]],
) -> list[str]:
    out = ["## Reward by quarter", ""]
    out.append(
        "Quarter q holds the points with q·S/4 < step <= (q+1)·S/4, S being the planned length "
        "of a finished run and the last logged step of any other. A quarter is *flat* when its "
        "mean is within the tolerance of Q1 (max of half the pooled within-quarter standard "
        "deviation and 2% of Q1), *recovering* when below Q1 but above the quarter before. "
        "HARL's episode reward depends on the episodes' length, so the per-step reward "
        "(`critic/average_step_rewards`) is read too: a run is *degrading* only when both "
        "agree, *mixed* when they disagree."
    )
    out.append("")
    planned_tables: list[QuarterTable | None] = []
    curves: list[tuple[str, SeriesView, int]] = []
    for i, r in enumerate(runs):
        rv = reward_verdict(r, flat_noise=tol["flat_noise"], flat_relative=tol["flat_relative"])
        table = rv.main
        planned_tables.append(planned_quarters(r, tol))
        out.append(f"### {names[i]}")
        out.append("")
        if table is None:
            out += ["No reward series (or no data) yet.", ""]
            continue
        tag = table.tag
        said = next((f.verdict for f in findings[i] if f.rule == "reward" and f.verdict), None)
        verdict = said or rv.verdict
        out.append(
            f"`{tag}`, S = {fmt.steps(table.span)}, tolerance {fmt.reward(table.tolerance)}, "
            f"verdict **{verdict}**" + (f": {rv.reason}" if verdict == MIXED else "")
        )
        out.append("")
        out += _table(
            ["Quarter", "Steps", "Mean", "Min", "Max", "Points", "Change vs Q1", "Verdict"],
            _quarter_rows(table),
        )
        filled = table.with_data()
        if filled:
            best = max(filled, key=lambda q: q.mean or 0.0)
            low = min(filled, key=lambda q: q.mean or 0.0)
            out += [
                "",
                f"Best {best.label} ({fmt.reward(best.mean)}), worst {low.label} ({fmt.reward(low.mean)}).",
            ]
        if rv.step is not None and rv.step is not table:
            means = " / ".join(
                f"{q.mean:.4f}" if q.mean is not None else "-" for q in rv.step.quarters
            )
            out += ["", f"Per step (`{rv.step.tag}`): {means}, **{rv.step.verdict}**."]
            if any(x is not None for x in rv.lengths):
                lengths = " / ".join(f"{x:.0f}" if x is not None else "-" for x in rv.lengths)
                out.append(f"Implied episode length (episode / step reward): {lengths} steps.")
        top = best_reward(r)
        if top is not None and top.why:
            out += [
                "",
                f"Best point {fmt.reward(top.value)} at {fmt.steps(top.step)}, leaving out "
                f"{top.why}.",
            ]
        out.append("")
        view = r.series[tag]
        curves.append((names[i], view, planned_steps(r) or table.span))
    present = [t for t in planned_tables if t is not None]
    if len(runs) > 1 and present:
        spans = {t.span for t in present}
        own = len(spans) > 1  # different planned lengths: each cell says its own steps
        out += ["### Side by side (quarters of each run's planned length)", ""]
        rows = []
        for q in range(4):
            ref_q = present[0].quarters[q]
            row = [
                f"Q{q + 1}" if own else f"Q{q + 1} ({fmt.steps(ref_q.lo)}-{fmt.steps(ref_q.hi)})"
            ]
            for t in planned_tables:
                qq = t.quarters[q] if t is not None else None
                if qq is None or qq.mean is None:
                    row.append("-")
                    continue
                partial = qq.last_step is not None and qq.last_step < qq.hi * 0.98
                where = f" ({fmt.steps(qq.lo)}-{fmt.steps(qq.hi)})" if own else ""
                row.append(fmt.reward(qq.mean) + where + (" (partial)" if partial else ""))
            rows.append(row)
        verdicts = []
        for i in range(len(runs)):
            said = next((f.verdict for f in findings[i] if f.rule == "reward" and f.verdict), None)
            verdicts.append(said or "-")
        rows.append(["Verdict", *verdicts])
        out += _table(["Quarter", *names], rows)
        out.append("")
        out += _seeds_block(runs, names)
    by_tag: dict[str, list[tuple[str, SeriesView, int]]] = {}
    for i, r in enumerate(runs):
        rtag = reward_tag(r)
        match = [c for c in curves if c[0] == names[i]]
        if rtag and match:
            by_tag.setdefault(rtag, []).extend(match)
    for rtag, group in by_tag.items():  # one scale per reward tag
        out += _curve_block(rtag, group)
    return out


def _seeds_block(runs: Sequence[RunSnapshot], names: list[str]) -> list[str]:
    """Seed groups (configs equal but for the seed): mean and spread per quarter, and whether
    the gaps between configurations are larger than the spread between seeds."""
    groups = group_quarters(runs)
    if not groups:
        return []
    span = groups[0].span
    out = [f"### Seeds and noise (quarters of {fmt.steps(span)}, the shortest planned length)", ""]
    rows = []
    for k, g in enumerate(groups):
        who = f"G{k + 1}: " + ", ".join(names[i] for i in g.runs)
        cells = [
            "-"
            if gq.mean is None
            else fmt.reward(gq.mean) + (f" ± {gq.spread / 2:.2f}" if gq.runs > 1 else "")
            for gq in g.quarters
        ]
        rows.append([f"{who} ({g.size} run{'s' if g.size != 1 else ''})", *cells])
    out += _table(["Group", "Q1", "Q2", "Q3", "Q4"], rows)
    out.append("")
    if len(groups) < 2:
        if groups[0].size > 1:
            out += ["All runs repeat one configuration: the ± is half the spread between them.", ""]
        return out
    for b in range(1, len(groups)):
        last = max((q for q in range(4) if settled(groups, 0, b, q) is not None), default=None)
        if last is None:
            continue
        found = settled(groups, 0, b, last)
        assert found is not None
        gap, meaning = found
        out.append(
            f"- Q{last + 1}: G{b + 1} vs G1: {'+' if -gap >= 0 else ''}{fmt.reward(-gap)}, "
            f"{meaning}."
        )
    return out + [""]


def _curve_block(
    what: str, curves: list[tuple[str, SeriesView, int]], width: int = 48
) -> list[str]:
    """Sparklines on one step axis and one value scale."""
    x1 = max(float(span) for _, _, span in curves)
    finite = [v[np.isfinite(v)] for _, view, _ in curves for v in (view.values,)]
    finite = [v for v in finite if len(v)]
    if not finite:
        return []
    lo = min(float(v.min()) for v in finite)
    hi = max(float(v.max()) for v in finite)
    namew = max(len(n) for n, _, _ in curves)
    lines = ["```"]
    lines.append(f"{what}: {fmt.sig3(lo)} (▁) .. {fmt.sig3(hi)} (█), steps 0 .. {fmt.steps(x1)}")
    for name, view, _ in curves:
        chart = sparkline(
            view.steps,
            view.values,
            width,
            (0.0, x1),
            (lo, hi),
            empty="·",
        )
        lines.append(f"{name.ljust(namew)}  {chart}")
    axis = "0".ljust(width // 2) + fmt.steps(x1 / 2).ljust(width - width // 2) + fmt.steps(x1)
    lines.append(" " * (namew + 2) + axis)
    lines.append("```")
    return lines + [""]


def _band_text(
    band: Band | None,
    group: str,
    t: Mapping[str, float],
    clip: float | None,
    finding: Finding | None = None,
) -> str:
    """The "Healthy" cell: the band the metric's finding was judged against, else (no finding
    yet) the band the thresholds in force would use. Grad norms: the clip value and the share
    of updates it clipped (HARL logs the pre-clip norm); a value loss on normalised returns
    (use_valuenorm, no band): judged by its trend."""
    if group == "entropy":
        lo = band.low if band is not None and band.low is not None else t["entropy_low"]
        hi = band.high if band is not None and band.high is not None else t["entropy_high"]
        return f"{_b(lo)}-{_b(hi)}"
    if group in ("actor_grad_norm", "critic_grad_norm"):
        edge = band.high if band is not None and band.high is not None else clip
        if edge is None:
            return "-"
        if finding is not None and finding.rule == "clipping" and finding.value is not None:
            return f"clip {edge:g}: {finding.value * 100:.0f}% clipped"
        return f"clip {edge:g}"
    if finding is not None and band is None:
        return "trend (normalised)"
    edge = band.high if band is not None and band.high is not None else t["value_loss_max"]
    return f"<= {_b(edge)}"


def _health_section(
    runs: Sequence[RunSnapshot],
    names: list[str],
    t: Mapping[str, float],
    findings: list[tuple[Finding, ...]],
) -> list[str]:
    out = ["## Health metrics by quarter", ""]
    tol = {"flat_noise": t["flat_noise"], "flat_relative": t["flat_relative"]}
    for i, r in enumerate(runs):
        out += [f"### {names[i]}", ""]
        groups = metric_quarters(
            r, flat_noise=tol["flat_noise"], flat_relative=tol["flat_relative"]
        )
        if not groups:
            out += ["No entropy, grad norm or value loss series.", ""]
            continue
        clip = clip_value(r.config)
        bands = {f.tag: f.band for f in findings[i] if f.band is not None}
        judged = {f.tag: f for f in findings[i] if f.rule in ("clipping", "value_loss") and f.tag}
        rows = []
        for group, tables in groups.items():
            for table in tables:
                who = table.tag.split("/")[0] if table.tag.startswith("agent") else "critic"
                limit = _band_text(bands.get(table.tag), group, t, clip, judged.get(table.tag))
                view = r.series[table.tag]
                rows.append(
                    [
                        f"{who} {_METRIC_TITLES[group]}",
                        *(fmt.sig3(q.mean) for q in table.quarters),
                        fmt.sig3(table.max),
                        table.trend,
                        limit,
                        sparkline(view.steps, view.values, 16),
                    ]
                )
        out += _table(
            [
                "Metric",
                "Q1 mean",
                "Q2 mean",
                "Q3 mean",
                "Q4 mean",
                "Max",
                "Trend",
                "Healthy",
                "Curve",
            ],
            rows,
        )
        out.append("")
    return out


def _findings_section(
    runs: Sequence[RunSnapshot], names: list[str], findings: list[tuple[Finding, ...]]
) -> list[str]:
    out = ["## Findings", ""]
    for i, _r in enumerate(runs):
        out += [f"### {names[i]}", ""]
        fs = findings[i]
        if not fs:
            out += ["Nothing to check yet.", ""]
            continue
        for f in fs:
            where = ""
            if f.step is not None and f.level != "ok" and fmt.steps(f.step) not in f.message:
                where = f" (from {fmt.steps(f.step)})"
            out.append(
                f"- {_LEVEL_MARK.get(f.level, '')} **{f.level}** {f.rule}: {f.message}{where}"
            )
        out.append("")
    return out


def _criteria_section(
    runs: Sequence[RunSnapshot], names: list[str], t: Mapping[str, float]
) -> list[str]:
    out = ["## Success criteria", ""]
    out.append(f"Reference: **{names[0]}** (the first run given).")
    out.append("")
    rows = []
    for c in success_criteria(runs, t):
        rows.append(
            [c.title, *(f"{_MARK[res.status]} {res.status}: {res.detail}" for res in c.results)]
        )
    out += _table(["Criterion", *names], rows)
    return out + [""]


def render_report(
    runs: Sequence[RunSnapshot],
    now: float,
    *,
    thresholds: Mapping[str, float] | None = None,
    title: str | None = None,
) -> str:
    """The Markdown report of ``runs`` (the first is the reference), as of ``now``.

    Findings are the runs' ``health`` when filled, else computed with ``thresholds``.
    """
    runs = chain_heads(list(runs))  # a chain is one run: its latest segment stands for it
    t = thresholds_with_defaults(thresholds)
    tol = {"flat_noise": t["flat_noise"], "flat_relative": t["flat_relative"]}
    names = unique_names(runs)
    labels = run_labels(runs)
    findings = [r.health or evaluate(r, thresholds, now=now) for r in runs]
    heading = title or "HAPPO training analysis: " + " vs ".join(names or ["no runs"])
    states: dict[str, int] = {}
    for r in runs:
        states[r.state] = states.get(r.state, 0) + 1
    status = ", ".join(f"{n} {s}" for s, n in states.items()) or "no runs"
    out = [f"# {heading}", ""]
    out.append(f"**Generated**: {_date(now)} by happo-top  ")
    out.append(f"**Runs**: {len(runs)} ({status})  ")
    if runs:
        out.append(f"**Reference**: {names[0]}  ")
        where = sorted({os.path.dirname(r.path) for r in runs})
        out.append(f"**Location**: {', '.join(f'`{w}`' for w in where)}")
    out += ["", "---", ""]
    if not runs:
        return "\n".join(out + ["No runs.", ""])
    out += _overview(runs, names, labels, now)
    out += _config_section(runs, names)
    out += _timeline_section(runs, names, now)
    out += _speed_section(runs, names, now)
    out += _reward_section(runs, names, tol, findings)
    out += _health_section(runs, names, t, findings)
    out += _findings_section(runs, names, findings)
    out += _criteria_section(runs, names, t)
    return "\n".join(out).rstrip() + "\n"


__all__ = ["render_report", "sparkline", "timeline_steps"]
