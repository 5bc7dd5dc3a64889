"""``happo-top launch | stop | kill | restart``: run control from the command line.

Exit status: 0 done; 1 refused or failed (the message says why); 2 usage or configuration error.
The CLI acts at once (naming the command is the confirmation); ``--read-only`` or
``read_only: true`` in the config file disables every action.

RUN is a run directory, a run id (or a unique prefix of one), a run name, or a pid. A pid must be
the identified process of a run below the roots (or its launcher), or a process happo-top
launched itself.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from collectors.config import ConfigError, default_roots, load_settings
from collectors.control.actions import (
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
from collectors.model.run import RunSnapshot
from collectors.model.run_dir import RUN_DIR_RE
from collectors.model.settings import Settings
from collectors.sources.processes.collector import ProcessCollector, ProcessInfo
from collectors.sources.runs.tracker import RunsCollector, find_run


class _Usage(Exception):
    pass


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="YAML config file (presets, roots, read_only)")
    p.add_argument(
        "--read-only", action="store_true", default=None, help="refuse every action (a dry guard)"
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="run directory, id, name, or pid")
    p.add_argument(
        "--root",
        action="append",
        metavar="DIR",
        help="results root to look for RUN in (repeatable; default: the config's roots, "
        "else ./results, else .)",
    )


def _grace_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--grace",
        type=float,
        metavar="SECONDS",
        help=f"wait between SIGINT and SIGTERM (default: stop_grace in the config, else "
        f"{INT_GRACE:g})",
    )
    p.add_argument(
        "--term-grace",
        type=float,
        metavar="SECONDS",
        help=f"wait between SIGTERM and SIGKILL (default: term_grace in the config, else "
        f"{TERM_GRACE:g})",
    )


def _settings(args: argparse.Namespace) -> Settings:
    """The config file's settings; fills the grace periods the command line left out."""
    settings = load_settings(args.config)
    if getattr(args, "grace", 0) is None:
        args.grace = settings.stop_grace
    if getattr(args, "term_grace", 0) is None:
        args.term_grace = settings.term_grace
    if args.read_only:
        settings = dataclasses.replace(settings, read_only=True)
    if settings.read_only:
        why = "--read-only" if args.read_only else f"read_only: true in {settings.path}"
        raise ActionError(f"actions are disabled ({why})")
    return settings


def _out(args: argparse.Namespace, doc: dict[str, Any], text: str) -> None:
    if args.json:
        json.dump(doc, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(text)
    sys.stdout.flush()


def _guard(prog: str, fn: Any, argv: Sequence[str]) -> int:
    try:
        return int(fn(list(argv)))
    except _Usage as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    except ConfigError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    except ActionError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1


# --------------------------------------------------------------------------- resolving RUN


@dataclasses.dataclass
class Resolved:
    run: RunSnapshot | None
    info: ProcessInfo | None
    target: Target | None  # None: no live process
    roots: list[str]


def resolve(
    key: str, roots_arg: list[str] | None, settings: Settings, registry: Registry
) -> Resolved:
    roots = list(roots_arg or settings.roots or default_roots())
    path = os.path.abspath(os.path.expanduser(key))
    if os.path.isdir(path) and RUN_DIR_RE.match(os.path.basename(path)):
        real = os.path.realpath(path)
        inside = any(real.startswith(os.path.realpath(r).rstrip(os.sep) + os.sep) for r in roots)
        if not inside:
            roots = [os.path.dirname(path)]
    snap = RunsCollector(roots, settings).collect()
    procs = ProcessCollector(registry=registry)
    by_id = [r for r in snap.runs if r.id == key]
    if key.isdigit() and not by_id and not os.path.isdir(path):
        pid = int(key)
        infos = procs.collect(snap.runs)
        run_path = procs.find_pid(pid)
        if run_path is not None:
            run = next(r for r in snap.runs if r.path == run_path)
            info = infos[run_path]
            return Resolved(run, info, Target.from_process(info, run), roots)
        rec = registry.live(pid)
        if rec is not None:
            return Resolved(None, None, Target.from_record(rec), roots)
        raise ActionError(
            f"pid {pid} is not identified as the process of any run below "
            f"{', '.join(roots)}, nor launched by happo-top: refusing"
        )
    matches = find_run(snap, key)
    if not matches:
        raise ActionError(f"no run matches '{key}' below {', '.join(roots)}")
    if len(matches) > 1:
        listed = "; ".join(f"{r.id} {r.name} ({r.path})" for r in matches[:6])
        raise ActionError(f"'{key}' matches {len(matches)} runs: {listed}. Give the id or path")
    run = matches[0]
    found = procs.collect([run]).get(run.path)
    if found is not None:
        return Resolved(run, found, Target.from_process(found, run), roots)
    return Resolved(run, None, None, roots)


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
            raise _Usage(f"--env needs NAME=VALUE, got {item!r}")
        env[k] = v
    spec: LaunchSpec
    if args.preset and cmd:
        raise _Usage("give a preset or a command after --, not both")
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
        raise _Usage(f"give a PRESET ({known}) or -- CMD ARGS...")
    registry = Registry()
    res = launch(spec, registry)
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
        return 0
    print(f"happo-top: {early_exit_message(res, code)}", file=sys.stderr)
    return 1


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
    registry = Registry()
    r = resolve(args.run, args.root, settings, registry)
    if r.target is None:
        raise _no_process(r.run)
    if not args.json:
        plan = f"SIGINT, SIGTERM after {args.grace:g} s"
        if not args.no_kill:
            plan += f", SIGKILL after {args.term_grace:g} s more"
        print(f"stopping {r.target.describe()}: {plan}", flush=True)
    res = stop(
        r.target,
        int_grace=args.grace,
        term_grace=args.term_grace,
        escalate=not args.no_kill,
        registry=registry,
    )
    text = res.message + (f" ({res.note})" if res.group is None and res.note else "")
    _out(args, res.to_json(), text)
    return 1 if res.alive else 0


def _kill(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="happo-top kill", description="SIGKILL a run's process group at once."
    )
    _run_options(p)
    _common(p)
    args = p.parse_args(argv)
    settings = _settings(args)
    registry = Registry()
    r = resolve(args.run, args.root, settings, registry)
    if r.target is None:
        raise _no_process(r.run)
    res = kill(r.target, registry=registry)
    text = res.message + (f" ({res.note})" if res.group is None and res.note else "")
    _out(args, res.to_json(), text)
    return 1 if res.alive else 0


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
    registry = Registry()
    r = resolve(args.run, args.root, settings, registry)
    if r.run is None and r.target is not None and r.target.launch_id:
        return _restart_record(args, r.target, registry)

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
        int_grace=args.grace,
        term_grace=args.term_grace,
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


def _restart_record(args: argparse.Namespace, target: Target, registry: Registry) -> int:
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
    res = stop(target, int_grace=args.grace, term_grace=args.term_grace, registry=registry)
    if res.alive:
        raise ActionError(f"{target.describe()} did not end ({res.message}): not relaunched")
    launched = launch(spec, registry)
    doc = {"stop": res.to_json(), "launch": launched.to_json(), "notes": []}
    return _launched(args, doc, res.message, launched)
