"""Text building blocks shared by the widgets: sparklines, bars, checkpoint marks, state styles.

Plain functions over numbers and strings (plus ``rich.text.Text`` for styled spans), so that they
are cheap, testable, and readable without colour: every styled piece also carries a symbol or a
word (``NO_COLOR`` leaves the meaning intact).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from rich.text import Text

from collectors import fmt
from collectors.model.findings import Finding, find, rank
from collectors.model.run import (
    CONTINUED,
    CRASHED,
    FINISHED,
    RUNNING,
    STALLED,
    STARTING,
    STATE_SYMBOLS,
    STOPPED,
)

SPARK = "▁▂▃▄▅▆▇█"
BAR_FULL = "█"
BAR_EMPTY = "░"

# Bright variants where the plain ANSI colour is dark on a dark background (blue, magenta);
# stopped (magenta) and crashed (red) never share a colour.
STATE_STYLE = {
    RUNNING: "bold green",
    STARTING: "bold bright_blue",
    STALLED: "bold yellow",
    FINISHED: "bold cyan",
    STOPPED: "bold bright_magenta",
    CRASHED: "bold bright_red",
    CONTINUED: "cyan",
}
LEVEL_MARK = {"ok": "✓", "warn": "!", "bad": "✗", None: "·"}
LEVEL_STYLE = {"ok": "green", "warn": "yellow", "bad": "bold red", None: "dim"}
_COLOURED = (dict(STATE_STYLE), dict(LEVEL_STYLE))


def set_colour(on: bool) -> None:
    """Under ``NO_COLOR`` Textual greys every colour by its luminance, and a dark one (magenta,
    blue) all but vanishes on a dark background: states and levels are then bold or plain,
    their symbols carrying the meaning."""
    STATE_STYLE.clear()
    LEVEL_STYLE.clear()
    if on:
        STATE_STYLE.update(_COLOURED[0])
        LEVEL_STYLE.update(_COLOURED[1])
    else:
        STATE_STYLE.update(dict.fromkeys(_COLOURED[0], "bold"))
        LEVEL_STYLE.update({"ok": "", "warn": "bold", "bad": "bold reverse", None: "dim"})


def state_symbol(state: str) -> str:
    return STATE_SYMBOLS.get(state, "?")


def state_text(state: str) -> Text:
    return Text(f"{state_symbol(state)} {state}", style=STATE_STYLE.get(state, ""))


def short_duration(seconds: float | None) -> str:
    """Minute precision (``4m``, ``1h02m``, ``2d03h``): it changes once a minute at most."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    s = max(seconds, 0.0)
    if s < 60:
        return "<1m"
    if s < 3600:
        return f"{int(s // 60)}m"
    return fmt.duration(s)


def ago(t: float | None, now: float) -> str:
    if t is None:
        return "-"
    return f"{short_duration(now - t)} ago"


def sparkline(values: Any, width: int) -> str:
    """``values`` squeezed into ``width`` block characters (bucket means; NaN/inf skipped)."""
    if width <= 0:
        return ""
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    if n == 0:
        return ""
    finite = np.isfinite(v)
    if not finite.any():
        return "?" * min(width, n)
    buckets = min(width, n)
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)[:-1]
    sums = np.add.reduceat(np.where(finite, v, 0.0), edges)
    counts = np.add.reduceat(finite.astype(np.int64), edges)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts
    ok = counts > 0
    lo, hi = float(means[ok].min()), float(means[ok].max())
    span = hi - lo
    out = []
    for m, good in zip(means, ok, strict=True):
        if not good:
            out.append(" ")
        elif span <= 0:
            out.append(SPARK[3])
        else:
            out.append(SPARK[min(int((m - lo) / span * len(SPARK)), len(SPARK) - 1)])
    return "".join(out)


def bar(fraction: float | None, width: int) -> tuple[str, str]:
    """(done part, remaining part) of a progress bar ``width`` cells wide."""
    if width <= 0:
        return "", ""
    f = 0.0 if fraction is None or not math.isfinite(fraction) else min(max(fraction, 0.0), 1.0)
    done = int(round(f * width))
    return BAR_FULL * done, BAR_EMPTY * (width - done)


def checkpoint_marks(steps: Sequence[int], current: int, total: int | None, width: int) -> str:
    """Checkpoints as marks along the step axis: ``|`` a checkpoint, ``-`` trained without one,
    ``·`` still to come."""
    if width <= 0:
        return ""
    end = total or max([current, *steps, 1])
    cells = ["·"] * width
    done = min(int(current / end * width), width) if end else 0
    for i in range(done):
        cells[i] = "-"
    cols = sorted(
        {max(min(int(s / end * width + 1e-9) - 1, width - 1), 0) for s in steps if s >= 0}
    )
    if len(cols) >= 2 and len(steps) >= width / 2:
        # Denser than the cells: gaps would be aliasing, not missing checkpoints.
        cols = list(range(cols[0], cols[-1] + 1))
    for i in cols:
        cells[i] = "|"
    return "".join(cells)


fit = fmt.fit
abbreviate = fmt.abbreviate


def steps_of(n: float | None) -> str:
    return fmt.steps(n) if n else "0"


def level_of(findings: Sequence[Finding], rules: Sequence[str]) -> str | None:
    """The worst level among findings of ``rules``, as the health rules judged them (None when
    there is none: nothing is judged here)."""
    found = find(findings, tuple(rules))
    return max((f.level for f in found), key=rank) if found else None


def furthest_outside(findings: Sequence[Finding], rules: Sequence[str], values: dict) -> Any:
    """The key of ``values`` (tag -> value shown) furthest outside the band its finding was
    judged against; the first key when no finding of ``rules`` has a band for any of them."""
    bands = {f.tag: f.band for f in find(findings, tuple(rules)) if f.band is not None}

    def outside(tag: str) -> float:
        band = bands.get(tag)
        x = band.outside(values[tag]) if band is not None else -math.inf
        return x if math.isfinite(x) else (math.inf if band is not None else -math.inf)

    return max(values, key=outside) if values else None


def mark(level: str | None) -> Text:
    return Text(LEVEL_MARK.get(level, "·"), style=LEVEL_STYLE.get(level, "dim"))


def ended_text(state: str) -> str:
    return {
        FINISHED: "finished",
        STOPPED: "stopped",
        CRASHED: "ended",
        STALLED: "silent",
        STARTING: "starting",
    }.get(state, state)


def split_labels(labels: Sequence[str]) -> tuple[str, list[str]]:
    """(the words every label shares, what is left of each label): ``["lr=3e-4 seed=1",
    "lr=3e-4 seed=2"]`` gives ``("lr=3e-4", ["seed=1", "seed=2"])``. One label keeps all its words."""
    if len(labels) < 2:
        return "", list(labels)
    words = [s.split() for s in labels]
    common = [w for w in words[0] if all(w in ws for ws in words[1:])]
    rest = [" ".join(w for w in ws if w not in common) for ws in words]
    return " ".join(common), rest


def telling_order(labels: Sequence[str]) -> list[str]:
    """Each ``key=value`` label with its words reordered so that those telling the runs apart
    come first: keys picked one by one, each time the one separating the most pairs of runs not
    yet told apart (``lr`` then ``seed`` for three runs where ``max_grad_norm`` always follows
    ``lr``), then the rest in their order. Labels with a word that is not ``key=value`` are left
    as they are."""
    words = [s.split() for s in labels]
    if len(labels) < 2 or not all("=" in w for ws in words for w in ws):
        return list(labels)
    maps = [dict(w.split("=", 1) for w in ws) for ws in words]
    keys = list(dict.fromkeys(k for m in maps for k in m))
    n = len(maps)
    apart: set[tuple[int, int]] = set()
    chosen: list[str] = []
    while True:
        best, gain = None, 0
        for k in keys:
            if k in chosen:
                continue
            g = sum(
                1
                for i in range(n)
                for j in range(i + 1, n)
                if (i, j) not in apart and maps[i].get(k) != maps[j].get(k)
            )
            if g > gain:
                best, gain = k, g
        if best is None:
            break
        chosen.append(best)
        apart |= {
            (i, j)
            for i in range(n)
            for j in range(i + 1, n)
            if maps[i].get(best) != maps[j].get(best)
        }
    order = chosen + [k for k in keys if k not in chosen]
    return [" ".join(f"{k}={m[k]}" for k in order if k in m) for m in maps]


def count_levels(findings: Sequence[Finding]) -> str:
    """``2 bad, 5 warn`` (or ``ok``, or ``-`` with no findings)."""
    if not findings:
        return "-"
    bad = sum(1 for f in findings if f.level == "bad")
    warn = sum(1 for f in findings if f.level == "warn")
    parts = [f"{bad} bad"] * bool(bad) + [f"{warn} warn"] * bool(warn)
    return ", ".join(parts) or "ok"
