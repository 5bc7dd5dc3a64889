"""The ``happo-top`` command line.

Headless commands (``--once``, ``--json``, ``simulate``, ``check``, ``report``, ``diff``, run control)
run from ``collectors`` alone and never import Textual: their start-up time is part of what users
feel. Sub-commands are imported only when used.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import signal
import sys
import time

# sub-command -> (module, function). Each takes argv (after the sub-command) and returns the exit
# status.
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("tui.cli.demo", "main", "start simulated runs and watch them"),
    "simulate": (
        "collectors.simulator.trainer",
        "main",
        "run a simulated HARL trainer (for tests and demos)",
    ),
    "check": ("tui.cli.analysis", "check_main", "exit 1 when a run is unhealthy (cron, CI)"),
    "report": ("tui.cli.analysis", "report_main", "write a Markdown analysis of runs"),
    "diff": (
        "tui.cli.analysis",
        "diff_main",
        "show the config keys that differ between runs",
    ),
    "launch": ("tui.cli.control", "launch_main", "start a training run detached"),
    "stop": (
        "tui.cli.control",
        "stop_main",
        "stop a run gracefully (SIGINT, SIGTERM, SIGKILL)",
    ),
    "kill": ("tui.cli.control", "kill_main", "SIGKILL a run's process group"),
    "restart": ("tui.cli.control", "restart_main", "stop a run and start it again"),
}


def positive(kind: type = float):
    """An argparse type: a number above zero, or a clear usage error."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="happo-top",
        description="Monitor HAPPO/HARL training runs: progress, ETA, rewards, checkpoints, health.",
        epilog="sub-commands: "
        + "; ".join(f"{k}: {v[2]}" for k, v in SUBCOMMANDS.items())
        + ". Run 'happo-top SUBCOMMAND --help' for each.",
    )
    p.add_argument(
        "roots", nargs="*", metavar="ROOT", help="directories to watch (default: ./results, else .)"
    )
    p.add_argument("--once", action="store_true", help="print one plain-text snapshot and exit")
    p.add_argument(
        "--json", action="store_true", help="with --once: one JSON document (implies --once)"
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="YAML config file (default: $XDG_CONFIG_HOME/happo-top/config.yaml)",
    )
    p.add_argument(
        "--refresh", type=positive(), metavar="SECONDS", help="seconds between refreshes"
    )
    p.add_argument(
        "--stall-timeout",
        type=positive(),
        metavar="SECONDS",
        help="silence before a run counts as stalled",
    )
    p.add_argument(
        "--verify-crc",
        action="store_true",
        default=None,
        help="check the CRC of every event record",
    )
    p.add_argument(
        "--read-only", action="store_true", default=None, help="disable every action on runs"
    )
    p.add_argument(
        "--width", type=positive(int), help="text width for --once (default: the terminal's)"
    )
    p.add_argument(
        "--plain",
        action="store_true",
        help="a refreshing plain-text view instead of the full-screen monitor",
    )
    return p


def load_runtime(args: argparse.Namespace):
    """Settings from the config file with the command line on top, and the roots to watch."""
    from collectors.config import default_roots, load_settings

    settings = load_settings(args.config)
    overrides = {}
    for key in ("refresh", "stall_timeout", "verify_crc", "read_only"):
        v = getattr(args, key, None)
        if v is not None:
            overrides[key] = v
    if overrides:
        import dataclasses

        settings = dataclasses.replace(settings, **overrides)
    roots = list(args.roots) or list(settings.roots) or default_roots()
    return settings, roots


def snapshot_once(roots, settings):
    """Everything once: runs, processes, GPUs, disks, health (no Textual)."""
    from collectors.monitor import Monitor

    monitor = Monitor(roots, settings)
    try:
        return monitor.collect()
    finally:
        monitor.close()


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away (``happo-top --json | head``): not an error. Point stdout at
        # /dev/null so that the interpreter's final flush does not complain again.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        module, func, _ = SUBCOMMANDS[argv[0]]
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
            print(f"happo-top {argv[0]}: not available in this version", file=sys.stderr)
            return 2
        return int(getattr(mod, func)(argv[1:]) or 0)

    args = build_parser().parse_args(argv)
    from collectors.config import ConfigError

    try:
        settings, roots = load_runtime(args)
    except ConfigError as e:
        print(f"happo-top: {e}", file=sys.stderr)
        return 2
    if args.json or args.once:
        return print_once(roots, settings, as_json=args.json, width=args.width)
    if args.plain:
        return watch_text(roots, settings)
    if not has_terminal():
        print(f"happo-top: {NO_TERMINAL}", file=sys.stderr)
        return 2
    return run_monitor(roots, settings)


def run_monitor(roots, settings) -> int:
    """The full-screen Textual monitor (Textual is imported here, and only here)."""
    from tui.app.app import run_app

    return run_app(roots, settings)


def print_once(roots, settings, as_json: bool = False, width: int | None = None) -> int:
    snap = snapshot_once(roots, settings)
    if as_json:
        json.dump(snap.to_json(), sys.stdout, indent=1, allow_nan=False)
        sys.stdout.write("\n")
        return 0
    from tui.text.table import render, use_colour

    width = width or shutil.get_terminal_size((120, 24)).columns
    sys.stdout.write(render(snap, width=width, colour=use_colour()))
    return 0


def watch_text(roots, settings, stop_when=None) -> int:
    """A refreshing plain-text view (``--plain``: dumb terminals, logs): Ctrl-C to quit."""
    from collectors.monitor import Monitor
    from tui.text.table import render, use_colour

    collector = Monitor(roots, settings)
    colour = use_colour()
    # On a terminal each frame replaces the last; into a file or a pipe, frames follow one
    # another under a time stamp (a log of the runs, no escape codes).
    clear = "\x1b[H\x1b[2J" if sys.stdout.isatty() else ""
    previous = None
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
        while True:
            snap = collector.collect()
            size = shutil.get_terminal_size((120, 24))
            text = render(snap, width=size.columns, colour=colour)
            if text != previous:  # no flicker when nothing changed
                if clear:
                    sys.stdout.write(clear + text + "\n(Ctrl-C to quit)\n")
                else:
                    sys.stdout.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')}\n{text}\n")
                sys.stdout.flush()
                previous = text
            if stop_when is not None and stop_when():
                return 0
            time.sleep(settings.refresh)
    except KeyboardInterrupt:
        return 0
    finally:
        collector.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
