"""Line charts of run series (textual-plotext, one plotext instance per chart).

A :class:`SeriesChart` draws lines given as :class:`Line` values (a series view, a label, a
colour) with TensorBoard's EMA smoothing (the raw curve faint behind the smoothed one), an x axis
by step, relative time or wall time, threshold lines, a step window, a log y axis and a cursor
whose values the legend reads out. The legend is a line above the plot, never over the data.
Ticks come from :mod:`tui.widgets.scales`: round numbers on the rows they label. It redraws only
when asked with different inputs and only while it is on screen, and a render is kept for
another chart with the same inputs (a detail opened again, an ``x`` mode seen before).

With ``NO_COLOR`` or 16 colours the series differ by marker (``•``, ``+``, ``x``...), not only by
colour, and the raw curves are grey.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from plotext import _utility as plotext_utility
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.css.styles import RulesMap
from textual.strip import Strip
from textual.style import Style as VisualStyle
from textual.visual import RenderOptions, Visual
from textual_plotext import PlotextPlot

from collectors import fmt
from tui.widgets import scales

X_MODES = ("step", "relative", "wall")
# Bright enough on a dark background to tell apart, none near it; red and green are kept for
# threshold lines.
COLOURS = (  # the 16-colour terminal's colour in brackets: the first five all differ there
    "#00d7ff",  # cyan (bright cyan)
    "#e5d54f",  # yellow (bright yellow)
    "#5fd75f",  # green (bright green)
    "#e56ee5",  # magenta (bright magenta)
    "#dadada",  # white (white)
    "#ff9f1c",  # orange (bright red)
    "#6fa8ff",  # light blue (grey)
    "#ff7f9f",  # pink (bright red)
)
NAMED = {
    "red": (240, 90, 90),
    "green": (90, 205, 90),
    "gray": (150, 150, 150),
    "grey": (150, 150, 150),
    "cyan": (0, 215, 255),
    "yellow": (229, 213, 79),
    "white": (218, 218, 218),
}
MARKERS = ("braille", "•", "+", "x", "o", "*", "#", "%")  # series i under NO_COLOR / 16 colours
RAW_MARKER = "·"  # the raw curve under NO_COLOR / 16 colours (series 0's marker is braille)
GREY = (150, 150, 150)
CURSOR = (200, 200, 200)


def rgb(colour: str | tuple[int, int, int]) -> tuple[int, int, int]:
    """A colour (``#rrggbb``, one of :data:`NAMED` or an RGB tuple) as plotext's RGB tuple."""
    if isinstance(colour, tuple):
        return colour
    if colour.startswith("#") and len(colour) == 7:
        return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))
    return NAMED.get(colour, GREY)


def faint(colour: str | tuple[int, int, int]) -> tuple[int, int, int]:
    """The colour at half strength: the raw curve behind the smoothed one, still well off a dark
    background."""
    r, g, b = rgb(colour)
    return (int(r * 0.5 + 20), int(g * 0.5 + 20), int(b * 0.5 + 20))


def style_of(colour: str | tuple[int, int, int]) -> str:
    r, g, b = rgb(colour)
    return f"rgb({r},{g},{b})"


@dataclass(frozen=True, slots=True)
class Line:
    label: str
    view: Any  # SeriesView: .steps, .values, .wall
    colour: str = COLOURS[0]


@dataclass(frozen=True, slots=True)
class Threshold:
    value: float
    label: str
    colour: str = "red"


@dataclass(frozen=True, slots=True)
class ChartView:
    """What the viewer chose: a log y axis, the step window (the last ``zoom`` of the x range,
    ``pan`` windows back from the latest point) and the cursor (a fraction of the window; None
    when off)."""

    log_y: bool = False
    zoom: float = 1.0
    pan: float = 0.0
    cursor: float | None = None


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's smoothing: a debiased exponential moving average; NaN/inf points keep the
    last smoothed value (so one NaN does not wipe out the rest of the curve)."""
    v = np.asarray(values, dtype=np.float64)
    if weight <= 0 or len(v) == 0:
        return v
    out = np.empty_like(v)
    last = 0.0
    n = 0
    for i, x in enumerate(v.tolist()):
        if not math.isfinite(x):
            out[i] = last / (1.0 - weight**n) if n else x
            continue
        last = last * weight + (1.0 - weight) * x
        n += 1
        out[i] = last / (1.0 - weight**n)
    return out


def downsample(x: np.ndarray, y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """At most about ``n`` points: the points split into ``n // 2`` runs of consecutive points,
    each run kept as its lowest and highest point in step order (so a one-point spike stays on
    the chart), the first and last points always kept."""
    if len(x) <= n or n < 4:
        return x, y
    buckets = n // 2
    edges = np.linspace(0, len(x), buckets + 1).astype(np.int64)
    starts = edges[:-1]
    lo = np.minimum.reduceat(y, starts)
    hi = np.maximum.reduceat(y, starts)
    # the index of each bucket's min and max (the first such point in the bucket)
    which = np.repeat(np.arange(buckets), np.diff(edges))
    is_lo = y == lo[which]
    is_hi = y == hi[which]
    idx_lo = np.full(buckets, len(x), dtype=np.int64)
    idx_hi = np.full(buckets, len(x), dtype=np.int64)
    pos = np.arange(len(x))
    np.minimum.at(idx_lo, which[is_lo], pos[is_lo])
    np.minimum.at(idx_hi, which[is_hi], pos[is_hi])
    idx = np.unique(np.concatenate(([0, len(x) - 1], idx_lo, idx_hi)))
    idx = idx[idx < len(x)]
    return x[idx], y[idx]


_STYLES: dict[tuple, Style] = {}


def _cell_style(fg: Any, style: Any, bg: Any) -> Style:
    """The rich style of one plotext cell's colours, as Text.from_ansi reads plotext's codes."""
    key = (fg, style, bg)
    got = _STYLES.get(key)
    if got is None:
        probe = Text.from_ansi(
            plotext_utility.colors_to_ansi(fg, style, bg) + "x" + plotext_utility.ansi_end
        )
        styles = [span.style for span in probe.spans if isinstance(span.style, Style)]
        got = Style.combine(styles) if styles else Style()
        _STYLES[key] = got
    return got


def matrix_rows(matrix: Any) -> list[list[Segment]]:
    """A built plotext matrix as rows of rich Segments, cell runs of one colour as one segment:
    what ``Text.from_ansi(matrix.set_canvas())`` draws, without writing and parsing the escape
    codes (which cost more than plotext's own drawing)."""
    out = []
    for row in range(matrix.rows - 1, -1, -1):
        markers = matrix.marker[row]
        fgs, sts, bgs = matrix.fullground[row], matrix.style[row], matrix.background[row]
        segments = []
        start = 0
        cols = len(markers)
        for col in range(1, cols + 1):
            if col == cols or (fgs[col], sts[col], bgs[col]) != (
                fgs[start],
                sts[start],
                bgs[start],
            ):
                style = _cell_style(fgs[start], sts[start], bgs[start])
                segments.append(Segment("".join(markers[start:col]), style or None))
                start = col
        out.append(segments)
    return out


class ChartVisual(Visual):
    """A chart's rows as rich Segments (the legend, then plotext's matrix), drawn by Textual as
    they are: a Text would be converted into Textual's Content and split into lines again on
    every render, which cost about as much as a third of plotext's drawing."""

    def __init__(self, rows: list[list[Segment]]) -> None:
        self.rows = rows

    @property
    def plain(self) -> str:
        """The chart's characters, one line a row (what the tests read)."""
        return "".join("".join(seg.text for seg in row) + "\n" for row in self.rows)

    def render_strips(
        self, width: int, height: int | None, style: VisualStyle, options: RenderOptions
    ) -> list[Strip]:
        base = style.rich_style
        strips = [
            Strip(
                [Segment(seg.text, base + seg.style if seg.style else base) for seg in row]
            ).crop_extend(0, width, base)
            for row in self.rows
        ]
        if height is not None:
            strips = strips[:height]
            strips += [Strip.blank(width, base)] * (height - len(strips))
        return strips

    def get_optimal_width(self, rules: RulesMap, container_width: int) -> int:
        return max((sum(len(seg.text) for seg in row) for row in self.rows), default=0)

    def get_height(self, rules: RulesMap, width: int) -> int:
        return len(self.rows)


_SMOOTHED: dict[tuple, tuple[Any, np.ndarray]] = {}


def smoothed(view: Any, raw: np.ndarray, weight: float) -> np.ndarray:
    """:func:`ema` of a series view, computed once per (view, length, weight): the views are
    immutable and a new point makes a new view, so a chart key that changes only the x mode or
    the window does not smooth again."""
    key = (id(view), len(raw), weight)
    got = _SMOOTHED.get(key)
    if got is not None and got[0] is view:  # the view is held here: its id is not reused
        return got[1]
    if len(_SMOOTHED) > 256:
        _SMOOTHED.clear()
    out = ema(raw, weight)
    _SMOOTHED[key] = (view, out)
    return out


def x_values(view: Any, mode: str, t0: float | None) -> np.ndarray:
    if mode == "step":
        return np.asarray(view.steps, dtype=np.float64)
    wall = np.asarray(view.wall, dtype=np.float64)
    if mode == "relative":
        base = t0 if t0 is not None else (float(wall[0]) if len(wall) else 0.0)
        return (wall - base) / 3600.0
    return wall


def ticks(lo: float, hi: float, mode: str, now: float, count: int = 5) -> tuple[list, list]:
    """Round x ticks in [lo, hi] and their labels: steps (``0 10M 20M``), hours since the start
    in the unit of the step (``0m 15m 30m``, ``0h 6h 12h``), or wall-clock times on the local
    hour or minute."""
    if not math.isfinite(lo) or not math.isfinite(hi) or hi <= lo:
        return [], []
    if mode == "step":
        pos = scales.x_ticks(lo, hi, count)
        return pos, [x_text(p, mode, now) for p in pos]
    if mode == "relative":
        secs, step = scales.time_ticks(lo * 3600, hi * 3600, count)
        return [s / 3600 for s in secs], [scales.duration_label(s, step) for s in secs]
    offset = time.localtime(lo).tm_gmtoff
    pos, step = scales.time_ticks(lo, hi, count, offset)
    if step < 60:
        return pos, [time.strftime("%H:%M:%S", time.localtime(p)) for p in pos]
    return pos, [fmt.clock(p, now) for p in pos]


def x_text(x: float, mode: str, now: float) -> str:
    """One x value as the readout writes it."""
    if mode == "step":
        return fmt.steps(x) if x else "0"
    if mode == "relative":
        return fmt.duration(x * 3600)
    return time.strftime("%H:%M:%S", time.localtime(x))


def x_label(mode: str) -> str:
    return {"step": "step", "relative": "time since start", "wall": "wall time"}[mode]


def value_text(v: float) -> str:
    if not math.isfinite(v):
        return str(v)
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e6):
        return f"{v:.2e}"
    return f"{v:.4g}"


def fit_labels(labels: Sequence[str], room: int, fixed: int) -> list[str]:
    """The series labels cut to their first words, as many words as let every entry fit in
    ``room`` columns (``fixed``: the columns the entries take besides the labels), so that the
    legend names every series rather than the first one in full (``#1 lr=5e-4`` ... ``#3``)."""
    words = [s.split() for s in labels]
    most = max((len(w) for w in words), default=0)
    for n in range(most, 0, -1):
        cut = [" ".join(w[:n]) for w in words]
        if fixed + sum(len(c) for c in cut) <= room:
            return cut
    return [w[0] if w else "" for w in words]


def cursor_x(cursor: float, lo: float, hi: float) -> float:
    """The x of the cursor, a fraction of the window [lo, hi] (a hair past it, so that a cursor
    put on a logged step reads that step, not the one before, whatever the rounding)."""
    return lo + min(max(cursor, 0.0), 1.0) * (hi - lo) + 1e-9 * max(hi - lo, 1.0)


def cursor_step(
    track: np.ndarray, cursor: float | None, lo: float, hi: float, right: bool
) -> float:
    """The cursor moved to the next (``right``) or previous logged point of ``track`` (the first
    series' x in the window), as a fraction of the window; off, it starts on the last point."""
    if hi <= lo or len(track) == 0:
        return 1.0
    if cursor is None:
        target = float(track[-1])
    else:
        at = cursor_x(cursor, lo, hi)
        i = int(np.searchsorted(track, at, side="right")) - 1  # the point the cursor is on
        i = min(max(i + (1 if right else -1), 0), len(track) - 1)
        target = float(track[i])
    return min(max((target - lo) / (hi - lo), 0.0), 1.0)


def reduced_colour(app: Any) -> bool:
    """True under ``NO_COLOR`` or with 16 colours: colour alone cannot tell series apart."""
    console = getattr(app, "console", None)
    system = getattr(console, "color_system", "truecolor")
    return bool(getattr(app, "no_color", False)) or system in (None, "standard", "windows")


@dataclass(frozen=True, slots=True)
class _Render:
    """One chart's render and what its draw left for the tests and the readout, kept across
    chart instances: reopening a run's detail or cycling ``x`` back to a mode already seen
    draws nothing (plotext's drawing is most of a chart key's cost)."""

    views: tuple  # held, so that the ids in the key are not reused while the entry lives
    visual: ChartVisual
    legend: Text
    axis: scales.Axis | None
    window: tuple[float, float] | None
    track: np.ndarray | None
    notes: tuple[str, ...]


_RENDERS: OrderedDict[tuple, _Render] = OrderedDict()
RENDERS_KEPT = 64  # about six charts for each of ten states (x modes, smoothing, windows)


def forget_renders() -> None:
    """Drop the kept renders: the next render of every chart draws (bench_detail's --cold)."""
    _RENDERS.clear()


@dataclass(slots=True)
class _Drawn:
    label: str
    colour: str
    marker: str
    x: np.ndarray  # the window's points, smoothed, linear y
    y: np.ndarray
    raw: np.ndarray  # the same points unsmoothed


class SeriesChart(PlotextPlot):
    """One chart: a legend line, then lines, smoothing, x mode, window, cursor and thresholds;
    redrawn only on change."""

    DEFAULT_CSS = """
    SeriesChart { height: 1fr; min-height: 8; }
    """

    def __init__(self, title: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.title = title
        self.lines: tuple[Line, ...] = ()
        self.thresholds: tuple[Threshold, ...] = ()
        self.marks: tuple[float, ...] = ()  # x (steps) of vertical marks: where a chain resumed
        self.smoothing = 0.6
        self.x_mode = "step"
        self.view = ChartView()
        self.t0: float | None = None
        self.clock = time.time
        self._drawn: tuple | None = None
        self._rendered: ChartVisual | None = None  # the last render and its inputs
        self._rendered_key: tuple | None = None
        self.draws = 0
        self.legend = Text()
        self.axis: scales.Axis | None = None  # the y axis drawn last (tests read it)
        self.window: tuple[float, float] | None = None
        self.notes: list[str] = []  # thresholds off the scale, points a log axis cannot show
        self.track: np.ndarray | None = None  # the first series' x in the window (the cursor's)

    def set_lines(
        self,
        lines: Sequence[Line],
        thresholds: Sequence[Threshold] = (),
        *,
        smoothing: float | None = None,
        x_mode: str | None = None,
        t0: float | None = None,
        marks: Sequence[float] = (),
        view: ChartView | None = None,
    ) -> None:
        self.lines = tuple(lines)
        self.thresholds = tuple(thresholds)
        self.marks = tuple(marks)
        if smoothing is not None:
            self.smoothing = smoothing
        if x_mode is not None:
            self.x_mode = x_mode
        if view is not None:
            self.view = view
        self.t0 = t0
        self.refresh()

    def render(self) -> ChartVisual:  # type: ignore[override]
        reduced = reduced_colour(self.app)
        key = (
            self.title,
            tuple((ln.label, id(ln.view), len(ln.view), ln.colour) for ln in self.lines),
            self.thresholds,
            self.marks,
            self.smoothing,
            self.x_mode,
            self.view,
            reduced,
            self.t0,
            self.size,
            # wall-clock ticks read "HH:MM" today and carry the date on other days
            time.localtime(self.clock())[:3] if self.x_mode == "wall" else None,
        )
        theme = self._get_plotext_theme_name(self.app.theme)
        if (key, theme) == self._rendered_key and self._rendered is not None:
            return self._rendered  # nothing changed: plotext does not draw it again
        views = tuple(ln.view for ln in self.lines)
        kept = _RENDERS.get((key, theme))
        if kept is not None and all(a is b for a, b in zip(kept.views, views, strict=True)):
            _RENDERS.move_to_end((key, theme))
            return self._restore(kept, key, theme)
        if key != self._drawn:
            self._draw(reduced)
            self._drawn = key
        width, height = self.size.width, max(self.size.height - 1, 1)
        plot = self._plot
        plot.plotsize(width, height)
        plot._set_size(width, height)  # see PlotextPlot.render
        plot.theme(theme)
        plot._set_sizes()  # plotext's build(), less its escape codes (see matrix_rows)
        plot._build_matrix()
        legend = list(self.legend.render(self.app.console, end=""))
        out = ChartVisual([legend, *matrix_rows(plot.monitor.matrix)])
        self._rendered, self._rendered_key = out, (key, theme)
        _RENDERS[(key, theme)] = _Render(
            views, out, self.legend, self.axis, self.window, self.track, tuple(self.notes)
        )
        if len(_RENDERS) > RENDERS_KEPT:
            _RENDERS.popitem(last=False)
        return out

    def _restore(self, kept: _Render, key: tuple, theme: str) -> ChartVisual:
        """A render kept by another chart (or this one) for the same inputs, and its state."""
        self.legend, self.axis, self.window = kept.legend, kept.axis, kept.window
        self.track = kept.track
        self.notes = list(kept.notes)
        self._drawn = None  # plotext holds another draw: a theme change draws again
        self._rendered, self._rendered_key = kept.visual, (key, theme)
        return kept.visual

    def _draw(self, reduced: bool) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        self.draws += 1
        self.notes = []
        self.axis = None
        width = max(self.size.width, 10)
        rows = max(self.size.height - 1 - 3, 2)  # less the legend, the frame and the x ticks
        log_y = self.view.log_y
        full: list[tuple[Line, np.ndarray, np.ndarray, np.ndarray]] = []
        for ln in self.lines:
            if ln.view is None or len(ln.view) == 0:
                continue
            x = x_values(ln.view, self.x_mode, self.t0)
            raw = np.asarray(ln.view.values, dtype=np.float64)
            smooth = smoothed(ln.view, raw, self.smoothing) if self.smoothing > 0 else raw
            full.append((ln, x, raw, smooth))
        xs = [x[np.isfinite(s)] for _, x, _, s in full]
        xs = [x for x in xs if len(x)]
        if not xs:
            self.legend = Text(f"{self.title}: no data", style="bold")
            return
        x_lo, x_hi = min(float(x[0]) for x in xs), max(float(x[-1]) for x in xs)
        if x_hi <= x_lo:
            x_hi = x_lo + 1.0
        if self.x_mode == "step" and 0 < x_lo <= 0.05 * (x_hi - x_lo):
            x_lo = 0.0  # the first log comes a few steps in: the axis starts at step 0
        w_lo, w_hi = scales.window(x_lo, x_hi, self.view.zoom, self.view.pan)
        self.window = (w_lo, w_hi)
        shown: list[_Drawn] = []
        curves: list[tuple[np.ndarray, np.ndarray, np.ndarray, Any, str]] = []
        y_lo, y_hi = math.inf, -math.inf
        hidden = 0
        for i, (ln, x, raw, smooth) in enumerate(full):
            inside = (x >= w_lo) & (x <= w_hi)
            wx, wraw, wsm = x[inside], raw[inside], smooth[inside]
            if log_y:
                hidden += int(np.sum(np.isfinite(wraw) & (wraw <= 0)))
                py_raw, py_sm = scales.log_values(wraw), scales.log_values(wsm)
            else:
                py_raw, py_sm = wraw, wsm
            ok = np.isfinite(py_sm)
            if not ok.any():
                continue
            marker = MARKERS[i % len(MARKERS)] if reduced else "braille"
            shown.append(_Drawn(ln.label, ln.colour, marker, wx[ok], wsm[ok], wraw[ok]))
            dx, d_sm = downsample(wx[ok], py_sm[ok], width * 2)
            y_lo, y_hi = min(y_lo, float(d_sm.min())), max(y_hi, float(d_sm.max()))
            raw_pts = None
            if self.smoothing > 0:
                rok = np.isfinite(py_raw)
                # the lowest and highest point a column: a spike stays on the faint curve
                rx, r_y = downsample(wx[rok], py_raw[rok], width * 2)
                if len(rx):
                    raw_pts = (rx, r_y)
                    y_lo, y_hi = min(y_lo, float(r_y.min())), max(y_hi, float(r_y.max()))
            curves.append((dx, d_sm, raw_pts, ln.colour, marker))  # type: ignore[arg-type]
        if hidden:
            self.notes.append(f"log y: {hidden} points ≤ 0 left out")
        self.track = shown[0].x if shown else None
        if not shown:
            self.legend = Text(f"{self.title}: no data in the window", style="bold")
            self.legend.append("".join(f"  {n}" for n in self.notes), style="italic")
            return
        data_lo, data_hi = y_lo, y_hi
        drawn_th: list[tuple[Threshold, float]] = []
        for th in self.thresholds:
            if log_y and th.value <= 0:
                self.notes.append(f"{th.label} not on the log scale")
                continue
            tv = math.log10(th.value) if log_y else th.value
            place = scales.threshold_place(tv, data_lo, data_hi)
            if place == "in":
                drawn_th.append((th, tv))
                y_lo, y_hi = min(y_lo, tv), max(y_hi, tv)
            else:
                value = f"{th.value:g}"
                name = th.label if value in th.label else f"{th.label} {value}"
                self.notes.append(f"{'↑' if place == 'above' else '↓'} {name} {place}")
        max_ticks = max(2, min(5, rows // 2 + 1))
        make_axis = scales.log_axis if log_y else scales.y_axis
        axis = make_axis(y_lo, y_hi, rows, max_ticks)
        if axis is not None:
            self.axis = axis
            plt.ylim(axis.lo, axis.hi)
            plt.yticks(list(axis.ticks), list(axis.labels))
        plt.xlim(w_lo, w_hi)
        for _, _, raw_pts, colour, _ in curves:  # raw curves first: behind
            if raw_pts is not None:
                # Points, not a line: the lowest and highest value of each column already draw
                # the noise's band, and plotext's line between every two noisy points was a
                # third of a chart's drawing (11.7 ms against 7.7 ms a chart, 90x12).
                plt.scatter(  # without colour, a lighter glyph than any series' marker
                    raw_pts[0].tolist(),
                    raw_pts[1].tolist(),
                    color=GREY if reduced else faint(colour),
                    marker=RAW_MARKER if reduced else "braille",
                )
        for th, tv in drawn_th:
            plt.plot(
                [w_lo, w_hi],
                [tv, tv],
                color=rgb(th.colour),
                marker="─" if reduced else "braille",
            )
        for dx, d_sm, _, colour, marker in curves:
            plt.plot(dx.tolist(), d_sm.tolist(), color=rgb(colour), marker=marker)
        if self.x_mode == "step":
            for m in self.marks:
                if w_lo <= m <= w_hi:
                    plt.vline(m, GREY)
        at = None
        if self.view.cursor is not None:
            at = cursor_x(self.view.cursor, w_lo, w_hi)
            plt.vline(at, CURSOR)
        label_w = max((len(s) for s in axis.labels), default=0) + 1 if axis else 4
        canvas = max(width - 2 - label_w, 4)
        spacing = 14 if self.x_mode == "wall" else 10  # columns from one x tick to the next
        pos, labels = ticks(
            w_lo, w_hi, self.x_mode, self.clock(), max(2, min(6, canvas // spacing))
        )
        if pos:
            plt.xticks(pos, labels)
        self.legend = self._legend(shown, drawn_th, at, reduced, width)

    def _legend(
        self,
        shown: list[_Drawn],
        drawn_th: list[tuple[Threshold, float]],
        at: float | None,
        reduced: bool,
        width: int,
    ) -> Text:
        t = Text()
        t.append(self.title, style="bold")
        if at is not None:
            t.append(f"  @ {x_text(at, self.x_mode, self.clock())}", style="bold")
        values = []
        for d in shown:
            i = scales.index_at(d.x, at if at is not None else math.inf)
            if i is None:
                values.append("")
            elif at is not None and self.smoothing > 0:  # at the cursor: the raw value too
                values.append(f" {value_text(float(d.y[i]))} (raw {value_text(float(d.raw[i]))})")
            else:
                values.append(f" {value_text(float(d.y[i]))}")
        labels = fit_labels(
            [d.label for d in shown], width - len(t.plain), sum(4 + len(v) for v in values)
        )
        for d, label, value in zip(shown, labels, values, strict=True):
            glyph = "━" if d.marker == "braille" else d.marker
            t.append("  ")
            t.append(glyph, style="bold" if reduced else style_of(d.colour))
            t.append(f" {label}")
            t.append(value, style="bold")
        for th, _ in drawn_th:
            t.append("  ")
            t.append("─", style="bold" if reduced else style_of(th.colour))
            t.append(f" {th.label}", style="dim")
        for note in self.notes:
            t.append(f"  {note}", style="italic")
        t.truncate(width, overflow="ellipsis")
        return t
