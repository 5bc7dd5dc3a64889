"""``happo-top serve --stream [ROOT...]``: the remote side of several hosts.

Writes the header and then one snapshot per poll on stdout, one JSON document a line (the wire
format is :mod:`collectors.model.stream`), for a happo-top elsewhere that started this one over
ssh (:mod:`collectors.sources.remote`). Also usable locally (``happo-top serve --stream | jq``).

It ends, with status 0, when its reader goes away: stdout closed (EPIPE), stdin closed when stdin
is a pipe or socket (ssh's channel: the local ssh was killed or the connection dropped), SIGHUP,
SIGTERM or Ctrl-C. No port is opened; nothing but stdout is written to.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import signal
import socket
import stat
import sys
import threading
from collections.abc import Sequence

from collectors.model import Settings, StreamEncoder
from collectors.monitor import Monitor
from collectors.sources.remote import split_root
from tui.cli import common, exit_codes, options


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="happo-top serve",
        description="Stream snapshots as NDJSON on stdout (the remote side of several hosts).",
    )
    options.add_roots(
        p,
        help="directories to watch, as ROOT or --root DIR, both repeatable (default: the "
        "config's roots, else .)",
    )
    p.add_argument(
        "--stream",
        action="store_true",
        help="one JSON snapshot per poll, one per line (the only mode today)",
    )
    p.add_argument("--count", type=options.positive(int), help="stop after this many snapshots")
    p.add_argument(
        "--refresh", type=options.positive(), metavar="SECONDS", help="seconds between polls"
    )
    options.add_stall_timeout(p)
    options.add_config(p)
    return p


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    if not args.stream:
        common.fail("happo-top serve", "give --stream (NDJSON snapshots on stdout)")
        return exit_codes.USAGE
    return common.run_command("happo-top serve", _serve, args)


def _serve(args: argparse.Namespace) -> int:
    settings = common.load_settings(args)
    # Only this host's roots: a served happo-top never reaches further hosts itself.
    roots = [os.path.expanduser(r) for r in (args.roots or settings.roots)]
    roots = roots or [os.getcwd()]
    far = [r for r in roots if split_root(r)[0] is not None]
    if far:
        raise common.UsageError(
            f"serve watches this host's directories only, not {', '.join(far)}: run it there"
        )
    done = threading.Event()
    _watch_reader(done)
    monitor = Monitor(roots, dataclasses_replace_hosts(settings), registry=common.registry())
    try:
        return stream(monitor, settings, done, count=args.count)
    finally:
        monitor.close()


def dataclasses_replace_hosts(settings: Settings) -> Settings:
    """The settings without other hosts (a host's config may list the others)."""
    return dataclasses.replace(settings, hosts={})


def stream(
    monitor: Monitor, settings: Settings, done: threading.Event, count: int | None = None
) -> int:
    out = sys.stdout
    encoder = StreamEncoder()
    try:
        _line(out, StreamEncoder.header(socket.gethostname(), list(monitor.roots)))
        sent = 0
        while not done.is_set():
            _line(out, encoder.encode(monitor.collect()))
            sent += 1
            if count is not None and sent >= count:
                break
            done.wait(settings.refresh)
    except BrokenPipeError:
        return options.reader_gone()
    except KeyboardInterrupt:
        pass
    return exit_codes.OK


def _line(out, doc: dict) -> None:
    out.write(json.dumps(doc, separators=(",", ":"), allow_nan=False) + "\n")
    out.flush()


def _watch_reader(done: threading.Event) -> None:
    """Set ``done`` on SIGHUP/SIGTERM and, when stdin is a pipe or socket (ssh), at its end."""

    def stop(*_: object) -> None:
        done.set()

    for sig in (signal.SIGHUP, signal.SIGTERM):
        with contextlib.suppress(ValueError, OSError):  # not the main thread (tests)
            signal.signal(sig, stop)
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        return  # a terminal or /dev/null: its "end" says nothing about the reader

    def drain() -> None:
        fd = sys.stdin.fileno()
        with contextlib.suppress(OSError):
            while os.read(fd, 4096):
                pass
        done.set()

    threading.Thread(target=drain, name="serve-stdin", daemon=True).start()


__all__ = ["build_parser", "main", "stream"]
