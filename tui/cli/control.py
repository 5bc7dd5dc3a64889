"""``happo-top launch | stop | kill | restart``: run control from the command line.

Exit status (:mod:`tui.cli.exit_codes`): OK done; ACTION_FAILED refused or failed (the message
says why); USAGE a command-line or config error, or a RUN that matches no run or several.
The CLI acts at once (naming the command is the confirmation); ``--read-only`` or
``read_only: true`` in the config file disables every action.

RUN is a run directory, a run id (or a unique prefix of one), a run name, or a pid. A pid must be
the identified process of a run below the roots (or its launcher), or a process happo-top
launched itself.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Sequence
from typing import Any

from collectors.control import (
    INT_GRACE,
    TERM_GRACE,
    ActionError,
    LaunchResult,
    LaunchSpec,
    Registry,
    Target,
    early_exit,
    early_exit_message,
    kill,
    launch,
    restart,
    restart_spec,
    spec_from_preset,
    stop,
)
from collectors.model import RunSnapshot, Settings
from collectors.sources.processes import ProcessInfo
from tui.cli import common, exit_codes, options
from tui.cli.common import UsageError, resolve_target


def _common(p: argparse.ArgumentParser) -> None:
    options.add_config(p)
    options.add_read_only(p, help="refuse every action (a dry guard)")
    options.add_json(p, help="print the result as JSON")


def _run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="run directory, id, name, or pid")
    options.add_root(p, replaces_defaults=True)


def _grace_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--grace",
        type=options.non_negative(),
        metavar="SECONDS",
        help=f"wait between SIGINT and SIGTERM (default: stop_grace in the config, else "
        f"{INT_GRACE:g})",
    )
    p.add_argument(
        "--term-grace",
        type=options.non_negative(),
        metavar="SECONDS",
        help=f"wait between SIGTERM and SIGKILL (default: term_grace in the config, else "
        f"{TERM_GRACE:g})",
    )


def _settings(args: argparse.Namespace) -> Settings:
    """The settings (the grace periods from the command line, else the config file); refuses
    when actions are disabled (``--read-only`` or ``read_only: true``)."""
    settings = common.load_settings(args)
    if settings.read_only:
        why = "--read-only" if args.read_only else f"read_only: true in {settings.path}"
        raise ActionError(f"actions are disabled ({why})")
    return settings


def _out(args: argparse.Namespace, doc: dict[str, Any], text: str) -> None:
    if args.json:
        common.write_json(doc, allow_nan=True)
    else:
        print(text)
        sys.stdout.flush()


def _guard(prog: str, fn: Any, argv: Sequence[str]) -> int:
    # A RUN that matches no run is USAGE here as in every command (see exit_codes).
    return common.run_command(prog, fn, list(argv))


def _no_process(run: RunSnapshot | None) -> ActionError:
    name = run.name if run else "?"
    state = f" (state: {run.state})" if run else ""
    return ActionError(f"run {name} has no live process{state}: nothing to signal")


# --------------------------------------------------------------------------- launch


def launch_main(argv: Sequence[str]) -> int:
    return _guard("happo-top launch", _launch, argv)


def _launch(argv: list[str]) -> int:
    head, cmd = argv, []
    if "--" in argv:
        i = argv.index("--")
        head, cmd = argv[:i], argv[i + 1 :]
    p = argparse.ArgumentParser(
        prog="happo-top launch",
        usage="happo-top launch PRESET [options]\n"
        "       happo-top launch [--name N] [--cwd DIR] [--env K=V]... [--log FILE] [--shell] "
        "-- CMD ARGS...",
        description="Start a training run detached (own session, output to a log file), "
        "from a config preset or a command. Prints the pid and the log path.",
    )
    p.add_argument("preset", nargs="?", metavar="PRESET", help="a preset of the config file")
    p.add_argument("--name", help="a name for the launch (log file name, registry)")
    p.add_argument("--cwd", metavar="DIR", help="working directory (default: the current one)")
    p.add_argument(
        "--env", action="append", default=[], metavar="K=V", help="set a variable (repeatable)"
    )
    p.add_argument("--log", metavar="FILE", help="log file (default: the XDG state directory)")
    p.add_argument("--shell", action="store_true", help="run CMD through /bin/sh")
    _common(p)
    args = p.parse_args(head)
    settings = _settings(args)
    env: dict[str, str] = {}
    for item in args.env:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise UsageError(f"--env needs NAME=VALUE, got {item!r}")
        env[k] = v
    spec: LaunchSpec
    if args.preset and cmd:
        raise UsageError("give a preset or a command after --, not both")
    if args.preset:
        spec = spec_from_preset(settings.presets, args.preset, settings.path, env)
        changes: dict[str, Any] = {}
        if args.cwd:
            changes["cwd"] = args.cwd
        if args.log:
            changes["log"] = args.log
        if args.name:
            changes["name"] = args.name
        spec = dataclasses.replace(spec, **changes)
    elif cmd:
        argv_t = (" ".join(cmd),) if args.shell else tuple(cmd)
        spec = LaunchSpec(
            argv=argv_t,
            cwd=args.cwd or os.getcwd(),
            overrides=env,
            shell=args.shell,
            name=args.name,
            log=args.log,
            source="command",
        )
    else:
        known = ", ".join(sorted(settings.presets)) or "none in the config file"
        raise UsageError(f"give a PRESET ({known}) or -- CMD ARGS...")
    res = launch(spec, common.registry())
    return _launched(args, {"launch": res.to_json()}, "", res, flat=True)


def _launched_text(res: LaunchResult) -> str:
    return f"launched pid {res.pid}: {res.spec.display()}\nlog: {res.log}"


def _launched(
    args: argparse.Namespace,
    doc: dict[str, Any],
    text: str,
    res: LaunchResult,
    flat: bool = False,
    after: str = "",
) -> int:
    """Print what was launched, once it has lived a moment: a command that exits at once (a
    typo, a bad argument) is an error (exit 1) showing the end of its log, not a success."""
    code = early_exit(res)
    doc["launch"]["exited"] = code
    out = dict(doc["launch"]) if flat else doc
    _out(args, out, "\n".join(t for t in (text, _launched_text(res), after) if t))
    if code is None:
        return exit_codes.OK
    common.fail("happo-top", early_exit_message(res, code))
    return exit_codes.ACTION_FAILED


# --------------------------------------------------------------------------- stop / kill


def stop_main(argv: Sequence[str]) -> int:
    return _guard("happo-top stop", _stop, argv)


def kill_main(argv: Sequence[str]) -> int:
    return _guard("happo-top kill", _kill, argv)


def _stop(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="happo-top stop",
        description="Stop a run gracefully: SIGINT to its process group (the trainer flushes its "
        "files), SIGTERM after a grace period, SIGKILL after another.",
    )
    _run_options(p)
    _grace_options(p)
    p.add_argument("--no-kill", action="store_true", help="never escalate to SIGKILL")
    _common(p)
    args = p.parse_args(argv)
    settings = _settings(args)
    registry = common.registry()
    r = resolve_target(args.run, settings, registry, args.root)
    if r.target is None:
        raise _no_process(r.run)
    if not args.json:
        plan = f"SIGINT, SIGTERM after {settings.stop_grace:g} s"
        if not args.no_kill:
            plan += f", SIGKILL after {settings.term_grace:g} s more"
        print(f"stopping {r.target.describe()}: {plan}", flush=True)
    res = stop(
        r.target,
        int_grace=settings.stop_grace,
        term_grace=settings.term_grace,
        escalate=not args.no_kill,
        registry=registry,
    )
    text = res.message + (f" ({res.note})" if res.group is None and res.note else "")
    _out(args, res.to_json(), text)
    return exit_codes.ACTION_FAILED if res.alive else exit_codes.OK


def _kill(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="happo-top kill", description="SIGKILL a run's process group at once."
    )
    _run_options(p)
    _common(p)
    args = p.parse_args(argv)
    settings = _settings(args)
    registry = common.registry()
    r = resolve_target(args.run, settings, registry, args.root)
    if r.target is None:
        raise _no_process(r.run)
    res = kill(r.target, registry=registry)
    text = res.message + (f" ({res.note})" if res.group is None and res.note else "")
    _out(args, res.to_json(), text)
    return exit_codes.ACTION_FAILED if res.alive else exit_codes.OK


# --------------------------------------------------------------------------- restart


def restart_main(argv: Sequence[str]) -> int:
    return _guard("happo-top restart", _restart, argv)


def _restart(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="happo-top restart",
        description="Stop a run (if it is running), then start the same command in the same "
        "directory with the same environment.",
    )
    _run_options(p)
    p.add_argument(
        "--resume",
        action="store_true",
        help="pass the latest complete checkpoint as HARL's --model_dir",
    )
    _grace_options(p)
    _common(p)
    args = p.parse_args(argv)
    settings = _settings(args)
    registry = common.registry()
    r = resolve_target(args.run, settings, registry, args.root)
    if r.run is None and r.target is not None and r.target.launch_id:
        return _restart_record(args, settings, r.target, registry)

    def announce(res: Any) -> None:
        if res is not None and not args.json:
            print(res.message, flush=True)

    def stopping(target: Target) -> None:
        if not args.json:
            print(f"stopping {target.describe()}", flush=True)

    result = restart(
        r.run,
        r.info,
        resume=args.resume,
        registry=registry,
        int_grace=settings.stop_grace,
        term_grace=settings.term_grace,
        before_launch=announce,
        before_stop=stopping,
    )
    doc = {
        "stop": None if result.stop is None else result.stop.to_json(),
        "launch": result.launch.to_json(),
        "notes": list(result.notes),
    }
    notes = "\n".join(f"note: {n}" for n in result.notes)
    return _launched(args, doc, "", result.launch, after=notes)


def _restart_record(
    args: argparse.Namespace, settings: Settings, target: Target, registry: Registry
) -> int:
    """Restart of a launched process that is not (yet) tied to a run directory."""
    rec = registry.get(target.launch_id or "")
    if rec is None:
        raise ActionError(f"launch record {target.launch_id} is gone")
    if args.resume:
        raise ActionError("--resume needs a run directory (this launch is not tied to one yet)")
    fake = ProcessInfo(
        pid=target.pid,
        title=target.title,
        cmdline=target.cmdline,
        cmdline_source="registry",
        cwd=rec.cwd,
        started=target.started,
        uid=target.uid,
        user=None,
        status="",
        cpu_percent=None,
        rss=None,
        threads=None,
        children=(),
        gpu_memory=None,
        how_found=target.how_found,
        launch_id=rec.id,
    )
    spec = restart_spec(None, fake, registry)
    if not args.json:
        print(f"stopping {target.describe()}", flush=True)
    res = stop(
        target, int_grace=settings.stop_grace, term_grace=settings.term_grace, registry=registry
    )
    if res.alive:
        raise ActionError(f"{target.describe()} did not end ({res.message}): not relaunched")
    launched = launch(spec, registry)
    doc = {"stop": res.to_json(), "launch": launched.to_json(), "notes": []}
    return _launched(args, doc, res.message, launched)
