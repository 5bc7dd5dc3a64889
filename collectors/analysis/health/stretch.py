"""A series' current level and where its current stretch outside a band started (vectorised)."""

from __future__ import annotations

import math

import numpy as np

_TAIL = 64  # points examined first when looking for the start of a trailing stretch


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
