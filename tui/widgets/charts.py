"""Line charts of run series (textual-plotext, one plotext instance per chart).

A :class:`SeriesChart` draws lines given as :class:`Line` values (a series view, a label, a
colour) with TensorBoard's EMA smoothing, an x axis by step, relative time or wall time, and
threshold lines. It redraws only when asked with different inputs (the same series views, the same
size and the same options draw nothing new) and only while it is on screen.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from textual_plotext import PlotextPlot

from collectors import fmt

X_MODES = ("step", "relative", "wall")
COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "red", "white", "orange")


@dataclass(frozen=True, slots=True)
class Line:
    label: str
    view: Any  # SeriesView: .steps, .values, .wall
    colour: str = "cyan"


@dataclass(frozen=True, slots=True)
class Threshold:
    value: float
    label: str
    colour: str = "red"


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
    """At most ``n`` points, evenly picked (the last point always kept)."""
    if len(x) <= n or n < 2:
        return x, y
    idx = np.linspace(0, len(x) - 1, n).round().astype(np.int64)
    return x[idx], y[idx]


def x_values(view: Any, mode: str, t0: float | None) -> np.ndarray:
    if mode == "step":
        return np.asarray(view.steps, dtype=np.float64)
    wall = np.asarray(view.wall, dtype=np.float64)
    if mode == "relative":
        base = t0 if t0 is not None else (float(wall[0]) if len(wall) else 0.0)
        return (wall - base) / 3600.0
    return wall


def ticks(lo: float, hi: float, mode: str, now: float, count: int = 5) -> tuple[list, list]:
    if not math.isfinite(lo) or not math.isfinite(hi) or hi <= lo:
        return [], []
    pos = list(np.linspace(lo, hi, count))
    if mode == "step":
        labels = [fmt.steps(p) if p else "0" for p in pos]
    elif mode == "relative":  # hours since the start, in the unit the span calls for
        span = hi - lo
        if span >= 72:
            labels = [f"{p / 24:.1f}d" for p in pos]
        elif span >= 3:
            labels = [f"{p:.1f}h" for p in pos]
        elif span >= 3 / 60:
            labels = [f"{p * 60:.0f}m" for p in pos]
        else:
            labels = [f"{p * 3600:.0f}s" for p in pos]
    elif hi - lo < 600:  # wall time: seconds when the span is minutes
        labels = [time.strftime("%H:%M:%S", time.localtime(p)) for p in pos]
    else:
        labels = [fmt.clock(p, now) for p in pos]
    return pos, labels


def x_label(mode: str) -> str:
    return {"step": "step", "relative": "time since start", "wall": "wall time"}[mode]


class SeriesChart(PlotextPlot):
    """One chart: lines, smoothing, x mode and thresholds; redrawn only on change."""

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
        self.t0: float | None = None
        self.clock = time.time
        self._drawn: tuple | None = None
        self.draws = 0

    def set_lines(
        self,
        lines: Sequence[Line],
        thresholds: Sequence[Threshold] = (),
        *,
        smoothing: float | None = None,
        x_mode: str | None = None,
        t0: float | None = None,
        marks: Sequence[float] = (),
    ) -> None:
        self.lines = tuple(lines)
        self.thresholds = tuple(thresholds)
        self.marks = tuple(marks)
        if smoothing is not None:
            self.smoothing = smoothing
        if x_mode is not None:
            self.x_mode = x_mode
        self.t0 = t0
        self.refresh()

    def render(self):  # type: ignore[override]
        key = (
            tuple((ln.label, id(ln.view), len(ln.view)) for ln in self.lines),
            self.thresholds,
            self.marks,
            self.smoothing,
            self.x_mode,
            self.t0,
            self.size,
        )
        if key != self._drawn:
            self._draw()
            self._drawn = key
        return super().render()

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        self.draws += 1
        plt.title(self.title)
        width = max(self.size.width, 10)
        lo, hi = math.inf, -math.inf
        shown = 0
        for ln in self.lines:
            if ln.view is None or len(ln.view) == 0:
                continue
            x = x_values(ln.view, self.x_mode, self.t0)
            y = np.asarray(ln.view.values, dtype=np.float64)
            if self.smoothing > 0:
                y = ema(y, self.smoothing)
            x, y = downsample(x, y, width * 2)
            ok = np.isfinite(y)
            if not ok.any():
                continue
            x, y = x[ok], y[ok]
            lo, hi = min(lo, float(x[0])), max(hi, float(x[-1]))
            plt.plot(x.tolist(), y.tolist(), label=ln.label, color=ln.colour, marker="braille")
            shown += 1
        if shown == 0:
            plt.title(f"{self.title}: no data")
            return
        if hi <= lo:
            hi = lo + 1.0
        for th in self.thresholds:
            plt.plot(
                [lo, hi], [th.value, th.value], label=th.label, color=th.colour, marker="braille"
            )
        if self.x_mode == "step":
            for m in self.marks:
                if lo <= m <= hi:
                    plt.vline(m, "gray")
        pos, labels = ticks(lo, hi, self.x_mode, self.clock())
        if pos:
            plt.xticks(pos, labels)
        plt.xlabel(x_label(self.x_mode))
