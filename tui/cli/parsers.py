"""Every parser of the command line, for what is generated from them (shell completion, the man
page): the main parser and each sub-command's, as :class:`Command` values.

A sub-command builds its parser inside its own ``main``; :func:`subcommand_parser` calls that
``main`` with no arguments and catches the parser as it starts parsing (nothing else of the
command runs), so completion and the man page can never disagree with the real options.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Iterator
from dataclasses import dataclass

from tui.cli import command


class _Caught(BaseException):  # not Exception: the commands' guards must let it through
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        super().__init__(parser.prog)
        self.parser = parser


@dataclass(frozen=True)
class Option:
    flags: tuple[str, ...]
    help: str
    takes_value: bool
    choices: tuple[str, ...]
    kind: str  # what a value is: "dir", "file", "run", "shell", "" (anything)
    metavar: str  # what --help shows for the value ("" for a flag)


@dataclass(frozen=True)
class Command:
    name: str  # "" for the main command
    summary: str
    parser: argparse.ArgumentParser
    options: tuple[Option, ...]
    positionals: tuple[Option, ...]


def _kind(action: argparse.Action) -> str:
    metavar = str(action.metavar or action.dest).upper()
    if metavar in ("ROOT", "DIR") or action.dest in ("roots", "root", "cwd"):
        return "dir"
    if metavar == "FILE" or action.dest in ("config", "output", "log"):
        return "file"
    if metavar == "RUN" or action.dest in ("runs", "run"):
        return "run"
    if metavar == "SHELL":
        return "shell"
    return ""


def _help(action: argparse.Action) -> str:
    text = " ".join((action.help or "").split())
    return "" if text == argparse.SUPPRESS else text


def describe(name: str, summary: str, parser: argparse.ArgumentParser) -> Command:
    opts: list[Option] = []
    pos: list[Option] = []
    for a in parser._actions:
        if _help(a) == "" and a.help == argparse.SUPPRESS:
            continue
        choices = tuple(str(c) for c in a.choices) if a.choices else ()
        takes = a.nargs != 0
        if a.metavar:
            metavar = str(a.metavar)
        elif choices:
            metavar = "{" + ",".join(choices) + "}"
        else:
            metavar = a.dest.upper() if a.option_strings else a.dest
        opt = Option(
            tuple(a.option_strings), _help(a), takes, choices, _kind(a), metavar if takes else ""
        )
        (opts if a.option_strings else pos).append(opt)
    return Command(name, summary, parser, tuple(opts), tuple(pos))


def subcommand_parser(name: str) -> argparse.ArgumentParser:
    """The parser ``happo-top NAME`` builds, caught as its ``main`` starts parsing."""
    module, func, _ = command.SUBCOMMANDS[name]
    fn = getattr(importlib.import_module(module), func)
    original = argparse.ArgumentParser.parse_known_args

    def catch(self: argparse.ArgumentParser, *args: object, **kw: object) -> object:
        raise _Caught(self)

    argparse.ArgumentParser.parse_known_args = catch  # type: ignore[method-assign,assignment]
    try:
        fn([])
    except _Caught as caught:
        return caught.parser
    finally:
        argparse.ArgumentParser.parse_known_args = original  # type: ignore[method-assign]
    raise RuntimeError(f"happo-top {name}: its main() returned without parsing arguments")


def commands() -> Iterator[Command]:
    """The main command, then each sub-command in the order of ``happo-top --help``."""
    yield describe("", "monitor HAPPO/HARL training runs", command.build_parser())
    for name, (_, _, summary) in command.SUBCOMMANDS.items():
        yield describe(name, summary, subcommand_parser(name))


__all__ = ["Command", "Option", "commands", "describe", "subcommand_parser"]
