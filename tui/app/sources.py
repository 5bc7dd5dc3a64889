"""The TUI's one door into the data layer: what the app polls, and the file reads its screens ask
it for.

* :class:`Source` is the protocol the app polls from a worker thread (``collect()`` / ``close()``).
  Tests pass fakes that return hand-built :class:`~collectors.model.Snapshot` values.
* :func:`live_sources` is the real one: :class:`collectors.monitor.Monitor` (runs, processes and
  the state they imply, GPUs, disks, health findings, sibling labels), which also builds the one
  launch registry that run control shares (``Monitor.registry``).
* :func:`read_log` is the detail screen's log tail (the launch log, the live process's stdout or
  ``command.txt``'s redirect), handed to the screen by the app: screens never read files.

Screens and widgets import the pure functions of :mod:`collectors.analysis` directly, and the
model values; nothing else of ``collectors``. No Textual here: this module runs in worker threads
and in plain tests.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Protocol

from collectors.control import Registry
from collectors.model.run import RunSnapshot
from collectors.model.settings import Settings
from collectors.monitor import Monitor
from collectors.sources.processes import command_txt_redirect, log_refusal
from collectors.sources.processes.logs import TAIL_BYTES, tail_lines


class Source(Protocol):
    """What the app polls: one blocking call per poll, from one worker thread at a time."""

    def collect(self) -> Any: ...

    def close(self) -> None: ...


def live_sources(
    roots: Sequence[str], settings: Settings, registry: Registry | None = None
) -> Monitor:
    """Everything happo-top watches below ``roots``: runs, processes, GPUs, disks, health and
    labels, as one snapshot per ``collect()``; its ``registry`` is the launch registry (built
    there when ``registry`` is None)."""
    return Monitor(list(roots), settings, registry=registry)


# --------------------------------------------------------------------------- the log tail


def log_path(run: RunSnapshot) -> str | None:
    """The run's stdout log, when known and shown (see :func:`find_log`)."""
    path, why = find_log(run)
    return path if why is None else None


def find_log(run: RunSnapshot) -> tuple[str | None, str | None]:
    """(the run's stdout log, why it is not shown or None): the launch registry's log (ours),
    else the file the live process writes its stdout to, else a ``> file`` / ``tee file`` in
    ``command.txt``. A file that is neither ours nor the run's owner's (nor, for stdout, the
    process's) is not shown, and the reason says whose it is
    (:func:`collectors.sources.processes.log_refusal`). A Slurm job's output file comes after
    the process's stdout (the job may run on another node: no process here)."""
    p = run.process
    if p is not None and p.log:
        return p.log, None
    if p is not None:
        try:
            target = os.readlink(f"/proc/{p.pid}/fd/1")
        except OSError:
            target = ""
        if target.startswith("/") and os.path.isfile(target):
            return target, log_refusal(target, run.path, p.uid)
    job = run.job  # a Slurm job (on another node too): its output file, as squeue names it
    if (
        job is not None
        and run.host is None
        and job.stdout
        and "%" not in job.stdout
        and os.path.isfile(job.stdout)
    ):
        return job.stdout, log_refusal(job.stdout, run.path, job.uid)
    if run.log and run.host is None:  # the engine's: the log its process had (it is gone)
        return run.log, log_refusal(run.log, run.path)
    return command_txt_redirect(run.path)


def tail_file(path: str, max_bytes: int = TAIL_BYTES, max_lines: int = 400) -> list[str]:
    """The last lines of a text file (blocking: call it from a worker thread); only a regular
    file is read (a FIFO swapped in would block the worker). See
    :func:`collectors.sources.processes.logs.tail_lines`."""
    return tail_lines(path, max_bytes, max_lines)


def read_log(run: RunSnapshot) -> tuple[str | None, list[str], str | None]:
    """(log path or None, its last lines, what went wrong reading it, or why it is not shown,
    or None); blocking."""
    path, why = find_log(run)
    lines: list[str] = []
    error = why
    if path is not None and why is None:
        try:
            lines = tail_file(path)
        except OSError as e:
            error = f"{path}: {e.strerror or e}"
    return path, lines, error
