"""``happo-top man``: the manual page (roff, section 1), generated from the parsers
(:mod:`tui.cli.parsers`) and the exit codes, so it cannot drift from ``--help``.

    happo-top man | man -l -            # read it
    happo-top man > ~/.local/share/man/man1/happo-top.1
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Sequence

from tui.cli import command, exit_codes, parsers


def _esc(text: str) -> str:
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(
        ("\\&" + line) if line[:1] in (".", "'") else line for line in text.split("\n")
    )


def _option_lines(cmd: parsers.Command) -> list[str]:
    out: list[str] = []
    for o in cmd.options:
        value = f" \\fI{_esc(o.metavar)}\\fR" if o.metavar else ""
        flags = ", ".join(f"\\fB{_esc(f)}\\fR{value}" for f in o.flags)
        out += [".TP", flags, _esc(o.help)]
    for p in cmd.positionals:
        out += [".TP", f"\\fI{_esc(p.metavar)}\\fR", _esc(p.help)]
    return out


def page(date: str | None = None) -> str:
    cmds = list(parsers.commands())
    main, subs = cmds[0], cmds[1:]
    date = date or datetime.date.today().isoformat()
    out = [
        f'.TH HAPPO\\-TOP 1 "{date}" "happo-top {command.version()}" "User Commands"',
        ".SH NAME",
        "happo\\-top \\- monitor HAPPO/HARL training runs: progress, ETA, rewards, checkpoints,"
        " health",
        ".SH SYNOPSIS",
        ".B happo\\-top",
        "[\\fIOPTIONS\\fR] [\\fIROOT\\fR ...]",
        ".br",
        ".B happo\\-top",
        "\\fICOMMAND\\fR [\\fIARGS\\fR ...]",
        ".SH DESCRIPTION",
        _esc(main.parser.description or ""),
        ".SH OPTIONS",
        *_option_lines(main),
        ".SH COMMANDS",
    ]
    for c in subs:
        usage = " ".join(c.parser.format_usage().split()[1:])
        out += [
            ".SS " + _esc(f"happo-top {c.name}"),
            _esc(c.parser.description or c.summary),
            ".PP",
            "Usage: " + _esc(usage),
            *_option_lines(c),
        ]
    out += [".SH EXIT STATUS"]
    for code in exit_codes.CODES:
        out += [".TP", f"\\fB{code.value}\\fR {code.name}", _esc(code.meaning)]
    out += [
        ".SH FILES",
        ".TP",
        "\\fI$XDG_CONFIG_HOME/happo\\-top/config.yaml\\fR",
        "the config file (\\fBhappo\\-top config \\-\\-init\\fR writes one)",
        ".TP",
        "\\fI$XDG_STATE_HOME/happo\\-top/\\fR",
        "the launch registry and the launch logs",
        ".SH SEE ALSO",
        "\\fBtensorboard\\fR(1), \\fBhtop\\fR(1), \\fBnvidia\\-smi\\fR(1)",
        "",
    ]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="happo-top man",
        description="Print the manual page (roff), generated from the parsers: "
        "happo-top man | man -l -",
    )
    p.parse_args(list(argv or []))
    sys.stdout.write(page())
    return exit_codes.OK


__all__ = ["main", "page"]
