"""CPU and RAM of the machine (psutil), for the system strip."""

from __future__ import annotations

import os
from collections import deque

import psutil

from collectors.model.host import HostStats


class HostCollector:
    """CPU and RAM of the machine, with a short CPU history for a sparkline."""

    def __init__(self, history: int = 60) -> None:
        self._hist: deque[float] = deque(maxlen=history)
        psutil.cpu_percent(None)  # prime: the next call measures since now

    def collect(self) -> HostStats:
        cpu = psutil.cpu_percent(None)
        self._hist.append(cpu)
        vm = psutil.virtual_memory()
        try:
            load1: float | None = os.getloadavg()[0]
        except OSError:
            load1 = None
        return HostStats(
            cpu,
            psutil.cpu_count() or 1,
            int(vm.total - vm.available),
            int(vm.total),
            load1,
            tuple(self._hist),
        )

    def close(self) -> None:
        pass
