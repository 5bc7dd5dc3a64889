"""The main screen: header, system strip, the grid of run panels, the filter bar and the footer."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.css.query import NoMatches
from textual.reactive import Reactive
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from collectors.analysis.chains import chain_heads, head_of, segments
from collectors.analysis.selection import filter_runs
from collectors.fmt import printable
from collectors.model.host import HostStats
from collectors.model.run import RunSnapshot, Snapshot
from tui.widgets.footer import QuietFooter
from tui.widgets.run_panel import COMPACT_LINES, FULL_LINES, PanelContext, RunPanel, label_for
from tui.widgets.run_table import (
    COLUMNS,
    GROUP,
    GROUPINGS,
    RowCache,
    RunTable,
    column_names,
    column_widths,
    fit_columns,
    health_cell,
    table_rows,
)
from tui.widgets.system_strip import HeaderBar, SystemStrip

LAYOUTS = ("auto", "compact", "full")
VIEWS = ("auto", "table", "panels")  # auto: the table when the panels do not fit
# Columns sorted high to low first (a second pick of the column turns the order round).
ASCENDING = ("state", "name", "experiment", "label", "eta", "pid")
FULL_MIN_WIDTH = 58  # a full panel needs this many columns
COMPACT_MIN_WIDTH = 62
COMPACT_BELOW_HEIGHT = 32  # terminals shorter than this get compact panels
CLEAR_MARKS_WITHIN = 3.0  # seconds: a second Esc this soon after the first clears the marks


def grid_shape(width: int, height: int, n: int, layout: str) -> tuple[bool, int]:
    """(compact, columns) for a terminal of ``width`` x ``height`` showing ``n`` panels."""
    if layout == "compact":
        compact = True
    elif layout == "full":
        compact = False
    else:
        compact = height < COMPACT_BELOW_HEIGHT or width < FULL_MIN_WIDTH + 4
    minw = COMPACT_MIN_WIDTH if compact else FULL_MIN_WIDTH
    cols = max(1, min(width // minw, max(n, 1)))
    return compact, cols


class RunGrid(VerticalScroll, inherit_bindings=False):
    """The panels' grid. It has none of a scroll view's keys: Up, Down, PgUp, PgDn, Home and End
    are the screen's and move the selection (the view follows it), never the view alone."""


class SortModal(ModalScreen[str | None]):
    """F6: the column to sort the table by (htop's sort chooser); Enter picks, Esc leaves."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]
    DEFAULT_CSS = """
    SortModal { align: center middle; }
    SortModal OptionList { width: 40; height: auto; max-height: 90%; border: round $accent; }
    """

    def __init__(self, columns: Sequence[str], current: str, reverse: bool) -> None:
        super().__init__()
        self.columns = [c for c in columns if c != "trend"]
        self.current = current
        self.reverse = reverse

    def compose(self) -> ComposeResult:
        options = []
        for c in self.columns:
            now = ""
            if c == self.current:
                now = " (now, high to low)" if self.reverse else " (now, low to high)"
            options.append(Option(f"{COLUMNS[c].title}{now}", id=c))
        box = OptionList(*options, id="sort-columns")
        box.border_title = "Sort by"
        yield box

    def on_mount(self) -> None:
        box = self.query_one(OptionList)
        if self.current in self.columns:
            box.highlighted = self.columns.index(self.current)
        box.focus()

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class MainScreen(Screen[None]):
    # Textual repaints the whole screen when its focus moves (Screen.focused repaints): at
    # 200x50 that is most of a selection step's cost (issue 16). The widgets whose look depends
    # on the focus (the panel left and the panel reached: :focus) restyle and repaint themselves.
    focused: Reactive[Widget | None] = Reactive(None, repaint=False)

    BINDINGS = [
        Binding("c", "compare", "Compare", tooltip="Compare the marked runs"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("escape", "clear", "Clear", show=False),
        Binding("v", "view", "View", show=False, tooltip="Table or panels"),
        Binding("V", "layout", "Layout", show=False, tooltip="Panel layout: auto, compact, full"),
        Binding("f6", "sort_menu", "Sort", show=False, tooltip="Sort the table by a column"),
        Binding("less_than_sign", "sort(-1)", "Sort by the previous column", show=False),
        Binding("greater_than_sign", "sort(1)", "Sort by the next column", show=False),
        Binding(
            "o,f5",
            "group",
            "Group",
            show=False,
            key_display="o",
            tooltip="Group: none, experiment, seed group",
        ),
        Binding("a", "mark_all", "Mark all", show=False, tooltip="Mark every run on screen"),
        Binding("home,g", "first", "First", show=False),
        Binding("end,G", "last", "Last", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("up,k", "move(0, -1)", "Up", show=False),
        Binding("down,j", "move(0, 1)", "Down", show=False),
        Binding("left", "move(-1, 0)", "Left", show=False),
        Binding("right", "move(1, 0)", "Right", show=False),
    ]

    def __init__(self, clock: Any = time.time, read_only: bool = False) -> None:
        super().__init__(id="main")
        self.clock = clock
        self.read_only = read_only
        self.snapshot: Snapshot | None = None
        self.labels: Mapping[str, str] = {}
        self._panels_early = False  # panels were due before the grid was mounted (see below)
        self._early: tuple[Snapshot, Mapping[str, str]] | None = None  # before it was composed
        self.thresholds: Mapping[str, float] = {}
        self.processes_known = False
        self.filter_text = ""
        self.marked: list[str] = []  # run ids, in marking order
        self.selected_id: str | None = None
        self.layout_mode = "auto"
        self.compact = False
        self.columns = 1
        self.shown: list[RunSnapshot] = []
        self.paused = False
        self._sel_key: tuple | None = None
        self._pending: str | None = None  # a selection whose focus has not arrived yet
        self.view_mode = "auto"
        self.table_view = False  # the table is showing (else the panels)
        self.table_columns: tuple[str, ...] = column_names(())
        self._rows = RowCache()  # the table's rows of runs that did not change
        self.sort_column = "state"  # running first
        self.sort_reverse = False
        self.grouping = "none"
        self.opened: set[str] = set()  # group rows opened (seed groups) or closed (experiments)
        self._esc_at = -1e9  # when Esc last offered to clear the marks (monotonic)

    def compose(self) -> ComposeResult:
        yield HeaderBar(clock=self.clock, id="header")
        yield SystemStrip(id="strip")
        with RunGrid(id="grid"):
            yield Static("Looking for runs…", id="empty")
        table = RunTable(id="table")
        table.display = self.table_view
        table.set_columns(self.table_columns, self.sort_column, self.sort_reverse)
        yield table
        yield Input(placeholder="filter: words in name, label, state, id or path", id="filter")
        yield QuietFooter()

    def on_mount(self) -> None:
        self.query_one("#grid").can_focus = False  # the panels take the focus; it scrolls to them
        self.query_one("#filter").display = False
        self.query_one(HeaderBar).set_state(read_only=self.read_only)
        self.set_interval(1.0, self.query_one(HeaderBar).tick)
        self._reshape()
        if self._early is not None:
            self.apply(*self._early)

    def on_resize(self) -> None:
        self._reshape()

    # -- data
    def apply(self, snap: Snapshot, labels: Mapping[str, str]) -> None:
        if not self._live():
            # Not composed yet (the app's first snapshot, handed to it at start, may come
            # before this screen is): shown from on_mount. At exit it is never shown.
            self._early = (snap, labels)
            return
        self._early = None
        self.snapshot = snap
        self.labels = labels
        runs = self._shown_runs(snap, labels)
        self.shown = runs
        header = self.query_one(HeaderBar)
        # the runs on screen, a chain's earlier segments counted in its panel (not "1/3 runs")
        header.set_snapshot(snap, sum(len(segments(r)) or 1 for r in runs))
        header.set_state(notes="; ".join(snap.errors[:1]), marked=len(self.marked))
        self.query_one(SystemStrip).set_data(gpus=snap.gpus, disks=snap.disks, hosts=snap.hosts)
        self._sync(runs, snap)

    def _shown_runs(self, snap: Snapshot, labels: Mapping[str, str]) -> list[RunSnapshot]:
        """The panels' runs that pass the filter: a chain is one panel (its latest segment), shown
        when the filter matches any of its segments (an earlier segment's id finds it)."""
        heads = chain_heads(snap.runs)
        matched = filter_runs(snap.runs, self.filter_text, labels)
        if len(matched) == len(snap.runs):
            return heads
        wanted = {head_of(r, heads).id for r in matched}
        return [r for r in heads if r.id in wanted]

    def _label(self, run: RunSnapshot, by_id: Mapping[str, RunSnapshot]) -> str:
        """A run's title; a chain's is its first segment's with the number of segments."""
        if len(run.chain) > 1 and run.chain[-1] == run.id and run.resumed_from is not None:
            first = by_id.get(run.chain[0], run)
            return f"{label_for(first, self.labels)} · chain of {len(run.chain)}"
        return label_for(run, self.labels)

    def _run_name(self, run: RunSnapshot, by_id: Mapping[str, RunSnapshot]) -> str:
        """A run's name in the table (its alias, or experiment, seed and start); the table has
        a column of its own for the label. A chain's is its first segment's."""
        if len(run.chain) > 1 and run.chain[-1] == run.id and run.resumed_from is not None:
            first = by_id.get(run.chain[0], run)
            return f"{first.name} · chain of {len(run.chain)}"
        return run.name

    def _live(self) -> bool:
        """Composed and not being torn down (a late message at exit must not fail)."""
        try:
            self.query_one(HeaderBar)
            self.query_one(SystemStrip)
        except NoMatches:
            return False
        return self.is_attached

    def set_host(self, host: HostStats | None) -> None:
        if self._live():
            self.query_one(SystemStrip).set_data(host=host)

    def set_problem(self, text: str) -> None:
        if self._live():
            self.query_one(HeaderBar).set_state(problem=text)

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        self.set_class(paused, "-paused")
        self.query_one(HeaderBar).set_state(paused=paused)

    def _panel_context(self, snap: Snapshot) -> PanelContext:
        return PanelContext(snap.time, self.thresholds, self.processes_known)

    # -- views: the table when the panels do not fit (or as chosen with v), else the panels
    def _wants_table(self, n: int) -> bool:
        """Whether ``n`` runs are shown as the table: as chosen, or (auto) when their panels
        would not fit on the screen."""
        if n == 0 or self.view_mode == "panels":
            return False
        if self.view_mode == "table":
            return True
        w, h = self.size.width, self.size.height
        compact, cols = grid_shape(w, h, n, self.layout_mode)
        per = (COMPACT_LINES if compact else FULL_LINES) + 2  # the border
        strip = 1 if h < 22 else 2 if compact else 3
        return math.ceil(n / cols) * per > h - 2 - strip  # the header and the footer

    def _switch_view(self, table_view: bool) -> None:
        self.table_view = table_view
        table = self.query_one(RunTable)
        self.query_one("#grid").display = not table_view
        table.display = table_view
        if not table_view and self.selected_id is not None and self.selected_id.startswith(GROUP):
            row = table.rows_of.get(self.selected_id)
            self.selected_id = row.runs[0] if row is not None and row.runs else None
        # Hiding the table moves Textual's focus to some panel: only the selected one counts.
        self._pending = None if table_view else self.selected_id

    def _sync(self, runs: Sequence[RunSnapshot], snap: Snapshot) -> None:
        # the runs the filter lets through decide: filtered down to a few, they get panels
        table_view = self._wants_table(len(runs))
        if table_view != self.table_view:
            self._switch_view(table_view)
        if table_view:
            self._sync_table(runs, snap)
        else:
            self._sync_panels(runs, snap)

    def _sync_table(self, runs: Sequence[RunSnapshot], snap: Snapshot) -> None:
        """The table's rows for the runs shown (sorted, grouped), the cursor on the selection."""
        table = self.query_one(RunTable)
        columns, widths, labels = self._table_layout(runs, snap)
        table.set_columns(columns, self.sort_column, self.sort_reverse, widths)
        rows = table_rows(
            runs,
            labels,
            columns,
            sort=self.sort_column,
            reverse=self.sort_reverse,
            group=self.grouping,
            opened=frozenset(self.opened),
            now=snap.time,
            label_width=widths[columns.index("label")] if "label" in columns else 18,
            cache=self._rows,
        )
        self._rows.keep({r.id for r in runs})
        keys = [r.key for r in rows]
        if self.selected_id not in keys:  # in a closed group: the group; gone: the first row
            inside = next((r.key for r in rows if self.selected_id in r.runs), None)
            self.selected_id = inside or (keys[0] if keys else None)
        table.show(rows, self.marked, self.selected_id)
        if not table.has_focus and not isinstance(self.focused, Input):
            table.focus()
        self._bindings_for_selection()

    def _panels_after_mount(self) -> None:
        self._panels_early = False
        self._resync()

    def _resync(self) -> None:
        if self.snapshot is not None:
            self._sync(self.shown, self.snapshot)

    def _sync_panels(self, runs: Sequence[RunSnapshot], snap: Snapshot) -> None:
        """Panels for every run of the snapshot (in its order); the filter only hides them."""
        grid = self.query_one("#grid", VerticalScroll)
        if not grid.is_mounted:
            # The app's first snapshot can come before this screen is mounted (its header and
            # the table take it then, for the first paint); panels mounted into a grid not
            # mounted itself would be lost: they come once it is (its own queue runs the call
            # after its mount).
            if not self._panels_early:
                self._panels_early = True
                grid.call_later(self._panels_after_mount)
            return
        empty = self.query_one("#empty", Static)
        panels = {p.run_id: p for p in grid.query(RunPanel) if not p.removing}
        everyone = chain_heads(snap.runs)  # a chain's earlier segments have no panel of their own
        by_id = {r.id: r for r in snap.runs}
        wanted = [r.id for r in everyone]
        visible = {r.id for r in runs}
        ctx = self._panel_context(snap)
        compact, cols = grid_shape(self.size.width, self.size.height, len(runs), self.layout_mode)
        reshaped = (compact, cols) != (self.compact, self.columns)
        self.compact, self.columns = compact, cols
        focused_id = self.selected_id
        gone = set(panels) - set(wanted)
        if focused_id in gone:  # its directory was deleted: select its neighbour instead
            before = [p.run_id for p in grid.query(RunPanel) if not p.removing]
            i = before.index(focused_id) if focused_id in before else 0
            rest = [rid for rid in before[i + 1 :] + before[:i][::-1] if rid in visible]
            focused_id = rest[0] if rest else None
            self.selected_id = focused_id
            if focused_id is not None:  # at once (focus() is deferred): before the removal
                self.set_focus(panels[focused_id])
            else:  # no run left (the tree was deleted): the screen takes the keys (q, ?)
                self.set_focus(None)
        removals = []
        for rid in gone:
            p = panels.pop(rid)
            p.removing = True
            removals.append(p.remove())
        if removals and self.selected_id is not None:
            # Textual moves the focus off a removed widget by its own rule once the removal is
            # done; the neighbour chosen above takes it back then.
            self.call_later(self._focus_after, removals, self.selected_id)
        to_mount: list[tuple[RunPanel, RunPanel | None]] = []
        following: RunPanel | None = None
        for r in reversed(everyone):  # backwards: a new panel goes before the next one
            p = panels.get(r.id)
            label = self._label(r, by_id)
            if p is None:
                p = RunPanel(r, label, ctx, compact)
                p.marked = r.id in self.marked
                to_mount.append((p, following))
            elif r.id in visible:
                p.update_run(r, label, ctx, compact, r.id in self.marked)
            # else: hidden by the filter; brought up to date when shown again
            if p.display != (r.id in visible):
                p.display = r.id in visible
            following = p
        for p, before in to_mount:  # from the last run backwards: ``before`` is in place
            if before is None:
                grid.mount(p)
            else:
                grid.mount(p, before=before)
        if to_mount or reshaped:
            self._apply_shape()
        order = [p for p in grid.query(RunPanel) if not p.removing]
        if [p.run_id for p in order] != wanted:  # a run moved in the order (rare)
            by_id = {p.run_id: p for p in order}
            for i in range(1, len(wanted)):
                grid.move_child(by_id[wanted[i]], after=by_id[wanted[i - 1]])
        empty.display = not runs
        if not runs:
            # Text, not markup: a filter or a root may hold '[' (file names are not trusted)
            if self.filter_text and snap.runs:
                empty.update(
                    Text(
                        f"No run matches the filter '{printable(self.filter_text)}' "
                        "(Esc clears it)."
                    )
                )
            else:
                roots = ", ".join(snap.roots) or "."
                problems = "\n".join(f"! {e}" for e in snap.errors)
                empty.update(
                    Text(
                        printable(
                            "No HARL runs (seed-NNNNN-YYYY-MM-DD-HH-MM-SS directories) below "
                            f"{roots}.\n{problems}",
                            keep_newlines=True,
                        )
                    )
                )
        if to_mount:
            self.call_after_refresh(self._restore_focus, focused_id)
        elif self.focused is None or not isinstance(self.focused, RunPanel | Input):
            self._restore_focus(focused_id)
        # The selected run's process may have come or gone: the footer's actions follow it.
        self._bindings_for_selection()

    async def _focus_after(self, removals: list[Any], run_id: str) -> None:
        for aw in removals:
            await aw
        if self.selected_id == run_id:
            self._restore_focus(run_id)

    def _focused_id(self) -> str | None:
        f = self.focused
        return f.run_id if isinstance(f, RunPanel) and not f.removing else None

    def _restore_focus(self, run_id: str | None) -> None:
        if self.table_view:
            if not isinstance(self.focused, Input):
                self.query_one(RunTable).focus()
            return
        panels = self._panels()
        if not panels:
            f = self.focused
            if isinstance(f, RunPanel) and (f.removing or not f.is_attached):
                self.set_focus(None)  # never leave the keys with a panel that is gone
            return
        if isinstance(self.focused, Input):
            return
        target = next((p for p in panels if p.run_id == run_id), None) or panels[0]
        if self.focused is not target:
            target.focus(scroll_visible=True)

    def _reshape(self) -> None:
        n = len(self.shown)
        compact, cols = grid_shape(self.size.width, self.size.height, n, self.layout_mode)
        changed = (compact, cols) != (self.compact, self.columns)
        self.compact, self.columns = compact, cols
        footer = self.query_one(QuietFooter)
        footer.compact = self.size.width < 140
        footer.show_command_palette = self.size.width >= 100
        self.query_one(SystemStrip).set_max_lines(
            1 if self.size.height < 22 else 2 if compact else 3
        )
        if changed and self.snapshot is not None:
            ctx = self._panel_context(self.snapshot)
            for p in self._panels():
                p.update_run(p.run, p.label, ctx, compact, p.marked)
        self._apply_shape()
        table = self.query_one(RunTable)
        if self.table_view and self.snapshot is not None:  # wider or narrower: refit the columns
            columns, widths, _ = self._table_layout(self.shown, self.snapshot)
            if (columns, widths) != (table.columns_shown, table.widths):
                self._sync_table(self.shown, self.snapshot)
        if self.snapshot is not None and self._wants_table(len(self.shown)) != self.table_view:
            self._resync()  # the panels fit now (or no longer do)

    def _apply_shape(self) -> None:
        grid = self.query_one("#grid", VerticalScroll)
        grid.styles.grid_size_columns = self.columns
        grid.set_class(self.compact, "-compact")
        self.set_class(self.compact, "-compact")

    # -- selection
    def selected_run(self) -> RunSnapshot | None:
        if self.selected_id is None:
            return None
        return next((r for r in self.shown if r.id == self.selected_id), None)

    @on(RunPanel.Focused)
    def _focused(self, msg: RunPanel.Focused) -> None:
        # A late message from a panel that had the focus only for a moment (Textual's pick
        # after a removal) must not move the selection away from the panel that has it now.
        if self._focused_id() not in (None, msg.run_id):
            return
        if self._pending is not None:  # keys moved the selection: only its own focus counts
            if msg.run_id == self._pending:
                self._pending = None
            return
        if msg.run_id != self.selected_id:
            self.selected_id = msg.run_id
            self._bindings_for_selection()

    @on(RunPanel.Open)
    def _open(self, msg: RunPanel.Open) -> None:
        self.app.open_detail(msg.run_id)  # type: ignore[attr-defined]

    @on(RunPanel.Mark)
    def _mark(self, msg: RunPanel.Mark) -> None:
        self.toggle_mark(msg.run_id)

    def toggle_mark(self, run_id: str) -> None:
        if run_id in self.marked:
            self.marked.remove(run_id)
        else:
            self.marked.append(run_id)
        self._refresh_marks()

    def _refresh_marks(self) -> None:
        if self.table_view:
            self._resync()
        elif self.snapshot is not None:
            ctx = self._panel_context(self.snapshot)
            for p in self._panels():
                p.update_run(p.run, p.label, ctx, self.compact, p.run_id in self.marked)
        self.query_one(HeaderBar).set_state(marked=len(self.marked))
        self.app.refresh_bindings()

    def marked_runs(self) -> list[RunSnapshot]:
        if self.snapshot is None:
            return []
        by_id = {r.id: r for r in self.snapshot.runs}
        return [by_id[i] for i in self.marked if i in by_id]

    def focus_run(self, run_id: str) -> bool:
        if self.snapshot is not None:  # an earlier segment of a chain: the chain's panel
            run = next((r for r in self.snapshot.runs if r.id == run_id), None)
            if run is not None:
                run_id = head_of(run, chain_heads(self.snapshot.runs)).id
        if self.filter_text and not any(r.id == run_id for r in self.shown):
            self._set_filter("")
        if self.table_view:
            self._open_group_of(run_id)
            self._resync()
            self.select(run_id)
            return self.selected_id == run_id
        panel = next((p for p in self._panels() if p.run_id == run_id), None)
        if panel is None:
            self.selected_id = run_id
            return False
        self.select(run_id)
        return True

    def _open_group_of(self, run_id: str) -> None:
        """Open the group a run is folded into, so that it has a row of its own."""
        for key, row in self.query_one(RunTable).rows_of.items():
            if key.startswith(GROUP) and run_id in row.runs:
                if key.startswith(f"{GROUP}exp:"):
                    self.opened.discard(key)  # experiments are open unless closed
                else:
                    self.opened.add(key)

    # -- keys
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "compare":  # offered once two runs are marked
            return len(self.marked_runs()) >= 2
        return True

    def key_c(self) -> None:
        """``c`` while compare is greyed out (fewer than two runs marked): say what to do."""
        self.action_compare()

    def action_compare(self) -> None:
        runs = self.marked_runs()
        if len(runs) < 2:
            self.notify("Mark two or more runs with Space first.", severity="warning")
            return
        self.app.open_compare(runs)  # type: ignore[attr-defined]

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.value = self.filter_text
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._set_filter(event.value.strip())

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = False
        self.call_after_refresh(self._restore_focus, self.selected_id)

    def _set_filter(self, text: str) -> None:
        if text == self.filter_text:
            return
        self.filter_text = text
        self.query_one(HeaderBar).set_state(filter_text=text)
        if self.snapshot is not None:
            self.apply(self.snapshot, self.labels)

    def action_clear(self) -> None:
        box = self.query_one("#filter", Input)
        if box.display or self.filter_text:
            box.value = ""
            box.display = False
            self._set_filter("")
            self.call_after_refresh(self._restore_focus, self.selected_id)
        elif self.marked:
            # Marks are work (a compare being set up): the first Esc says what a second does.
            n = len(self.marked)
            now = time.monotonic()
            if now - self._esc_at > CLEAR_MARKS_WITHIN:
                self._esc_at = now
                s = "s" if n > 1 else ""
                self.notify(f"Esc again clears the {n} mark{s}", timeout=CLEAR_MARKS_WITHIN)
                return
            self._esc_at = -1e9
            self.marked.clear()
            self._refresh_marks()
            self.notify(f"cleared {n} mark{'s' if n > 1 else ''}", timeout=2)

    def action_view(self) -> None:
        """v: the table or the panels (the choice stays until v again)."""
        self.view_mode = "panels" if self.table_view else "table"
        self.notify(f"view: {self.view_mode}", timeout=2)
        self._resync()
        if not self.table_view:
            self.call_after_refresh(self._restore_focus, self.selected_id)

    def _fitted_columns(self) -> tuple[str, ...]:
        """The configured columns that fit the terminal's width (the others give way)."""
        return fit_columns(self.table_columns, self.size.width or 200)

    def _table_layout(
        self, runs: Sequence[RunSnapshot], snap: Snapshot
    ) -> tuple[tuple[str, ...], tuple[int, ...], list[str]]:
        """The table's columns for this width, their widths (a wide terminal's spare cells go to
        the labels and names) and the runs' names."""
        by_id = {r.id: r for r in snap.runs}
        labels = [self._run_name(r, by_id) for r in runs]
        columns = self._fitted_columns()
        content = {
            "label": max((len(printable(r.label)) for r in runs), default=0),
            # + a marked run's "* " and a grouped run's "  └ ", else the name is cut short
            "name": max((len(printable(lab)) for lab in labels), default=0)
            + (2 if self.marked else 0)
            + (4 if self.grouping != "none" else 0),
            # +2: a group's counts (its runs' findings summed) may have a digit more each
            "health": max((len(health_cell(r).plain) for r in runs), default=0) + 2,
        }
        return columns, column_widths(columns, self.size.width or 200, content), labels

    def _sortable(self) -> list[str]:
        return [c for c in self.table_columns if c != "trend"]

    def action_sort(self, step: int) -> None:
        """``<``/``>``: sort by the previous / next column (htop's keys)."""
        cols = self._sortable()
        if not cols:
            return
        i = cols.index(self.sort_column) if self.sort_column in cols else -1
        col = cols[(i + step) % len(cols)]
        self._set_sort(col, col not in ASCENDING)

    def action_sort_menu(self) -> None:
        """F6: choose the column; the current one again turns the order round."""

        def picked(col: str | None) -> None:
            if col is None:
                return
            if col == self.sort_column:
                self._set_sort(col, not self.sort_reverse)
            else:
                self._set_sort(col, col not in ASCENDING)

        self.app.push_screen(
            SortModal(self.table_columns, self.sort_column, self.sort_reverse), picked
        )

    def _set_sort(self, column: str, reverse: bool) -> None:
        self.sort_column, self.sort_reverse = column, reverse
        self.query_one(RunTable).set_columns(self._fitted_columns(), column, reverse)
        order = "high to low" if reverse else "low to high"
        if column == "state":
            order = "high to low: finished first" if reverse else "running first"
        self.notify(f"sorted by {COLUMNS[column].title}, {order}", timeout=2)
        if not self.table_view:
            self.view_mode = "table"  # the order is the table's
        self._resync()

    def action_group(self) -> None:
        """e: group the table by nothing, by experiment, or by seed group."""
        self.grouping = GROUPINGS[(GROUPINGS.index(self.grouping) + 1) % len(GROUPINGS)]
        what = {
            "none": "no grouping",
            "experiment": "grouped by experiment (Enter folds one)",
            "seed": "grouped by seed group: runs that differ only by seed (Enter opens one)",
        }[self.grouping]
        self.notify(what, timeout=3)
        if not self.table_view:
            self.view_mode = "table"
        self._resync()

    def action_mark_all(self) -> None:
        """a: mark every run on screen (the filter's), for compare."""
        ids = [r.id for r in self.shown]
        new = [i for i in ids if i not in self.marked]
        self.marked.extend(new)
        if new:
            self._refresh_marks()
        n = len(self.marked)
        self.notify(f"{n} run{'s' if n != 1 else ''} marked (c compares them)", timeout=3)

    @on(RunTable.Open)
    def _table_open(self, msg: RunTable.Open) -> None:
        if msg.key.startswith(GROUP):
            self.opened.symmetric_difference_update({msg.key})
            self._resync()
        else:
            self.app.open_detail(msg.key)  # type: ignore[attr-defined]

    @on(RunTable.Mark)
    def _table_mark(self, msg: RunTable.Mark) -> None:
        row = self.query_one(RunTable).rows_of.get(msg.key)
        if row is None:
            return
        if all(r in self.marked for r in row.runs):
            self.marked = [m for m in self.marked if m not in row.runs]
        else:
            self.marked.extend(r for r in row.runs if r not in self.marked)
        self._refresh_marks()

    @on(RunTable.Picked)
    def _table_picked(self, msg: RunTable.Picked) -> None:
        self.select(msg.key)

    def action_layout(self) -> None:
        self.layout_mode = LAYOUTS[(LAYOUTS.index(self.layout_mode) + 1) % len(LAYOUTS)]
        self.notify(f"panel layout: {self.layout_mode}", timeout=2)
        self._reshape()

    def _panels(self) -> list[RunPanel]:
        """The panels on screen (not hidden by the filter), in order."""
        return [p for p in self.query(RunPanel) if p.display and not p.removing]

    # The selection moves by run id, at once: the focus follows later (Textual defers it), so
    # keys typed ahead or repeated each step from where the previous one left the selection.
    def _order(self) -> list[str]:
        """The runs on screen, in the order the view shows them."""
        if self.table_view:
            return list(self.query_one(RunTable).keys)
        return [p.run_id for p in self._panels()]

    def select(self, run_id: str) -> None:
        """Make ``run_id`` the selected run (or table row) and scroll it into view."""
        if self.table_view:
            table = self.query_one(RunTable)
            if run_id not in table.rows_of:
                return
            changed = run_id != self.selected_id
            self.selected_id = run_id
            table.put_cursor(run_id)
            if changed:
                self._bindings_for_selection()
            return
        panel = next((p for p in self._panels() if p.run_id == run_id), None)
        if panel is None:
            return
        changed = run_id != self.selected_id
        self.selected_id = run_id
        # Textual moves the focus after this handler: while an earlier key's focus is still on
        # its way (``_pending``), the panel that has the focus now must be asked again, or that
        # late focus would take the selection back.
        if self.focused is not panel or self._pending is not None:
            self._pending = run_id
            panel.focus(scroll_visible=True)
            self.app.call_later(self._focus_landed, run_id)  # after the focus (one queue)
        else:
            self._pending = None
            panel.scroll_visible()
        if changed:
            self._bindings_for_selection()

    def _focus_landed(self, run_id: str) -> None:
        """The focus asked for ``run_id`` is set: nothing is on its way any more (a focus that
        changed nothing sends no message to clear ``_pending``)."""
        if self._pending == run_id and self._focused_id() == run_id:
            self._pending = None

    def _bindings_for_selection(self) -> None:
        """The footer follows the selected run's actions (refreshed only if they change)."""
        sel = self.selected_run()
        key = (sel.id, sel.process is None, sel.state) if sel is not None else None
        if key != self._sel_key:
            self._sel_key = key
            self.app.refresh_bindings()

    def _step(self, delta: int) -> None:
        order = self._order()
        if not order:
            return
        if self.selected_id not in order:
            self.select(order[0])
            return
        i = order.index(self.selected_id) + delta
        self.select(order[max(0, min(i, len(order) - 1))])

    def _page_rows(self) -> int:
        """How many rows of panels (or of the table) one screenful of the grid shows."""
        if self.table_view:
            return max(1, self.query_one(RunTable).size.height - 2)  # the column titles
        height = self.query_one("#grid").size.height or self.size.height
        per = (COMPACT_LINES if self.compact else FULL_LINES) + 2  # the border
        return max(1, height // per)

    def action_move(self, dx: int, dy: int) -> None:
        if self.table_view:
            if dx:  # the table's wide columns: Left and Right scroll them
                self.query_one(RunTable).scroll_relative(x=8 * dx, animate=False)
            else:
                self._step(dy)
            return
        order = self._order()
        if not order:
            return
        if self.selected_id not in order:
            self.select(order[0])
            return
        i = order.index(self.selected_id) + dx + dy * self.columns
        if 0 <= i < len(order):
            self.select(order[i])

    def action_page(self, direction: int) -> None:
        per_row = 1 if self.table_view else self.columns
        self._step(direction * self._page_rows() * per_row)

    def action_first(self) -> None:
        order = self._order()
        if order:
            self.select(order[0])

    def action_last(self) -> None:
        order = self._order()
        if order:
            self.select(order[-1])
