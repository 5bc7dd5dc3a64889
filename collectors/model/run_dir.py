"""What a HARL run directory is called: ``seed-<NNNNN>-<YYYY-MM-DD-HH-MM-SS>``.

The stamp is the training host's *local* time at the start (HARL's ``init_dir`` formats
``time.localtime()``), in a zone the name does not say: :func:`dir_stamp` reads it as wall-clock
digits, and only the event files' true instants tell which zone that was (see
:func:`utc_offset_from`)."""

from __future__ import annotations

import re
import time

RUN_DIR_RE = re.compile(r"^seed-(\d+)-(\d{4})-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")

OFFSET_STEP = 900  # UTC offsets are whole quarter hours (e.g. +05:45, +09:00)
MAX_OFFSET = 14 * 3600  # the widest offsets in use are -12:00 and +14:00


def parse_run_dir_name(name: str) -> tuple[int, float] | None:
    """``seed-00001-2025-11-15-15-34-13`` -> (seed, start read in the *viewer's* local time).

    Only a fallback for a run without event files: the true start comes from the event files."""
    m = RUN_DIR_RE.match(name)
    if not m:
        return None
    seed = int(m.group(1))
    parts = tuple(int(g) for g in m.groups()[1:])
    try:
        started = time.mktime((*parts, 0, 0, -1))  # type: ignore[arg-type]
    except (OverflowError, ValueError):
        return None
    return seed, started


def dir_stamp(name: str) -> float | None:
    """The directory's local wall-clock digits as if they were UTC (``calendar.timegm``):
    ``stamp - true start`` is the training host's UTC offset."""
    m = RUN_DIR_RE.match(name)
    if not m:
        return None
    import calendar  # deferred for start-up time: discovery imports this module for its pattern

    parts = tuple(int(g) for g in m.groups()[1:])
    try:
        return float(calendar.timegm((*parts, 0, 0, 0)))
    except (OverflowError, ValueError):
        return None


def utc_offset_from(stamp: float | None, instant: float | None) -> int | None:
    """The training host's UTC offset in seconds: the directory's local stamp minus the true
    start instant, rounded to a quarter hour (the directory is made a moment before the event
    file); None when either is unknown or the difference is no real offset (a renamed dir)."""
    if stamp is None or instant is None:
        return None
    off = round((stamp - instant) / OFFSET_STEP) * OFFSET_STEP
    if abs(off) > MAX_OFFSET or abs(stamp - instant - off) > 300:
        return None
    return int(off)
