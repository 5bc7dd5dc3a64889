"""Signalling a run's process: targets, the re-check before every signal, the process-group
plan, and stop (SIGINT, SIGTERM, SIGKILL), interrupt (one SIGINT, nothing after it) and kill.

Safety rules (design.md, Actions):

* Only a process that :class:`~collectors.sources.processes.ProcessCollector` positively
  identified as a run's process (open files, title + working directory, parent command line,
  launch registry), or one that happo-top launched itself (a live launch record), can become a
  :class:`Target`.
* Right before every signal the pid is checked again: still alive, same start time, same user as
  us. A process of another user is refused with a message that names both users.
* The process group is signalled only when it holds nothing but the run's process, its
  descendants and the wrappers above it (``bash train.sh``, ``conda run``), all ours, and not
  happo-top itself; otherwise only the process is signalled, and the result says so.
* ``read_only`` (flag or config) is enforced by the callers (CLI, TUI) before anything here runs."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psutil

from collectors.control.errors import ActionError, ProcessGone
from collectors.control.registry import START_TOLERANCE, LaunchRecord, Registry
from collectors.model.process import POSITIVE, REGISTRY, ProcessInfo
from collectors.model.run import RunSnapshot
from collectors.sources.processes import (
    Proc,
    command_like,
    default_backend,
    is_wrapper,
    lookup_user_name,
)

INT_GRACE = 30.0  # seconds between SIGINT and SIGTERM
TERM_GRACE = 15.0  # seconds between SIGTERM and SIGKILL
KILL_WAIT = 5.0  # seconds to wait for a SIGKILLed process to be gone
INTERRUPT_WAIT = 5.0  # seconds to watch an interrupted process (nothing is sent after them)
POLL = 0.05


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
            f"{target.describe()} belongs to user {lookup_user_name(uids.real)}, not to you "
            f"({lookup_user_name(euid)}): refusing"
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
        if not (is_wrapper(cmd) or command_like(cmd)):
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


def interrupt(
    target: Target, *, registry: Registry | None = None, wait: float = INTERRUPT_WAIT
) -> SignalResult:
    """One SIGINT (nvitop's ``I``, like Ctrl-C in the trainer's terminal) and nothing after it:
    the result says whether the process ended within ``wait`` seconds; one still running is
    left to decide for itself (stop it with :func:`stop`)."""
    return _signal_steps("interrupt", target, [(signal.SIGINT, wait)], registry)


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
