"""The monitor's headless forms: ``happo-top --once`` (one plain-text snapshot, like
``top -b -n 1``), ``--once --json`` (the same as one JSON document) and ``--plain`` (a refreshing
plain-text view for dumb terminals and logs, with the events as they happen, and the config's
``on_event`` command run for each, as the monitor does). No Textual: the full-screen monitor is started by
:mod:`tui.cli.command` only when a terminal is there to hold it.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from collectors.config import default_roots
from collectors.fmt import printable
from collectors.model import Settings, Snapshot
from collectors.monitor import Monitor
from collectors.sources.remote import config_roots
from tui.cli import common, exit_codes

if TYPE_CHECKING:
    from collectors.control import Registry
    from collectors.model import Event

NO_TERMINAL = (
    "the full-screen monitor needs a terminal (stdin and stdout are not one here); "
    "use --once or --once --json for a snapshot, --plain for a refreshing text view"
)


def has_terminal() -> bool:
    """Whether the full-screen monitor can run: stdin and stdout are a terminal. Without one
    (cron, nohup, ``ssh host happo-top`` without -t, a pipe) Textual would spin drawing escape
    codes into a file."""
    try:
        return sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def watched_roots(args: argparse.Namespace, settings: Settings) -> list[str]:
    """The roots given on the command line replace the config's (as htop's arguments do); the
    config's are its ``roots`` and its ``hosts:`` roots (``host:path``)."""
    configured = [*settings.roots, *config_roots(settings.hosts)]
    return list(args.roots) or configured or default_roots()


def main(args: argparse.Namespace, run_monitor: Callable[[Sequence[str], Settings], int]) -> int:
    """``happo-top [ROOT...]`` once parsed: a snapshot, the plain view, or (on a terminal)
    ``run_monitor``, the full-screen monitor."""
    settings = common.load_settings(args)
    roots = watched_roots(args, settings)
    if args.json or args.once:
        # the monitor builds the launch registry once it finds a run (an empty root: never)
        return print_once(roots, settings, as_json=args.json, width=args.width)
    if args.plain:
        return watch_text(roots, settings, common.registry())
    if not has_terminal():
        raise common.UsageError(NO_TERMINAL)
    return run_monitor(roots, settings)


def snapshot_once(
    roots: Sequence[str], settings: Settings, registry: Registry | None = None
) -> Snapshot:
    """Everything once: runs, processes, GPUs, disks, health."""
    monitor = Monitor(roots, settings, registry=registry)
    try:
        monitor.wait_for_hosts()
        return monitor.collect()
    finally:
        monitor.close()


def print_once(
    roots: Sequence[str],
    settings: Settings,
    registry: Registry | None = None,
    as_json: bool = False,
    width: int | None = None,
) -> int:
    snap = snapshot_once(roots, settings, registry)
    if as_json:
        common.write_json(snap.to_json())
        return exit_codes.OK
    # Deferred for start-up time: the text table only for text.
    import shutil

    # Deferred for start-up time, as above.
    from tui.text.table import render, use_colour

    width = width or shutil.get_terminal_size((120, 24)).columns
    sys.stdout.write(render(snap, width=width, colour=use_colour()))
    return exit_codes.OK


def watch_text(
    roots: Sequence[str],
    settings: Settings,
    registry: Registry,
    stop_when: Callable[[], bool] | None = None,
) -> int:
    """A refreshing plain-text view (``--plain``: dumb terminals, logs): Ctrl-C to quit."""
    # Deferred for start-up time: what only this view needs (the events read the health rules).
    import shutil
    import signal

    # Deferred for start-up time, as above.
    from collectors.analysis.events import detect
    from collectors.control import HookRunner
    from tui.text.table import render, use_colour

    collector = Monitor(roots, settings, registry=registry)
    colour = use_colour()
    # On a terminal each frame replaces the last; into a file or a pipe, frames follow one
    # another under a time stamp (a log of the runs, no escape codes).
    clear = "\x1b[H\x1b[2J" if sys.stdout.isatty() else ""
    previous = None
    last: Snapshot | None = None
    recent: collections.deque[Event] = collections.deque(maxlen=5)  # shown under the table
    reports: collections.deque[Event] = collections.deque(maxlen=100)  # from the hook's thread
    hooks = None
    if settings.on_event:
        hooks = HookRunner(
            settings.on_event,
            per_minute=settings.on_event_rate,
            timeout=settings.on_event_timeout,
            report=reports.append,
        )
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
        while True:
            size = shutil.get_terminal_size((120, 24))
            new: list[Event] = []
            try:
                snap = collector.collect()
                new = list(detect(last, snap))
                last = snap
                text = render(snap, width=size.columns, colour=colour)
            except Exception as e:  # a bug on odd data: say so each frame, keep refreshing
                text = f"happo-top: internal error (a bug): {type(e).__name__}: {e}"
            for e in new:
                if hooks is not None:
                    hooks.submit(e)
            while reports:
                new.append(reports.popleft())
            recent.extend(new)
            if clear and (text != previous or new):  # no flicker when nothing changed
                lines = [event_line(e) for e in recent]
                events = "\n" + "\n".join(lines) if lines else ""
                sys.stdout.write(clear + text + events + "\n(Ctrl-C to quit)\n")
                sys.stdout.flush()
            elif not clear and (text != previous or new):
                frame = f"--- {time.strftime('%Y-%m-%d %H:%M:%S')}\n{text}\n"
                sys.stdout.write(frame if text != previous else "")
                sys.stdout.write("".join(event_line(e) + "\n" for e in new))
                sys.stdout.flush()
            previous = text
            if stop_when is not None and stop_when():
                return exit_codes.OK
            time.sleep(settings.refresh)
    except KeyboardInterrupt:
        return exit_codes.OK
    finally:
        if hooks is not None:
            hooks.close()
        collector.close()


def event_line(e: Event) -> str:
    """``event 14:02:11 cuboid s3 11-15 15:34 crashed: crashed at 30.5M: RuntimeError: ...``"""
    when = time.strftime("%H:%M:%S", time.localtime(e.time))
    who = f"{e.run_name} " if e.run_name else ""
    host = f"@{e.host} " if e.host else ""
    return printable(f"event {when} {who}{host}{e.kind}: {e.message}")


__all__ = [
    "NO_TERMINAL",
    "has_terminal",
    "main",
    "print_once",
    "snapshot_once",
    "watch_text",
    "watched_roots",
]
