"""The run detail screen (Enter on a panel): charts, checkpoints, config, process, log, health.

Only the visible tab is brought up to date when a new snapshot of the run arrives; the others are
marked stale and updated when they are shown. The log tail is read by a thread worker, and only
while the Log tab is on screen.
"""

from __future__ import annotations

import dataclasses
import textwrap
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import (
    DataTable,
    Input,
    Static,
    TabbedContent,
    TabPane,
    Tree,
)
from textual.worker import get_current_worker

from collectors import fmt
from collectors.analysis.chains import segments, segments_text
from collectors.analysis.health import thresholds_with_defaults
from collectors.analysis.jobs import job_summary
from collectors.analysis.quarters import QuarterTable, clip_value, metric_quarters
from collectors.analysis.reward import best_reward, reward_verdict
from collectors.model.run import RunSnapshot, Snapshot
from collectors.model.run_config import lookup
from collectors.model.series import SeriesView
from tui.screens.modals import TagPicker
from tui.widgets import render as R
from tui.widgets.charts import (
    COLOURS,
    X_MODES,
    ChartView,
    Line,
    SeriesChart,
    Threshold,
    cursor_step,
)
from tui.widgets.footer import QuietFooter
from tui.widgets.log_view import LogView

# (log path or None, its last lines, what went wrong or None): the app's tui.app.sources.read_log
LogReader = Callable[[RunSnapshot], tuple[str | None, list[str], str | None]]

TABS = ("charts", "checkpoints", "config", "process", "log", "health")
SMOOTHING_STEPS = (0.0, 0.3, 0.6, 0.8, 0.9, 0.95, 0.99)


def agent_tags(run: RunSnapshot, suffix: str) -> list[str]:
    tags = [t for t in run.series if t.startswith("agent") and t.endswith("/" + suffix)]

    def key(t: str) -> tuple[int, str]:
        head = t.split("/", 1)[0][5:]
        return (int(head) if head.isdigit() else 1 << 20, t)

    return sorted(tags, key=key)


# Where a checkpoint's time comes from (Checkpoint.time_from), in the Checkpoints tab.
TIME_FROM = {"event": "event", "file": "file", "estimate": "est."}


def checkpoint_note(run: RunSnapshot, now: float) -> str:
    """The line above the checkpoint table: where the times come from, and in which zone."""
    text = (
        "time: the wall time logged at the checkpoint's step (HARL logs and saves in the same "
        "update); file: the files' mtime (beyond the last event); est.: from the run's speed"
    )
    t = run.started if run.started is not None else now
    zone = f"times in the viewer's zone ({fmt.viewer_zone(t)})"
    if run.utc_offset is not None and fmt.other_zone(t, run.utc_offset):
        zone += f"; the run's host is at {fmt.offset_text(run.utc_offset)}"
    return f"{text}\n{zone}"


def chart_specs(run: RunSnapshot, th: Mapping[str, float]) -> list[tuple[str, list[str], list]]:
    """(title, tags, thresholds) of the standard charts of a run; band lines from the thresholds
    in force (``th``; missing keys take the health registry's defaults)."""
    limits = thresholds_with_defaults(th)
    reward = run.reward.tag if run.reward is not None else None
    if reward is None:
        reward = next(
            (t for t in ("train_episode_rewards", "average_step_reward") if t in run.series), None
        )
    clip = clip_value(run.config)
    # HARL computes the value loss on normalised returns with use_valuenorm
    # (harl/algorithms/critics/v_critic.py VCritic.cal_value_loss): no fixed limit line there,
    # it would squash the data into the bottom of the chart; the trend rule judges it.
    normalised = lookup(run.config, "use_valuenorm") is True
    vl_lines = [] if normalised else [Threshold(limits["value_loss_max"], "limit", "red")]
    return [
        ("reward", [reward] if reward else [], []),
        (
            "entropy",
            agent_tags(run, "dist_entropy"),
            [
                Threshold(limits["entropy_low"], "healthy low", "green"),
                Threshold(limits["entropy_high"], "healthy high", "green"),
            ],
        ),
        (
            "actor grad norm",
            agent_tags(run, "actor_grad_norm"),
            [Threshold(clip, f"max_grad_norm {clip:g}", "red")] if clip is not None else [],
        ),
        (
            "value loss",
            ["critic/value_loss"] if "critic/value_loss" in run.series else [],
            vl_lines,
        ),
        ("policy loss", agent_tags(run, "policy_loss"), []),
        # The mean importance weight is 1 +- 1e-3 by construction (HAPPO's imp_weights,
        # harl/algorithms/actors/happo.py): drawn as its deviation from 1, in thousandths.
        (RATIO_TITLE, agent_tags(run, "ratio"), [Threshold(0.0, "ratio = 1", "green")]),
    ]


RATIO_TITLE = "ratio - 1 (x1e-3)"


_DEVIATIONS: dict[int, tuple[SeriesView, SeriesView]] = {}


def deviation_view(view: SeriesView) -> SeriesView:
    """The ratio's points as (ratio - 1) * 1000, with the same steps and wall times: one view per
    ratio view (held here with it, so its id is not reused), so that the ratio chart sees the
    same series on every key, as the other charts do, and keeps its frames (SeriesChart.frame)."""
    got = _DEVIATIONS.get(id(view))
    if got is not None and got[0] is view:
        return got[1]
    if len(_DEVIATIONS) > 64:
        _DEVIATIONS.clear()
    values = (view.values.astype(np.float64) - 1.0) * 1000.0
    out = SeriesView(view.steps, values.astype(np.float32), view._rel, view._wall0)
    _DEVIATIONS[id(view)] = (view, out)
    return out


def short_tag(tag: str) -> str:
    head = tag.split("/", 1)[0]
    return head if head.startswith("agent") else tag


ZOOMS = (1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125)  # the step window: the last 1/2^k of the x range


class ChartOptions:
    """Smoothing, x axis, log y, step window and cursor, shared by the detail and compare
    screens; a screen redraws its charts in :meth:`charts_changed`."""

    smoothing = 0.6
    x_mode = "step"
    view = ChartView()

    def options_text(self) -> Text:
        """The chart options on one line: with the keys where the width allows (110 columns),
        else the values alone (the keys are in the footer and the help)."""
        width = getattr(getattr(self, "size", None), "width", 0) or 120
        if width < 110:
            t = Text(" ")
            for name, value in (
                ("smooth", f"{self.smoothing:.2f}"),
                ("x", self.x_mode),
                ("y", "log" if self.view.log_y else "lin"),
                ("window", self.window_text()),
                ("cursor", "on" if self.view.cursor is not None else "off"),
            ):
                t.append(f"{name} ", style="dim")
                t.append(value, style="bold")
                t.append("  ")
            return t
        t = Text()
        t.append(" smoothing ", style="dim")
        t.append(f"{self.smoothing:.2f}", style="bold")
        t.append(" (+/-)  x ", style="dim")
        t.append(self.x_mode, style="bold")
        t.append(" (x)  y ", style="dim")
        t.append("log" if self.view.log_y else "linear", style="bold")
        t.append(" (y)  window ", style="dim")
        t.append(self.window_text(), style="bold")
        t.append(" (z/Z {/})  cursor ", style="dim")
        t.append("on" if self.view.cursor is not None else "off", style="bold")
        t.append(" ([/] 0)  t: another tag", style="dim")
        return t

    def window_text(self) -> str:
        v = self.view
        if v.zoom >= 1:
            return "all"
        part = f"last 1/{round(1 / v.zoom)}"
        return part if not v.pan else f"{part}, {v.pan:g} back"

    def next_smoothing(self, up: bool) -> float:
        steps = SMOOTHING_STEPS
        cur = min(range(len(steps)), key=lambda i: abs(steps[i] - self.smoothing))
        cur = min(cur + 1, len(steps) - 1) if up else max(cur - 1, 0)
        return steps[cur]

    def next_x_mode(self) -> str:
        return X_MODES[(X_MODES.index(self.x_mode) + 1) % len(X_MODES)]

    def charts_changed(self) -> None:  # the screen redraws its charts
        raise NotImplementedError

    def _set_view(self, **kw: Any) -> None:
        self.view = dataclasses.replace(self.view, **kw)
        self.charts_changed()

    def action_log_y(self) -> None:
        self._set_view(log_y=not self.view.log_y)

    def action_zoom(self, deeper: int) -> None:
        i = min(range(len(ZOOMS)), key=lambda k: abs(ZOOMS[k] - self.view.zoom))
        i = min(i + 1, len(ZOOMS) - 1) if deeper else max(i - 1, 0)
        self._set_view(zoom=ZOOMS[i], pan=0.0 if i == 0 else self.view.pan)

    def action_pan(self, back: int) -> None:
        if self.view.zoom < 1:
            pan = self.view.pan + (0.5 if back else -0.5)
            self._set_view(pan=min(max(pan, 0.0), 1 / self.view.zoom - 1))

    def action_cursor(self, right: int) -> None:
        """``[``/``]``: the cursor to the previous / next logged step of the first chart's first
        series (off: onto its last point)."""
        chart = next((c for c in self.query(SeriesChart) if c.track is not None and c.window), None)
        if chart is None or chart.track is None or chart.window is None:
            at = self.view.cursor
            at = 1.0 if at is None else min(max(at + (0.025 if right else -0.025), 0.0), 1.0)
            self._set_view(cursor=at)
            return
        lo, hi = chart.window
        self._set_view(cursor=cursor_step(chart.track, self.view.cursor, lo, hi, bool(right)))

    def action_reset_view(self) -> None:
        self._set_view(zoom=1.0, pan=0.0, cursor=None)


def chart_bindings(tabs: tuple[str, ...], tag_action: str) -> list[Binding]:
    """The keys of a screen of charts: back, smoothing, x axis, log y, the step window, the
    cursor, another tag, tabs by number."""
    return [
        Binding("escape,backspace", "back", "Back"),
        Binding("plus,equals_sign", "smooth(1)", "Smooth+", key_display="+"),
        Binding("minus", "smooth(0)", "Smooth-", key_display="-"),
        Binding("x", "x_axis", "X axis"),
        Binding("y", "log_y", "Log y"),
        Binding("z", "zoom(1)", "Zoom", tooltip="Show the last half of the steps shown"),
        Binding("Z", "zoom(0)", "Unzoom", show=False),
        Binding("left_curly_bracket", "pan(1)", "Earlier", show=False, key_display="{"),
        Binding("right_curly_bracket", "pan(0)", "Later", show=False, key_display="}"),
        Binding("left_square_bracket", "cursor(0)", "Cursor", key_display="[ ]"),
        Binding("right_square_bracket", "cursor(1)", "Cursor right", show=False),
        Binding("0", "reset_view", "All steps", show=False),
        Binding("t", tag_action, "Tag"),
        *[
            Binding(str(i + 1), f"tab('{tab}')", tab.capitalize(), show=False)
            for i, tab in enumerate(tabs)
        ],
    ]


# The Log tab's keys (offered only there): find, next / previous match, fold long lines.
LOG_KEYS = ("log_search", "log_next", "log_wrap")


class RunDetailScreen(ChartOptions, Screen[None]):
    BINDINGS = [
        *chart_bindings(TABS, "add_tag"),
        Binding("slash", "log_search", "Find", key_display="/"),
        Binding("n", "log_next(1)", "Next"),
        Binding("N", "log_next(-1)", "Prev", key_display="N"),
        Binding("w", "log_wrap", "Wrap"),
    ]

    class LogTail(Message):
        def __init__(self, path: str | None, lines: list[str], error: str | None) -> None:
            super().__init__()
            self.path = path
            self.lines = lines
            self.error = error

    def __init__(
        self,
        run: RunSnapshot,
        settings: Any,
        clock: Any = time.time,
        label: str | None = None,
        log_reader: LogReader | None = None,
    ) -> None:
        super().__init__(classes="detail")
        self.run = run
        self.label = label or run.name
        self.run_id = run.id
        self.settings = settings
        self.clock = clock
        self.th = dict(thresholds_with_defaults(settings.thresholds))
        self.log_reader = log_reader  # the app's: reads the log file in the worker thread
        self.extra_tags: list[str] = []
        self._stale = set(TABS)
        self._styled_for: tuple | None = None  # the theme its styles were last computed for
        self._config_key: Any = None
        self._ckpt_key: Any = None
        self._log_lines: list[str] | None = None
        self._log_msg: RunDetailScreen.LogTail | None = None
        self._log_wake = threading.Event()
        self.gone = False

    def show_run(self, run: RunSnapshot, label: str | None = None) -> None:
        """This screen again, for ``run``: the app keeps one detail screen installed and opens
        it on the run chosen, so that a second open costs a redraw of the charts, not a
        compose and a stylesheet pass over its widgets (about half of the first open). The
        chart options the user set (smoothing, x axis, log y) stay, as TensorBoard keeps them;
        the step window and the cursor, which belong to a run's steps, start again."""
        self.run = run
        self.label = label or run.name
        self.run_id = run.id
        self.extra_tags = []
        self._stale = set(TABS)
        self._config_key = self._ckpt_key = None
        self._log_lines = None
        self._log_msg = None
        self.gone = False
        self.view = dataclasses.replace(ChartView(), log_y=self.view.log_y)
        if not self.is_mounted:
            return  # compose and on_mount do the rest
        self.query_one("#detail-tabs", TabbedContent).active = "charts"
        self.query_one("#config-search", Input).value = ""
        self.query_one("#log-search", Input).display = False
        self.query_one("#log-view", LogView).set_lines([])
        self.query_one("#log-path", Static).update("")
        self._refresh_all()

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        """Runs before Textual's own handler (a subclass's comes first): Textual restyles every
        widget of a screen shown again, about 20 ms of an open at 200x50 for this screen of
        charts, tables and tabs. The styles of this reused screen only change with the theme;
        anything else that restyles (a tab, a class) restyles its own widgets."""
        theme = (self.app.theme, self.app.ansi_color)
        if event.refresh_styles and theme == self._styled_for:
            event.refresh_styles = False
        self._styled_for = theme

    # -- layout
    def compose(self) -> ComposeResult:
        yield Static(id="detail-head")
        with TabbedContent(id="detail-tabs", initial="charts"):
            with TabPane("Charts", id="charts"):
                yield Static(id="chart-options")
                with VerticalScroll(id="charts-grid"):
                    for i, (title, _, _) in enumerate(chart_specs(self.run, self.th)):
                        yield SeriesChart(title, id=f"chart-{i}")
            with TabPane("Checkpoints", id="checkpoints"):
                yield Static(id="ckpt-note")
                yield DataTable(id="ckpt-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Config", id="config"), Vertical():
                yield Input(placeholder="search keys and values", id="config-search")
                yield Tree("config", id="config-tree")
            with TabPane("Process", id="process"), VerticalScroll():
                yield Static(id="process-body")
            with TabPane("Log", id="log"):
                yield Static(id="log-path")
                yield Input(placeholder="find in the log (Enter; Esc closes)", id="log-search")
                yield LogView(id="log-view")
            with TabPane("Health", id="health"), VerticalScroll():
                yield Static(id="health-body")
        yield QuietFooter()

    def on_mount(self) -> None:
        t = self.query_one("#ckpt-table", DataTable)
        t.add_columns("#", "step", "time", "from", "interval", "steps", "size", "complete")
        self._layout_charts()
        self._refresh_all()
        self.query_one("#log-search", Input).display = False
        self._log_loop()

    def on_resize(self) -> None:
        self._layout_charts()
        self.query_one("#chart-options", Static).update(self.options_text())  # fits the width

    def _layout_charts(self) -> None:
        grid = self.query_one("#charts-grid")
        n = len(grid.children)
        cols = 2 if self.size.width >= 120 else 1
        rows = (n + cols - 1) // cols
        avail = max(self.size.height - 7, 10)
        height = max(avail // max(min(rows, 3), 1), 10)
        grid.styles.grid_size_columns = cols
        grid.styles.grid_rows = str(height)

    # -- data
    def selected_run(self) -> RunSnapshot | None:
        return None if self.gone else self.run

    def apply(self, snap: Snapshot, labels: Mapping[str, str] | None = None) -> None:
        run = next((r for r in snap.runs if r.id == self.run_id), None)
        if run is not None and labels is not None:
            label = labels.get(run.path) or run.name
            if label != self.label:
                self.label = label
                self._update_head()
        if run is None:
            if not self.gone:
                self.gone = True
                self.query_one("#detail-head", Static).update(
                    Text(f" {self.run.name}: the run directory is gone", style="bold red")
                )
                self.app.refresh_bindings()
            return
        self.gone = False
        if run is self.run:
            return
        state_changed = run.state != self.run.state or (run.process is None) != (
            self.run.process is None
        )
        self.run = run
        self._stale = set(TABS)
        self._refresh_all()
        if state_changed:
            self.app.refresh_bindings()

    def _active_tab(self) -> str:
        return self.query_one("#detail-tabs", TabbedContent).active or "charts"

    def _refresh_all(self) -> None:
        self._update_head()
        self._update_tab(self._active_tab())

    @on(TabbedContent.TabActivated)
    def _tab_shown(self, event: TabbedContent.TabActivated) -> None:
        tab = self._active_tab()
        if tab == "log":
            self._log_wake.set()  # read it now, not at the next tick
        self._update_tab(tab)

    def on_unmount(self) -> None:
        self._log_wake.set()  # the log thread sees its cancellation at once

    def _update_tab(self, tab: str) -> None:
        if tab not in self._stale:
            return
        self._stale.discard(tab)
        getattr(self, f"_update_{tab}")()

    def _update_head(self) -> None:
        r, now = self.run, self.clock()
        t = Text()
        t.append(f" {self.label} ", style="bold reverse")
        if self.label != r.name:
            t.append(f" {r.name}", style="bold")
        t.append(" ")
        t.append_text(R.state_text(r.state))
        prog = (
            f"{R.steps_of(r.step)} / {fmt.steps(r.total_steps)}"
            if r.total_steps
            else (R.steps_of(r.step))
        )
        t.append(f"  {prog}")
        if r.progress is not None:
            t.append(f" {100 * r.progress:.0f}%")
        if r.steps_per_hour:
            t.append(f"  {fmt.steps(r.steps_per_hour)}/h", style="dim")
        if r.eta is not None:
            t.append(f"  ETA {fmt.clock(r.eta, now)} ({R.short_duration(r.eta - now)} left)")
        t.append(
            f"\n {r.algo} · {r.env}/{r.task} · {r.exp_name} · seed {r.seed}  {r.path}", style="dim"
        )
        segs = segments(r)
        if segs:  # a chain (collectors.analysis.chains): every segment, filter by id finds it
            t.append(f"\n chain {len(segs)} segments: {segments_text(segs)}", style="dim")
        self.query_one("#detail-head", Static).update(t)

    # -- charts
    def _update_charts(self) -> None:
        r = self.run
        self.query_one("#chart-options", Static).update(self.options_text())
        specs = chart_specs(r, self.th)
        specs += [(tag, [tag], []) for tag in self.extra_tags]
        grid = self.query_one("#charts-grid")
        charts = list(grid.query(SeriesChart))
        for i in range(len(charts), len(specs)):
            chart = SeriesChart(specs[i][0], id=f"chart-{i}")
            grid.mount(chart)
            charts.append(chart)
        for extra in charts[len(specs) :]:  # the previous run's (another run shown again)
            extra.remove()
        charts = charts[: len(specs)]
        self._layout_charts()
        t0 = r.started
        for chart, (title, tags, ths) in zip(charts, specs, strict=False):
            chart.title = title
            chart.clock = self.clock
            lines = [
                Line(
                    short_tag(tag) if len(tags) > 1 else tag,
                    deviation_view(r.series[tag]) if title == RATIO_TITLE else r.series[tag],
                    COLOURS[i % len(COLOURS)],
                )
                for i, tag in enumerate(tags)
                if tag in r.series
            ]
            chart.set_lines(
                lines,
                ths,
                smoothing=self.smoothing,
                x_mode=self.x_mode,
                t0=t0,
                marks=r.resumed_at,  # one continuous chain curve, marked where it resumed
                view=self.view,
            )

    def charts_changed(self) -> None:
        self._stale.add("charts")
        self._update_tab(self._active_tab())

    def action_smooth(self, up: int) -> None:
        self.smoothing = self.next_smoothing(bool(up))
        self.charts_changed()

    def action_x_axis(self) -> None:
        self.x_mode = self.next_x_mode()
        self.charts_changed()

    def action_add_tag(self) -> None:

        def picked(tag: str | None) -> None:
            if tag and tag not in self.extra_tags:
                self.extra_tags.append(tag)
                self._stale.add("charts")
                self.query_one("#detail-tabs", TabbedContent).active = "charts"
                self._update_tab("charts")

        self.app.push_screen(TagPicker(list(self.run.series)), picked)

    def action_tab(self, tab: str) -> None:
        self.query_one("#detail-tabs", TabbedContent).active = tab

    def action_back(self) -> None:
        search = self.query_one("#log-search", Input)
        if search.display and search.has_focus:  # Esc closes the find line first
            search.display = False
            self.query_one("#log-view", LogView).focus()
            return
        self.dismiss(None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in LOG_KEYS:
            try:
                on_log = self._active_tab() == "log"
            except Exception:
                return False
            if not on_log or (action != "log_search" and self.query_one("#log-search").has_focus):
                return False  # typed into the find line, or another tab: not ours
        return True

    # -- log: find, next / previous, wrap
    def action_log_search(self) -> None:
        search = self.query_one("#log-search", Input)
        search.display = True
        search.focus()

    @on(Input.Submitted, "#log-search")
    def _log_find(self, msg: Input.Submitted) -> None:
        msg.stop()
        view = self.query_one("#log-view", LogView)
        view.search(msg.value)
        msg.input.display = False
        view.focus()
        self._log_head()

    @on(LogView.Moved)
    def _log_moved(self) -> None:
        self._log_head()  # "following" or "scrolled up"

    def action_log_next(self, step: int) -> None:
        self.query_one("#log-view", LogView).next_match(step)
        self._log_head()

    def action_log_wrap(self) -> None:
        self.query_one("#log-view", LogView).toggle_wrap()
        self._log_head()

    # -- checkpoints
    def _update_checkpoints(self) -> None:
        cps = self.run.checkpoints
        if cps == self._ckpt_key:
            return
        self._ckpt_key = cps
        table = self.query_one("#ckpt-table", DataTable)
        table.clear()
        now = self.clock()
        prev = None
        start = self.run.started
        for i, c in enumerate(cps, 1):
            if prev is not None:
                interval = R.short_duration(c.time - prev.time) if c.time >= prev.time else "-"
                dsteps = fmt.steps(c.step - prev.step)
            else:
                interval = R.short_duration(c.time - start) if start else "-"
                dsteps = fmt.steps(c.step)
            table.add_row(
                str(i),
                fmt.steps(c.step),
                fmt.clock(c.time, now),
                TIME_FROM.get(c.time_from, c.time_from),
                interval,
                dsteps,
                fmt.nbytes(c.bytes),
                "yes" if c.complete else "writing",
            )
            prev = c
        if not cps:
            table.add_row("", "no checkpoints yet", "", "", "", "", "", "")
        self.query_one("#ckpt-note", Static).update(checkpoint_note(self.run, now))

    # -- config
    def _update_config(self) -> None:
        query = self.query_one("#config-search", Input).value
        key = (id(self.run.config), query)
        if key == self._config_key:
            return
        self._config_key = key
        build_config_tree(self.query_one("#config-tree", Tree), self.run.config, query)

    @on(Input.Changed, "#config-search")
    def _search(self) -> None:
        self._stale.add("config")
        self._update_tab("config")

    # -- process
    def _update_process(self) -> None:
        self.query_one("#process-body", Static).update(process_text(self.run, self.clock()))

    # -- health
    def _update_health(self) -> None:
        self.query_one("#health-body", Static).update(health_text(self.run))

    # -- log (read in a thread, only while the Log tab is shown)
    def _update_log(self) -> None:
        pass  # the log worker refreshes it

    @work(thread=True, exclusive=True, group="log-tail", exit_on_error=False)
    def _log_loop(self) -> None:
        worker = get_current_worker()
        while not worker.is_cancelled:
            if self.is_attached and self.app.screen is self and self._log_visible:
                path, lines, error = (
                    self.log_reader(self.run) if self.log_reader is not None else (None, [], None)
                )
                self.post_message(self.LogTail(path, lines, error))
            self._log_wake.wait(2.0)
            self._log_wake.clear()

    @property
    def _log_visible(self) -> bool:
        try:
            return self._active_tab() == "log"
        except Exception:
            return False

    @on(LogTail)
    def _show_log(self, msg: LogTail) -> None:
        if not self.is_attached:
            return
        self._log_msg = msg
        if msg.lines != self._log_lines:
            self._log_lines = msg.lines
            self.query_one("#log-view", LogView).set_lines(msg.lines)
        self._log_head()

    def _log_head(self) -> None:
        msg = self._log_msg
        if msg is None:
            return
        head = self.query_one("#log-path", Static)
        if msg.path is None:
            head.update(
                Text(
                    " stdout log unknown: launch runs with happo-top (l) to have one, or redirect "
                    "the trainer's output to a file",
                    style="dim",
                )
            )
            return
        if msg.error:
            head.update(Text(f" {fmt.printable(msg.error)}", style="yellow"))
            return
        view = self.query_one("#log-view", LogView)
        line = Text(f" {fmt.printable(msg.path)}", style="dim")
        state = [
            "following" if view.following else "scrolled up (End follows)",
            "wrap" if view.wrap else "no wrap (w)",
        ]
        if view.status():
            state.append(view.status())
        line.append("  " + " · ".join(state))
        head.update(line)


def build_config_tree(tree: Tree, config: Mapping[str, Any], query: str = "") -> None:
    words = query.lower().split()
    tree.clear()
    tree.root.set_label(f"config ({len(config)} keys)")
    nodes: dict[str, Any] = {"": tree.root}
    shown = 0
    for key in sorted(config):
        value = config[key]
        hay = f"{key} {value!r}".lower()
        if words and not all(w in hay for w in words):
            continue
        parts = key.split(".")
        parent = ""
        for i, part in enumerate(parts[:-1]):
            path = ".".join(parts[: i + 1])
            if path not in nodes:
                nodes[path] = nodes[parent].add(
                    Text(fmt.printable(part)), expand=True
                )  # not markup
            parent = path
        label = Text.assemble(
            (fmt.printable(parts[-1]), "bold"), " = ", (repr(value)[:500], "cyan")
        )
        nodes[parent].add_leaf(label)
        shown += 1
    if words and not shown:
        tree.root.add_leaf(Text("no key or value matches", style="dim"))
    tree.root.expand()


def process_text(run: RunSnapshot, now: float) -> Any:
    """The Slurm job (when the run is one), then the process as a two-column grid."""
    if run.job is None:
        return _process_grid(run, now)
    j = run.job
    head = Text(f"Slurm {job_summary(j, now)}\n", style="bold")
    head.append(
        f"partition {j.partition or '-'}  submitted {fmt.clock(j.submitted, now)}  "
        f"started {fmt.clock(j.started, now)}  limit {fmt.duration(j.time_limit)}  "
        f"found by {j.how_found}  (from {j.source})\n\n",
        style="dim",
    )
    return Group(head, _process_grid(run, now))


def _process_grid(run: RunSnapshot, now: float) -> Any:
    """The process as a two-column grid (long commands wrap under their value)."""

    p = run.process
    t = Text()
    if p is None:
        if run.state in ("running", "starting", "stalled"):
            t.append(
                "No process info for this run (the process collector found none).", style="yellow"
            )
        else:
            t.append(f"No process: the run is {run.state}.", style="dim")
        return t

    grid = Table.grid(padding=(0, 2))
    grid.add_column(justify="right", style="dim", no_wrap=True)
    grid.add_column(overflow="fold")

    def row(k: str, v: Any) -> None:
        grid.add_row(k, str(v))

    cmd = p.cmdline
    row("pid", p.pid)
    row("title", p.title)
    row("command", " ".join(cmd) if cmd else "-")
    row("command from", p.cmdline_source)
    row("cwd", p.cwd or "-")
    started = p.started
    if isinstance(started, (int, float)):
        row(
            "started",
            f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(started))}"
            f" ({R.short_duration(now - started)} ago)",
        )
    row("user", p.user or p.uid or "-")
    row("status", p.status or "-")
    cpu = p.cpu_percent
    row("cpu", f"{cpu:.0f}%" if isinstance(cpu, (int, float)) else "-")
    row("rss", fmt.nbytes(p.rss))
    row("threads", p.threads or "-")
    gm = p.gpu_memory
    row("gpu memory", fmt.nbytes(gm) if gm is not None else "-")
    kids = p.children or ()
    row("children", ", ".join(str(k) for k in kids) or "-")
    pg, sid = p.pgid, p.sid
    row("pgid / sid", f"{pg if pg is not None else '-'} / {sid if sid is not None else '-'}")
    row("found by", p.how_found or "-")
    if p.launch_id:
        row("launch", p.launch_id)
    if p.log:
        row("log", p.log)
    return grid


def health_text(run: RunSnapshot) -> Text:
    t = Text()
    t.append("Findings\n", style="bold underline")
    if not run.health:
        t.append("  none yet (health rules need data)\n", style="dim")
    for f in run.health:
        t.append("  ")
        t.append_text(R.mark(f.level))
        t.append(f" {f.message}", style=R.LEVEL_STYLE.get(f.level, ""))
        if f.step is not None:
            t.append(f"  @{fmt.steps(f.step)}", style="dim")
        t.append("\n")
    for e in run.errors:
        t.append(f"  ! {fmt.problem_first(e, run.path)}\n", style="yellow")
    rv = reward_verdict(run)
    said = next((f.verdict for f in run.health if f.rule == "reward" and f.verdict), None)
    tables: list[tuple[str, QuarterTable, str]] = []
    if rv.episode is not None:
        tables.append(("reward", rv.episode, said or rv.verdict))
    if rv.step is not None:
        tables.append(("reward per step", rv.step, rv.step.verdict))
    for group, ts in metric_quarters(run).items():
        tables += [
            (f"{group} {tb.tag.split('/', 1)[0]}" if len(ts) > 1 else group, tb, tb.verdict)
            for tb in ts
        ]
    if tables:
        span = tables[0][1].span
        t.append("\nQuarters (of ", style="bold underline")
        t.append(f"{fmt.steps(span)} steps", style="bold underline")
        t.append(")\n", style="bold underline")
        # 76 columns: fits an 80-column terminal beside the scrollbar
        heads = [f"-{fmt.steps((q + 1) * span / 4)}" for q in range(4)]
        t.append(f"  {'':<26}" + "".join(f"{h:>9}" for h in heads) + "  verdict\n", style="dim")
        for name, tb, verdict in tables:
            t.append(f"  {R.fit(name, 25):<26}")
            for q in tb.quarters:
                t.append(f"{fmt.value(q.mean) if q.mean is not None else '-':>9}")
            t.append(f"  {verdict}\n")
        if any(x is not None for x in rv.lengths):
            t.append(f"  {'episode length (implied)':<26}")
            for x in rv.lengths:
                t.append(f"{f'{x:.0f}' if x is not None else '-':>9}")
            t.append("\n")
        if rv.reason:
            for line in textwrap.wrap(f"reward {rv.verdict}: {rv.reason}", 74):
                t.append(f"  {line}\n", style="yellow")
        best = best_reward(run)
        if best is not None and best.why:
            note = (
                f"best reward {fmt.value(best.value)} @{fmt.steps(best.step)} leaves out {best.why}"
            )
            for line in textwrap.wrap(note, 74):
                t.append(f"  {line}\n", style="dim")
    return t
