"""Run control: launch, stop, kill and restart training runs, and the launch registry.

Safety rules (design.md, Actions):

* Only a process that :class:`~collectors.processes.ProcessCollector` positively identified as a
  run's process (open files, title + working directory, parent command line, launch registry), or
  one that happo-top launched itself (a live launch record), can become a :class:`Target`.
* Right before every signal the pid is checked again: still alive, same start time, same user as
  us. A process of another user is refused with a message that names both users.
* The process group is signalled only when it holds nothing but the run's process, its
  descendants and the wrappers above it (``bash train.sh``, ``conda run``), all ours, and not
  happo-top itself; otherwise only the process is signalled, and the result says so.
* ``read_only`` (flag or config) is enforced by the callers (CLI, TUI) before anything here runs.

A launched run starts in its own session and process group (it survives happo-top exiting and the
SSH connection dropping), with stdin from ``/dev/null``, stdout and stderr appended to a log file,
no shell unless asked, and a record in the launch registry
(``$XDG_STATE_HOME/happo-top/launches/<id>.json``, written atomically).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import psutil

from collectors.model.run import RunSnapshot
from collectors.sources.processes.collector import (
    POSITIVE,
    REGISTRY,
    Proc,
    ProcessInfo,
    _command_like,
    default_backend,
    is_wrapper,
    read_command_txt,
    user_name,
)

INT_GRACE = 30.0  # seconds between SIGINT and SIGTERM
TERM_GRACE = 15.0  # seconds between SIGTERM and SIGKILL
KILL_WAIT = 5.0  # seconds to wait for a SIGKILLed process to be gone
POLL = 0.05
START_TOLERANCE = 0.05  # seconds: psutil's create time is exact to the clock tick


class ActionError(Exception):
    """An action was refused or failed; the message is meant for the user."""


class ProcessGone(ActionError):
    """The target process no longer exists."""


def state_dir() -> str:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return os.path.join(base, "happo-top")


def _atomic_write_json(path: str, doc: Any) -> None:
    d = os.path.dirname(path)
    os.makedirs(d, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------- launch registry


@dataclass(frozen=True, slots=True)
class LaunchRecord:
    id: str
    pid: int
    create_time: float | None
    argv: tuple[str, ...]  # with shell=True: one element, the shell command
    cwd: str
    env: Mapping[str, str]  # variables set or changed relative to the launcher's environment
    env_unset: tuple[str, ...]  # variables of the launcher's environment removed
    log: str | None
    shell: bool = False
    name: str | None = None
    preset: str | None = None
    host: str = ""
    uid: int = -1
    launched_at: float = 0.0
    log_requested: str | None = None  # the log path the preset asked for (reused on restart)
    run_dir: str | None = None  # noted once the process was tied to its run
    restart_of: str | None = None  # the record (or run directory) this launch restarted
    exit_code: int | None = None  # when the launcher outlived the run and saw it end

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pid": self.pid,
            "create_time": self.create_time,
            "argv": list(self.argv),
            "cwd": self.cwd,
            "env": dict(self.env),
            "env_unset": list(self.env_unset),
            "log": self.log,
            "shell": self.shell,
            "name": self.name,
            "preset": self.preset,
            "host": self.host,
            "uid": self.uid,
            "launched_at": self.launched_at,
            "log_requested": self.log_requested,
            "run_dir": self.run_dir,
            "restart_of": self.restart_of,
            "exit_code": self.exit_code,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> LaunchRecord:
        return cls(
            id=str(doc["id"]),
            pid=int(doc["pid"]),
            create_time=None if doc.get("create_time") is None else float(doc["create_time"]),
            argv=tuple(str(a) for a in doc["argv"]),
            cwd=str(doc["cwd"]),
            env={str(k): str(v) for k, v in (doc.get("env") or {}).items()},
            env_unset=tuple(str(k) for k in doc.get("env_unset") or ()),
            log=doc.get("log"),
            shell=bool(doc.get("shell")),
            name=doc.get("name"),
            preset=doc.get("preset"),
            host=str(doc.get("host") or ""),
            uid=int(doc.get("uid", -1)),
            launched_at=float(doc.get("launched_at") or 0.0),
            log_requested=doc.get("log_requested"),
            run_dir=doc.get("run_dir"),
            restart_of=doc.get("restart_of"),
            exit_code=doc.get("exit_code"),
        )

    def environment(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The launch environment rebuilt on top of ``base`` (default: ours)."""
        env = dict(os.environ if base is None else base)
        for k in self.env_unset:
            env.pop(k, None)
        env.update(self.env)
        return env


class Registry:
    """Launch records (one JSON file each) and stop marks, under the XDG state directory."""

    def __init__(self, directory: str | None = None) -> None:
        self.directory = os.path.abspath(directory or state_dir())
        self.launches = os.path.join(self.directory, "launches")
        self.stops = os.path.join(self.directory, "stops")
        self.host = socket.gethostname()
        self._files: dict[str, tuple[int, int, LaunchRecord | None]] = {}
        self._dir_mtime: int | None = None
        self._records: list[LaunchRecord] = []
        self._stops_mtime: int | None = None
        self._stopped: set[str] = set()

    # -- launch records
    def records(self) -> list[LaunchRecord]:
        """Records of this host (cached; a file is parsed again only when it changed)."""
        try:
            st = os.stat(self.launches)
        except FileNotFoundError:
            return []
        if st.st_mtime_ns == self._dir_mtime:
            return self._records
        seen: dict[str, tuple[int, int, LaunchRecord | None]] = {}
        with os.scandir(self.launches) as it:
            for e in it:
                if not e.name.endswith(".json") or e.name.startswith("."):
                    continue
                try:
                    fst = e.stat()
                except OSError:
                    continue
                cached = self._files.get(e.path)
                if cached and cached[:2] == (fst.st_mtime_ns, fst.st_size):
                    seen[e.path] = cached
                    continue
                rec: LaunchRecord | None
                try:
                    with open(e.path, encoding="utf-8") as f:
                        rec = LaunchRecord.from_json(json.load(f))
                except (OSError, ValueError, KeyError, TypeError):
                    rec = None  # unreadable or foreign: ignored
                seen[e.path] = (fst.st_mtime_ns, fst.st_size, rec)
        self._files = seen
        self._dir_mtime = st.st_mtime_ns
        self._records = sorted(
            (r for _, _, r in seen.values() if r is not None and r.host == self.host),
            key=lambda r: r.launched_at,
        )
        return self._records

    def path_of(self, record_id: str) -> str:
        return os.path.join(self.launches, f"{record_id}.json")

    def add(self, record: LaunchRecord) -> str:
        path = self.path_of(record.id)
        _atomic_write_json(path, record.to_json())
        return path

    def get(self, record_id: str) -> LaunchRecord | None:
        return next((r for r in self.records() if r.id == record_id), None)

    def update(self, record_id: str, **changes: Any) -> LaunchRecord | None:
        rec = self.get(record_id)
        if rec is None:
            return None
        rec = replace(rec, **changes)
        self.add(rec)
        return rec

    def note_run(self, record_id: str, run_path: str) -> None:
        self.update(record_id, run_dir=os.path.abspath(run_path))

    def note_exit(self, record_id: str, code: int) -> None:
        self.update(record_id, exit_code=code)

    def find(self, pid: int, create_time: float | None) -> LaunchRecord | None:
        """The record of the process ``pid`` started at ``create_time`` (PID-reuse safe)."""
        for r in reversed(self.records()):
            if (
                r.pid == pid
                and r.create_time is not None
                and create_time is not None
                and abs(r.create_time - create_time) < START_TOLERANCE
            ):
                return r
        return None

    def live(self, pid: int) -> LaunchRecord | None:
        """The record of ``pid`` if that process is still the one launched."""
        try:
            ct = psutil.Process(pid).create_time()
        except psutil.Error:
            return None
        return self.find(pid, ct)

    def for_run(self, run_path: str) -> LaunchRecord | None:
        path = os.path.abspath(run_path)
        return next((r for r in reversed(self.records()) if r.run_dir == path), None)

    def prune(self, max_age: float = 30 * 86400.0, now: float | None = None) -> int:
        """Delete records older than ``max_age`` whose process is gone."""
        now = time.time() if now is None else now
        n = 0
        for r in list(self.records()):
            if now - r.launched_at < max_age:
                continue
            if r.create_time is not None and self.find(r.pid, _create_time(r.pid)):
                continue
            with contextlib.suppress(OSError):
                os.unlink(self.path_of(r.id))
                n += 1
        return n

    # -- stop marks (a run stopped by happo-top is "stopped", not "crashed")
    def _stop_path(self, run_path: str) -> str:
        h = hashlib.sha1(os.path.abspath(run_path).encode()).hexdigest()[:16]
        return os.path.join(self.stops, f"{h}.json")

    def record_stop(
        self,
        run_path: str,
        pid: int,
        create_time: float,
        action: str,
        ended_by: str | None = None,
    ) -> None:
        doc = {
            "run_dir": os.path.abspath(run_path),
            "pid": pid,
            "create_time": create_time,
            "action": action,
            "ended_by": ended_by,
            "time": time.time(),
            "host": self.host,
        }
        _atomic_write_json(self._stop_path(run_path), doc)

    def forget_stop(self, run_path: str) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self._stop_path(run_path))

    def stopped_runs(self) -> set[str]:
        """Run directories that happo-top stopped or killed (cached by directory mtime)."""
        try:
            st = os.stat(self.stops)
        except FileNotFoundError:
            return set()
        if st.st_mtime_ns != self._stops_mtime:
            out: set[str] = set()
            with os.scandir(self.stops) as it:
                for e in it:
                    if not e.name.endswith(".json") or e.name.startswith("."):
                        continue
                    try:
                        with open(e.path, encoding="utf-8") as f:
                            doc = json.load(f)
                        out.add(str(doc["run_dir"]))
                    except (OSError, ValueError, KeyError, TypeError):
                        continue
            self._stopped = out
            self._stops_mtime = st.st_mtime_ns
        return self._stopped

    def stopped_by_us(self, run_path: str) -> bool:
        return os.path.abspath(run_path) in self.stopped_runs()


def _create_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True, slots=True)
class Target:
    """A process that may be signalled: positively identified, with its start time."""

    pid: int
    started: float
    uid: int | None
    how_found: str
    title: str
    cmdline: tuple[str, ...] = ()
    run_path: str | None = None
    run_name: str | None = None
    launch_id: str | None = None

    @classmethod
    def from_process(cls, info: ProcessInfo, run: RunSnapshot | None = None) -> Target:
        if not info.positive:
            raise ActionError(
                f"pid {info.pid} ({info.title}) is not positively identified as the process of "
                f"run {run.name if run else info.run_path} (found by {info.how_found} only): "
                "refusing"
            )
        return cls(
            pid=info.pid,
            started=info.started,
            uid=info.uid,
            how_found=info.how_found,
            title=info.title,
            cmdline=info.cmdline,
            run_path=info.run_path or (run.path if run else None),
            run_name=run.name if run else None,
            launch_id=info.launch_id,
        )

    @classmethod
    def from_record(cls, record: LaunchRecord) -> Target:
        """A process happo-top launched (its record's pid and start time)."""
        if record.create_time is None:
            raise ActionError(f"launch {record.id} has no start time on record: refusing")
        return cls(
            pid=record.pid,
            started=record.create_time,
            uid=record.uid,
            how_found=REGISTRY,
            title=shlex.join(record.argv) if not record.shell else record.argv[0],
            cmdline=record.argv,
            run_path=record.run_dir,
            run_name=record.name,
            launch_id=record.id,
        )

    def describe(self) -> str:
        title = self.title if len(self.title) <= 60 else self.title[:57] + "..."
        what = f"pid {self.pid} ({title})"
        if self.run_name or self.run_path:
            what += f" of run {self.run_name or self.run_path}"
        return what


def _ancestors(pid: int) -> set[int]:
    out: set[int] = set()
    try:
        p: psutil.Process | None = psutil.Process(pid)
        while p is not None and p.pid > 1 and len(out) < 64:
            p = p.parent()
            if p is not None:
                out.add(p.pid)
    except psutil.Error:
        pass
    return out


def check_target(target: Target) -> psutil.Process:
    """The target as a live psutil process, re-checked now; raises ActionError or ProcessGone."""
    if target.how_found not in POSITIVE:
        raise ActionError(f"{target.describe()} is not positively identified: refusing")
    me = os.getpid()
    if target.pid <= 1 or target.pid == me or target.pid in _ancestors(me):
        raise ActionError(f"{target.describe()} is happo-top itself or its parent: refusing")
    try:
        p = psutil.Process(target.pid)
        started = p.create_time()
        uids = p.uids()
        status = p.status()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        raise ProcessGone(f"{target.describe()} is gone") from None
    except psutil.AccessDenied:
        raise ActionError(f"{target.describe()}: access denied: refusing") from None
    if abs(started - target.started) > START_TOLERANCE:
        raise ActionError(
            f"pid {target.pid} is now another process (started "
            f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(started))}, the run's process "
            f"started {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(target.started))}): "
            "refusing"
        )
    euid = os.geteuid()
    if uids.real != euid or uids.effective != euid:
        raise ActionError(
            f"{target.describe()} belongs to user {user_name(uids.real)}, not to you "
            f"({user_name(euid)}): refusing"
        )
    if status == psutil.STATUS_ZOMBIE:
        raise ProcessGone(f"{target.describe()} has already exited")
    return p


@dataclass(frozen=True, slots=True)
class SignalPlan:
    pgid: int | None  # signal this group, or only the pid when None
    note: str  # why only the pid, or which group


def signal_plan(target: Target) -> SignalPlan:
    """Whether the target's process group may be signalled as a whole."""
    backend = default_backend()
    table = backend.scan()
    me = table.get(target.pid)
    if me is None or me.pgid is None:
        return SignalPlan(None, "process group unknown: signalling the process only")
    pgid = me.pgid
    if pgid <= 1 or pgid == os.getpgrp() or pgid in _ancestors(os.getpid()) | {os.getpid()}:
        return SignalPlan(None, "its process group is happo-top's own: signalling the process only")
    kids: dict[int, list[int]] = {}
    for proc in table.values():
        kids.setdefault(proc.ppid, []).append(proc.pid)
    allowed = {target.pid}
    stack = [target.pid]
    while stack:
        for c in kids.get(stack.pop(), ()):
            if c not in allowed:
                allowed.add(c)
                stack.append(c)
    q: Proc | None = table.get(me.ppid)
    while q is not None and q.pgid == pgid and q.pid > 1:
        cmd = backend.cmdline(q.pid) or ()
        if not (is_wrapper(cmd) or _command_like(cmd)):
            break
        allowed.add(q.pid)
        q = table.get(q.ppid)
    euid = os.geteuid()
    members = [m for m in table.values() if m.pgid == pgid]
    strangers = [m.pid for m in members if m.pid not in allowed or m.uid != euid]
    if strangers:
        shown = ", ".join(str(s) for s in strangers[:5])
        return SignalPlan(
            None,
            f"its process group {pgid} also holds other processes ({shown}): "
            "signalling the process only",
        )
    return SignalPlan(pgid, f"process group {pgid} ({len(members)} processes)")


def _send(target: Target, sig: int, plan: SignalPlan) -> None:
    """Re-check the target, then signal its group or the process alone."""
    p = check_target(target)
    if plan.pgid is not None:
        try:
            if os.getpgid(target.pid) != plan.pgid:
                raise ActionError(f"{target.describe()} changed its process group: refusing")
            os.killpg(plan.pgid, sig)
        except ProcessLookupError:
            raise ProcessGone(f"{target.describe()} is gone") from None
        return
    pidfd_open = getattr(os, "pidfd_open", None)
    send = getattr(signal, "pidfd_send_signal", None)
    if pidfd_open is not None and send is not None:
        try:
            fd = pidfd_open(target.pid)
        except ProcessLookupError:
            raise ProcessGone(f"{target.describe()} is gone") from None
        except OSError:
            fd = None
        if fd is not None:
            try:
                # The pidfd pins the process: checked once more, nothing can swap it now.
                check_target(target)
                send(fd, sig)
            except ProcessLookupError:
                raise ProcessGone(f"{target.describe()} is gone") from None
            finally:
                os.close(fd)
            return
    try:
        p.send_signal(sig)  # psutil re-checks the start time itself
    except psutil.NoSuchProcess:
        raise ProcessGone(f"{target.describe()} is gone") from None


def _gone(p: psutil.Process) -> bool:
    try:
        return not p.is_running() or p.status() == psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return True
    except psutil.AccessDenied:
        return False


def _wait_gone(
    p: psutil.Process,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    deadline = clock() + timeout
    while True:
        if _gone(p):
            return True
        if clock() >= deadline:
            return False
        sleep(POLL)


@dataclass(frozen=True, slots=True)
class SignalResult:
    action: str  # stop | kill
    pid: int
    run_path: str | None
    ended_by: str | None  # SIGINT | SIGTERM | SIGKILL | "already gone" | None (still alive)
    signals: tuple[str, ...]  # what was sent, in order
    seconds: float
    alive: bool
    group: int | None  # the process group signalled, or None (the pid alone)
    note: str = ""

    @property
    def message(self) -> str:
        if self.ended_by == "already gone":
            return f"pid {self.pid} had already exited"
        sent = " then ".join(self.signals) or "nothing"
        if self.alive:
            return f"pid {self.pid} is still running after {sent} ({self.seconds:.1f} s)"
        where = f"process group {self.group}" if self.group else f"pid {self.pid}"
        return f"{where} ended by {self.ended_by} after {self.seconds:.1f} s"

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "pid": self.pid,
            "run_path": self.run_path,
            "ended_by": self.ended_by,
            "signals": list(self.signals),
            "seconds": self.seconds,
            "alive": self.alive,
            "group": self.group,
            "note": self.note,
        }


def stop(
    target: Target,
    *,
    int_grace: float = INT_GRACE,
    term_grace: float = TERM_GRACE,
    escalate: bool = True,
    registry: Registry | None = None,
    kill_wait: float = KILL_WAIT,
) -> SignalResult:
    """SIGINT (like Ctrl-C: the trainer flushes its files), SIGTERM after ``int_grace``, then
    SIGKILL after ``term_grace`` when ``escalate`` (else the caller offers it)."""
    steps = [(signal.SIGINT, int_grace), (signal.SIGTERM, term_grace)]
    if escalate:
        steps.append((signal.SIGKILL, kill_wait))
    return _signal_steps("stop", target, steps, registry)


def kill(
    target: Target, *, registry: Registry | None = None, kill_wait: float = KILL_WAIT
) -> SignalResult:
    """SIGKILL the run's process group (or the process alone) at once."""
    return _signal_steps("kill", target, [(signal.SIGKILL, kill_wait)], registry)


def _signal_steps(
    action: str,
    target: Target,
    steps: Sequence[tuple[int, float]],
    registry: Registry | None,
) -> SignalResult:
    t0 = time.monotonic()
    try:
        p = check_target(target)
    except ProcessGone:
        return SignalResult(
            action, target.pid, target.run_path, "already gone", (), 0.0, False, None
        )
    plan = signal_plan(target)
    if registry is not None and target.run_path:
        # first, so that a monitor polling meanwhile shows "stopped", not "crashed"
        with contextlib.suppress(OSError):
            registry.record_stop(target.run_path, target.pid, target.started, action)
    sent: list[str] = []
    ended: str | None = None
    for sig, wait in steps:
        name = signal.Signals(sig).name
        try:
            _send(target, sig, plan)
        except ProcessGone:
            ended = sent[-1] if sent else "already gone"
            break
        sent.append(name)
        if _wait_gone(p, wait):
            ended = name
            break
    alive = ended is None
    if registry is not None and target.run_path:
        if sent:
            with contextlib.suppress(OSError):
                registry.record_stop(target.run_path, target.pid, target.started, action, ended)
        else:
            registry.forget_stop(target.run_path)
    return SignalResult(
        action,
        target.pid,
        target.run_path,
        ended,
        tuple(sent),
        time.monotonic() - t0,
        alive,
        plan.pgid,
        plan.note,
    )


# --------------------------------------------------------------------------- launching


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

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "create_time": self.create_time,
            "log": self.log,
            "argv": list(self.spec.argv),
            "cwd": self.spec.cwd,
            "record": self.record.id,
        }


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
    unknown = set(p) - {"argv", "cwd", "env", "log", "shell", "name"}
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
    )


def launch(
    spec: LaunchSpec,
    registry: Registry | None = None,
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
    registry = registry if registry is not None else Registry()
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
        os.makedirs(os.path.dirname(log), exist_ok=True)
        created = not os.path.exists(log)
        logf = open(log, "ab")  # noqa: SIM115 (handed to the child, closed below)
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
    ct = _create_time(popen.pid)
    base = os.environ
    record = LaunchRecord(
        id=f"{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}-{popen.pid}",
        pid=popen.pid,
        create_time=ct,
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


# --------------------------------------------------------------------------- restart


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
        live_env = _environ(rec.pid) if registry.find(rec.pid, _create_time(rec.pid)) else None
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
