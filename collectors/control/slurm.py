"""The Slurm backend: submit a launch spec with ``sbatch``, stop and kill a job with ``scancel``.

**Submit** (:func:`submit`): a generated batch script (kept in
``$XDG_STATE_HOME/happo-top/slurm/``, 0700) that changes to the spec's working directory and
``exec`` s its argv (``/bin/sh -c`` for a shell command), so that the trainer is the job's batch
step and gets Slurm's signals itself. ``sbatch --parsable --job-name --chdir --output=LOG
--open-mode=append --export=ALL [the preset's sbatch options] SCRIPT`` runs with the spec's whole
environment, which ``--export=ALL`` hands to the job. The log is the launch log (header first,
0600, in the state directory unless the preset names one), so the Log tab shows it. The record
in the launch registry has the job id, the sbatch options and pid 0 (no local process).

**Stop** (:func:`stop_job`): ``scancel --signal=INT --full`` (SIGINT to every process of the job,
the batch step included: the trainer flushes its files), then ``scancel`` once the grace period
is over; a pending job is cancelled at once. **Interrupt** (:func:`interrupt_job`): the same
``scancel --signal=INT --full`` once and nothing after it (a pending job has no process to
interrupt: refused). **Kill** (:func:`kill_job`): ``scancel`` at once.
Before each ``scancel`` the job is read again and must belong to the user running happo-top
(its UserId): another user's job is refused before anything is sent.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shlex
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from collectors.control.errors import ActionError
from collectors.control.launch import (
    LaunchResult,
    LaunchSpec,
    default_log_path,
    launch,
    launch_record,
)
from collectors.control.registry import LaunchRecord, Registry, state_dir
from collectors.model.job import JobInfo
from collectors.sources.slurm import Slurm, SlurmError, available

SUBMIT_TIMEOUT = 60.0
KILL_WAIT = 60.0  # seconds for a cancelled job to end (Slurm's KillWait is 30 s by default)
POLL = 0.5


def start(spec: LaunchSpec, registry: Registry, **kw: Any) -> LaunchResult:
    """Launch ``spec`` here, or submit it to Slurm when its backend says so."""
    if spec.backend == "slurm":
        return submit(spec, registry)
    return launch(spec, registry, **kw)


def batch_script(spec: LaunchSpec, cwd: str, when: float) -> str:
    """The batch script: the spec's argv, exec'd in its working directory."""
    cmd = (
        f"exec /bin/sh -c {shlex.quote(spec.argv[0])}"
        if spec.shell
        else "exec " + shlex.join(spec.argv)
    )
    lines = [
        "#!/bin/sh",
        f"# happo-top launch {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(when))}"
        + (f" preset {spec.preset}" if spec.preset else ""),
        "# the environment is happo-top's, with these changes (sbatch --export=ALL):",
        *(f"#   {k}={shlex.quote(v)}" for k, v in sorted(spec.overrides.items())),
        f"cd {shlex.quote(cwd)} || exit 1",
        cmd,
        "",
    ]
    return "\n".join(lines)


def _sbatch(argv: Sequence[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBMIT_TIMEOUT,
        stdin=subprocess.DEVNULL,
        errors="replace",
    )


def submit(spec: LaunchSpec, registry: Registry) -> LaunchResult:
    """Submit ``spec`` with sbatch; returns at once with the job id (pid 0, no process here)."""
    why = available()
    if why is not None:
        raise ActionError(f"cannot submit to Slurm: {why}")
    cwd = os.path.abspath(os.path.expanduser(spec.cwd))
    if not os.path.isdir(cwd):
        raise ActionError(f"working directory {cwd} does not exist")
    if not spec.argv or not spec.argv[0]:
        raise ActionError("nothing to launch: empty command")
    env = spec.environment()
    env.setdefault("PYTHONUNBUFFERED", "1")
    name = spec.name or (
        os.path.basename(shlex.split(spec.argv[0])[0] if spec.shell else spec.argv[0]) or "run"
    )
    now = time.time()
    log = os.path.join(cwd, os.path.expanduser(spec.log)) if spec.log else default_log_path(name)
    scripts = os.path.join(state_dir(), "slurm")
    script = os.path.join(scripts, os.path.basename(log).rsplit(".", 1)[0] + ".sh")
    try:
        os.makedirs(os.path.dirname(log), mode=0o700 if not spec.log else 0o777, exist_ok=True)
        if not spec.log:
            os.chmod(os.path.dirname(log), 0o700)
        os.makedirs(scripts, mode=0o700, exist_ok=True)
        os.chmod(scripts, 0o700)
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "ab") as f:
            header = (
                f"# happo-top launch {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(now))} "
                f"cwd={cwd} slurm: sbatch {shlex.join(spec.sbatch)} command: {spec.display()}\n"
            )
            f.write(header.encode("utf-8", "replace"))
        sfd = os.open(script, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o700)
        with os.fdopen(sfd, "w", encoding="utf-8") as f:
            f.write(batch_script(spec, cwd, now))
    except OSError as e:
        raise ActionError(f"cannot write {e.filename or log}: {e.strerror or e}") from None
    argv = [
        "sbatch",
        "--parsable",
        f"--job-name={name}",
        f"--chdir={cwd}",
        f"--output={log}",
        "--open-mode=append",
        "--export=ALL",
        *spec.sbatch,
        script,
    ]
    try:
        proc = _sbatch(argv, env)
    except FileNotFoundError:
        raise ActionError("sbatch not found on PATH") from None
    except subprocess.TimeoutExpired:
        raise ActionError(f"sbatch did not answer within {SUBMIT_TIMEOUT:g} s") from None
    job_id = proc.stdout.strip().split(";")[0] if proc.returncode == 0 else ""
    if not job_id:
        err = proc.stderr.strip() or f"exit {proc.returncode}"
        raise ActionError(f"sbatch refused the job: {err}")
    record = launch_record(
        spec,
        cwd,
        env,
        log,
        now,
        registry,
        f"job{job_id}",
        pid=0,
        create_time=None,
        backend="slurm",
        job_id=job_id,
        sbatch=tuple(spec.sbatch),
    )
    with contextlib.suppress(OSError):
        registry.add(record)
    return LaunchResult(0, None, log, spec, record, None, job_id=job_id, script=script)


# --------------------------------------------------------------------------- stop and kill


@dataclass(frozen=True, slots=True)
class JobResult:
    action: str  # stop | kill
    job_id: str
    run_path: str | None
    ended_by: str | None  # SIGINT | scancel | "already ended" | None (still there)
    sent: tuple[str, ...]  # the scancel commands, in order
    seconds: float
    alive: bool
    state: str  # Slurm's state at the end

    @property
    def message(self) -> str:
        if self.ended_by == "already ended":
            return f"job {self.job_id} had already ended ({self.state})"
        sent = " then ".join(self.sent) or "nothing"
        if self.alive:
            return f"job {self.job_id} is still {self.state} after {sent} ({self.seconds:.1f} s)"
        return (
            f"job {self.job_id} ended by {self.ended_by} after {self.seconds:.1f} s ({self.state})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "job_id": self.job_id,
            "run_path": self.run_path,
            "ended_by": self.ended_by,
            "scancel": list(self.sent),
            "seconds": self.seconds,
            "alive": self.alive,
            "state": self.state,
        }


def check_job(job_id: str, slurm: Slurm | None = None) -> JobInfo:
    """The job as Slurm says now; refused (ActionError) when Slurm does not know it or it
    belongs to another user."""
    why = available()
    if why is not None:
        raise ActionError(f"job {job_id}: Slurm cannot be asked here: {why}")
    slurm = slurm or Slurm()
    try:
        job = slurm.job(job_id)
    except SlurmError as e:
        raise ActionError(f"job {job_id}: {e}") from None
    if job is None:
        raise ActionError(f"Slurm does not know job {job_id} (any more): nothing to do")
    me = os.getuid()
    if job.uid is None or job.uid != me:
        who = job.user or (f"uid {job.uid}" if job.uid is not None else "an unknown user")
        raise ActionError(f"job {job_id} belongs to {who}, not to you (uid {me}): refusing")
    return job


def _scancel(job_id: str, *opts: str, slurm: Slurm) -> str:
    """``scancel [opts] ID``, after checking once more that the job is ours."""
    check_job(job_id, slurm)
    argv = ["scancel", *opts, job_id]
    try:
        proc = slurm.run(argv)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ActionError(f"scancel failed: {e}") from None
    if proc.returncode != 0:
        raise ActionError(f"scancel failed: {proc.stderr.strip() or proc.returncode}")
    return shlex.join(argv[:-1])


def _wait_ended(
    job_id: str, timeout: float, slurm: Slurm, sleep: Callable[[float], None] = time.sleep
) -> JobInfo | None:
    """The job once it is no longer active (None: still active after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            job = slurm.job(job_id)
        except SlurmError:
            job = None
        if job is None or not job.active:
            return job
        if time.monotonic() >= deadline:
            return None
        sleep(POLL)


def stop_job(
    job_id: str,
    *,
    grace: float,
    run_path: str | None = None,
    registry: Registry | None = None,
    escalate: bool = True,
    kill_wait: float = KILL_WAIT,
    slurm: Slurm | None = None,
) -> JobResult:
    """SIGINT to the job's processes (``scancel --signal=INT --full``), ``scancel`` after
    ``grace`` seconds when ``escalate``; a pending job is cancelled at once."""
    slurm = slurm or Slurm()
    t0 = time.monotonic()
    job = check_job(job_id, slurm)
    if not job.active:
        return JobResult("stop", job_id, run_path, "already ended", (), 0.0, False, job.state)
    if registry is not None and run_path:
        with contextlib.suppress(OSError):  # first: a poll meanwhile shows "stopped"
            registry.record_stop(run_path, 0, 0.0, "stop")
    sent: list[str] = []
    if job.state == "RUNNING":
        sent.append(_scancel(job_id, "--signal=INT", "--full", slurm=slurm))
        done = _wait_ended(job_id, grace, slurm)
        if done is not None:
            return _result("stop", job_id, run_path, "SIGINT", sent, t0, done, registry)
        if not escalate:
            return JobResult(
                "stop", job_id, run_path, None, tuple(sent), time.monotonic() - t0, True, "RUNNING"
            )
    try:
        sent.append(_scancel(job_id, slurm=slurm))
    except ActionError:
        last = slurm.job(job_id)
        if last is not None and not last.active:  # ended between the check and the cancel
            how = "SIGINT" if sent else "already ended"
            return _result("stop", job_id, run_path, how, sent, t0, last, registry)
        raise
    done = _wait_ended(job_id, kill_wait, slurm)
    return _result("stop", job_id, run_path, "scancel", sent, t0, done, registry)


def interrupt_job(
    job_id: str,
    *,
    wait: float = KILL_WAIT,
    run_path: str | None = None,
    registry: Registry | None = None,
    slurm: Slurm | None = None,
) -> JobResult:
    """``scancel --signal=INT --full`` once (SIGINT to every process of the job) and no
    ``scancel`` after it: the result says whether the job ended within ``wait`` seconds. A
    pending job has no process to interrupt: refused (stop or kill cancels it)."""
    slurm = slurm or Slurm()
    t0 = time.monotonic()
    job = check_job(job_id, slurm)
    if not job.active:
        return JobResult("interrupt", job_id, run_path, "already ended", (), 0.0, False, job.state)
    if job.state != "RUNNING":
        raise ActionError(
            f"job {job_id} is {job.state}: no process to interrupt (stop or kill cancels it)"
        )
    if registry is not None and run_path:
        with contextlib.suppress(OSError):  # first: a poll meanwhile shows "stopped"
            registry.record_stop(run_path, 0, 0.0, "interrupt")
    sent = [_scancel(job_id, "--signal=INT", "--full", slurm=slurm)]
    done = _wait_ended(job_id, wait, slurm)
    if done is None:
        return JobResult(
            "interrupt", job_id, run_path, None, tuple(sent), time.monotonic() - t0, True, "RUNNING"
        )
    return _result("interrupt", job_id, run_path, "SIGINT", sent, t0, done, registry)


def kill_job(
    job_id: str,
    *,
    run_path: str | None = None,
    registry: Registry | None = None,
    kill_wait: float = KILL_WAIT,
    slurm: Slurm | None = None,
) -> JobResult:
    """``scancel`` at once (Slurm sends SIGTERM, then SIGKILL after its KillWait)."""
    slurm = slurm or Slurm()
    t0 = time.monotonic()
    job = check_job(job_id, slurm)
    if not job.active:
        return JobResult("kill", job_id, run_path, "already ended", (), 0.0, False, job.state)
    if registry is not None and run_path:
        with contextlib.suppress(OSError):
            registry.record_stop(run_path, 0, 0.0, "kill")
    sent = [_scancel(job_id, slurm=slurm)]
    done = _wait_ended(job_id, kill_wait, slurm)
    return _result("kill", job_id, run_path, "scancel", sent, t0, done, registry)


def _result(
    action: str,
    job_id: str,
    run_path: str | None,
    ended_by: str,
    sent: list[str],
    t0: float,
    done: JobInfo | None,
    registry: Registry | None,
) -> JobResult:
    if done is not None and registry is not None:
        rec = registry.for_job(job_id)
        if rec is not None:
            with contextlib.suppress(OSError):
                registry.note_job(rec.id, done.to_json())
    alive = done is None
    return JobResult(
        action,
        job_id,
        run_path,
        None if alive else ended_by,
        tuple(sent),
        time.monotonic() - t0,
        alive,
        "active" if done is None else done.state,
    )


def slurm_spec(spec: LaunchSpec, record: LaunchRecord | None) -> LaunchSpec:
    """A restart's spec submitted as its job was: the record's sbatch options and log."""
    if record is None or record.backend != "slurm":
        return dataclasses.replace(spec, backend="slurm")
    return dataclasses.replace(
        spec,
        backend="slurm",
        sbatch=tuple(record.sbatch),
        preset=spec.preset or record.preset,
        log=spec.log or record.log_requested,
    )
