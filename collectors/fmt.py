"""Human formatting of numbers, times and durations, shared by the text view and the TUI."""

from __future__ import annotations

import math
import time


def steps(n: float | None) -> str:
    """47_500_000 -> '47.5M', 2_500_000 -> '2.5M', 500_000 -> '500k'."""
    if n is None or not math.isfinite(n):
        return "-"
    a = abs(n)
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            x = n / div
            return f"{x:.1f}".rstrip("0").rstrip(".") + suffix if x < 100 else f"{x:.0f}{suffix}"
    return f"{n:.0f}"


def duration(seconds: float | None) -> str:
    """3725 -> '1h02m', 95 -> '1m35s', 2 days -> '2d03h'."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    s = int(max(seconds, 0))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def clock(t: float | None, now: float | None = None) -> str:
    """A unix time as 'HH:MM' today, 'MM-DD HH:MM' on another day."""
    if t is None or not math.isfinite(t):
        return "-"
    now = time.time() if now is None else now
    lt, ln = time.localtime(t), time.localtime(now)
    if lt[:3] == ln[:3]:
        return time.strftime("%H:%M", lt)
    return time.strftime("%m-%d %H:%M", lt)


# -- time zones: a run's clock times are shown in the viewer's zone; where the training host's
# zone (RunSnapshot.utc_offset) differs, its own clock time is added, e.g. "20:38 +09:00".


def offset_text(seconds: float) -> str:
    """A UTC offset: 32400 -> '+09:00', -12600 -> '-03:30'."""
    sign = "-" if seconds < 0 else "+"
    m = int(round(abs(seconds) / 60))
    return f"{sign}{m // 60:02d}:{m % 60:02d}"


def offset_short(seconds: float) -> str:
    """A UTC offset for a tight column: 32400 -> '+9', 20700 -> '+5:45', 0 -> '+0'."""
    text = offset_text(seconds)
    hours, minutes = text[1:].split(":")
    return text[0] + str(int(hours)) + ("" if minutes == "00" else f":{minutes}")


def viewer_offset(t: float) -> int:
    """The viewer's UTC offset (seconds) at ``t`` (daylight saving time included)."""
    return int(time.localtime(t).tm_gmtoff)


def viewer_zone(t: float) -> str:
    """The viewer's zone at ``t``: 'UTC' when it is UTC, else its offset ('+01:00')."""
    off = viewer_offset(t)
    return "UTC" if off == 0 else offset_text(off)


def other_zone(t: float | None, offset: int | None) -> bool:
    """True when the run's host clock (``offset``) differs from the viewer's at ``t``."""
    if t is None or offset is None or not math.isfinite(t):
        return False
    return offset != viewer_offset(t)


def clock_at(t: float | None, offset: float, now: float | None = None) -> str:
    """:func:`clock` in the fixed zone ``offset`` (seconds east of UTC)."""
    if t is None or not math.isfinite(t):
        return "-"
    now = time.time() if now is None else now
    lt, ln = time.gmtime(t + offset), time.gmtime(now + offset)
    if lt[:3] == ln[:3]:
        return time.strftime("%H:%M", lt)
    return time.strftime("%m-%d %H:%M", lt)


def own_clock(
    t: float | None, offset: int | None, now: float | None = None, short: bool = False
) -> str:
    """'20:38 +09:00': ``t`` on the run's own clock, or '' when that is the viewer's. The date
    is added when the run's clock and :func:`clock` (the viewer's) would show different days."""
    if t is None or offset is None or not other_zone(t, offset):
        return ""
    own = clock_at(t, offset, now)
    mine = clock(t, now)
    same_day = time.gmtime(t + offset)[:3] == time.localtime(t)[:3]
    if same_day and len(own) > 5:
        own = own[-5:]
    elif not same_day and len(mine) == 5 and len(own) == 5:
        own = time.strftime("%m-%d %H:%M", time.gmtime(t + offset))
    return f"{own} {offset_short(offset) if short else offset_text(offset)}"


def date(t: float | None, offset: float | None = None, seconds: bool = False) -> str:
    """'2025-11-15 06:34' in the viewer's zone, or in the fixed zone ``offset``."""
    if t is None or not math.isfinite(t):
        return "-"
    st = time.localtime(t) if offset is None else time.gmtime(t + offset)
    return time.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M", st)


def dated_in_zones(t: float | None, offset: int | None, seconds: bool = False) -> str:
    """'2025-11-15 06:34 UTC (15:34 +09:00 on the run's host)'; just the date and the
    viewer's zone when the run's host is in the same zone (or its zone is unknown)."""
    if t is None or not math.isfinite(t):
        return "-"
    text = f"{date(t, seconds=seconds)} {viewer_zone(t)}"
    if offset is not None and other_zone(t, offset):
        own = date(t, offset, seconds)
        if own[:10] == date(t, seconds=seconds)[:10]:
            own = own[11:]
        text += f" ({own} {offset_text(offset)} on the run's host)"
    return text


def value(x: float | None, digits: int = 2) -> str:
    if x is None:
        return "-"
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x != 0 and (abs(x) >= 1e5 or abs(x) < 10**-digits):
        return f"{x:.{max(digits - 1, 1)}e}"
    return f"{x:.{digits}f}"


def nbytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "K", "M", "G", "T"):
        if abs(n) < 1024 or unit == "T":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return "-"


def fit(text: str, width: int, ellipsis: str = "…") -> str:
    """``text`` cut to ``width`` with an ellipsis."""
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    return text[: max(width - len(ellipsis), 0)] + ellipsis


def abbreviate(label: str, width: int, ellipsis: str = "…") -> str:
    """A ``key=value`` label made to fit ``width``: the longest ``snake_case`` keys shortened to
    their initials first (``max_grad_norm=0.5`` to ``mgn=0.5``), then cut with an ellipsis."""
    words = label.split(" ")
    order = sorted(
        (i for i, w in enumerate(words) if "=" in w and "_" in w.split("=", 1)[0]),
        key=lambda i: -len(words[i].split("=", 1)[0]),
    )
    for i in order:
        if len(" ".join(words)) <= width:
            break
        words[i] = short_key(words[i])
    return fit(" ".join(words), width, ellipsis)


def short_key(word: str) -> str:
    """``max_grad_norm=0.5`` to ``mgn=0.5``; a word without a ``snake_case`` key as it is."""
    key, eq, value = word.partition("=")
    if not eq or "_" not in key:
        return word
    return "".join(p[:1] for p in key.split("_") if p) + "=" + value


def problem_first(error: str, base: str | None = None) -> str:
    """``/long/path/to/events.out...: 3 corrupt region(s) skipped`` as ``3 corrupt region(s)
    skipped (logs/.../events.out...)``: the problem first, so that a cut line still says it; the
    path relative to ``base`` (the run directory) when it lies below it."""
    if not error.startswith("/"):
        return error
    path, sep, problem = error.partition(": ")
    if not sep or not problem:
        return error
    if base and (path == base or path.startswith(base.rstrip("/") + "/")):
        path = path[len(base.rstrip("/")) + 1 :] or "."
    return f"{problem} ({path})"


def reward(x: float | None) -> str:
    """A reward: two decimals (-15.00); three significant digits below 1 (-0.0912), so that
    layout B's per-step rewards keep their information."""
    if x is None:
        return "-"
    if not math.isfinite(x):
        return value(x, 2)
    a = abs(x)
    if a >= 0.995 or a == 0:
        return f"{x:.2f}"
    return f"{x:.{min(8, 2 - math.floor(math.log10(a)))}f}"


def sig3(x: float | None) -> str:
    """A metric: three significant digits."""
    if x is None:
        return "-"
    if not math.isfinite(x):
        return value(x)
    return f"{x:.3g}" if abs(x) < 1000 else value(x, 2)


def _escape_table() -> dict[int, str]:
    table = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
    # A name that is not UTF-8 reaches Python as lone surrogates (U+DC80-U+DCFF): its bytes.
    table.update({c: f"\\x{c - 0xDC00:02x}" for c in range(0xDC80, 0xDD00)})
    # Bidirectional overrides and isolates can make a line read differently than it is.
    table.update({c: f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))})
    return table


_ESCAPES = _escape_table()
_KEEP = {ord("\n"): "\n", ord("\t"): "\t"}


def printable(text: object, keep_newlines: bool = False) -> str:
    """``text`` safe to write to a terminal: control characters (ESC of a terminal escape
    sequence, BEL, CR, the C1 range), lone surrogates (a directory name that is not UTF-8) and
    bidirectional overrides are written as backslash escapes. Run files are not trusted: an
    ``exp_name`` or a tag could otherwise clear the screen or retitle the terminal."""
    s = text if isinstance(text, str) else str(text)
    if s.isprintable():
        return s
    return s.translate({**_ESCAPES, **_KEEP} if keep_newlines else _ESCAPES)
