"""``happo-top tensorboard``: TensorBoard as a partner. Start one on runs (named by their
aliases or labels), find the TensorBoards already running on this host and which runs they
serve, and stop the ones happo-top started.

    happo-top tensorboard RUN... [--port N]     # detached, recorded like a launch
    happo-top tensorboard --list [--json]       # every TensorBoard here: pid, port, runs
    happo-top tensorboard --stop [PID...]       # only those happo-top started

The TensorBoard listens on localhost; the command prints the ``ssh -L`` line to reach it from a
laptop.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

from collectors.config import default_roots
from collectors.control import (
    LAUNCH_NAME,
    ActionError,
    Registry,
    Target,
    choose_port,
    early_exit_message,
    launch,
    launch_spec,
    logdir_spec,
    ssh_line,
    stop,
    wait_up,
)
from collectors.model import Settings
from collectors.sources.runs import Discovery, run_id
from collectors.sources.tensorboard import (
    DEFAULT_PORT,
    TensorBoardProcess,
    find_tensorboards,
    is_tensorboard,
    serves,
)
from tui.cli import common, exit_codes, options


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="happo-top tensorboard",
        description="Start TensorBoard on runs (named by their aliases or labels), list the "
        "TensorBoards running on this host, or stop the ones happo-top started.",
    )
    p.add_argument("runs", nargs="*", metavar="RUN", help="run directory, id (prefix) or name")
    what = p.add_mutually_exclusive_group()
    what.add_argument(
        "--list", action="store_true", help="the TensorBoards running here and the runs they serve"
    )
    what.add_argument(
        "--stop",
        action="store_true",
        help="stop the TensorBoards happo-top started (all of them, or the RUN arguments as pids)",
    )
    p.add_argument(
        "--port",
        type=options.positive(int),
        metavar="N",
        help=f"port to serve on (default: the first free one from {DEFAULT_PORT})",
    )
    p.add_argument(
        "--wait",
        type=options.non_negative(),
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for TensorBoard to answer (default: 60)",
    )
    options.add_root(p, replaces_defaults=False)
    options.add_config(p)
    options.add_json(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(argv or []))
    return common.run_command("happo-top tensorboard", _main, args)


def _main(args: argparse.Namespace) -> int:
    settings = common.load_settings(args)
    reg = common.registry()
    if args.list:
        return _list(args, settings, reg)
    if args.stop:
        return _stop(args, reg)
    if not args.runs:
        raise common.UsageError("give one or more RUNs, or --list, or --stop")
    return _start(args, settings, reg)


# -- start ---------------------------------------------------------------------------------------


def _start(args: argparse.Namespace, settings: Settings, reg: Registry) -> int:
    _, runs = common.resolve_runs(args.runs, settings, reg, args.root)
    port = choose_port(args.port)
    spec = logdir_spec(runs, settings)
    res = launch(launch_spec(spec, port), reg)
    code = wait_up(res, port, args.wait)
    doc: dict[str, Any] = {
        "pid": res.pid,
        "port": port,
        "url": f"http://localhost:{port}/",
        "logdir_spec": spec,
        "log": res.log,
        "record": res.record.id,
        "ssh": ssh_line(port),
        "exited": code,
    }
    if args.json:
        common.write_json(doc)
    else:
        print(f"TensorBoard pid {res.pid} on http://localhost:{port}/ (log: {res.log})")
        for item in spec.split(","):
            name, _, path = item.partition(":")
            print(f"  {name}: {path}")
        print(f"on your laptop: {ssh_line(port)}   then open http://localhost:{port}/")
    if code is not None:
        common.fail("happo-top tensorboard", early_exit_message(res, code))
        return exit_codes.ACTION_FAILED
    return exit_codes.OK


# -- list and stop -------------------------------------------------------------------------------


def _ours(tb: TensorBoardProcess, reg: Registry) -> str | None:
    rec = reg.find(tb.pid, tb.started)
    return rec.id if rec is not None and rec.name == LAUNCH_NAME else None


def _runs_below(settings: Settings, roots: Sequence[str]) -> list[str]:
    where = [*roots, *(settings.roots or default_roots())]
    return Discovery([os.path.expanduser(r) for r in where]).scan().runs


def describe(tb: TensorBoardProcess, reg: Registry, run_paths: Sequence[str]) -> dict[str, Any]:
    doc = tb.to_json()
    doc["launched_by_happo_top"] = _ours(tb, reg)
    for d, served in zip(tb.logdirs, doc["logdirs"], strict=True):
        served["runs"] = [run_id(p) for p in run_paths if serves(tb, p) == d]
    return doc


def _list(args: argparse.Namespace, settings: Settings, reg: Registry) -> int:
    run_paths = _runs_below(settings, args.root)
    docs = [describe(tb, reg, run_paths) for tb in find_tensorboards()]
    if args.json:
        common.write_json({"tensorboards": docs})
        return exit_codes.OK
    if not docs:
        print("no TensorBoard running on this host")
    for d in docs:
        by = "started by happo-top" if d["launched_by_happo_top"] else "not started by happo-top"
        port = d["port"] if d["port"] is not None else "?"
        print(f"pid {d['pid']} ({d['user'] or '?'}) port {port} on {d['bind']}, {by}")
        for ld in d["logdirs"]:
            runs = ", ".join(ld["runs"]) or "no run below the roots"
            print(f"  {ld['name'] or '-'}: {ld['path']}  [{runs}]")
    return exit_codes.OK


def _stop(args: argparse.Namespace, reg: Registry) -> int:
    ours = [
        rec
        for rec in reg.records()
        if rec.name == LAUNCH_NAME and is_tensorboard(rec.argv) and reg.live(rec.pid) is rec
    ]
    if args.runs:
        wanted = []
        for key in args.runs:
            if not key.isdigit():
                raise common.UsageError(f"--stop takes pids, not {key!r}")
            rec = next((r for r in ours if r.pid == int(key)), None)
            if rec is None:
                raise ActionError(
                    f"pid {key} is not a TensorBoard that happo-top started and that is still "
                    "running: refusing"
                )
            wanted.append(rec)
        ours = wanted
    if not ours:
        print("no TensorBoard started by happo-top is running")
        return exit_codes.OK
    status = exit_codes.OK
    results = []
    for rec in ours:
        res = stop(Target.from_record(rec), int_grace=5.0, term_grace=5.0, registry=reg)
        results.append(res.to_json())
        if not args.json:
            print(f"TensorBoard {res.message}")
        if res.alive:
            status = exit_codes.ACTION_FAILED
    if args.json:
        common.write_json({"stopped": results})
    return status


__all__ = ["describe", "main"]
