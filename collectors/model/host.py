"""The machine itself: CPU and memory (filled by collectors.sources.host). No I/O here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HostStats:
    cpu_percent: float | None  # all cores together, 0..100
    cpus: int
    mem_used: int | None
    mem_total: int | None
    load1: float | None = None
    cpu_history: tuple[float, ...] = ()
