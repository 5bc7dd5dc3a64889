"""Axis arithmetic for the charts: round ("nice") ticks placed on the rows they label, tick labels,
log scale, where a threshold sits against the data, the step window and the cursor readout.

Pure functions over numbers (no Textual, no plotext), so that the promises the charts make are
tested directly: a labelled y tick is the value of the row it is written on, x ticks are round
numbers, a threshold far from the data does not squash it.

How plotext maps a value to a row (``plotext._utility.get_matrix_data``): with ``rows`` rows
between ``lo`` and ``hi``, a tick at ``v`` goes to row ``floor(0.5 + (rows - 1) * (v - lo) /
(hi - lo))`` and a braille data point to dot row ``floor(0.5 + (4 * rows - 1) * (v - lo) / (hi -
lo))``, four dot rows to a text row. :func:`y_axis` chooses ``lo`` and ``hi`` so that every tick
falls on the centre of a row, which is inside that row's range of data values
(:func:`row_span`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

NICE = (1.0, 2.0, 2.5, 5.0)
DOTS = 4  # braille dot rows to a text row


@dataclass(frozen=True, slots=True)
class Axis:
    """The y range given to plotext and the ticks to write on it (values and labels)."""

    lo: float
    hi: float
    rows: int
    ticks: tuple[float, ...]
    labels: tuple[str, ...]

    def row_of(self, v: float) -> int:
        """The text row (0 at the bottom) a tick at ``v`` is written on (plotext's rule)."""
        return math.floor(round(0.5 + (self.rows - 1) * (v - self.lo) / (self.hi - self.lo), 8))


def row_span(axis: Axis, row: int) -> tuple[float, float]:
    """The data values a braille curve draws in text row ``row``: [low, high]."""
    bins = DOTS * axis.rows - 1
    per = (axis.hi - axis.lo) / bins
    return axis.lo + (DOTS * row - 0.5) * per, axis.lo + (DOTS * row + DOTS - 0.5) * per


def nice_steps(lo_step: float) -> list[float]:
    """Round step sizes from about ``lo_step`` up, over three decades (1, 2, 2.5, 5 x 10^k)."""
    if not math.isfinite(lo_step) or lo_step <= 0:
        return [1.0]
    e = math.floor(math.log10(lo_step))
    return [
        m * 10.0**k for k in range(e - 1, e + 4) for m in NICE if m * 10.0**k >= lo_step * 0.999
    ]


def y_axis(lo: float, hi: float, rows: int, max_ticks: int = 5) -> Axis | None:
    """A y axis of ``rows`` text rows covering [lo, hi] whose ticks are round numbers, each on
    the row it labels. Among the ways to do that, the one that leaves the least empty space
    (the curve the tallest), with two to ``max_ticks`` ticks (fewer only where two or three
    rows cannot hold them). None when the
    range or the rows are unusable."""
    if rows < 2 or not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        pad = abs(lo) * 0.05 or 1.0
        lo, hi = lo - pad, hi + pad
    span = hi - lo
    max_ticks = max(2, min(max_ticks, rows))
    best: tuple[float, Axis] | None = None
    for step in nice_steps(span / max_ticks):
        if step > span * 50 and best is not None:
            break
        for per_tick in range(1, rows):  # text rows from one tick to the next
            d = step / per_tick  # the value of one row
            if d * (rows - 1) < span * 0.999:
                break  # fewer rows per tick only makes d bigger: never fits; try more rows
            first = math.floor(lo / d + 1e-9)
            last = math.ceil(hi / d - 1e-9)
            free = (rows - 1) - (last - first)
            if free < 0:
                continue
            first -= free // 2  # the spare rows split above and below
            a_lo, a_hi = first * d, (first + rows - 1) * d
            k0 = math.ceil(a_lo / step - 1e-9)
            k1 = math.floor(a_hi / step + 1e-9)
            n = k1 - k0 + 1
            if n < 1 or n > max_ticks:
                continue
            ticks = tuple(_clean(k * step, step) for k in range(k0, k1 + 1))
            cost = (rows - 1) * d / span + (0.3 if n < min(3, max_ticks) else 0.0) + (n < 2) * 9.0
            if best is None or cost < best[0] - 1e-9:
                best = (cost, Axis(a_lo, a_hi, rows, ticks, tuple(labels(ticks, step))))
    if best is None:  # two rows that no round grid fits: the range, unlabelled
        return Axis(lo, hi, rows, (), ())
    return best[1]


def _clean(v: float, step: float) -> float:
    """``k * step`` without float noise (0.30000000000000004 -> 0.3)."""
    digits = max(0, -math.floor(math.log10(step)) + 2)
    return round(v, digits) + 0.0


def labels(values: Sequence[float], step: float) -> list[str]:
    """Tick labels with the digits the step calls for; scientific notation for tiny or huge
    values (``1.5e-05``), never ``0.0000``."""
    top = max((abs(v) for v in values), default=0.0)
    if top and (top < 1e-3 or top >= 1e6 or step < 1e-4):
        e_step = math.floor(math.log10(step) + 1e-9)
        extra = 0 if math.isclose(step / 10**e_step % 1, 0, abs_tol=1e-6) else 1  # 2.5 x 10^k
        sig = max(1, min(6, math.floor(math.log10(top) + 1e-9) - e_step + 1 + extra))
        return [("0" if v == 0 else f"{v:.{sig - 1}e}") for v in values]
    decimals = next(
        (d for d in range(12) if math.isclose(step * 10**d, round(step * 10**d), rel_tol=1e-6)), 12
    )
    return [f"{v:.{decimals}f}" if decimals else f"{v:.0f}" for v in values]


def x_ticks(lo: float, hi: float, max_ticks: int = 5) -> list[float]:
    """Round values in [lo, hi], at most ``max_ticks`` of them, evenly spaced by a nice step
    (``0 10M 20M 30M 40M``)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return []
    max_ticks = max(2, max_ticks)
    for step in nice_steps((hi - lo) / max_ticks):
        k0 = math.ceil(lo / step - 1e-9)
        k1 = math.floor(hi / step + 1e-9)
        if k1 - k0 + 1 <= max_ticks:
            return [_clean(k * step, step) for k in range(k0, k1 + 1)]
    return [lo, hi]


def log_values(values: np.ndarray) -> np.ndarray:
    """log10 of the values, NaN where a value is zero or negative (a log axis cannot show it)."""
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(v > 0, np.log10(np.where(v > 0, v, 1.0)), np.nan)


def log_axis(lo: float, hi: float, rows: int, max_ticks: int = 5) -> Axis | None:
    """A y axis over log10 values [lo, hi]: ticks at round values (decades, or 1-2-5 steps
    within a decade, or round linear steps when the range is under a decade), kept only where
    the row they are written on draws their value (a log row's values are not round)."""
    if rows < 2 or not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    if hi < lo:
        lo, hi = hi, lo
    pad = max((hi - lo) * 0.02, 1e-3)
    lo, hi = lo - pad, hi + pad
    v_lo, v_hi = 10.0**lo, 10.0**hi
    if hi - lo >= 1.5:
        k0, k1 = math.ceil(lo), math.floor(hi)
        every = max(1, math.ceil((k1 - k0 + 1) / max_ticks))
        values = [10.0**k for k in range(k0, k1 + 1) if (k - k0) % every == 0]
        texts = [power_label(math.log10(v)) for v in values]
    else:
        values = x_ticks(v_lo, v_hi, max_ticks)
        step = values[1] - values[0] if len(values) > 1 else v_hi - v_lo
        texts = labels(values, step)
    axis = Axis(lo, hi, rows, (), ())
    kept: dict[int, tuple[float, str]] = {}
    for v, text in zip(values, texts, strict=True):
        t = math.log10(v)
        row = axis.row_of(t)
        low, high = row_span(axis, row)
        if 0 <= row < rows and low <= t <= high and row not in kept:
            kept[row] = (t, text)
    ticks = tuple(t for t, _ in kept.values())
    return Axis(lo, hi, rows, ticks, tuple(text for _, text in kept.values()))


def power_label(log_v: float) -> str:
    v = 10.0**log_v
    if abs(log_v - round(log_v)) < 1e-9:
        k = round(log_v)
        return f"{v:g}" if -3 <= k <= 4 else f"1e{k:+03d}"
    return f"{v:.2g}" if 1e-2 <= v < 1e5 else f"{v:.1e}"


def threshold_place(value: float, lo: float, hi: float, slack: float = 0.25) -> str:
    """Where a threshold sits against data in [lo, hi]: ``"in"`` when within the data range or
    within ``slack`` of its span from it (drawn, the scale widened that little), else
    ``"above"`` or ``"below"`` (noted, not drawn: it would squash the data)."""
    span = hi - lo if hi > lo else abs(hi) or 1.0
    if value > hi + slack * span:
        return "above"
    if value < lo - slack * span:
        return "below"
    return "in"


def window(x_lo: float, x_hi: float, zoom: float, pan: float = 0.0) -> tuple[float, float]:
    """The x range shown: the last ``zoom`` fraction of [x_lo, x_hi] (1 = all), moved back by
    ``pan`` window widths (0 = ending at the latest point), kept inside the data."""
    span = x_hi - x_lo
    if span <= 0 or zoom >= 1:
        return x_lo, x_hi
    width = span * max(zoom, 1e-6)
    end = x_hi - pan * width
    end = min(max(end, x_lo + width), x_hi)
    return end - width, end


def value_at(x: np.ndarray, y: np.ndarray, at: float) -> tuple[float, float] | None:
    """(x, y) of the last point at or before ``at`` (the first point when ``at`` is before
    them all); None without points."""
    i = index_at(x, at)
    return None if i is None else (float(x[i]), float(y[i]))


def index_at(x: np.ndarray, at: float) -> int | None:
    """The index of the last point at or before ``at`` (the first when ``at`` is before them
    all); None without points."""
    if len(x) == 0:
        return None
    i = int(np.searchsorted(x, at, side="right")) - 1
    return min(max(i, 0), len(x) - 1)


TIME_STEPS = (
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    10800,
    21600,
    43200,
    86400,
    2 * 86400,
    5 * 86400,
    7 * 86400,
    14 * 86400,
    28 * 86400,
)  # seconds: the steps a clock or a calendar reads roundly


def time_ticks(lo: float, hi: float, max_ticks: int = 5, offset: float = 0.0) -> tuple[list, int]:
    """(tick positions, the step in seconds) for a time axis in seconds: multiples of a round
    step (10 s, 15 min, 6 h, 1 day), ``offset`` seconds east of UTC so that wall-clock ticks
    fall on the local hour."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [], 0
    for step in TIME_STEPS:
        k0 = math.ceil((lo + offset) / step - 1e-9)
        k1 = math.floor((hi + offset) / step + 1e-9)
        if k1 - k0 + 1 <= max(2, max_ticks):
            return [k * step - offset for k in range(k0, k1 + 1)], step
    step = TIME_STEPS[-1]
    return [lo, hi], step


def duration_label(seconds: float, step: int) -> str:
    """A relative time tick in the unit its step counts in: ``30s``, ``15m``, ``6h``, ``2d``."""
    for unit, name in ((86400, "d"), (3600, "h"), (60, "m"), (1, "s")):
        if step >= unit and step % unit == 0:
            return f"{seconds / unit:.0f}{name}"
    return f"{seconds:.0f}s"
