"""``happo-top launch | stop | kill | restart``: run control from the command line.

Exit status (:mod:`tui.cli.exit_codes`): OK done; ACTION_FAILED refused or failed (the message
says why); USAGE a command-line or config error, or a RUN that matches no run or several.
launch, stop and kill act at once (naming the command is the confirmation); restart prints its
plan (argv, cwd, environment changes, checkpoint) and asks on a terminal, ``--yes`` for scripts,
then executes that same plan object. ``--read-only`` or ``read_only: true`` in the config file
disables every action.

RUN is a run directory, a run id (or a unique prefix of one), a run name, or a pid. A pid must be
the identified process of a run below the roots (or its launcher), or a process happo-top
launched itself.

A run on another host (``HOST:RUN``, or a RUN found below a ``host:path`` root) is acted on by
the happo-top there: ``ssh HOST happo-top stop RUN --yes`` (BatchMode, as
:class:`collectors.sources.remote.RemoteSpec` builds it), which makes every safety check itself;
its output and exit status are this command's. ``--read-only`` here refuses before ssh starts.
A remote restart shows that happo-top's plan (``--dry-run`` there) and asks here.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from collectors.control import (
    INT_GRACE,
    TERM_GRACE,
    ActionError,
    LaunchResult,
    LaunchSpec,
    ProcessGone,
    RestartPlan,
    Target,
    check_target,
    early_exit,
    early_exit_message,
    execute_restart,
    interrupt,
    interrupt_job,
    kill,
    kill_job,
    plan_job_restart,
    plan_record_restart,
    plan_restart,
    spec_from_preset,
    start,
    stop,
    stop_job,
)
from collectors.model import RunSnapshot, Settings
from collectors.sources.remote import RemoteSpec, spec_for
from tui.cli import common, exit_codes, options
from tui.cli.common import RemoteRun, UsageError, resolve_action


def _common(p: argparse.ArgumentParser) -> None:
    options.add_config(p)
    options.add_read_only(p, help="refuse every action (a dry guard)")
    options.add_json(p, help="print the result as JSON")


def _run_options(p: argparse.ArgumentParser, yes: bool = False, job: bool = False) -> None:
    p.add_argument(
        "run",
        metavar="RUN",
        nargs="?" if job else None,
        help="run directory, id, name, or pid; HOST:RUN for another host",
    )
    if job:  # a job still pending has no run directory to name it by
        p.add_argument(
            "--job",
            metavar="ID",
            help="a Slurm job of yours instead of a run (one still pending, say)",
        )
    options.add_root(p, replaces_defaults=True)
    if yes:  # the same line works for stop, kill and restart (a remote action passes --yes)
        p.add_argument(
            "--yes", "-y", action="store_true", help="accepted for symmetry with restart (no-op)"
        )


def _run_or_job(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exactly one of RUN and --job (argparse's usage error otherwise)."""
    if (args.run is None) == (args.job is None):
        p.error(
            "name a run (RUN) or a Slurm job (--job ID), not both"
            if args.run
            else "name a run (RUN) or a Slurm job (--job ID)"
        )
    if args.job is not None and not re.fullmatch(r"\d+(_\d+)?", args.job):
        p.error(f"--job {args.job!r}: a Slurm job id is a number")


def _remote(args: argparse.Namespace, r: RemoteRun, action: str, *extra: str) -> int:
    """Run the action with the happo-top on ``r``'s host, its output passed through."""
    return _run_there(
        r.host, r.spec, r.args(action, *extra, *(["--json"] if args.json else [])), args.json
    )


def _run_there(host: str, spec: RemoteSpec, argv: list[str], quiet: bool) -> int:
    """``ssh HOST happo-top ARGV``, its output passed through and its status returned; ssh's own
    failure (exit 255: refused, no route, a key refused) is named as such."""
    if not quiet:
        print(f"on {host}: {spec.remote_command} {shlex.join(argv)}", flush=True)
    try:
        proc = subprocess.run(spec.command(argv), stdin=subprocess.DEVNULL)
    except OSError as e:
        raise ActionError(f"{host}: cannot start {spec.ssh}: {e.strerror or e}") from None
    if proc.returncode == 255:
        raise ActionError(f"{host}: ssh failed (exit 255): nothing was done there")
    if proc.returncode == 127:
        raise ActionError(f"{host}: no happo-top there ({spec.remote_command!r})")
    return proc.returncode


def _without_host(argv: Sequence[str]) -> list[str]:
    """``argv`` without its ``--host HOST`` / ``--host=HOST`` (before a ``--``)."""
    out: list[str] = []
    it = iter(argv)
    for a in it:
        if a == "--":
            out += [a, *it]
            break
        if a == "--host":
            next(it, None)
        elif not a.startswith("--host="):
            out.append(a)
    return out


def _remote_launch(args: argparse.Namespace, settings: Settings, forward: list[str]) -> int:
    """``launch --host HOST ...``: the happo-top there launches (its presets, its registry, its
    checks); ssh's own failure is named as such."""
    spec = spec_for(
        args.host,
        settings.hosts,
        remote_command=settings.remote_command,
        ssh_args=settings.ssh_args,
    )
    return _run_there(args.host, spec, ["launch", *forward], args.json)


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
    """A refusal for a run without a live process; its file state is named only when it does
    not claim a process (a snapshot taken a moment ago may still say "running")."""
    name = run.name if run else "?"
    state = ""
    if run is not None and run.state not in ("running", "starting", "stalled"):
        state = f" (state: {run.state})"
    return ActionError(f"run {name} has no live process{state}: nothing to signal")


def _checked(target: Target, run: RunSnapshot | None) -> None:
    """Re-check the target before anything is printed: a refusal (another user, a reused pid)
    or a process that is already gone ends here, and no "stopping pid ..." line precedes it."""
    try:
        check_target(target)
    except ProcessGone:
        raise _no_process(run) from None


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
        "[--slurm [--sbatch=OPTION]...] -- CMD ARGS...",
        description="Start a training run detached (own session, output to a log file), "
        "from a config preset or a command. Prints the pid and the log path. A preset with "
        "'backend: slurm', or --slurm, submits it as a Slurm job with sbatch instead and "
        "prints the job id.",
    )
    p.add_argument("preset", nargs="?", metavar="PRESET", help="a preset of the config file")
    p.add_argument("--name", help="a name for the launch (log file name, registry)")
    p.add_argument("--cwd", metavar="DIR", help="working directory (default: the current one)")
    p.add_argument(
        "--env", action="append", default=[], metavar="K=V", help="set a variable (repeatable)"
    )
    p.add_argument("--log", metavar="FILE", help="log file (default: the XDG state directory)")
    p.add_argument("--shell", action="store_true", help="run CMD through /bin/sh")
    p.add_argument(
        "--slurm",
        action="store_true",
        help="submit it as a Slurm job (sbatch) instead of starting it here; prints the job id",
    )
    p.add_argument(
        "--sbatch",
        action="append",
        default=[],
        metavar="OPTION",
        help="an sbatch option for --slurm, e.g. --sbatch=--time=12:00:00 (repeatable; added "
        "to a preset's sbatch list)",
    )
    p.add_argument(
        "--host",
        metavar="HOST",
        help="launch on another host: 'ssh HOST happo-top launch ...' with the same arguments "
        "(a PRESET is the one in that host's config file)",
    )
    _common(p)
    args = p.parse_args(head)
    settings = _settings(args)
    if args.host:
        return _remote_launch(args, settings, _without_host(argv))
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
        if args.slurm or args.sbatch:
            changes.update(backend="slurm", sbatch=(*spec.sbatch, *args.sbatch))
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
            backend="slurm" if args.slurm or args.sbatch else "local",
            sbatch=tuple(args.sbatch),
        )
    else:
        known = ", ".join(sorted(settings.presets)) or "none in the config file"
        raise UsageError(f"give a PRESET ({known}) or -- CMD ARGS...")
    res = start(spec, common.registry())
    return _launched(args, {"launch": res.to_json()}, "", res, flat=True)


def _launched_text(res: LaunchResult) -> str:
    if res.job_id is not None:
        return (
            f"submitted Slurm job {res.job_id}: {res.spec.display()}\nlog: {res.log}\n"
            f"script: {res.script}"
        )
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
    _run_options(p, yes=True, job=True)
    _grace_options(p)
    p.add_argument("--no-kill", action="store_true", help="never escalate to SIGKILL")
    _common(p)
    args = p.parse_args(argv)
    _run_or_job(p, args)
    settings = _settings(args)
    registry = common.registry()
    if args.job:
        jres = stop_job(
            args.job, grace=settings.stop_grace, registry=registry, escalate=not args.no_kill
        )
        _out(args, jres.to_json(), jres.message)
        return exit_codes.ACTION_FAILED if jres.alive else exit_codes.OK
    r = resolve_action(args.run, settings, registry, args.root)
    if isinstance(r, RemoteRun):
        extra = [*_grace_args(args), *(["--no-kill"] if args.no_kill else [])]
        return _remote(args, r, "stop", *extra)
    if r.run is not None and r.run.job is not None:
        job = r.run.job
        if not args.json:
            plan = "SIGINT (scancel --signal=INT --full)"
            if not args.no_kill:
                plan += f", scancel after {settings.stop_grace:g} s"
            print(f"stopping Slurm job {job.id} of run {r.run.name}: {plan}", flush=True)
        jres = stop_job(
            job.id,
            grace=settings.stop_grace,
            run_path=r.run.path,
            registry=registry,
            escalate=not args.no_kill,
        )
        _out(args, jres.to_json(), jres.message)
        return exit_codes.ACTION_FAILED if jres.alive else exit_codes.OK
    if r.target is None:
        raise _no_process(r.run)
    _checked(r.target, r.run)
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
    return _signal_command(
        argv,
        "happo-top kill",
        "SIGKILL a run's process group at once.",
        action="kill",
        local=lambda target, registry: kill(target, registry=registry),
        job=lambda job_id, run_path, registry: kill_job(
            job_id, run_path=run_path, registry=registry
        ),
        done=lambda res: not res.alive,
    )


def interrupt_main(argv: Sequence[str]) -> int:
    return _guard("happo-top interrupt", _interrupt, argv)


def _interrupt(argv: list[str]) -> int:
    """One SIGINT and nothing after it (the monitor's ``I``); exit 0 once it was sent, whether
    or not the trainer chose to end."""
    return _signal_command(
        argv,
        "happo-top interrupt",
        "Send one SIGINT to a run's process group (Ctrl-C in its terminal) and nothing after "
        "it: no SIGTERM, no SIGKILL; the trainer decides whether to exit (stop ends it for "
        "sure). A Slurm run: one scancel --signal=INT --full.",
        action="interrupt",
        local=lambda target, registry: interrupt(target, registry=registry),
        job=lambda job_id, run_path, registry: interrupt_job(
            job_id, run_path=run_path, registry=registry
        ),
        done=_sent,
    )


def _sent(res: Any) -> bool:
    """An interrupt is done once it was sent (a SignalResult's ``signals``, a JobResult's
    ``sent``), or when the run had already ended: what the trainer does next is its own."""
    sent = res.signals if hasattr(res, "signals") else res.sent
    return bool(sent) or res.ended_by is not None


def _signal_command(
    argv: list[str],
    prog: str,
    description: str,
    *,
    action: str,
    local: Any,
    job: Any,
    done: Any,
) -> int:
    """``kill`` and ``interrupt``: one step on a run (its process here, its Slurm job, or the
    happo-top of its host) or on ``--job ID``; exit 0 when ``done(result)``."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    _run_options(p, yes=True, job=True)
    _common(p)
    args = p.parse_args(argv)
    _run_or_job(p, args)
    settings = _settings(args)
    registry = common.registry()
    if args.job:
        jres = job(args.job, None, registry)
        _out(args, jres.to_json(), jres.message)
        return exit_codes.OK if done(jres) else exit_codes.ACTION_FAILED
    r = resolve_action(args.run, settings, registry, args.root)
    if isinstance(r, RemoteRun):
        return _remote(args, r, action)
    if r.run is not None and r.run.job is not None:
        jres = job(r.run.job.id, r.run.path, registry)
        _out(args, jres.to_json(), jres.message)
        return exit_codes.OK if done(jres) else exit_codes.ACTION_FAILED
    if r.target is None:
        raise _no_process(r.run)
    _checked(r.target, r.run)
    res = local(r.target, registry)
    text = res.message + (f" ({res.note})" if res.group is None and res.note else "")
    _out(args, res.to_json(), text)
    return exit_codes.OK if done(res) else exit_codes.ACTION_FAILED


# --------------------------------------------------------------------------- restart


def restart_main(argv: Sequence[str]) -> int:
    return _guard("happo-top restart", _restart, argv)


def _restart(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="happo-top restart",
        description="Stop a run (if it is running), then start it again from its own "
        "config.json through HARL's entry point (train.py --load_config), in the same "
        "directory with the same environment. --resume starts from a checkpoint's weights "
        "(--model_dir) for the steps the run had left (--num_env_steps). The plan is printed "
        "and, on a terminal, confirmed first.",
    )
    _run_options(p)
    p.add_argument(
        "--resume",
        action="store_true",
        help="resume from the latest complete checkpoint (HARL's --model_dir), for the planned "
        "total minus its step (--num_env_steps)",
    )
    p.add_argument(
        "--checkpoint",
        type=options.non_negative(int),
        metavar="STEP",
        help="resume from the checkpoint at this step (as listed; implies --resume)",
    )
    p.add_argument(
        "--yes", "-y", action="store_true", help="do not ask (scripts; needed without a terminal)"
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan and do nothing")
    _grace_options(p)
    _common(p)
    args = p.parse_args(argv)
    settings = _settings(args)
    registry = common.registry()
    r = resolve_action(args.run, settings, registry, args.root)
    if isinstance(r, RemoteRun):
        return _remote_restart(args, r)
    if r.run is None and r.target is not None and r.target.launch_id:
        if args.resume or args.checkpoint is not None:
            raise ActionError("--resume needs a run directory (this launch is not tied to one yet)")
        plan = plan_record_restart(r.target, registry)
    elif r.run is None:
        raise ActionError(f"{args.run} is not a run: cannot restart")
    elif r.run.job is not None:  # a Slurm job: a new job (the same sbatch options)
        plan = plan_job_restart(
            r.run,
            r.run.job,
            resume=args.resume,
            checkpoint=args.checkpoint,
            registry=registry,
            harl_train=settings.harl_train,
            presets=settings.presets,
        )
    else:
        plan = plan_restart(
            r.run,
            r.info,
            resume=args.resume,
            checkpoint=args.checkpoint,
            registry=registry,
            harl_train=settings.harl_train,
            presets=settings.presets,
        )
    if not _confirmed(args, plan):
        return exit_codes.ACTION_FAILED if not args.dry_run else exit_codes.OK

    def announce(res: Any) -> None:
        if res is not None and not args.json:
            print(res.message, flush=True)

    def stopping(target: Target) -> None:
        if not args.json:
            print(f"stopping {target.describe()}", flush=True)

    result = execute_restart(
        plan,
        registry=registry,
        int_grace=settings.stop_grace,
        term_grace=settings.term_grace,
        before_launch=announce,
        before_stop=stopping,
    )
    doc = {
        "plan": plan.to_json(),
        "stop": None if result.stop is None else result.stop.to_json(),
        "launch": result.launch.to_json(),
        "notes": list(result.notes),
    }
    notes = "\n".join(f"note: {n}" for n in result.notes)
    return _launched(args, doc, "", result.launch, after=notes)


def _grace_args(args: argparse.Namespace) -> list[str]:
    out = []
    if args.grace is not None:
        out += ["--grace", f"{args.grace:g}"]
    if args.term_grace is not None:
        out += ["--term-grace", f"{args.term_grace:g}"]
    return out


def _remote_restart(args: argparse.Namespace, r: RemoteRun) -> int:
    """The plan is made there: shown (``--dry-run`` there) and confirmed here, then run there
    with ``--yes``. The remote plan is made again when it runs (its checks are its own)."""
    extra = [*_grace_args(args), *(["--resume"] if args.resume else [])]
    if args.checkpoint is not None:
        extra += ["--checkpoint", str(args.checkpoint)]
    if args.dry_run or not args.yes:
        code = _remote(args, r, "restart", *extra, "--dry-run")
        if code != exit_codes.OK or args.dry_run:
            return code
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise ActionError("not confirmed: no terminal to ask on (give --yes to run this plan)")
        try:
            answer = input(f"run this on {r.host}? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("not done", flush=True)
            return exit_codes.ACTION_FAILED
    return _remote(args, r, "restart", *extra)


def _confirmed(args: argparse.Namespace, plan: RestartPlan) -> bool:
    """Print the plan (the object that will be executed) and ask on a terminal; ``--yes``
    for scripts. Without a terminal and without ``--yes`` nothing is done."""
    text = "\n".join(plan.lines())
    if args.json and (args.dry_run or not args.yes):
        common.write_json({"plan": plan.to_json(), "done": False}, allow_nan=True)
    elif not args.json:
        print(f"restart {plan.run_name}:\n" + "\n".join(f"  {x}" for x in text.splitlines()))
        sys.stdout.flush()
    if args.dry_run:
        return False
    if args.yes:
        return True
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise ActionError("not confirmed: no terminal to ask on (give --yes to run this plan)")
    try:
        answer = input("run this? [y/N] ")
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        print("not done", flush=True)
        return False
    return True
