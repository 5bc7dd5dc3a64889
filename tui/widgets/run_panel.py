"""One run as a panel of the main grid: a few lines of text, rebuilt only when they would change.

The panel is a plain focusable widget whose ``render()`` returns cached text. A new snapshot of
the run calls :meth:`RunPanel.update_run`: when the run snapshot is the same object as before (the
collector returns the identical object when nothing changed) and the minute has not turned (times
left are shown to the minute), nothing happens at all; otherwise the lines are rebuilt and the
panel is refreshed only if they differ from what is on screen. No flicker when nothing changed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.markup import escape
from textual.message import Message
from textual.widget import Widget

from collectors import fmt
from collectors.analysis.chains import segments, segments_text
from collectors.analysis.jobs import job_summary
from collectors.analysis.quarters import clip_value
from collectors.model.run import (
    CONTINUED,
    CRASHED,
    FINISHED,
    RUNNING,
    STALLED,
    STARTING,
    STOPPED,
    RunSnapshot,
)
from tui.widgets import render as R

FULL_LINES = 8  # content lines; app.tcss gives panels these plus 2 for the border
COMPACT_LINES = 3
LIVE = (RUNNING, STARTING, STALLED)


@dataclass(frozen=True, slots=True)
class PanelContext:
    now: float
    thresholds: Mapping[str, float]
    processes_known: bool = True


class RunPanel(Widget, can_focus=True):
    """A run: name, state, progress, speed and ETA, reward, checkpoints, health, process."""

    BINDINGS = [
        Binding("enter", "open", "Open", tooltip="Open the run's charts and details"),
        Binding("space", "mark", "Mark", key_display="spc", tooltip="Mark the run for comparison"),
    ]

    class Open(Message):
        def __init__(self, run_id: str) -> None:
            super().__init__()
            self.run_id = run_id

    class Mark(Message):
        def __init__(self, run_id: str) -> None:
            super().__init__()
            self.run_id = run_id

    class Focused(Message):
        def __init__(self, run_id: str) -> None:
            super().__init__()
            self.run_id = run_id

    def __init__(self, run: RunSnapshot, label: str, ctx: PanelContext, compact: bool) -> None:
        super().__init__(classes="run-panel")
        self.removing = False
        self.run = run
        self.run_id = run.id
        self.label = label
        self.ctx = ctx
        self.compact = compact
        self.marked = False
        self._minute = int(ctx.now // 60)
        self._key: tuple | None = None
        self._lines: list[Text] = []
        self.builds = 0  # how many times the text was rebuilt (tests, benchmarks)
        self.draws = 0  # how many times the text was drawn into strips (tests, benchmarks)
        # (text lines, size, style, strips) of the last two looks (focused or not)
        self._drawn: list[tuple[list[Text], Any, Any, list[Any]]] = []
        self._apply_chrome()

    # -- updates from the screen
    def update_run(
        self,
        run: RunSnapshot,
        label: str,
        ctx: PanelContext,
        compact: bool,
        marked: bool,
    ) -> bool:
        """Take a new snapshot of the run; returns whether the panel will be redrawn."""
        minute = int(ctx.now // 60)
        if (
            run is self.run
            and label == self.label
            and minute == self._minute
            and compact == self.compact
            and marked == self.marked
        ):
            return False
        chrome = (label, run.state, run.host, marked, compact) != (
            self.label,
            self.run.state,
            self.run.host,
            self.marked,
            self.compact,
        )
        self.run, self.label, self.ctx = run, label, ctx
        self.compact, self.marked, self._minute = compact, marked, minute
        if chrome:
            self._apply_chrome()
        width = self.content_size.width
        if width <= 0:
            self.refresh()
            return True
        old = self._lines
        new = self._build(width)
        if chrome or [t.plain for t in old] != [t.plain for t in new] or _spans(old) != _spans(new):
            self.refresh()
            return True
        return False

    def _apply_chrome(self) -> None:
        try:
            self._chrome()
        except Exception as e:  # odd data in a run: the title says so, the app goes on
            self.border_title = escape(fmt.printable(f"{self.run_id}: {type(e).__name__}"))

    def _chrome(self) -> None:
        run = self.run
        mark = "* " if self.marked else ""
        if run.host:  # a run on another host (over ssh): "gpu01: name"
            mark += f"{run.host}: "
        room = self.size.width - 6 - len(mark)  # corners, padding and the border's ends
        self.border_title = escape(mark + panel_title(run.name, self.label, room))
        style = R.STATE_STYLE.get(run.state, "")
        self.border_subtitle = f"[{style}]{escape(R.state_symbol(run.state))} {run.state}[/]"
        for s in (RUNNING, STARTING, STALLED, FINISHED, STOPPED, CRASHED):
            self.set_class(run.state == s, f"-{s}")
        self.set_class(self.marked, "-marked")
        self.set_class(self.compact, "-compact")

    # -- rendering
    def render(self) -> Text:
        width = self.content_size.width
        lines = self._build(width)
        return Text("\n").join(lines)

    def _build(self, width: int) -> list[Text]:
        key = (self.run, self.label, self._minute, self.compact, self.marked, width)
        if key == self._key:
            return self._lines
        self.builds += 1
        try:
            b = _Builder(_printable_run(self.run), self.ctx, max(width, 10))
            self._lines = b.compact() if self.compact else b.full()
        except Exception as e:  # a panel that cannot be drawn shows why; the others are drawn
            self._lines = _failed_lines(self.run, e, max(width, 10))
        self._key = key
        return self._lines

    def _render_content(self) -> None:
        """Textual draws a widget's text into strips again at every refresh, and a focus move
        refreshes two panels whose text did not change, only their border and background
        (about a quarter of a selection step, sampled). The strips of the panel's two looks,
        focused and not, are kept here by (its text, its size, its style); a text selection
        made with the mouse is always drawn anew."""
        lines = self._build(self.content_size.width)
        size, style = self.size, self.visual_style
        if self.text_selection is None:
            for kept_lines, kept_size, kept_style, strips in self._drawn:
                if kept_lines is lines and kept_size == size and kept_style == style:
                    self._render_cache = type(self._render_cache)(size, strips)
                    self._dirty_regions.clear()
                    return
        super()._render_content()
        self.draws += 1
        if self.text_selection is None:
            self._drawn = [(lines, size, style, self._render_cache.lines), *self._drawn[:1]]

    # -- events
    def on_resize(self) -> None:
        self._apply_chrome()  # the title is shortened to the width

    def on_focus(self) -> None:
        self.post_message(self.Focused(self.run_id))

    def action_open(self) -> None:
        self.post_message(self.Open(self.run_id))

    def action_mark(self) -> None:
        self.post_message(self.Mark(self.run_id))


_TEXT_FIELDS = ("name", "algo", "env", "task", "exp_name", "label", "path")


def _printable_run(run: RunSnapshot) -> RunSnapshot:
    """The run with the text that comes from its files (names, config values, errors) made safe
    for a terminal (:func:`collectors.fmt.printable`): no escape sequence reaches the screen."""
    changes = {
        f: fmt.printable(v)
        for f in _TEXT_FIELDS
        if isinstance(v := getattr(run, f), str) and not v.isprintable()
    }
    if any(not e.isprintable() for e in run.errors):
        changes["errors"] = tuple(fmt.printable(e) for e in run.errors)
    return dataclasses.replace(run, **changes) if changes else run


def _failed_lines(run: RunSnapshot, e: Exception, width: int) -> list[Text]:
    path = fmt.printable(getattr(run, "path", "?"))
    return [
        Text(R.fit(path, width), style="dim"),
        Text(R.fit(f"cannot show this run: {type(e).__name__}: {e}", width), style="bold red"),
        *(Text(R.fit(fmt.printable(x), width), style="yellow") for x in run.errors[:3]),
    ]


def _spans(lines: list[Text]) -> list:
    return [[(s.start, s.end, str(s.style)) for s in t.spans] for t in lines]


class _Builder:
    """The panel's lines for one run at one width."""

    def __init__(self, run: RunSnapshot, ctx: PanelContext, width: int) -> None:
        self.r = run
        self.ctx = ctx
        self.w = width
        self.now = ctx.now

    # -- pieces
    def progress_text(self, short: bool = False) -> str:
        r = self.r
        done = R.steps_of(r.step)
        if r.total_steps:
            pct = f"{100 * (r.progress or 0):.0f}%"
            sep = "/" if short else " / "
            return f"{done}{sep}{fmt.steps(r.total_steps)} {pct}"
        return done

    def speed(self) -> str:
        sph = self.r.steps_per_hour
        return f"{fmt.steps(sph)}/h" if sph else "-/h"

    def timing(self, short: bool = False) -> str:
        r, now = self.r, self.now
        if r.eta is not None and r.state in LIVE:
            left = R.short_duration(r.eta - now)
            return (
                f"ETA {fmt.clock(r.eta, now)} ({left})"
                if short
                else (f"ETA {fmt.clock(r.eta, now)} ({left} left)")
            )
        # Clock times in the viewer's zone; the run host's own follows where it differs.
        if r.state == FINISHED:
            end = r.ended or r.last_data
            took = max(end - r.started, 0.0) if end and r.started else None
            text = f"done {fmt.clock(end, now)}"
            if short:
                return text
            parts = [f"took {R.short_duration(took)}" if took is not None else ""]
            parts.append(fmt.own_clock(end, r.utc_offset, now))
            inner = ", ".join(p for p in parts if p)
            return f"{text} ({inner})" if inner else text
        if r.state in (CRASHED, STOPPED):
            end = r.ended or r.last_data
            if not end:
                return "no data"
            own = "" if short else fmt.own_clock(end, r.utc_offset, now)
            return f"{R.ended_text(r.state)} {fmt.clock(end, now)}" + (f" ({own})" if own else "")
        if r.state == CONTINUED:
            return f"continued by {r.continued_by}"
        if r.state == STALLED:
            return f"silent {R.short_duration(now - r.last_data)}" if r.last_data else "no data"
        if r.state == STARTING:
            return "waiting for data"
        return "ETA -"

    def reward_head(self, short: bool = False) -> Text:
        """Latest and best reward; the best leaves out the leading points HARL averages over
        short episodes only (the monitor's ``with_trusted_best``)."""
        rw = self.r.reward
        t = Text()
        if rw is None:
            t.append("reward -" if not short else "R -", style="dim")
            return t
        if short:
            t.append("R ", style="dim")
            t.append(fmt.value(rw.latest), style="bold")
            t.append(" best ", style="dim")
            t.append(fmt.value(rw.best))
        else:
            t.append("reward ", style="dim")
            t.append(fmt.value(rw.latest), style="bold")
            t.append("  best ", style="dim")
            t.append(fmt.value(rw.best))
            t.append(f" @{fmt.steps(rw.best_step)}", style="dim")
        return t

    def reward_spark(self, width: int) -> Text:
        rw = self.r.reward
        if rw is None or width < 3:
            return Text()
        view = self.r.series.get(rw.tag)
        if view is None or len(view) < 2:
            return Text()
        return Text(R.sparkline(view.values, width), style="cyan")

    def health(self, short: bool = False) -> Text:
        """Latest entropy, grad norm and value loss, each marked with the level the health rules
        gave it (``run.health``): the panel shows the verdict, it does not judge again."""
        r = self.r
        findings = r.health
        t = Text()
        # entropy per agent
        ents = {
            tag: s.value
            for tag, s in sorted(r.scalars.items())
            if tag.startswith("agent") and tag.endswith("/dist_entropy")
        }
        level = R.level_of(findings, ("entropy",))
        vals = "/".join(fmt.value(v) for v in ents.values()) if ents else "-"
        if short and len(ents) > 1:  # one agent: the one furthest outside its band
            vals = fmt.value(ents[R.furthest_outside(findings, ("entropy",), ents)])
        t.append("ent " if short else "entropy ", style="dim")
        t.append(vals)
        t.append_text(R.mark(level if ents else None))
        # actor grad norm, against the clip value
        gns = [
            s.value
            for tag, s in r.scalars.items()
            if tag.startswith("agent") and tag.endswith("/actor_grad_norm")
        ]
        clip = clip_value(r.config)
        level = R.level_of(findings, ("clipping", "grad_spike"))
        top = max(gns) if gns else None
        t.append("  gn " if short else "  grad ", style="dim")
        t.append(fmt.value(top) if top is not None else "-")
        if clip is not None:
            t.append(f"/{clip:g}", style="dim")
        t.append_text(R.mark(level if top is not None else None))
        # value loss
        vl = r.scalars.get("critic/value_loss")
        level = R.level_of(findings, ("value_loss", "value_loss_trend"))
        t.append("  vl " if short else "  vloss ", style="dim")
        t.append(fmt.value(vl.value) if vl is not None else "-")
        t.append_text(R.mark(level if vl is not None else None))
        return t

    def finding_line(self) -> Text:
        r = self.r
        bad = [f for f in r.health if f.level in ("warn", "bad")]
        t = Text()
        if r.errors and not any(f.level == "bad" for f in bad):
            # A data problem (corrupt event file, malformed config) beats a warning.
            t.append("! ", style="yellow")
            t.append(fmt.problem_first(r.errors[0], r.path), style="yellow")
            if len(r.errors) + len(bad) > 1:
                t.append(f" (+{len(r.errors) + len(bad) - 1})", style="dim")
        elif bad:
            f = bad[0]
            t.append_text(R.mark(f.level))
            t.append(" " + f.message, style=R.LEVEL_STYLE[f.level])
            if len(bad) > 1:
                t.append(f" (+{len(bad) - 1})", style="dim")
        elif r.health:
            t.append("✓ healthy", style="green")
        return t

    def _segment(self, sep: str) -> Text:
        """A chain segment (collectors.analysis.chains): ``resumed @30M 2/3``."""
        r = self.r
        if r.resumed_from is None:
            return Text()
        seg = f"{r.chain.index(r.id) + 1}/{len(r.chain)}" if r.id in r.chain else ""
        return Text(f"{sep}resumed @{fmt.steps(r.resumed_from.step)} {seg}".rstrip(), style="dim")

    def process(self, short: bool = False) -> Text:
        r = self.r
        p = r.process
        t = Text()
        if r.job is not None:  # a Slurm job: its state, node, time left first
            style = "yellow" if r.job.pending or r.job.failed else ""
            t.append(job_summary(r.job, self.now, short=short) + ("  " if p else ""), style=style)
            if p is None:
                return t
        if p is None and r.state == CONTINUED:
            t.append(f"continued by {r.continued_by}", style="dim")
            t.append_text(self._segment("  "))
            return t
        if p is None and r.state == CRASHED and r.log_last:  # why it crashed, from its log
            t.append("x ", style="bold red")
            t.append(fmt.printable(r.log_last), style="red")
            return t
        if p is None:
            if r.state in LIVE:
                why = "no process info" if not self.ctx.processes_known else "process not found"
                t.append(why, style="dim" if r.state != STALLED else "yellow")
            else:
                t.append(f"no process ({r.state})", style="dim")
            t.append_text(self._segment("  "))
            return t
        t.append("pid ", style="dim")
        t.append(str(p.pid), style="bold")
        cpu, rss, gpu = p.cpu_percent, p.rss, p.gpu_memory
        sep = " " if short else "  "
        t.append(f"{sep}cpu " if not short else " ", style="dim")
        t.append(f"{cpu:.0f}%" if isinstance(cpu, (int, float)) else "-")
        t.append(f"{sep}rss " if not short else " ", style="dim")
        t.append(fmt.nbytes(rss) if rss is not None else "-")
        if gpu is not None or not short:
            t.append(f"{sep}gpu " if not short else " g", style="dim")
            t.append(fmt.nbytes(gpu) if gpu is not None else "-")
        t.append_text(self._segment(sep))
        how = p.how_found
        if not short and how and not p.positive:
            t.append(f"  ({how}: not actionable)", style="yellow")
        return t

    def ckpt(self, width: int, short: bool = False) -> Text:
        r, now = self.r, self.now
        cps = r.checkpoints
        t = Text()
        t.append("ckpt ", style="dim")
        t.append(str(len(cps)))
        if not cps:
            return t
        last = cps[-1]
        if short:
            t.append(f" {fmt.clock(last.time, now)}", style="dim")
            return t
        tail = f" last {fmt.clock(last.time, now)} ({R.ago(last.time, now)})"
        room = width - len(t.plain) - len(tail) - 1
        if room >= 8:
            t.append(" ")
            marks = R.checkpoint_marks([c.step for c in cps], r.step, r.total_steps, room)
            t.append(marks, style="blue")
        t.append(tail, style="dim")
        return t

    # -- layouts
    def full(self) -> list[Text]:
        r, w = self.r, self.w
        meta = f"{r.algo} · {r.env}/{r.task} · {r.exp_name} · seed {r.seed if r.seed is not None else '?'}"
        l1 = Text(R.fit(meta, w), style="dim")
        segs = segments(r)
        if segs:  # a chain: its segments (the meta line is the same for all, in the detail)
            l1 = Text(R.fit(f"chain {len(segs)} segments: {segments_text(segs)}", w), style="dim")
        state = R.state_text(r.state)
        prog = self.progress_text()
        room = w - len(state.plain) - len(prog) - 2
        l2 = Text()
        l2.append_text(state)
        l2.append(" ")
        done, rest = R.bar(r.progress, max(room, 0))
        l2.append(done, style=R.STATE_STYLE.get(r.state, "").replace("bold ", ""))
        l2.append(rest, style="dim")
        l2.append(" " + prog)
        l3 = Text(R.fit(f"{self.speed()} · {self.timing()}", w))
        l4 = self.reward_head()
        room = w - len(l4.plain) - 2
        if room >= 4:
            l4.append("  ")
            l4.append_text(self.reward_spark(room))
        l5 = self.ckpt(w)
        l6 = self.health()
        l7 = self.finding_line()
        l8 = self.process()
        return [_cut(x, w) for x in (l1, l2, l3, l4, l5, l6, l7, l8)]

    def compact(self) -> list[Text]:
        r, w = self.r, self.w
        l1 = Text()
        l1.append_text(R.state_text(r.state))
        tail = f" {self.progress_text(short=True)} {self.speed()} {self.timing(short=True)}"
        room = w - len(l1.plain) - len(tail) - 1
        if room >= 4:
            done, rest = R.bar(r.progress, min(room, 24))
            l1.append(" ")
            l1.append(done, style=R.STATE_STYLE.get(r.state, "").replace("bold ", ""))
            l1.append(rest, style="dim")
        l1.append(tail)
        l2 = self.reward_head(short=True)
        ck = self.ckpt(w, short=True)
        room = w - len(l2.plain) - len(ck.plain) - 4
        if room >= 4:
            l2.append(" ")
            l2.append_text(self.reward_spark(min(room, 40)))
        l2.append("  ")
        l2.append_text(ck)
        l3 = self.health(short=True)
        if r.errors:  # no room for the finding line: say there is a problem, Enter tells more
            l3.append(
                f"  ! {len(r.errors)} error{'s' if len(r.errors) > 1 else ''}", style="yellow"
            )
        l3.append("  ")
        l3.append_text(self.process(short=True))
        return [_cut(x, w) for x in (l1, l2, l3)]


def _cut(t: Text, width: int) -> Text:
    if len(t.plain) > width:
        t = t.copy()
        t.truncate(width - 1)
        t.append("…")
    return t


def panel_title(name: str, label: str, room: int) -> str:
    """The run's name (its alias, or experiment, seed and start time) and then what tells it from
    its siblings (``cuboid s1 11-19 14:02 · lr=5e-4 max_grad_norm=10``): the name first, the
    label shortened to the room left (``room`` <= 8: not shortened, the border cuts it)."""
    name, label = fmt.printable(name), fmt.printable(label)
    if not label or label == name:
        return R.abbreviate(name, room) if room > 8 else name
    if room <= 8:
        return f"{name} · {label}"
    left = room - len(name) - 3
    if left < 6:  # the name alone fills it
        return R.fit(name, room)
    return f"{name} · {R.abbreviate(label, left)}"


def label_for(run: RunSnapshot, labels: Mapping[str, str]) -> str:
    return labels.get(run.path) or run.name
