"""``happo-top completion SHELL``: a completion script for bash, zsh or fish, generated from
the parsers themselves (:mod:`tui.cli.parsers`), so it offers exactly the sub-commands and
options that exist. A RUN completes to the run ids and experiment names below the configured
roots (``happo-top completion --runs``: a directory walk, no event file read), and to
directories.

    eval "$(happo-top completion bash)"                  # ~/.bashrc
    eval "$(happo-top completion zsh)"                   # ~/.zshrc (through bashcompinit)
    happo-top completion fish > ~/.config/fish/completions/happo-top.fish
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence

from collectors.config import default_roots
from collectors.sources.runs import Discovery, run_id
from tui.cli import common, exit_codes, options, parsers

SHELLS = ("bash", "zsh", "fish")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="happo-top completion",
        description="Print a shell completion script (bash, zsh, fish), generated from the "
        "parsers.",
        epilog='bash: eval "$(happo-top completion bash)" in ~/.bashrc; zsh: the same with '
        "zsh in ~/.zshrc; fish: happo-top completion fish > "
        "~/.config/fish/completions/happo-top.fish",
    )
    p.add_argument("shell", nargs="?", choices=SHELLS, metavar="SHELL", help="bash, zsh or fish")
    p.add_argument(
        "--runs",
        action="store_true",
        help="list the run ids and experiment names below the roots (what a RUN completes to)",
    )
    options.add_config(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    p = _parser()
    args = p.parse_args(list(argv or []))
    if args.runs:
        return common.run_command("happo-top completion", _print_runs, args)
    if args.shell is None:
        p.error("give a SHELL (bash, zsh or fish), or --runs")
    sys.stdout.write(script(args.shell))
    return exit_codes.OK


def run_words(roots: Sequence[str]) -> list[str]:
    """Run ids and experiment names (the directory above each run) below ``roots``."""
    scan = Discovery(list(roots)).scan()
    words = [run_id(path) for path in scan.runs]
    words += sorted({os.path.basename(os.path.dirname(path)) for path in scan.runs})
    return [w for w in dict.fromkeys(words) if w and not any(c.isspace() for c in w)]


def _print_runs(args: argparse.Namespace) -> int:
    settings = common.load_settings(args)
    for word in run_words(list(settings.roots) or default_roots()):
        print(word)
    return exit_codes.OK


def script(shell: str) -> str:
    cmds = list(parsers.commands())
    if shell == "fish":
        return _fish(cmds)
    body = _bash(cmds)
    if shell == "zsh":
        return "# happo-top completion for zsh (bash's, through bashcompinit)\n" + (
            "autoload -U +X compinit && compinit\n"
            "autoload -U +X bashcompinit && bashcompinit\n" + body
        )
    return "# happo-top completion for bash\n" + body


def _value_options(cmd: parsers.Command, kind: str) -> list[str]:
    return [f for o in cmd.options if o.takes_value and o.kind == kind for f in o.flags]


def _bash(cmds: list[parsers.Command]) -> str:
    names = " ".join(c.name for c in cmds if c.name)
    lines = [
        "_happo_top() {",
        '    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"',
        '    local cmd="" i w opts="" pos=""',
        "    for ((i = 1; i < COMP_CWORD; i++)); do",
        '        w="${COMP_WORDS[i]}"',
        f'        case " {names} " in *" $w "*) cmd="$w"; break ;; esac',
        "    done",
        '    case "$cmd" in',
    ]
    for c in cmds:
        flags = " ".join(f for o in c.options for f in o.flags)
        kind = c.positionals[0].kind if c.positionals else ""
        choices = " ".join(c.positionals[0].choices) if c.positionals else ""
        label = c.name or '""'
        lines.append(f"    {label})")
        lines.append(f"        opts={shlex.quote(flags)}; pos={shlex.quote(kind)}")
        for k, action in (("dir", "compgen -d"), ("file", "compgen -f")):
            flagged = _value_options(c, k)
            if flagged:
                lines.append(
                    f'        case "$prev" in {"|".join(flagged)}) '
                    f'COMPREPLY=($({action} -- "$cur")); return ;; esac'
                )
        for o in c.options:
            if o.choices:
                lines.append(
                    f'        case "$prev" in {"|".join(o.flags)}) COMPREPLY=($(compgen -W '
                    f'{shlex.quote(" ".join(o.choices))} -- "$cur")); return ;; esac'
                )
        if choices:
            lines.append(f"        local choices={shlex.quote(choices)}")
        lines.append("        ;;")
    lines += [
        "    esac",
        '    if [[ "$cur" == -* ]]; then',
        '        COMPREPLY=($(compgen -W "$opts" -- "$cur")); return',
        "    fi",
        '    case "$pos" in',
        '        dir) COMPREPLY=($(compgen -d -- "$cur")) ;;',
        '        file) COMPREPLY=($(compgen -f -- "$cur")) ;;',
        '        run) COMPREPLY=($(compgen -W "$(happo-top completion --runs 2>/dev/null)"'
        ' -- "$cur") $(compgen -d -- "$cur")) ;;',
        '        shell) COMPREPLY=($(compgen -W "${choices:-}" -- "$cur")) ;;',
        "    esac",
        '    if [[ -z "$cmd" ]]; then',
        f'        COMPREPLY+=($(compgen -W {shlex.quote(names)} -- "$cur"))',
        "    fi",
        "}",
        "complete -o filenames -F _happo_top happo-top",
        "",
    ]
    return "\n".join(lines)


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish(cmds: list[parsers.Command]) -> str:
    names = " ".join(c.name for c in cmds if c.name)
    out = ["# happo-top completion for fish", "complete -c happo-top -f"]
    for c in cmds:
        if c.name:
            cond = f"__fish_seen_subcommand_from {c.name}"
            out.append(
                f"complete -c happo-top -n '__fish_use_subcommand' -a {c.name} "
                f"-d {_fish_quote(c.summary)}"
            )
        else:
            cond = f"not __fish_seen_subcommand_from {names}"
        for o in c.options:
            spec = []
            for f in o.flags:
                spec.append(f"-l {f[2:]}" if f.startswith("--") else f"-s {f[1:]}")
            value = ""
            if o.takes_value:
                value = " -r"
                if o.choices:
                    value += f" -a {_fish_quote(' '.join(o.choices))}"
                elif o.kind in ("dir", "file"):
                    value += " -F"
            out.append(
                f"complete -c happo-top -n {_fish_quote(cond)} {' '.join(spec)}{value} "
                f"-d {_fish_quote(o.help[:80])}"
            )
        for pos in c.positionals[:1]:
            if pos.kind == "run":
                args = "-a '(happo-top completion --runs 2>/dev/null; __fish_complete_directories)'"
            elif pos.kind == "dir":
                args = "-a '(__fish_complete_directories)'"
            elif pos.choices:
                args = f"-a {_fish_quote(' '.join(pos.choices))}"
            else:
                continue
            out.append(f"complete -c happo-top -n {_fish_quote(cond)} {args}")
    return "\n".join(out) + "\n"


__all__ = ["SHELLS", "main", "run_words", "script"]
