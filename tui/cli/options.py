"""The command line's shared pieces that cost nothing to import: the argparse options every
front end spells the same way (``--config``, ``--root``, ``--json``, the numbers), and what a
closed pipe means.

Kept apart from :mod:`tui.cli.common` (which imports the engine) so that building the
``happo-top`` parser, ``--help`` and ``happo-top simulate`` do not pay for the engine.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from collections.abc import Callable

from tui.cli import exit_codes

CONFIG_HELP = "YAML config file (default: $XDG_CONFIG_HOME/happo-top/config.yaml)"


def positive(kind: type = float) -> Callable[[str], float]:
    """An argparse type: a finite number above zero, or a clear usage error (``--refresh inf``
    would make every wait overflow)."""
    return _number(
        kind, lambda v: math.isfinite(v) and v > 0, "must be a finite number above 0", "positive"
    )


def non_negative(kind: type = float) -> Callable[[str], float]:
    """An argparse type: a number of zero or more (a grace period), or a clear usage error."""
    return _number(
        kind,
        lambda v: math.isfinite(v) and v >= 0,
        "must be a finite number of 0 or more",
        "non-negative",
    )


def _number(
    kind: type, ok: Callable[[float], bool], rule: str, name: str
) -> Callable[[str], float]:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{rule}, not {text}")
        return value

    parse.__name__ = f"{name} {kind.__name__}"
    return parse


def add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help=CONFIG_HELP)


def add_json(p: argparse.ArgumentParser, help: str = "print one JSON document") -> None:
    p.add_argument("--json", action="store_true", help=help)


def add_root(p: argparse.ArgumentParser, *, replaces_defaults: bool) -> None:
    """``--root DIR`` (repeatable): where to look for RUN. For the analysis commands it adds to
    the config's roots; for run control it replaces them (``args.root`` is then None when not
    given)."""
    if replaces_defaults:
        p.add_argument(
            "--root",
            action="append",
            metavar="DIR",
            help="results root to look for RUN in (repeatable; default: the config's roots, "
            "else ./results, else .)",
        )
    else:
        p.add_argument(
            "--root", action="append", default=[], metavar="DIR", help="also look for runs here"
        )


ROOTS_HELP = (
    "results roots (or run directories) to watch; given as ROOT or as --root DIR, both "
    "repeatable (default: the config's roots, else ./results, else .)"
)


def add_roots(p: argparse.ArgumentParser, help: str = ROOTS_HELP) -> None:
    """The roots a command watches: positional ``ROOT...`` and ``--root DIR`` (repeatable), the
    same way every sub-command takes them; both land in ``args.roots``, in the order given."""
    p.add_argument("roots", nargs="*", action="extend", default=[], metavar="ROOT", help=help)
    p.add_argument(
        "--root",
        dest="roots",
        action="append",
        metavar="DIR",
        help="a root, as ROOT (repeatable)",
    )


def add_stall_timeout(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--stall-timeout",
        type=positive(),
        metavar="SECONDS",
        help="silence before a run counts as stalled",
    )


def add_read_only(p: argparse.ArgumentParser, help: str = "disable every action on runs") -> None:
    p.add_argument("--read-only", action="store_true", default=None, help=help)


def reader_gone() -> int:
    """The reader of stdout went away (``happo-top --json | head``): not an error. Points stdout
    at /dev/null so that the interpreter's final flush does not complain again."""
    # (suppressed: a stdout replaced by something without a file descriptor, as under pytest)
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return exit_codes.OK


__all__ = [
    "CONFIG_HELP",
    "ROOTS_HELP",
    "add_config",
    "add_json",
    "add_read_only",
    "add_root",
    "add_roots",
    "add_stall_timeout",
    "non_negative",
    "positive",
    "reader_gone",
]
