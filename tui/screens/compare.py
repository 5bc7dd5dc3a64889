"""Compare marked runs (Space, then ``c``): config differences, overlaid curves, the checkpoint
timeline (values and wall-clock times at the same steps), and speed and quarters side by side."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from collectors import fmt
from collectors.analysis.chains import segments, segments_text
from collectors.analysis.compare import config_differences, value_at_or_after
from collectors.analysis.health import thresholds_with_defaults
from collectors.analysis.quarters import QuarterTable, clip_value
from collectors.analysis.reward import reward_verdict
from collectors.analysis.seeds import group_quarters, seed_band, seed_groups, settled
from collectors.model.run import FINISHED, RunSnapshot, Snapshot
from collectors.model.run_config import lookup
from collectors.model.series import SeriesView
from tui.screens.detail import ChartOptions, agent_tags, chart_bindings
from tui.screens.modals import TagPicker
from tui.widgets import render as R
from tui.widgets.charts import COLOURS, Line, SeriesChart, Threshold
from tui.widgets.footer import QuietFooter

TABS = ("config", "curves", "timeline", "summary")
TIMELINE_FRACTIONS = (0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.75, 1.0)


def compare_charts(runs: Sequence[RunSnapshot]) -> list[tuple[str, str | None]]:
    """(title, tag) of the overlaid charts: reward, agent 0's entropy and grad norm, value loss."""
    first = runs[0] if runs else None
    reward = next((r.reward.tag for r in runs if r.reward is not None), None)
    ent = agent_tags(first, "dist_entropy")[:1] if first else []
    gn = agent_tags(first, "actor_grad_norm")[:1] if first else []
    return [
        ("reward", reward),
        (f"entropy ({ent[0]})" if ent else "entropy", ent[0] if ent else None),
        (f"grad norm ({gn[0]})" if gn else "grad norm", gn[0] if gn else None),
        ("value loss", "critic/value_loss"),
    ]


def key_texts(keys: Sequence[str], width: int) -> list[str]:
    """Each dotted config key in full when it fits ``width``, else its shortest dotted suffix
    that no other key ends with (``train.lr`` and ``model.lr`` stay apart)."""
    out = []
    for key in keys:
        parts = key.split(".")
        text = key
        if len(key) > width:
            for n in range(1, len(parts) + 1):
                tail = ".".join(parts[-n:])
                if not any(k != key and (k == tail or k.endswith("." + tail)) for k in keys):
                    text = tail if n == len(parts) else "…" + tail
                    break
        out.append(text)
    return out


def timeline_steps(runs: Sequence[RunSnapshot]) -> list[tuple[int, str]]:
    """The seed's "Checkpoint Timeline" rows: fixed fractions of the longest plan, plus each live
    run's current step. (step, note); the note names the run by its column number (``#2``)."""
    total = max((r.total_steps or r.step for r in runs), default=0)
    if not total:
        return []
    rows: dict[int, list[str]] = {int(round(total * f)): [] for f in TIMELINE_FRACTIONS}
    for i, r in enumerate(runs):
        if r.state != FINISHED and r.step:
            live = r.state in ("running", "starting", "stalled")
            rows.setdefault(r.step, []).append(f"#{i + 1} {'now' if live else r.state}")
    return [(step, ", ".join(notes)) for step, notes in sorted(rows.items())]


def reached(run: RunSnapshot, step: int) -> tuple[float | None, float | None]:
    """(wall time the run reached ``step``, reward value there) from its reward series."""
    tag = run.reward.tag if run.reward is not None else None
    view = run.series.get(tag) if tag else None
    if view is None or len(view) == 0:
        return None, None
    i = value_at_or_after(view.steps, step)
    if i is None:
        return None, None
    return float(view.wall[i]), float(view.values[i])


def zone_note(runs: Sequence[RunSnapshot], now: float) -> str:
    """Above the timeline: the times are the viewer's, and which runs' hosts ran elsewhere."""
    t = next((r.started for r in runs if r.started is not None), now)
    text = f"times in the viewer's zone ({fmt.viewer_zone(t)})"
    other = [
        f"#{i + 1} at {fmt.offset_text(r.utc_offset)}"
        for i, r in enumerate(runs)
        if r.utc_offset is not None and fmt.other_zone(r.started, r.utc_offset)
    ]
    return text + (f"; run hosts: {', '.join(other)}" if other else "")


class CompareScreen(ChartOptions, Screen[None]):
    BINDINGS = chart_bindings(TABS, "pick_tag")

    def __init__(
        self,
        runs: Sequence[RunSnapshot],
        settings: Any,
        clock: Any = time.time,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(classes="compare")
        self.runs = list(runs)
        self.labels: Mapping[str, str] = labels or {}
        self.ids = [r.id for r in runs]
        self.settings = settings
        self.clock = clock
        self.th = dict(thresholds_with_defaults(settings.thresholds))
        self.extra_tag: str | None = None
        self._stale = set(TABS)

    def compose(self) -> ComposeResult:
        yield Static(id="compare-head")
        with TabbedContent(id="compare-tabs", initial="config"):
            with TabPane("Config differences", id="config"):
                yield DataTable(id="diff-table", zebra_stripes=True, cursor_type="row")
            with TabPane("Curves", id="curves"):
                yield Static(id="chart-options")
                with VerticalScroll(id="charts-grid"):
                    for i, (title, _) in enumerate(compare_charts(self.runs)):
                        yield SeriesChart(title, id=f"cmp-chart-{i}")
            with TabPane("Timeline", id="timeline"):
                yield Static(id="timeline-note")
                yield DataTable(id="timeline-table", zebra_stripes=True, cursor_type="row")
            with TabPane("Speed & quarters", id="summary"):
                yield DataTable(id="summary-table", zebra_stripes=True, cursor_type="row")
        yield QuietFooter()

    def on_mount(self) -> None:
        self._layout_charts()
        self._refresh()

    def on_resize(self) -> None:
        self._layout_charts()
        self._stale = set(TABS)  # table columns are sized to the width
        self._refresh()

    def _layout_charts(self) -> None:
        grid = self.query_one("#charts-grid")
        cols = 2 if self.size.width >= 120 else 1
        n = len(grid.children)
        rows = (n + cols - 1) // cols
        avail = max(self.size.height - 7, 10)
        grid.styles.grid_size_columns = cols
        grid.styles.grid_rows = str(max(avail // max(min(rows, 2), 1), 10))

    def selected_run(self) -> RunSnapshot | None:
        return None  # actions apply to one run: not from here

    def run_label(self, run: RunSnapshot) -> str:
        return self.labels.get(run.path) or run.name

    def short_labels(self) -> tuple[str, list[str]]:
        """(what all the runs' labels share, each run's own part, prefixed by its number)."""
        common, rest = R.split_labels([self.run_label(r) for r in self.runs])
        rest = R.telling_order(rest)  # the words that tell the runs apart first
        return common, [f"#{i + 1} {x}".rstrip() for i, x in enumerate(rest)]

    def apply(self, snap: Snapshot, labels: Mapping[str, str] | None = None) -> None:
        if labels is not None:
            self.labels = labels
        by_id = {r.id: r for r in snap.runs}
        new = [by_id.get(i) for i in self.ids]
        runs = [n if n is not None else old for n, old in zip(new, self.runs, strict=True)]
        if all(a is b for a, b in zip(runs, self.runs, strict=True)):
            return
        self.runs = runs
        self._stale = set(TABS)
        self._refresh()

    def _update_head(self) -> None:
        """One line: each run's number, own label part and state, then what they share."""
        width = self.size.width or 120
        common, own = self.short_labels()
        t = Text(" compare ", style="bold reverse")
        room = (width - 10) // max(len(self.runs), 1)
        for i, (r, label) in enumerate(zip(self.runs, own, strict=True)):
            t.append(" ")
            t.append("■ ", style=COLOURS[i % len(COLOURS)])
            t.append(R.abbreviate(label, max(room - 5, 4)), style="bold")
            t.append(f" {R.state_symbol(r.state)}", style=R.STATE_STYLE.get(r.state, ""))
        if common:
            t.append("  ")
            t.append(common, style="dim")
        if len(t.plain) > width:
            t.truncate(max(width - 1, 0))
            t.append("…", style="dim")
        self.query_one("#compare-head", Static).update(t)

    def _refresh(self) -> None:
        self._update_head()
        self._update(self.query_one("#compare-tabs", TabbedContent).active or "config")

    @on(TabbedContent.TabActivated)
    def _shown(self) -> None:
        self._update(self.query_one("#compare-tabs", TabbedContent).active or "config")

    def _update(self, tab: str) -> None:
        if tab in self._stale:
            self._stale.discard(tab)
            getattr(self, f"_update_{tab}")()

    def _reset_table(
        self, table: DataTable, first: str, cells: Sequence[Sequence[str]] = (), first_w: int = 30
    ) -> None:
        """Columns: ``first``, then one a run headed by its own label part, each as wide as its
        header and ``cells`` (rows of values, one a run) need, within its share of the width."""
        table.clear(columns=True)
        # Explicit widths: left to its auto width, this table drew the first column as wide as
        # its header ("algo_args" of "algo_args.algo.max_grad_norm"), though the column had
        # measured the key (content_width 32; seen in the pilot at 120x40, cause not pinned).
        table.add_column(first, width=max(first_w, len(first)) if cells else None)
        own = self.short_labels()[1]
        room = max(8, ((self.size.width or 120) - first_w - 2) // max(len(own), 1) - 2)
        for i, label in enumerate(own):
            need = max([len(label), *(len(row[i]) for row in cells if i < len(row))])
            text = R.abbreviate(label, min(need, room))
            table.add_column(text, width=max(len(text), min(need, room)) if cells else None)

    # -- tabs
    def _update_config(self) -> None:
        table = self.query_one("#diff-table", DataTable)
        diffs = config_differences(self.runs)
        width = self.size.width or 120
        keys = key_texts([k for k, _ in diffs], max(24, width // 3))
        self._reset_table(
            table, "parameter", [v for _, v in diffs], max((len(k) for k in keys), default=10)
        )
        for key, (_, values) in zip(keys, diffs, strict=True):
            table.add_row(key, *values)
        if not diffs:
            table.add_row("(identical configurations)", *["" for _ in self.runs])

    def _update_curves(self) -> None:
        self.query_one("#chart-options", Static).update(self.options_text())
        specs = compare_charts(self.runs)
        if self.extra_tag:
            specs[0] = (self.extra_tag, self.extra_tag)
        clip_lines = []
        for i, r in enumerate(self.runs):
            c = clip_value(r.config)
            if c is not None and all(abs(c - x.value) > 1e-12 for x in clip_lines):
                clip_lines.append(Threshold(c, f"clip {c:g}", COLOURS[i % len(COLOURS)]))
        extra = {
            # No fixed limit on a loss of normalised returns (use_valuenorm: HARL's
            # VCritic.cal_value_loss), it would squash the data.
            "value loss": []
            if any(lookup(r.config, "use_valuenorm") is True for r in self.runs)
            else [Threshold(self.th["value_loss_max"], "limit", "red")],
            "grad norm": clip_lines,
        }
        for chart, (title, tag) in zip(self.query(SeriesChart), specs, strict=False):
            chart.title = title
            chart.clock = self.clock
            lines = [
                Line(R.abbreviate(own, 32), r.series[tag], COLOURS[i % len(COLOURS)])
                for i, (r, own) in enumerate(zip(self.runs, self.short_labels()[1], strict=True))
                if tag and tag in r.series
            ]
            if title == "reward" and tag:
                lines += _band_lines(self.runs, tag)
            ths = next((v for k, v in extra.items() if title.startswith(k)), [])
            chart.set_lines(
                lines, ths, smoothing=self.smoothing, x_mode=self.x_mode, t0=None, view=self.view
            )

    def _update_timeline(self) -> None:
        table = self.query_one("#timeline-table", DataTable)
        self._reset_table(table, "steps")
        now = self.clock()
        rows = timeline_steps(self.runs)
        if any(note for _, note in rows):
            table.add_column("note", key="note")
        for step, note in rows:
            cells = []
            for r in self.runs:
                wall, value = reached(r, step)
                if wall is not None:
                    cells.append(f"✓ {fmt.clock(wall, now)}  {fmt.value(value)}")
                elif (
                    r.state in ("running", "starting", "stalled")
                    and r.steps_per_hour
                    and (r.last_data)
                ):
                    eta = r.last_data + (step - r.step) / r.steps_per_hour * 3600.0
                    cells.append(f"… ~{fmt.clock(eta, now)}")
                elif r.total_steps and step > r.total_steps:
                    cells.append("")
                else:
                    cells.append(f"- ({r.state})")
            if any(n for _, n in rows):
                cells.append(note)
            table.add_row(fmt.steps(step), *cells)
        self.query_one("#timeline-note", Static).update(zone_note(self.runs, now))

    def _update_summary(self) -> None:
        table = self.query_one("#summary-table", DataTable)
        self._reset_table(table, "")
        now = self.clock()
        rows: list[tuple[str, list[str]]] = []
        rows.append(("state", [f"{R.state_symbol(r.state)} {r.state}" for r in self.runs]))
        rows.append(
            (
                "progress",
                [
                    f"{R.steps_of(r.step)} / {fmt.steps(r.total_steps)}"
                    if r.total_steps
                    else R.steps_of(r.step)
                    for r in self.runs
                ],
            )
        )
        rows += _segment_rows(self.runs)
        rows.append(
            (
                "steps per hour",
                [
                    f"{fmt.steps(r.steps_per_hour)}/h" if r.steps_per_hour else "-"
                    for r in self.runs
                ],
            )
        )
        fastest = max((r.steps_per_hour or 0 for r in self.runs), default=0)
        rows.append(
            (
                "speed vs fastest",
                [
                    f"{100 * (r.steps_per_hour or 0) / fastest:.0f}%" if fastest else "-"
                    for r in self.runs
                ],
            )
        )
        rows.append(("started", [fmt.clock(r.started, now) for r in self.runs]))
        if any(fmt.other_zone(r.started, r.utc_offset) for r in self.runs):
            rows.append(
                (
                    "host zone",
                    [
                        fmt.offset_text(r.utc_offset) if r.utc_offset is not None else "?"
                        for r in self.runs
                    ],
                )
            )
        rows.append(
            (
                "elapsed",
                [
                    R.short_duration(max((r.ended or r.last_data or now) - r.started, 0.0))
                    if r.started
                    else "-"
                    for r in self.runs
                ],
            )
        )
        rows.append(
            (
                "ETA / ended",
                [
                    fmt.clock(r.eta, now)
                    if r.eta
                    else (fmt.clock(r.ended, now) if r.ended else "-")
                    for r in self.runs
                ],
            )
        )
        rows.append(
            ("reward latest", [fmt.value(r.reward.latest) if r.reward else "-" for r in self.runs])
        )
        rows.append(
            (
                "reward best",
                [_best_text(r) for r in self.runs],
            )
        )
        # One verdict per run: the reward rule's (its quarters: the run's own span), as the
        # Health tab, the report and --json show it; each cell says its own steps.
        rvs = [reward_verdict(r) for r in self.runs]
        qs = [rv.main for rv in rvs]
        rows.append(
            (
                "quarters of",
                [f"{fmt.steps(q.span)} ({fmt.steps(q.span / 4)} each)" if q else "-" for q in qs],
            )
        )
        for qi in range(4):
            cells = []
            for q in qs:
                if q is None or q.quarters[qi].mean is None:
                    cells.append("-")
                else:
                    qq = q.quarters[qi]
                    pct = f" ({qq.change_pct:+.0f}%)" if qi and qq.change_pct is not None else ""
                    cells.append(f"{qq.mean:.2f}{pct} ≤{fmt.steps(qq.hi)}")
            rows.append((f"reward Q{qi + 1}", cells))
        verdicts = []
        for r, rv in zip(self.runs, rvs, strict=True):
            said = next((f.verdict for f in r.health if f.rule == "reward" and f.verdict), None)
            verdicts.append(said or rv.verdict if rv.main is not None else "-")
        rows.append(("reward verdict", verdicts))
        rows.append(
            (
                "per step Q1→Q4",
                [
                    f"{_q_text(rv.step, 0)} → {_q_text(rv.step, 3)} {rv.step.verdict}"
                    if rv.step is not None
                    else "-"
                    for rv in rvs
                ],
            )
        )
        rows.append(
            (
                "episode length",
                [" → ".join(f"{x:.0f}" for x in rv.lengths if x is not None) or "-" for rv in rvs],
            )
        )
        rows += _seed_rows(self.runs)
        rows.append(("checkpoints", [str(len(r.checkpoints)) for r in self.runs]))
        rows.append(
            (
                "health",
                [R.count_levels(r.health) for r in self.runs],
            )
        )
        for name, cells in rows:
            table.add_row(name, *cells)

    # -- keys
    def charts_changed(self) -> None:
        self._stale.add("curves")
        self._update(self.query_one("#compare-tabs", TabbedContent).active or "config")

    def action_smooth(self, up: int) -> None:
        self.smoothing = self.next_smoothing(bool(up))
        self.charts_changed()

    def action_x_axis(self) -> None:
        self.x_mode = self.next_x_mode()
        self.charts_changed()

    def action_pick_tag(self) -> None:

        tags: set[str] = set()
        for r in self.runs:
            tags.update(r.series)

        def picked(tag: str | None) -> None:
            if tag:
                self.extra_tag = tag
                self._stale.add("curves")
                self.query_one("#compare-tabs", TabbedContent).active = "curves"
                self._update("curves")

        self.app.push_screen(TagPicker(sorted(tags), "Overlay a tag"), picked)

    def action_tab(self, tab: str) -> None:
        self.query_one("#compare-tabs", TabbedContent).active = tab

    def action_back(self) -> None:
        self.dismiss(None)


def _segment_rows(runs: Sequence[RunSnapshot]) -> list[tuple[str, list[str]]]:
    """A chain (collectors.analysis.chains) compared as one run: a row per segment, its id and
    its steps on the chain's axis (``aaaa0001 0-30M``); none when no run is a chain."""
    segs = [segments(r) for r in runs]
    n = max((len(s) for s in segs), default=0)
    return [
        (f"segment {i + 1}", [segments_text(s[i : i + 1]) if i < len(s) else "-" for s in segs])
        for i in range(n)
    ]


def _best_text(run: RunSnapshot) -> str:
    """The best reward point, leaving out the leading points HARL averages over short episodes
    only (collectors.analysis.reward.best_reward), marked when some were."""
    rw = run.reward
    if rw is None:
        return "-"
    mark = f" (first {rw.left_out} left out)" if rw.left_out else ""
    return f"{fmt.value(rw.best)} @{fmt.steps(rw.best_step)}{mark}"


def _band_lines(runs: Sequence[RunSnapshot], tag: str) -> list[Line]:
    """The spread between seeds of every seed group of two runs or more, as two dim lines (min
    and max over the group's runs at the same steps)."""
    out = []
    for k, members in enumerate(seed_groups(runs)):
        band = seed_band(runs, members, tag)
        if band is None:
            continue
        base, keep, lo, hi = band
        view = runs[base].series[tag]
        rel = view.wall[keep] - view.wall[keep][0]
        for name, values in (("min", lo), ("max", hi)):
            band_view = SeriesView(
                view.steps[keep], values.astype(np.float32), rel, float(view.wall[keep][0])
            )
            out.append(Line(f"G{k + 1} seeds {name}", band_view, "gray"))
    return out


def _q_text(table: QuarterTable, q: int) -> str:
    mean = table.quarters[q].mean
    return f"{mean:.4f}" if mean is not None else "-"


def _seed_rows(runs: Sequence[RunSnapshot]) -> list[tuple[str, list[str]]]:
    """Seed groups (configs equal but for the seed): each run's group, the group's mean ±
    half its spread per quarter (of the shortest planned length), and whether a gap to the
    first group is larger than the spread between seeds."""
    groups = group_quarters(runs)
    if not groups or len(groups) == len(runs) == 1:
        return []
    of = {i: k for k, g in enumerate(groups) for i in g.runs}
    rows: list[tuple[str, list[str]]] = []
    rows.append(
        (
            "seed group",
            [
                f"G{of[i] + 1} ({groups[of[i]].size} run{'s' * (groups[of[i]].size != 1)})"
                for i in range(len(runs))
            ],
        )
    )
    for q in range(4):
        cells = []
        for i in range(len(runs)):
            gq = groups[of[i]].quarters[q]
            if gq.mean is None:
                cells.append("-")
            else:
                spread = f" ±{gq.spread / 2:.2f}" if gq.runs > 1 else ""
                cells.append(f"{gq.mean:.2f}{spread}")
        rows.append((f"group Q{q + 1} (≤{fmt.steps((q + 1) * groups[0].span / 4)})", cells))
    last = 3
    cells = []
    for i in range(len(runs)):
        k = of[i]
        found = settled(groups, k, 0, last) if k else None
        cells.append("-" if found is None else f"{found[0]:+.2f}: {found[1]}")
    rows.append((f"vs G1 in Q{last + 1}", cells))
    return rows
