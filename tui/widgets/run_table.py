"""The runs as a table, one line a run: the main screen's view when the panels do not fit.

Built on Textual's :class:`~textual.widgets.DataTable` (it draws only the rows on screen, and a
cursor move redraws two lines). The screen owns the keys and the selection; the table shows the
rows it is given (:func:`table_rows`) and puts its cursor on the selected one. A new snapshot
changes only the cells that differ while the rows stay in the same order; a new order (a sort,
a group opened, a run come or gone) rebuilds the rows.

Rows are runs (keyed by run id), or the header of a group (keyed ``group:...``): an experiment, or
a seed group (runs whose configs differ only by the seed, collectors.analysis.seeds) shown as
one line of means with the spread between its seeds (``-14.2 ±0.8``), opened with Enter.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.cache import LRUCache
from textual.message import Message
from textual.widgets import DataTable

from collectors import fmt
from collectors.analysis.seeds import seed_groups
from collectors.model import DEFAULT_TABLE_COLUMNS, TABLE_COLUMNS
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

GROUP = "group:"  # the key of a group's header row
# Running first (htop's habit of putting what is live on top), what ended badly next.
STATE_ORDER = {RUNNING: 0, STARTING: 1, STALLED: 2, CRASHED: 3, STOPPED: 4, FINISHED: 5}
STATE_ORDER[CONTINUED] = 6
GROUPINGS = ("none", "experiment", "seed")


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    width: int
    cell: Callable[[RunSnapshot, str, float], Text | str]
    key: Callable[[RunSnapshot, str], Any]  # the sort key (None sorts last)


def _progress(r: RunSnapshot, _label: str, _now: float) -> Text:
    done, rest = R.bar(r.progress, 6)
    t = Text(done, style=R.STATE_STYLE.get(r.state, "").replace("bold ", ""))
    t.append(rest, style="dim")
    t.append(f" {100 * r.progress:3.0f}%" if r.progress is not None else "    -")
    return t


def _steps(r: RunSnapshot, _label: str, _now: float) -> str:
    done = R.steps_of(r.step)
    return f"{done}/{fmt.steps(r.total_steps)}" if r.total_steps else done


def _speed(r: RunSnapshot, _label: str, _now: float) -> str:
    return f"{fmt.steps(r.steps_per_hour)}/h" if r.steps_per_hour else "-"


def _eta(r: RunSnapshot, _label: str, now: float) -> str:
    if r.eta is not None and r.state in (RUNNING, STARTING, STALLED):
        return R.short_duration(r.eta - now)
    return "-"


def _reward(r: RunSnapshot, _label: str, _now: float) -> Text:
    return Text(fmt.value(r.reward.latest), style="bold") if r.reward else Text("-", style="dim")


def _best(r: RunSnapshot, _label: str, _now: float) -> str:
    return fmt.value(r.reward.best) if r.reward else "-"


def _trend(r: RunSnapshot, _label: str, _now: float) -> Text:
    view = r.series.get(r.reward.tag) if r.reward else None
    if view is None or len(view) < 2:
        return Text("")
    return Text(R.sparkline(view.values, 10), style="cyan")


def _health(r: RunSnapshot, _label: str, _now: float) -> Text:
    return health_cell(r)


def health_cell(r: RunSnapshot) -> Text:
    """The worst level of the run's findings, counted (``1 bad, 2 warn``), else ✓ or errors."""
    worst = next((lv for lv in ("bad", "warn") if any(f.level == lv for f in r.health)), None)
    if worst is None and r.errors:
        return Text(f"! {len(r.errors)} err", style="yellow")
    if worst is None:
        return Text("✓" if r.health else "-", style="green" if r.health else "dim")
    return Text(R.count_levels(r.health), style=R.LEVEL_STYLE[worst])


def _pid(r: RunSnapshot, _label: str, _now: float) -> str:
    return str(r.process.pid) if r.process is not None else "-"


def _gpu(r: RunSnapshot, _label: str, _now: float) -> str:
    gpu = r.process.gpu_memory if r.process is not None else None
    return fmt.nbytes(gpu) if gpu is not None else "-"


def _state(r: RunSnapshot, _label: str, _now: float) -> Text:
    return R.state_text(r.state)


def _num(x: float | None) -> float | None:
    return x if isinstance(x, (int, float)) and math.isfinite(x) else None


def label_cell(label: str, width: int) -> str:
    """A config label in ``width`` cells, abbreviated word by word (``mgn=0.5``, not a cut
    ``max_grad_n``)."""
    return fmt.abbreviate(fmt.printable(label), width)


_DIGITS = re.compile(r"(\d+)")


@functools.lru_cache(maxsize=8192)  # the same names at every poll: 300 runs sort twice a poll
def natural(text: str) -> tuple:
    """A sort key that orders whole numbers inside names by value (``seed 9`` before ``seed 11``,
    ``11-9 14:02`` before ``11-10 09:00``), case aside: the text split into words and numbers,
    which alternate, so that two keys always compare like with like."""
    parts = _DIGITS.split(text.lower())
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


COLUMNS: dict[str, Column] = {
    "state": Column("state", 10, _state, lambda r, _: STATE_ORDER.get(r.state, 9)),
    "name": Column("run", 21, lambda r, lab, _: fmt.printable(lab), lambda r, lab: natural(lab)),
    "experiment": Column(
        "experiment",
        12,
        lambda r, _l, _n: fmt.printable(r.exp_name),
        lambda r, _: natural(r.exp_name),
    ),
    "label": Column(
        "label",
        18,
        lambda r, _l, _n: label_cell(r.label, 18),
        lambda r, _: natural(r.label),
    ),
    "progress": Column("progress", 11, _progress, lambda r, _: _num(r.progress)),
    "step": Column("step", 11, _steps, lambda r, _: r.step),
    "speed": Column("speed", 7, _speed, lambda r, _: _num(r.steps_per_hour)),
    "eta": Column("ETA", 6, _eta, lambda r, _: _num(r.eta) if r.state in (RUNNING,) else None),
    "reward": Column(
        "reward", 11, _reward, lambda r, _: _num(r.reward.latest) if r.reward else None
    ),
    "best": Column("best", 7, _best, lambda r, _: _num(r.reward.best) if r.reward else None),
    "trend": Column("trend", 10, _trend, lambda r, _: None),
    "ckpt": Column(
        "ckpt", 4, lambda r, _l, _n: str(len(r.checkpoints)), lambda r, _: len(r.checkpoints)
    ),
    "health": Column(
        "health",
        8,
        _health,
        lambda r, _: (
            -(
                10 * sum(f.level == "bad" for f in r.health)
                + sum(f.level == "warn" for f in r.health)
            )
        ),
    ),
    "pid": Column("pid", 7, _pid, lambda r, _: r.process.pid if r.process else None),
    "gpu": Column(
        "gpu", 6, _gpu, lambda r, _: r.process.gpu_memory if r.process is not None else None
    ),
}
assert tuple(COLUMNS) == TABLE_COLUMNS, "collectors.model.settings.TABLE_COLUMNS names these"


def sort_runs(
    runs: Sequence[RunSnapshot], labels: Sequence[str], column: str, reverse: bool
) -> list[int]:
    """Indices of ``runs`` in the order of ``column`` (reversed: descending), the runs without
    a value last either way; ties by state (running first), then by name."""
    col = COLUMNS[column]

    def tie(i: int) -> tuple:
        return (STATE_ORDER.get(runs[i].state, 9), natural(labels[i]), runs[i].id)

    keys = [col.key(r, lab) for r, lab in zip(runs, labels, strict=True)]
    have = sorted((i for i, k in enumerate(keys) if k is not None), key=tie)
    missing = sorted((i for i, k in enumerate(keys) if k is None), key=tie)
    have.sort(key=lambda i: keys[i], reverse=reverse)  # stable: ties kept
    return have + missing


LIVE = (RUNNING, STARTING, STALLED)  # runs whose cells move with the clock (ETA)


class RowCache:
    """Rows of runs as last built, by run id, valid while the run is the same snapshot object
    (the engine hands the same object on while nothing about the run changed) and the columns
    and their widths are the same."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[RunSnapshot, tuple, Row]] = {}
        self._layout: tuple = ()
        self.hits = 0  # tests, benchmarks

    def begin(self, columns: Sequence[str], label_width: int) -> None:
        layout = (tuple(columns), label_width)
        if layout != self._layout:
            self._layout = layout
            self._rows.clear()

    def get(self, run: RunSnapshot, key: tuple) -> Row | None:
        got = self._rows.get(run.id)
        if got is not None and got[0] is run and got[1] == key:
            self.hits += 1
            return got[2]
        return None

    def put(self, run: RunSnapshot, key: tuple, row: Row) -> None:
        self._rows[run.id] = (run, key, row)

    def keep(self, ids: set[str]) -> None:
        """Forget the runs that are gone."""
        for rid in [r for r in self._rows if r not in ids]:
            del self._rows[rid]


@dataclass(frozen=True, slots=True)
class Row:
    key: str  # a run id, or GROUP + what the group is
    cells: tuple[Text | str, ...]
    runs: tuple[str, ...]  # the run ids it stands for (a group: its members)


def _mean_spread(values: Sequence[float | None]) -> tuple[float | None, float]:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None, 0.0
    return sum(vals) / len(vals), (max(vals) - min(vals)) / 2 if len(vals) > 1 else 0.0


def _group_cells(
    members: Sequence[RunSnapshot],
    title: str,
    columns: Sequence[str],
    opened: bool,
    now: float,
    label_width: int,
) -> tuple[Text | str, ...]:
    """A seed group's line: the states counted, the means of its runs with the spread between
    seeds (half the range, as ``±``) for the reward."""
    cells: list[Text | str] = []
    for c in columns:
        if c == "state":
            counts: dict[str, int] = {}
            for m in members:
                counts[m.state] = counts.get(m.state, 0) + 1
            t = Text()
            for s, n in sorted(counts.items(), key=lambda kv: STATE_ORDER.get(kv[0], 9)):
                t.append(f"{n}{R.state_symbol(s)} ", style=R.STATE_STYLE.get(s, ""))
            cells.append(t)
        elif c == "name":
            mark = "▾" if opened else "▸"
            cells.append(Text(f"{mark} {title}", style="bold"))
        elif c in ("reward", "best"):
            vals = [
                (m.reward.latest if c == "reward" else m.reward.best) if m.reward else None
                for m in members
            ]
            mean, spread = _mean_spread(vals)
            if mean is None:
                cells.append(Text("-"))
            elif c == "reward":  # the mean, and half the range between the seeds
                cells.append(Text(f"{fmt.value(mean)}±{spread:.2g}", style="bold"))
            else:
                cells.append(Text(f"~{fmt.value(mean)}"))
        elif c == "progress":
            mean, _ = _mean_spread([m.progress for m in members])
            cells.append(_progress(_with_progress(members[0], mean), "", now))
        elif c == "step":
            mean, _ = _mean_spread([float(m.step) for m in members])
            cells.append(f"~{R.steps_of(mean)}" if mean is not None else "-")
        elif c == "speed":
            mean, _ = _mean_spread([m.steps_per_hour for m in members])
            cells.append(f"{fmt.steps(mean)}/h" if mean else "-")
        elif c == "label":  # what the seeds share: the label without its seed
            words = members[0].label.split()
            cells.append(
                label_cell(" ".join(w for w in words if not w.startswith("seed=")), label_width)
            )
        elif c == "experiment":
            exps = sorted({m.exp_name for m in members})
            cells.append(fmt.printable(exps[0]) if len(exps) == 1 else f"{len(exps)} exps")
        elif c == "ckpt":
            cells.append(str(sum(len(m.checkpoints) for m in members)))
        elif c == "trend":
            cells.append(Text(_group_trend(members), style="cyan"))
        elif c == "eta":  # the group is done when its last seed is
            etas = [m.eta for m in members if m.eta is not None and m.state in (RUNNING, STALLED)]
            cells.append(R.short_duration(max(etas) - now) if etas else "-")
        elif c == "health":
            findings = [f for m in members for f in m.health]
            worst = next((lv for lv in ("bad", "warn") if any(f.level == lv for f in findings)), "")
            cells.append(Text(R.count_levels(findings), style=R.LEVEL_STYLE.get(worst, "")))
        elif c == "pid":  # how many of its seeds have a training process
            n = sum(m.process is not None for m in members)
            cells.append(f"{n} proc" if n else "-")
        elif c == "gpu":
            used = [m.process.gpu_memory for m in members if m.process is not None]
            total = sum(u for u in used if u is not None)
            cells.append(fmt.nbytes(total) if total else "-")
        else:
            cells.append("")
    return tuple(cells)


def _group_trend(members: Sequence[RunSnapshot], width: int = 10) -> str:
    """The sparkline of the seeds' mean reward over the steps they all reached (each seed's
    curve interpolated onto one grid of steps): what the group's trend is, not one seed's."""
    curves = []
    for m in members:
        view = m.series.get(m.reward.tag) if m.reward else None
        if view is not None and len(view) >= 2:
            ok = np.isfinite(view.values)
            if ok.sum() >= 2:
                curves.append((view.steps[ok], view.values[ok]))
    if not curves:
        return ""
    lo = max(float(st[0]) for st, _ in curves)
    hi = min(float(st[-1]) for st, _ in curves)
    if hi <= lo:  # no common range yet: the longest seed's curve
        return R.sparkline(max(curves, key=lambda c: len(c[0]))[1], width)
    grid = np.linspace(lo, hi, 4 * width)
    mean = np.mean([np.interp(grid, st, v) for st, v in curves], axis=0)
    return R.sparkline(mean, width)


def _with_progress(run: RunSnapshot, progress: float | None) -> RunSnapshot:
    return dataclasses.replace(run, progress=progress)


def table_rows(
    runs: Sequence[RunSnapshot],
    labels: Sequence[str],  # each run's name (alias, or experiment, seed and start)
    columns: Sequence[str],
    *,
    sort: str = "state",
    reverse: bool = False,
    group: str = "none",
    opened: frozenset[str] = frozenset(),
    now: float = 0.0,
    label_width: int = 18,
    cache: RowCache | None = None,
) -> list[Row]:
    """The table's rows for ``runs`` (their display names in ``labels``), sorted, grouped; the
    config labels abbreviated to ``label_width`` cells. ``cache`` (the caller's, kept between
    calls): a run's row is built again only when the run (a new snapshot object), its name,
    the columns or, for a live run, the minute of its ETA changed; 300 idle runs cost a lookup
    each instead of their cells (sparklines, bars, labels) every refresh."""
    order = sort_runs(runs, labels, sort, reverse)
    if cache is not None:
        cache.begin(columns, label_width)

    def run_row(i: int, indent: bool = False) -> Row:
        r, lab = runs[i], labels[i]
        key = (lab, indent, int(now // 60) if r.state in LIVE else None)
        if cache is not None and (row := cache.get(r, key)) is not None:
            return row
        row = _run_row(r, lab, indent)
        if cache is not None:
            cache.put(r, key, row)
        return row

    def _run_row(r: RunSnapshot, lab: str, indent: bool) -> Row:
        cells = []
        for c in columns:
            cell = (
                label_cell(r.label, label_width) if c == "label" else COLUMNS[c].cell(r, lab, now)
            )
            if c == "name" and indent:
                cell = Text("  └ ") + (cell if isinstance(cell, Text) else Text(cell))
            cells.append(cell)
        return Row(r.id, tuple(cells), (r.id,))

    if group == "none":
        return [run_row(i) for i in order]
    if group == "experiment":
        by_exp: dict[str, list[int]] = {}
        for i in order:
            by_exp.setdefault(runs[i].exp_name, []).append(i)
        out: list[Row] = []
        for exp in sorted(by_exp, key=lambda e: order.index(by_exp[e][0])):
            members = by_exp[exp]
            key = f"{GROUP}exp:{exp}"
            is_open = key not in opened  # experiments start open: Enter folds one
            title = f"{exp or '(no experiment)'} ({len(members)})"
            cells = _group_cells(
                [runs[i] for i in members], title, columns, is_open, now, label_width
            )
            out.append(Row(key, cells, tuple(runs[i].id for i in members)))
            if is_open:
                out += [run_row(i, indent=True) for i in members]
        return out
    # seed groups: one line for each group of two or more, closed until opened
    groups = seed_groups(runs)
    where = {i: g for g in groups for i in g}
    out = []
    done: set[int] = set()
    for i in order:
        g = where.get(i, [i])
        if i in done:
            continue
        members = [j for j in order if j in set(g)]
        done.update(members)
        if len(members) == 1:
            out.append(run_row(i))
            continue
        key = f"{GROUP}seed:{runs[members[0]].id}"
        is_open = key in opened
        exps = sorted({runs[j].exp_name for j in members})
        where_ = exps[0] if len(exps) == 1 else f"{len(exps)} exps"
        title = f"{len(members)} seeds · {where_}"
        cells = _group_cells([runs[j] for j in members], title, columns, is_open, now, label_width)
        out.append(Row(key, cells, tuple(runs[j].id for j in members)))
        if is_open:
            out += [run_row(j, indent=True) for j in members]
    return out


class RunTable(DataTable, inherit_bindings=False):
    """The runs' table. It has none of DataTable's keys: the screen moves the selection (and so
    the cursor); Enter opens the run (or a group), Space marks it."""

    DEFAULT_CSS = """
    RunTable { height: 1fr; scrollbar-size-vertical: 1; }
    """

    BINDINGS = [
        Binding("enter", "open", "Open", tooltip="Open the run's charts, or open/close a group"),
        Binding("space", "mark", "Mark", key_display="spc", tooltip="Mark the run(s) for compare"),
    ]

    class Open(Message):
        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    class Mark(Message):
        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    class Picked(Message):
        """The cursor was put on a row by the mouse."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, **kw: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kw)
        # the body cells' renders by what they show (see _render_cell)
        self._cells_drawn: LRUCache[tuple, list[list[Segment]]] = LRUCache(4096)
        self.cells_drawn = 0  # body cells drawn here (not found kept; tests)
        self.cells_rendered = 0  # body cells rendered through Rich's console (tests)
        self.columns_shown: tuple[str, ...] = ()
        self.widths: tuple[int, ...] = ()
        self._heads: tuple = ()
        self.keys: list[str] = []
        self.rows_of: dict[str, Row] = {}
        self.builds = 0  # full rebuilds (tests, benchmarks)

    def set_columns(
        self,
        columns: Sequence[str],
        sort: str = "",
        reverse: bool = False,
        widths: Sequence[int] | None = None,
    ) -> None:
        """The columns (``widths``: their widths, else each column's own), the one sorted by
        titled with its direction (``reward ▼``)."""
        widths = tuple(widths) if widths is not None else tuple(COLUMNS[c].width for c in columns)
        if (tuple(columns), sort, reverse, widths) == self._heads:
            return
        self._heads = (tuple(columns), sort, reverse, widths)
        self.clear(columns=True)
        self.keys, self.rows_of = [], {}
        self.columns_shown = tuple(columns)
        self.widths = widths
        for c, w in zip(columns, widths, strict=True):
            col = COLUMNS[c]
            title = f"{col.title} {'▼' if reverse else '▲'}" if c == sort else col.title
            self.add_column(title, width=max(w, len(title)), key=c)

    def show(self, rows: Sequence[Row], marked: Sequence[str], selected: str | None) -> None:
        """Show ``rows`` (marked runs starred), the cursor on ``selected``."""
        starred = set(marked)
        at = self.columns_shown.index("name") if "name" in self.columns_shown else 0
        rows = [_starred(r, starred, at) for r in rows]
        keys = [r.key for r in rows]
        if keys != self.keys:
            self.builds += 1
            self.clear()
            for r in rows:
                self.add_row(*r.cells, key=r.key)
            self.keys = keys
        else:
            for r in rows:
                old = self.rows_of.get(r.key)
                if old is None or old.cells == r.cells:
                    continue
                for c, a, b in zip(self.columns_shown, old.cells, r.cells, strict=True):
                    if a != b:
                        self.update_cell(r.key, c, b)
        self.rows_of = {r.key: r for r in rows}
        self.put_cursor(selected)

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        """A body cell, drawn here rather than through Rich's console when it is one line of
        plain ``Text`` that fits: DataTable keys its cache of cell renders by its update count,
        so that one ``update_cell`` (a live run's new step) drew every visible cell again
        through Rich (about 40 us a cell; 30 rows of 14 columns, 40-80 ms a frame at 200x50).
        Here a cell is kept by what it shows (text, spans, styles, width, place), and drawn as
        DataTable draws it: padded, ``pre`` style under the text's own, ``post`` over it. The
        header, other renderables, wrapped or justified text go to DataTable's own path."""
        if row_index < 0 or column_index < 0 or row_index < self.fixed_rows:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        row = self.rows.get(row_key) if row_key is not None else None
        cells = self._get_row_renderables(row_index).cells
        cell = cells[column_index] if column_index < len(cells) else None
        pad = self.cell_padding
        if (
            row is None
            or row.height != 1
            or column_index < self.fixed_columns
            or not isinstance(cell, Text)
            or cell.justify not in (None, "default")
            or "\n" in cell.plain
            or "\t" in cell.plain
            or cell.cell_len > width - 2 * pad
        ):
            self.cells_rendered += 1
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        component, post = self._get_styles_to_render_cell(
            False,
            False,
            False,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        key = (
            cell.plain,
            tuple(cell.spans),
            cell.style,
            row_index,
            column_index,
            width,
            base_style,
            component,
            post,
            self._pseudo_class_state,
        )
        lines = self._cells_drawn.get(key)
        if lines is None:
            pre = base_style + Style.from_meta({"row": row_index, "column": column_index})
            console = self.app.console
            if cell.spans:  # the text's own style is under its spans'
                text = list(cell.render(console, end=""))
            else:  # (Text.render leaves it out when there are no spans)
                text = [Segment(cell.plain, console.get_style(cell.style, default=Style.null()))]
            segments = [
                Segment(" " * pad),
                *text,
                Segment(" " * (width - pad - cell.cell_len)),
            ]
            lines = [list(Segment.apply_style(segments, pre + component, post))]
            self._cells_drawn[key] = lines
            self.cells_drawn += 1
        return lines

    def put_cursor(self, key: str | None) -> None:
        if key is None or key not in self.rows_of:
            return
        i = self.keys.index(key)
        if self.cursor_row != i:
            self.move_cursor(row=i, animate=False, scroll=True)

    def selected_key(self) -> str | None:
        i = self.cursor_row
        return self.keys[i] if 0 <= i < len(self.keys) else None

    def action_open(self) -> None:
        if (k := self.selected_key()) is not None:
            self.post_message(self.Open(k))

    def action_mark(self) -> None:
        if (k := self.selected_key()) is not None:
            self.post_message(self.Mark(k))

    def on_click(self) -> None:
        self.call_after_refresh(self._picked)

    def _picked(self) -> None:
        if (k := self.selected_key()) is not None:
            self.post_message(self.Picked(k))


def _starred(row: Row, marked: set[str], i: int) -> Row:
    """The name of a marked run (or of a group whose runs are all marked) starts with ``*``."""
    if not row.runs or not row.cells or not all(r in marked for r in row.runs):
        return row
    cells = list(row.cells)
    cell = cells[i]
    cells[i] = Text("* ", style="bold") + (cell if isinstance(cell, Text) else Text(cell))
    return Row(row.key, tuple(cells), row.runs)


# Which columns give way first when the terminal is too narrow for all of them (the last named
# goes first): what a run is and how far it is stay; pid and GPU memory go before the reward.
PRIORITY = (
    "state",
    "name",
    "progress",
    "reward",
    "step",
    "eta",
    "health",
    "label",
    "best",
    "speed",
    "trend",
    "ckpt",
    "experiment",
    "pid",
    "gpu",
)
PADDING = 2  # DataTable's cell padding, one column each side


def fit_columns(columns: Sequence[str], width: int) -> tuple[str, ...]:
    """``columns`` (their order kept) less the lowest-priority ones that do not fit in
    ``width`` cells, so that nothing has to be scrolled sideways to be seen (htop drops nothing,
    but its columns are narrow; here a run's name and progress matter more than its pid)."""
    kept = list(columns)
    rank = {c: i for i, c in enumerate(PRIORITY)}

    def need(cols: Sequence[str]) -> int:
        return sum(max(COLUMNS[c].width, len(COLUMNS[c].title) + 2) + PADDING for c in cols)

    room = width - 2  # the vertical scrollbar when the rows do not fit
    while len(kept) > 2 and need(kept) > room:
        kept.remove(max(kept, key=lambda c: rank.get(c, len(PRIORITY))))
    return tuple(kept)


# The columns that take the width a wide terminal has to spare, in this order, each up to its
# longest content (or this cap): ``1 bad, 2 warn`` is not cut to ``1 bad, 2`` (first: it is
# short), and a config label of 40 cells reads whole at 200 columns.
GROWS = {"health": 16, "name": 40, "label": 60}


def column_widths(columns: Sequence[str], width: int, content: dict[str, int]) -> tuple[int, ...]:
    """The widths of ``columns`` in ``width`` cells: each column's own, then what is left over
    given to the GROWS columns up to their ``content`` (the longest cell, in cells)."""
    widths = {c: COLUMNS[c].width for c in columns}
    spare = (
        width - 2 - sum(max(COLUMNS[c].width, len(COLUMNS[c].title) + 2) + PADDING for c in columns)
    )
    for c, cap in GROWS.items():
        if c in widths and spare > 0:
            extra = max(0, min(content.get(c, 0), cap) - widths[c])
            widths[c] += min(extra, spare)
            spare -= min(extra, spare)
    return tuple(widths[c] for c in columns)


def column_names(config: Sequence[str] | None) -> tuple[str, ...]:
    return tuple(config) if config else DEFAULT_TABLE_COLUMNS


assert set(PRIORITY) == set(TABLE_COLUMNS), "every column has a place in PRIORITY"
