"""``happo-top check``, ``happo-top report`` and ``happo-top diff``: headless analysis commands.

``check [ROOT...]``          "does anything need me now": exit UNHEALTHY when a live (running,
                             stalled, starting) or crashed run has a ``bad`` finding about its
                             present, a live run is stalled, or any run has NaN/inf data or
                             files that cannot be read (``--strict``: any counted ``warn``
                             too); a finished or stopped run's history (a past
                             spike, a degraded quarter) is printed but counts only with
                             ``--history``. OK otherwise, USAGE on usage errors, INTERNAL_ERROR when
                             happo-top itself fails; see :mod:`tui.cli.exit_codes`.
``report RUN [RUN...]``      the Markdown analysis (tui.text.report) to stdout or ``-o FILE``.
``diff RUN_A RUN_B [RUN...]``  the config keys whose values differ; ``--json`` for machines.

A RUN is a run directory (anywhere: its parent is watched for the occasion), a directory holding
runs (all of them), a run id or id prefix, or a run name, looked up under the configured roots
(``--root`` adds more): :func:`tui.cli.common.resolve_runs`. A RUN that matches no run, or
several, is a USAGE error here. Only ``collectors`` is imported: no Textual, Rich or plotext.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from collectors import fmt
from collectors.analysis.config_diff import DiffRow, diff_configs
from collectors.analysis.health import BAD, OK, WARN, worst
from collectors.config import default_roots
from collectors.model import (
    CRASHED,
    RUNNING,
    SCHEMA,
    STALLED,
    STARTING,
    Finding,
    RunSnapshot,
    is_internal_error,
)
from collectors.sources.remote import config_roots, split_root
from tui.cli import common, exit_codes, options
from tui.cli.common import UsageError, resolve_runs
from tui.text.report import render_report

# -- check ---------------------------------------------------------------------------------------


def _check_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="happo-top check",
        description="Does anything need attention now? Evaluate the health rules on every run "
        f"below the roots. Exit status: {exit_codes.OK} fine, {exit_codes.UNHEALTHY} a live or "
        "crashed run with a 'bad' finding, a stalled run, NaN/inf or unreadable data (with "
        "--strict also 'warn'; a "
        f"finished run's history only with --history), {exit_codes.USAGE} usage error, "
        f"{exit_codes.INTERNAL_ERROR} happo-top itself failed. For cron and CI.",
    )
    options.add_roots(
        p,
        help="directories to check (a results tree or a run directory), as ROOT or --root DIR, "
        "both repeatable (default: the config's roots, else ./results, else .)",
    )
    options.add_config(p)
    options.add_json(p)
    p.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    p.add_argument(
        "--history",
        action="store_true",
        help="count finished and stopped runs' findings and past events too (a past spike, a "
        "degraded quarter), not only what needs attention now",
    )
    p.add_argument(
        "-q", "--quiet", action="store_true", help="print only runs with warnings or problems"
    )
    options.add_stall_timeout(p)
    return p


def check_main(argv: Sequence[str] | None = None) -> int:
    args = _check_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        return common.run_command("happo-top check", _check, args)
    except Exception:  # happo-top itself failed: not "a run is unhealthy" (1)
        traceback.print_exc()
        print(
            "happo-top check: internal error (the runs' health is unknown); please report it",
            file=sys.stderr,
        )
        return exit_codes.INTERNAL_ERROR


# collectors.monitor's error for a run whose health rules raised (a bug in happo-top).
RULES_FAILED = "health rules failed:"
ATTENTION_STATES = (RUNNING, STALLED, STARTING, CRASHED)


def counted(run: RunSnapshot, history: bool) -> list[Finding]:
    """The findings of ``run`` that make ``check`` fail: all of them with ``history``; else
    those about the present of a live or crashed run, and NaN/inf data in any run."""
    if history:
        return list(run.health)
    live = run.state in ATTENTION_STATES
    return [f for f in run.health if f.rule == "nonfinite" or (live and f.current)]


def attention(run: RunSnapshot, history: bool) -> str:
    """How much ``run`` needs attention now: ``bad`` for a counted bad finding, a stalled live
    run (a warning in the health rules, but someone should look) or a data error (an event
    file or config.json that cannot be read); ``warn`` for a counted warning; ``ok``."""
    found = counted(run, history)
    if run.errors or any(f.rule == "stall" for f in found):
        return BAD
    return worst(found)


def _check(args: argparse.Namespace) -> int:
    settings = common.load_settings(args)
    roots: list[str] = []
    only: list[str] = []  # run directories given as roots
    for r in args.roots:
        if split_root(r)[0] is not None:  # host:path, checked there (collectors.sources.remote)
            roots.append(r)
            continue
        if not os.path.isdir(r):
            raise UsageError(f"{r}: no such directory")
        if common.is_run_dir(r):
            only.append(os.path.abspath(r))
            roots.append(os.path.dirname(os.path.abspath(r)))
        else:
            roots.append(r)
    if not roots:
        roots = [*settings.roots, *config_roots(settings.hosts)] or default_roots()
    snap = common.collect([common.root_path(r) for r in roots], settings, common.registry())
    runs = list(snap.runs)
    if only:
        wanted = {os.path.realpath(p) for p in only}
        plain = [os.path.abspath(r) for r in args.roots if not common.is_run_dir(r)]
        runs = [
            r
            for r in runs
            if os.path.realpath(r.path) in wanted or any(common.under(r.path, p) for p in plain)
        ]
    broken = [e for r in runs for e in r.errors if e.startswith(RULES_FAILED)]
    if broken:  # the monitor caught happo-top's own failure: the health is unknown
        for e in broken:
            print(f"happo-top check: internal error: {e}", file=sys.stderr)
        return exit_codes.INTERNAL_ERROR
    # A run whose files cannot all be read (a corrupt event file, a malformed config.json) is
    # shown at least "warn", and needs attention (attention()): the text and JSON say what.
    levels = [WARN if r.errors and worst(r.health) == OK else worst(r.health) for r in runs]
    # A host that could not be read (collectors.sources.remote) is at least "warn" too.
    levels += [WARN for h in snap.hosts if not h.up]
    overall = next((lv for lv in (BAD, WARN) if lv in levels), OK)
    # What counts for the exit status: see attention() (the levels above are what is shown).
    due = [attention(r, args.history) for r in runs]
    due += [WARN for h in snap.hosts if not h.up]  # an unreachable host needs attention too
    failing = (BAD, WARN) if args.strict else (BAD,)
    code = exit_codes.UNHEALTHY if any(lv in failing for lv in due) else exit_codes.OK
    if any(is_internal_error(e) for r in runs for e in r.errors):
        code = exit_codes.INTERNAL_ERROR  # a run could not be judged: not a finding (1)
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
                    "attention": d,
                    "host": r.host,
                    "health": [f.to_json() for f in r.health],
                    "errors": list(r.errors),
                }
                for r, lv, d in zip(runs, levels[: len(runs)], due[: len(runs)], strict=True)
            ],
            "history": bool(args.history),
            "hosts": [{"name": h.name, "state": h.state, "message": h.message} for h in snap.hosts],
            "errors": list(snap.errors),
        }
        common.write_json(doc)
        return code
    out = sys.stdout
    for e in snap.errors:
        print(f"happo-top check: {e}", file=sys.stderr)
    if not runs:
        print(f"happo-top check: no runs found under {', '.join(snap.roots)}", file=sys.stderr)
        return code
    counts = {lv: levels[: len(runs)].count(lv) for lv in (BAD, WARN, OK)}
    if not args.quiet or counts[BAD] or counts[WARN]:
        out.write(
            f"{len(runs)} run{'s' if len(runs) != 1 else ''}: {counts[BAD]} bad, "
            f"{counts[WARN]} warn, {counts[OK]} ok\n"
        )
    for r, lv, d in zip(runs, levels[: len(runs)], due[: len(runs)], strict=True):
        if args.quiet and lv == OK:
            continue
        total = f"/{fmt.steps(r.total_steps)}" if r.total_steps else ""
        less = d == OK or (lv == BAD and d == WARN)  # what is shown is worse than what counts
        past = "  (history: does not fail check without --history)" if lv != OK and less else ""
        lines = [f"{lv.upper():<4}  {r.name}  {r.state} {fmt.steps(r.step)}{total}  {r.path}{past}"]
        lines += [f"  error {fmt.problem_first(e, r.path)}" for e in r.errors]
        lines += [f"  {f.level:<4}  {f.rule}: {f.message}" for f in r.health if f.level != OK]
        out.write("".join(fmt.printable(line) + "\n" for line in lines))
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
    options.add_root(p, replaces_defaults=False)
    options.add_config(p)
    return p


def report_main(argv: Sequence[str] | None = None) -> int:
    args = _report_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    return common.run_command("happo-top report", _report, args)


def _report(args: argparse.Namespace) -> int:
    settings = common.load_settings(args)
    snap, runs = resolve_runs(args.runs, settings, common.registry(), args.root)
    text = fmt.printable(_render_isolated(runs, snap.time, settings, args.title), True)
    if args.output and args.output != "-":
        try:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as e:
            raise UsageError(f"{args.output}: {e.strerror or e}") from None
        print(f"wrote {args.output} ({len(runs)} runs)", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return exit_codes.OK


def _render_isolated(runs: list[RunSnapshot], now: float, settings, title: str | None) -> str:
    """The report; when rendering raises, the report of the runs that can be rendered, and a
    section naming each run that could not, with its error (one run's odd data never costs the
    report of the others)."""
    try:
        return render_report(runs, now, thresholds=settings.thresholds, title=title)
    except Exception:
        pass
    good, bad = [], []
    for r in runs:
        try:
            render_report([r], now, thresholds=settings.thresholds)
            good.append(r)
        except Exception as e:
            bad.append((r, f"{type(e).__name__}: {e}"))
    try:
        text = render_report(good, now, thresholds=settings.thresholds, title=title) if good else ""
    except Exception as e:  # the runs render alone but not together: one section each
        text = "".join(render_report([r], now, thresholds=settings.thresholds) for r in good)
        bad.append((None, f"the runs could not be compared: {type(e).__name__}: {e}"))
    lines = ["", "## Runs that could not be analysed", ""]
    for r, error in bad:
        where = f"`{r.path}` ({r.name})" if r is not None else "all runs"
        lines.append(f"- {where}: happo-top internal error: {error}")
    return text + "\n".join(lines) + "\n"


# -- diff ----------------------------------------------------------------------------------------


def _diff_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="happo-top diff",
        description="Show the config keys whose values differ between runs ('-': missing).",
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="two or more runs: directory, id, name")
    options.add_json(p)
    p.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="PATTERN",
        help="leave out keys matching this glob (e.g. '*.log_dir'); repeatable",
    )
    options.add_root(p, replaces_defaults=False)
    options.add_config(p)
    return p


def diff_main(argv: Sequence[str] | None = None) -> int:
    parser = _diff_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if len(args.runs) < 2:
        parser.print_usage(sys.stderr)
        print("happo-top diff: error: give at least two runs", file=sys.stderr)
        return exit_codes.USAGE
    return common.run_command("happo-top diff", _diff, args)


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
    settings = common.load_settings(args)
    _snap, runs = resolve_runs(args.runs, settings, common.registry(), args.root)
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
        common.write_json(doc)
        return exit_codes.OK
    sys.stdout.write(fmt.printable(render_diff_text(runs, rows), True))
    return exit_codes.OK


__all__ = [
    "check_main",
    "diff_main",
    "render_diff_text",
    "report_main",
]
