"""Every exit status of the ``happo-top`` command line, named once.

The front ends return these names, never bare numbers; ``happo-top --help`` and the README's
"Exit codes" section list :data:`CODES`. Two names share a number where two kinds of command
report different things (``check``'s findings, run control's refusals): a script knows which
command it ran.

Known disagreement, kept as it is today (a later change unifies it): a RUN that matches no run,
or several, is :data:`USAGE` (2) for ``report`` and ``diff`` but :data:`ACTION_FAILED` (1) for
``stop``, ``kill`` and ``restart``.
"""

from __future__ import annotations

import textwrap
from typing import NamedTuple


class ExitCode(NamedTuple):
    name: str
    value: int
    meaning: str


OK = 0
UNHEALTHY = 1
ACTION_FAILED = 1
USAGE = 2
INTERNAL_ERROR = 3
SIGNALLED = 128

CODES: tuple[ExitCode, ...] = (
    ExitCode("OK", OK, "done: every run healthy (check), the action done, the output written"),
    ExitCode(
        "UNHEALTHY",
        UNHEALTHY,
        "check: a run has a 'bad' finding (with --strict also 'warn' or unreadable data)",
    ),
    ExitCode(
        "ACTION_FAILED",
        ACTION_FAILED,
        "launch/stop/kill/restart: refused (read-only, no live process, RUN matches no run or "
        "several) or failed (still alive, the command exited at once)",
    ),
    ExitCode(
        "USAGE",
        USAGE,
        "a bad command line or config file, no terminal for the monitor, an unknown root, a "
        "report/diff RUN that matches no run or several, an output file that cannot be written",
    ),
    ExitCode(
        "INTERNAL_ERROR",
        INTERNAL_ERROR,
        "happo-top itself failed (a bug: the traceback is on stderr; check: a run could not be "
        "analysed), never a finding",
    ),
    ExitCode(
        "SIGNALLED",
        SIGNALLED,
        "plus the signal's number: the demo ended by SIGHUP or SIGTERM (129, 143)",
    ),
)


def by_signal(signum: int) -> int:
    """The status of a command ended by signal ``signum`` (as a shell reports it)."""
    return SIGNALLED + signum


def epilog(width: int = 78) -> str:
    """The exit codes as an indented list, for ``--help`` (a raw-text epilog)."""
    lines = ["exit status:"]
    name_w = max(len(c.name) for c in CODES) + 1
    for c in CODES:
        lines += textwrap.wrap(
            c.meaning,
            width,
            initial_indent=f"  {c.value:<3} {c.name:<{name_w}}",
            subsequent_indent=" " * (6 + name_w),
        )
    return "\n".join(lines)


__all__ = [
    "ACTION_FAILED",
    "CODES",
    "INTERNAL_ERROR",
    "OK",
    "SIGNALLED",
    "UNHEALTHY",
    "USAGE",
    "ExitCode",
    "by_signal",
    "epilog",
]
