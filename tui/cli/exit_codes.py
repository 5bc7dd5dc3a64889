"""Every exit status of the ``happo-top`` command line, named once.

The front ends return these names, never bare numbers; ``happo-top --help`` and the README's
"Exit codes" section list :data:`CODES`. Two names share a number where two kinds of command
report different things (``check``'s findings, run control's refusals): a script knows which
command it ran.

The same failure has the same status in every command: a RUN that matches no run, or several,
and a root given on the command line that is missing or unreadable, are :data:`USAGE` (2).
"""

from __future__ import annotations

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
        "check: something needs attention now: a live or crashed run with a 'bad' finding, a "
        "stalled run, NaN/inf or unreadable data in any run (with --strict also 'warn'; a "
        "finished run's history only with --history)",
    ),
    ExitCode(
        "ACTION_FAILED",
        ACTION_FAILED,
        "launch/stop/kill/restart/tensorboard: refused (read-only, no live process) or failed "
        "(still alive, the command exited at once)",
    ),
    ExitCode(
        "USAGE",
        USAGE,
        "a bad command line (an unknown command: 'did you mean') or config file (an unknown "
        "key), no terminal for the monitor, a missing or unreadable root, a RUN that matches no "
        "run or several (every command), an output file that cannot be written",
    ),
    ExitCode(
        "INTERNAL_ERROR",
        INTERNAL_ERROR,
        "happo-top itself failed (a bug: the traceback is on stderr; check: a run could not be "
        "analysed, so its health is unknown), never a finding",
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
    # Deferred for start-up time: textwrap only when help is shown.
    import textwrap

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
