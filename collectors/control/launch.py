"""Launching a run: a spec (from a preset or a typed command), started detached.

A launched run starts in its own session and process group (it survives happo-top exiting and the
SSH connection dropping), with stdin from ``/dev/null``, stdout and stderr appended to a log file,
no shell unless asked, and a record in the launch registry."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from collectors.control.errors import ActionError
from collectors.control.registry import LaunchRecord, Registry, process_create_time, state_dir


@dataclass(frozen=True, slots=True)
class LaunchSpec:
    """What to start. ``env`` is the complete environment, or None for ours + ``overrides``."""

    argv: tuple[str, ...]  # with shell=True: one element, the shell command
    cwd: str
    overrides: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] | None = None
    shell: bool = False
    name: str | None = None
    log: str | None = None  # requested log file (relative to cwd); None: the state directory
    preset: str | None = None
    source: str = "command"  # preset | command | registry | parent | self | command.txt
    restart_of: str | None = None
    backend: str = "local"  # local | slurm (submitted with sbatch: collectors.control.slurm)
    sbatch: tuple[str, ...] = ()  # sbatch options of a Slurm launch (--partition=gpu, ...)

    def environment(self) -> dict[str, str]:
        env = dict(os.environ if self.env is None else self.env)
        env.update(self.overrides)
        return env

    def display(self) -> str:
        return self.argv[0] if self.shell else shlex.join(self.argv)


@dataclass(frozen=True, slots=True)
class LaunchResult:
    pid: int
    create_time: float | None
    log: str
    spec: LaunchSpec
    record: LaunchRecord
    popen: subprocess.Popen[bytes] | None = field(default=None, compare=False, repr=False)
    job_id: str | None = None  # a Slurm job (collectors.control.slurm): pid 0, no popen
    script: str | None = None  # the batch script it was submitted with

    def to_json(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "pid": self.pid,
            "create_time": self.create_time,
            "log": self.log,
            "argv": list(self.spec.argv),
            "cwd": self.spec.cwd,
            "record": self.record.id,
        }


BACKENDS = ("local", "slurm")
_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


def default_log_path(name: str, when: float | None = None) -> str:
    when = time.time() if when is None else when
    safe = _NAME_RE.sub("_", name).strip("._") or "run"
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when))
    base = os.path.join(state_dir(), "logs", f"{safe}-{stamp}")
    path, i = base + ".log", 1
    while os.path.exists(path):
        path, i = f"{base}-{i}.log", i + 1
    return path


def spec_from_preset(
    presets: Mapping[str, Mapping[str, Any]],
    name: str,
    config_path: str | None = None,
    overrides: Mapping[str, str] | None = None,
) -> LaunchSpec:
    """A launch spec from a config preset ``{argv, cwd, env, log, shell}``."""
    where = f"{config_path or 'config'}: preset '{name}'"
    if name not in presets:
        known = ", ".join(sorted(presets)) or "none defined"
        raise ActionError(f"no launch preset '{name}' (presets: {known})")
    p = presets[name]
    unknown = set(p) - {"argv", "cwd", "env", "log", "shell", "name", "backend", "sbatch"}
    if unknown:
        raise ActionError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    shell = p.get("shell", False)
    if not isinstance(shell, bool):
        raise ActionError(f"{where}: key 'shell' must be true or false")
    argv = p.get("argv")
    if isinstance(argv, str):
        argv_t = (argv,) if shell else tuple(shlex.split(argv))
    elif isinstance(argv, list) and argv and all(isinstance(a, (str, int, float)) for a in argv):
        argv_t = (shlex.join(str(a) for a in argv),) if shell else tuple(str(a) for a in argv)
    else:
        raise ActionError(f"{where}: key 'argv' must be a non-empty list of strings")
    cwd = p.get("cwd") or os.getcwd()
    if not isinstance(cwd, str):
        raise ActionError(f"{where}: key 'cwd' must be a directory")
    env = p.get("env") or {}
    if not isinstance(env, dict):
        raise ActionError(f"{where}: key 'env' must be a mapping of NAME: value")
    log = p.get("log")
    if log is not None and not isinstance(log, str):
        raise ActionError(f"{where}: key 'log' must be a file path")
    backend = p.get("backend", "local")
    if backend not in BACKENDS:
        raise ActionError(f"{where}: key 'backend' must be one of {', '.join(BACKENDS)}")
    sbatch = p.get("sbatch") or []
    if not (isinstance(sbatch, list) and all(isinstance(a, str) and a for a in sbatch)):
        raise ActionError(f"{where}: key 'sbatch' must be a list of sbatch options")
    if sbatch and backend != "slurm":
        raise ActionError(f"{where}: key 'sbatch' needs 'backend: slurm'")
    merged = {str(k): str(v) for k, v in env.items()}
    merged.update(overrides or {})
    return LaunchSpec(
        argv=argv_t,
        cwd=os.path.expanduser(cwd),
        overrides=merged,
        shell=shell,
        name=str(p.get("name") or name),
        log=log,
        preset=name,
        source="preset",
        backend=backend,
        sbatch=tuple(sbatch),
    )


def launch_record(
    spec: LaunchSpec,
    cwd: str,
    env: dict[str, str],
    log: str,
    now: float,
    registry: Registry,
    suffix: str,
    **more: Any,
) -> LaunchRecord:
    """The registry's record of ``spec`` started (or submitted) at ``now`` with ``env``: the
    environment kept as its difference from happo-top's own; ``more`` for what the backend
    knows (the pid and its start time, or the Slurm job)."""
    base = os.environ
    return LaunchRecord(
        id=f"{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}-{suffix}",
        argv=tuple(spec.argv),
        cwd=cwd,
        env={k: v for k, v in env.items() if base.get(k) != v},
        env_unset=tuple(sorted(k for k in base if k not in env)),
        log=log,
        shell=spec.shell,
        name=spec.name,
        preset=spec.preset,
        host=registry.host,
        uid=os.geteuid(),
        launched_at=now,
        log_requested=spec.log,
        restart_of=spec.restart_of,
        **more,
    )


def launch(
    spec: LaunchSpec,
    registry: Registry,
    *,
    reap: bool = True,
    unbuffered: bool = True,
) -> LaunchResult:
    """Start ``spec`` detached: own session and process group, stdin from /dev/null, output to
    a log file, recorded in the registry. Returns at once.

    ``unbuffered`` sets ``PYTHONUNBUFFERED=1`` unless the environment sets it (a redirected
    Python stdout is block-buffered, so the log would lag). ``reap``: a daemon thread waits for
    the child so that a long-lived launcher (the TUI) leaves no zombie, and notes its exit code.
    """
    cwd = os.path.abspath(os.path.expanduser(spec.cwd))
    if not os.path.isdir(cwd):
        raise ActionError(f"working directory {cwd} does not exist")
    if not spec.argv or not spec.argv[0]:
        raise ActionError("nothing to launch: empty command")
    env = spec.environment()
    if unbuffered:
        env.setdefault("PYTHONUNBUFFERED", "1")
    name = spec.name or (
        os.path.basename(shlex.split(spec.argv[0])[0] if spec.shell else spec.argv[0]) or "run"
    )
    now = time.time()
    if spec.log:
        log = os.path.join(cwd, os.path.expanduser(spec.log))
    else:
        log = default_log_path(name, now)
    try:
        # like the registry: the state directory's logs are 0700, each log 0600 (a training
        # log may hold paths, hosts and tokens of the environment)
        os.makedirs(os.path.dirname(log), mode=0o700 if not spec.log else 0o777, exist_ok=True)
        if not spec.log:
            os.chmod(os.path.dirname(log), 0o700)
        created = not os.path.exists(log)
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        logf = os.fdopen(fd, "ab")  # handed to the child, closed below
    except OSError as e:
        raise ActionError(f"cannot open log file {log}: {e.strerror or e}") from None
    started = False
    try:
        header = (
            f"# happo-top launch {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(now))} "
            f"cwd={cwd} command: {spec.display()}\n"
        )
        logf.write(header.encode("utf-8", "replace"))
        logf.flush()
        try:
            popen = subprocess.Popen(
                spec.argv[0] if spec.shell else list(spec.argv),
                shell=spec.shell,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        except FileNotFoundError:
            raise ActionError(f"command not found: {spec.argv[0]}") from None
        except PermissionError:
            raise ActionError(f"permission denied: {spec.argv[0]}") from None
        except OSError as e:
            raise ActionError(f"cannot start {spec.argv[0]}: {e.strerror or e}") from None
        started = True
    finally:
        logf.close()
        if not started and created:  # nothing ran: leave no empty log behind
            with contextlib.suppress(OSError):
                os.remove(log)
    ct = process_create_time(popen.pid)
    record = launch_record(
        spec, cwd, env, log, now, registry, str(popen.pid), pid=popen.pid, create_time=ct
    )
    with contextlib.suppress(OSError):  # started; just not findable through the registry
        registry.add(record)
    with contextlib.suppress(OSError):
        registry.prune()  # records older than 30 days whose process is gone
    if reap:
        threading.Thread(
            target=_reap, args=(popen, registry, record.id), daemon=True, name="happo-top-reap"
        ).start()
    return LaunchResult(popen.pid, ct, log, spec, record, popen)


def early_exit(res: LaunchResult, within: float = 1.5) -> int | None:
    """The exit status when the launched process ended within ``within`` seconds of its start
    (a typo in the command, a bad argument, a missing module), else None: it is running."""
    popen = res.popen
    if popen is None:
        return None
    deadline = time.monotonic() + within
    while True:
        code = popen.poll()  # safe beside the reaper thread: None while it holds the wait
        if code is not None:
            return code
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def early_exit_message(res: LaunchResult, code: int, lines: int = 6) -> str:
    """``pid N exited at once (status 2)``, and the end of its log."""
    how = f"signal {-code}" if code < 0 else f"status {code}"
    text = f"pid {res.pid} exited at once ({how}); log: {res.log}"
    try:
        with open(res.log, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(f.tell() - 4096, 0))
            tail = f.read().decode("utf-8", "replace").splitlines()[-lines:]
    except OSError:
        tail = []
    return text + "".join(f"\n  {line}" for line in tail if line.strip())


def _reap(popen: subprocess.Popen[bytes], registry: Registry, record_id: str) -> None:
    code = popen.wait()
    with contextlib.suppress(Exception):
        registry.note_exit(record_id, code)
