"""The TUI's one door into the data layer: what the app polls, and how it reads what it gets.

Beyond the snapshot values (:mod:`collectors.model`) and number formatting
(:mod:`collectors.fmt`), everything the Textual app uses from ``collectors`` goes through this
module and :mod:`tui.actions`, so that changes in the collectors stay local to these two files.

* :class:`Source` is the protocol the app polls from a worker thread (``collect()`` / ``close()``).
  Tests pass fakes that return hand-built :class:`~collectors.model.Snapshot` values.
* :func:`live_sources` is the real one: :class:`collectors.monitor.Monitor` (runs, processes and
  the state they imply, GPUs, disks, health findings, sibling labels). Each of its parts fails on
  its own: a broken GPU library costs the GPU line, never the runs.
* :class:`HostCollector` gives CPU and RAM for the system strip.
* Small readers (:func:`proc_get`, :func:`thresholds`, :func:`config_differences`, ...) wrap the
  analysis helpers the widgets need and hide the exact shape of values (``RunSnapshot.process`` is
  a ProcessInfo, and reads as a mapping too).

No Textual here: this module runs in worker threads and in plain tests.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from collectors.model.run import RunSnapshot
from collectors.sources.processes.collector import command_txt_log


class Source(Protocol):
    """What the app polls: one blocking call per poll, from one worker thread at a time."""

    def collect(self) -> Any: ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------- host CPU and RAM


@dataclass(frozen=True, slots=True)
class HostStats:
    cpu_percent: float | None  # all cores together, 0..100
    cpus: int
    mem_used: int | None
    mem_total: int | None
    load1: float | None = None
    cpu_history: tuple[float, ...] = ()


class HostCollector:
    """CPU and RAM of the machine (psutil), with a short CPU history for a sparkline."""

    def __init__(self, history: int = 60) -> None:
        import psutil

        self._psutil = psutil
        self._hist: deque[float] = deque(maxlen=history)
        psutil.cpu_percent(None)  # prime: the next call measures since now

    def collect(self) -> HostStats:
        ps = self._psutil
        cpu = ps.cpu_percent(None)
        self._hist.append(cpu)
        vm = ps.virtual_memory()
        try:
            load1 = os.getloadavg()[0]
        except OSError:
            load1 = None
        return HostStats(
            cpu,
            ps.cpu_count() or 1,
            int(vm.total - vm.available),
            int(vm.total),
            load1,
            tuple(self._hist),
        )

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------- the live source


def live_sources(roots: Sequence[str], settings: Any, registry: Any = None) -> Source:
    """Everything happo-top watches below ``roots``: runs, processes, GPUs, disks, health and
    labels, as one snapshot per ``collect()`` (:class:`collectors.monitor.Monitor`)."""
    from collectors.monitor import Monitor

    return Monitor(list(roots), settings, registry=registry)


# --------------------------------------------------------------------------- readers


def proc_get(process: Any, name: str, default: Any = None) -> Any:
    """A field of ``RunSnapshot.process``, whether it is a ProcessInfo or a mapping."""
    if process is None:
        return default
    if isinstance(process, Mapping):
        return process.get(name, default)
    return getattr(process, name, default)


def process_info(run: RunSnapshot | None) -> Any:
    """The run's ProcessInfo as collectors.control needs it, or None."""
    if run is None or run.process is None:
        return None
    p = run.process
    if isinstance(p, Mapping):
        return None  # only a real ProcessInfo can become a signal target
    return p


def thresholds(settings: Any) -> dict[str, float]:
    """The health thresholds in force: the config file's on top of the seed's defaults."""
    from collectors.analysis.health.rules import thresholds_with_defaults

    return dict(thresholds_with_defaults(getattr(settings, "thresholds", None) or {}))


def clip_value(config: Mapping[str, Any]) -> float | None:
    """The run's gradient clip value (``max_grad_norm`` when clipping is on)."""
    from collectors.analysis.quarters import clip_value as clip

    return clip(config)


def reward_quarters(run: RunSnapshot, span: int | None = None) -> Any:
    from collectors.analysis.quarters import reward_quarters as quarters

    return quarters(run, span=span)


def metric_quarters(run: RunSnapshot) -> dict[str, list[Any]]:
    from collectors.analysis.quarters import metric_quarters as quarters

    return quarters(run)


def value_at_or_after(steps: Any, step: float) -> int | None:
    """Index of the first point at or after ``step`` (None when the series ends before)."""
    import numpy as np

    i = int(np.searchsorted(steps, step, side="left"))
    return i if i < len(steps) else None


def run_labels(runs: Sequence[RunSnapshot], settings: Any) -> dict[str, str]:
    """Display names by run path: the sibling label (``lr=3e-4 max_grad_norm=0.5``) unless the
    user configured an alias for the run (the alias is already its ``name``)."""
    aliases = getattr(settings, "aliases", {}) or {}
    out: dict[str, str] = {}
    for r in runs:
        label = getattr(r, "label", "")
        if label and r.path not in aliases and r.id not in aliases:
            out[r.path] = label
    return out


def config_differences(runs: Sequence[RunSnapshot]) -> list[tuple[str, list[str]]]:
    """The flat config keys whose values differ between ``runs``, with each run's value as text
    (``-`` where a run lacks the key), sorted by key. Paths are left out."""
    from collectors.analysis.config_diff import LABEL_IGNORE, diff_configs

    rows = diff_configs([r.config for r in runs], ignore=LABEL_IGNORE)
    return [(row.key, list(row.cells())) for row in rows]


def log_path(run: RunSnapshot) -> str | None:
    """The run's stdout log, when known: the launch registry's log, else the file the live
    process writes its stdout to, else a ``> file`` / ``tee file`` in ``command.txt``."""
    p = run.process
    log = proc_get(p, "log")
    if isinstance(log, str) and log:
        return log
    pid = proc_get(p, "pid")
    if isinstance(pid, int):
        try:
            target = os.readlink(f"/proc/{pid}/fd/1")
            if target.startswith("/") and os.path.isfile(target):
                return target
        except OSError:
            pass
    return command_txt_log(run.path)


def tail_file(path: str, max_bytes: int = 65536, max_lines: int = 400) -> list[str]:
    """The last lines of a text file (blocking: call it from a worker thread)."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(size - max_bytes, 0))
        data = f.read()
    lines = data.decode("utf-8", "replace").split("\n")  # not splitlines(): it splits at \r
    if lines and lines[-1] == "":
        lines.pop()
    if size > max_bytes and lines:
        lines = lines[1:]  # the first line is probably cut
    # Progress bars rewrite a line with \r: keep what a terminal would show.
    return [ln.rsplit("\r", 1)[-1] for ln in lines[-max_lines:]]


def filter_runs(runs: Iterable[RunSnapshot], text: str, labels: Mapping[str, str]) -> list:
    """Runs whose name, label, state, id or path contain every word of ``text``."""
    words = text.lower().split()
    if not words:
        return list(runs)
    out = []
    for r in runs:
        hay = " ".join(
            (r.name, labels.get(r.path, ""), r.state, r.id, r.path, r.exp_name, r.algo, r.env)
        ).lower()
        if all(w in hay for w in words):
            out.append(r)
    return out
