"""``happo-top check``, ``happo-top report`` and ``happo-top diff``: headless analysis commands.

``check [ROOT...]``          exit 0 when every run is healthy, 1 when any finding is ``bad``
                             (``--strict``: or ``warn``), 2 on usage errors (unknown root, bad
                             config file). Prints the findings; ``--json`` prints one document.
``report RUN [RUN...]``      the Markdown analysis (collectors.report) to stdout or ``-o FILE``.
``diff RUN_A RUN_B [RUN...]``  the config keys whose values differ; ``--json`` for machines.

A RUN is a run directory (anywhere: its parent is watched for the occasion), a directory holding
runs (all of them), a run id or id prefix, or a run name, looked up under the configured roots
(``--root`` adds more). Only ``collectors`` is imported: no Textual, Rich or plotext.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from collectors import fmt
from collectors.analysis.config_diff import DiffRow, diff_configs
from collectors.analysis.health.rules import BAD, OK, WARN, validate_thresholds, worst
from collectors.config import ConfigError, default_roots, load_settings
from collectors.model.run import SCHEMA, RunSnapshot, Snapshot
from collectors.model.run_dir import RUN_DIR_RE
from collectors.model.settings import Settings
from collectors.monitor import Monitor
from collectors.sources.runs.tracker import find_run


class UsageError(Exception):
    """A problem with the command line or the config file (exit status 2)."""


# -- shared --------------------------------------------------------------------------------------


def _settings(args: argparse.Namespace) -> Settings:
    try:
        settings = load_settings(args.config)
    except ConfigError as e:
        raise UsageError(str(e)) from None
    problems = validate_thresholds(settings.thresholds)
    if problems:
        where = settings.path or "config"
        raise UsageError("\n".join(f"{where}: thresholds: {p}" for p in problems))
    stall = getattr(args, "stall_timeout", None)
    if stall is not None:
        if stall <= 0:
            raise UsageError("--stall-timeout must be > 0")
        settings = dataclasses.replace(settings, stall_timeout=float(stall))
    return settings


def _collect(roots: Sequence[str], settings: Settings) -> Snapshot:
    """Runs with their processes (which decide crashed vs running) and health findings."""
    unique = list(dict.fromkeys(os.path.abspath(r) for r in roots))
    monitor = Monitor(unique, settings, gpu=False, disk=False)
    try:
        return monitor.collect()
    finally:
        monitor.close()


def _is_run_dir(path: str) -> bool:
    return os.path.isdir(path) and bool(RUN_DIR_RE.match(os.path.basename(os.path.abspath(path))))


def _under(path: str, root: str) -> bool:
    p, r = os.path.realpath(path), os.path.realpath(root)
    return p == r or p.startswith(r.rstrip(os.sep) + os.sep)


def resolve_runs(
    keys: Sequence[str], settings: Settings, extra_roots: Sequence[str] = ()
) -> tuple[Snapshot, list[RunSnapshot]]:
    """The runs named by ``keys`` (in order, without repeats) and the snapshot they come from.

    Raises UsageError for a key that matches nothing, or an id / name that matches several runs.
    """
    roots: list[str] = [os.path.abspath(r) for r in extra_roots]
    need_default = False
    for key in keys:
        if os.path.isdir(key):
            path = os.path.abspath(key)
            roots.append(os.path.dirname(path) if _is_run_dir(path) else path)
        else:
            need_default = True
    if need_default or not roots:
        roots += list(settings.roots) or default_roots()
    snap = _collect(roots, settings)
    chosen: list[RunSnapshot] = []
    for key in keys:
        if os.path.isdir(key) and not _is_run_dir(key):
            found = [r for r in snap.runs if _under(r.path, key)]
            if not found:
                raise UsageError(f"no runs under {os.path.abspath(key)}")
        else:
            found = find_run(snap, key)
            if not found:
                where = ", ".join(snap.roots)
                raise UsageError(
                    f"no run matches '{key}' (looked under {where}); give a run directory, "
                    "or --root DIR to look elsewhere"
                )
            if len(found) > 1 and not os.path.isdir(key):
                names = "; ".join(f"{r.id} {r.name} ({r.path})" for r in found[:6])
                raise UsageError(f"'{key}' matches {len(found)} runs: {names}")
        for r in found:
            if all(r.id != c.id for c in chosen):
                chosen.append(r)
    return snap, chosen


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        metavar="FILE",
        help="YAML config file (default: $XDG_CONFIG_HOME/happo-top/config.yaml)",
    )


def _run(func: Any, prog: str, args: argparse.Namespace) -> int:
    try:
        return int(func(args))
    except UsageError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # piped into head
        return 0


# -- check ---------------------------------------------------------------------------------------


def _check_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="happo-top check",
        description="Evaluate the health rules on every run below the roots. Exit status: 0 "
        "healthy, 1 a 'bad' finding (with --strict also 'warn'), 2 usage error. For cron and CI.",
    )
    p.add_argument(
        "roots",
        nargs="*",
        metavar="ROOT",
        help="directories to check (a results tree or a run directory; default: the config's "
        "roots, else ./results, else .)",
    )
    _add_common(p)
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    p.add_argument(
        "-q", "--quiet", action="store_true", help="print only runs with warnings or problems"
    )
    p.add_argument(
        "--stall-timeout", type=float, metavar="SECONDS", help="silence before a run is stalled"
    )
    return p


def check_main(argv: Sequence[str] | None = None) -> int:
    args = _check_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    return _run(_check, "happo-top check", args)


def _check(args: argparse.Namespace) -> int:
    settings = _settings(args)
    roots: list[str] = []
    only: list[str] = []  # run directories given as roots
    for r in args.roots:
        if not os.path.isdir(r):
            raise UsageError(f"{r}: no such directory")
        if _is_run_dir(r):
            only.append(os.path.abspath(r))
            roots.append(os.path.dirname(os.path.abspath(r)))
        else:
            roots.append(r)
    if not roots:
        roots = list(settings.roots) or default_roots()
    snap = _collect(roots, settings)
    runs = list(snap.runs)
    if only:
        wanted = {os.path.realpath(p) for p in only}
        plain = [os.path.abspath(r) for r in args.roots if not _is_run_dir(r)]
        runs = [
            r
            for r in runs
            if os.path.realpath(r.path) in wanted or any(_under(r.path, p) for p in plain)
        ]
    # A run whose files cannot all be read (a corrupt event file, a malformed config.json) is
    # at least "warn": cron sees it with --strict, and the text and JSON say what is wrong.
    levels = [WARN if r.errors and worst(r.health) == OK else worst(r.health) for r in runs]
    overall = next((lv for lv in (BAD, WARN) if lv in levels), OK)
    failing = (BAD, WARN) if args.strict else (BAD,)
    code = 1 if any(lv in failing for lv in levels) else 0
    if args.json:
        doc = {
            "schema": SCHEMA,
            "host": snap.host,
            "time": snap.time,
            "roots": list(snap.roots),
            "status": overall,
            "exit": code,
            "runs": [
                {
                    "id": r.id,
                    "name": r.name,
                    "path": r.path,
                    "state": r.state,
                    "step": r.step,
                    "total_steps": r.total_steps,
                    "status": lv,
                    "health": [f.to_json() for f in r.health],
                    "errors": list(r.errors),
                }
                for r, lv in zip(runs, levels, strict=True)
            ],
            "errors": list(snap.errors),
        }
        json.dump(doc, sys.stdout, indent=1, allow_nan=False)
        sys.stdout.write("\n")
        return code
    out = sys.stdout
    for e in snap.errors:
        print(f"happo-top check: {e}", file=sys.stderr)
    if not runs:
        print(f"happo-top check: no runs found under {', '.join(snap.roots)}", file=sys.stderr)
        return code
    counts = {lv: levels.count(lv) for lv in (BAD, WARN, OK)}
    if not args.quiet or counts[BAD] or counts[WARN]:
        out.write(
            f"{len(runs)} run{'s' if len(runs) != 1 else ''}: {counts[BAD]} bad, "
            f"{counts[WARN]} warn, {counts[OK]} ok\n"
        )
    for r, lv in zip(runs, levels, strict=True):
        if args.quiet and lv == OK:
            continue
        total = f"/{fmt.steps(r.total_steps)}" if r.total_steps else ""
        out.write(f"{lv.upper():<4}  {r.name}  {r.state} {fmt.steps(r.step)}{total}  {r.path}\n")
        for e in r.errors:
            out.write(f"  error {fmt.problem_first(e, r.path)}\n")
        for f in r.health:
            if f.level == OK:
                continue
            out.write(f"  {f.level:<4}  {f.rule}: {f.message}\n")
    return code


# -- report --------------------------------------------------------------------------------------


def _report_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="happo-top report",
        description="Write a Markdown analysis of one or more runs (the first is the reference "
        "for the success criteria).",
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directory, id (prefix) or name")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p.add_argument("--title", help="the report's title")
    p.add_argument(
        "--root", action="append", default=[], metavar="DIR", help="also look for runs here"
    )
    _add_common(p)
    return p


def report_main(argv: Sequence[str] | None = None) -> int:
    args = _report_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    return _run(_report, "happo-top report", args)


def _report(args: argparse.Namespace) -> int:
    from tui.text.report import render_report

    settings = _settings(args)
    snap, runs = resolve_runs(args.runs, settings, args.root)
    text = render_report(runs, snap.time, thresholds=settings.thresholds, title=args.title)
    if args.output and args.output != "-":
        try:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as e:
            raise UsageError(f"{args.output}: {e.strerror or e}") from None
        print(f"wrote {args.output} ({len(runs)} runs)", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


# -- diff ----------------------------------------------------------------------------------------


def _diff_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="happo-top diff",
        description="Show the config keys whose values differ between runs ('-': missing).",
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="two or more runs: directory, id, name")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="PATTERN",
        help="leave out keys matching this glob (e.g. '*.log_dir'); repeatable",
    )
    p.add_argument(
        "--root", action="append", default=[], metavar="DIR", help="also look for runs here"
    )
    _add_common(p)
    return p


def diff_main(argv: Sequence[str] | None = None) -> int:
    parser = _diff_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if len(args.runs) < 2:
        parser.print_usage(sys.stderr)
        print("happo-top diff: error: give at least two runs", file=sys.stderr)
        return 2
    return _run(_diff, "happo-top diff", args)


def render_diff_text(runs: Sequence[RunSnapshot], rows: Sequence[DiffRow]) -> str:
    """A legend (letter, name, directory) and a table: key, then one column per run."""
    letters = [chr(ord("A") + i) if i < 26 else str(i + 1) for i in range(len(runs))]
    lines = [f"{letters[i]}  {r.name}  {r.path}" for i, r in enumerate(runs)]
    for i, r in enumerate(runs):
        if not r.config:
            lines.append(f"({letters[i]} has no readable config.json: its keys show as '-')")
    lines.append("")
    if not rows:
        n = len(set().union(*(r.config.keys() for r in runs)))
        lines.append(f"no differences ({n} keys compared)")
        return "\n".join(lines) + "\n"
    table = [["key", *letters]] + [[row.key, *row.cells()] for row in rows]
    widths = [max(len(t[c]) for t in table) for c in range(len(table[0]))]
    for t in table:
        cells = [t[c].ljust(widths[c]) for c in range(len(t))]
        lines.append("  ".join(cells).rstrip())
    lines.append("")
    lines.append(f"{len(rows)} keys differ" if len(rows) != 1 else "1 key differs")
    return "\n".join(lines) + "\n"


def _diff(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _snap, runs = resolve_runs(args.runs, settings, args.root)
    if len(runs) < 2:
        raise UsageError(f"need at least two runs to compare, found {len(runs)}")
    rows = diff_configs([r.config for r in runs], ignore=args.ignore)
    if args.json:
        doc = {
            "schema": SCHEMA,
            "runs": [
                {"id": r.id, "name": r.name, "path": r.path, "has_config": bool(r.config)}
                for r in runs
            ],
            "differences": [
                {**row.to_json(), "short": row.short, "shown": list(row.cells())} for row in rows
            ],
        }
        json.dump(doc, sys.stdout, indent=1, allow_nan=False)
        sys.stdout.write("\n")
        return 0
    sys.stdout.write(render_diff_text(runs, rows))
    return 0


__all__ = [
    "UsageError",
    "check_main",
    "diff_main",
    "render_diff_text",
    "report_main",
    "resolve_runs",
]
