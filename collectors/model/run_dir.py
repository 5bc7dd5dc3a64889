"""What a HARL run directory is called: ``seed-<NNNNN>-<YYYY-MM-DD-HH-MM-SS>``."""

from __future__ import annotations

import re
import time

RUN_DIR_RE = re.compile(r"^seed-(\d+)-(\d{4})-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")


def parse_run_dir_name(name: str) -> tuple[int, float] | None:
    """``seed-00001-2025-11-15-15-34-13`` -> (seed, unix start time in local time)."""
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
