"""Restarting and resuming a run: the command it was started with (launch record, its own or a
parent's command line, ``command.txt``), stopped and started again, optionally from its latest
complete checkpoint."""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import psutil

from collectors.control.errors import ActionError, ProcessGone
from collectors.control.launch import LaunchResult, LaunchSpec, launch
from collectors.control.registry import Registry, process_create_time
from collectors.control.signals import (
    INT_GRACE,
    TERM_GRACE,
    SignalResult,
    Target,
    check_target,
    stop,
)
from collectors.model.process import ProcessInfo
from collectors.model.run import RunSnapshot
from collectors.sources.processes import is_wrapper, read_command_txt


def latest_complete_checkpoint(run: RunSnapshot) -> str | None:
    done = [c for c in run.checkpoints if c.complete]
    return max(done, key=lambda c: c.step).path if done else None


def with_model_dir(argv: Sequence[str], model_dir: str, shell: bool = False) -> tuple[str, ...]:
    """HARL's ``--model_dir``: replaced where given, appended otherwise."""
    if shell:
        return (f"{argv[0]} --model_dir {shlex.quote(model_dir)}",)
    out = list(argv)
    for i, a in enumerate(out):
        if a == "--model_dir" and i + 1 < len(out):
            out[i + 1] = model_dir
            return tuple(out)
        if a.startswith("--model_dir="):
            out[i] = f"--model_dir={model_dir}"
            return tuple(out)
    return (*out, "--model_dir", model_dir)


def _environ(pid: int | None) -> dict[str, str] | None:
    if pid is None:
        return None
    try:
        return dict(psutil.Process(pid).environ())
    except (psutil.Error, OSError):
        return None


def _cwd(pid: int | None) -> str | None:
    if pid is None:
        return None
    try:
        return psutil.Process(pid).cwd() or None
    except (psutil.Error, OSError):
        return None


def _cwd_from_run(run: RunSnapshot | None) -> str | None:
    """``<cwd>/<log_dir>/<env>/<task>/<algo>/<exp>/seed-*`` with a relative ``log_dir``."""
    if run is None:
        return None
    log_dir = run.config.get("algo_args.logger.log_dir") or "./results"
    if not isinstance(log_dir, str) or os.path.isabs(log_dir):
        return None
    base = run.path
    for _ in range(5):
        base = os.path.dirname(base)
    parts = [p for p in os.path.normpath(log_dir).split(os.sep) if p not in ("", ".")]
    if ".." in parts:
        return None
    for part in reversed(parts):
        if os.path.basename(base) != part:
            return None
        base = os.path.dirname(base)
    return base


def restart_spec(
    run: RunSnapshot | None,
    info: ProcessInfo | None,
    registry: Registry | None = None,
) -> LaunchSpec:
    """The command to start again: argv, cwd and environment as the run was started.

    Sources, in order: happo-top's launch record; the process's own command line (not renamed
    yet); the original command of a parent (``conda run``, ``bash train.sh``); ``command.txt``.
    The environment is read from the live process that ran that command (``/proc/<pid>/environ``)
    so it is exactly the original; when that process is gone, the record's environment diff on
    top of ours, else ours.
    """
    registry = registry if registry is not None else Registry()
    rec = None
    if info is not None and info.launch_id:
        rec = registry.get(info.launch_id)
    if rec is None and run is not None:
        rec = registry.for_run(run.path)
    name = run.name if run is not None else None
    restart_of = run.path if run is not None else None
    if rec is not None:
        live_env = (
            _environ(rec.pid) if registry.find(rec.pid, process_create_time(rec.pid)) else None
        )
        return LaunchSpec(
            argv=rec.argv,
            cwd=rec.cwd,
            env=live_env if live_env is not None else rec.environment(),
            shell=rec.shell,
            name=rec.name or name,
            log=rec.log_requested,
            preset=rec.preset,
            source="registry",
            restart_of=rec.id,
        )
    if info is not None and info.cmdline_source in ("self", "parent") and info.cmdline:
        pid = info.pid if info.cmdline_source == "self" else info.launcher
        cwd = _cwd(pid) or (info.cwd if info.cmdline_source == "self" else None)
        if cwd is None:
            raise ActionError(
                f"cannot read the working directory of pid {pid} ({info.cmdline_source} "
                "command): refusing to guess"
            )
        return LaunchSpec(
            argv=tuple(info.cmdline),
            cwd=cwd,
            env=_environ(pid),
            name=name,
            source=info.cmdline_source,
            restart_of=restart_of,
        )
    ct = read_command_txt(run.path) if run is not None else None
    if ct is not None:
        argv, cwd = ct
        cwd = cwd or (info.cwd if info is not None else None) or _cwd_from_run(run)
        if cwd is None:
            raise ActionError(
                f"command.txt of {run.path if run else '?'} gives no working directory and "
                "the run's process is gone: cannot restart"
            )
        return LaunchSpec(
            argv=argv,
            cwd=cwd,
            env=_environ(info.pid) if info is not None else None,
            name=name,
            source="command.txt",
            restart_of=restart_of,
        )
    what = run.name if run is not None else f"pid {info.pid}" if info is not None else "?"
    raise ActionError(
        f"the original command of {what} is unknown (the process title hid it, and there is no "
        "parent command line, launch record or command.txt): cannot restart"
    )


@dataclass(frozen=True, slots=True)
class RestartResult:
    stop: SignalResult | None  # None when the run had no live process
    launch: LaunchResult
    notes: tuple[str, ...] = ()


def restart(
    run: RunSnapshot | None,
    info: ProcessInfo | None,
    *,
    resume: bool = False,
    registry: Registry | None = None,
    int_grace: float = INT_GRACE,
    term_grace: float = TERM_GRACE,
    before_launch: Callable[[SignalResult | None], None] | None = None,
    before_stop: Callable[[Target], None] | None = None,
) -> RestartResult:
    """Stop the run's process (if alive), then launch the same command in the same directory
    with the same environment; ``resume`` adds the latest complete checkpoint as
    ``--model_dir``. Everything is checked before anything is signalled."""
    registry = registry if registry is not None else Registry()
    target = Target.from_process(info, run) if info is not None else None
    if target is not None:
        try:
            check_target(target)  # refuse early (other user, pid reused), before reading anything
        except ProcessGone:
            target = None
    spec = restart_spec(run, info, registry)
    notes: list[str] = [f"command from {spec.source}"]
    if resume:
        ckpt = latest_complete_checkpoint(run) if run is not None else None
        if ckpt is None:
            raise ActionError("--resume: the run has no complete checkpoint")
        spec = replace(spec, argv=with_model_dir(spec.argv, ckpt, spec.shell))
        notes.append(f"resuming from {ckpt}")
        argv0 = shlex.split(spec.argv[0])[:1] if spec.shell else list(spec.argv[:1])
        if spec.shell or is_wrapper(argv0):
            notes.append("--model_dir was added to a shell/wrapper command: it must pass it on")
    if not os.path.isdir(spec.cwd):
        raise ActionError(f"working directory {spec.cwd} does not exist any more")
    result = None
    if target is not None:
        if before_stop is not None:  # everything checked: now it will be stopped
            before_stop(target)
        result = stop(target, int_grace=int_grace, term_grace=term_grace, registry=registry)
        if result.alive:
            raise ActionError(f"{target.describe()} did not end ({result.message}): not relaunched")
    if before_launch is not None:
        before_launch(result)
    launched = launch(spec, registry)
    return RestartResult(result, launched, tuple(notes))
