"""Slurm jobs: what ``squeue`` (else ``scontrol show job``, else ``sacct``) says of this user's
jobs, and which run each job is.

Which tools work is found out, not assumed: Slurm is used only where a configuration file is
there to read (``$SLURM_CONF``, ``/etc/slurm/slurm.conf``, ...; without one the tools would ask
the DNS for a controller); ``squeue -O`` with a separator is the primary format, ``squeue
--json`` the fallback where ``-O`` fails (its 0.0.38 and later shapes are both read); ``sacct``
only once ``squeue`` and ``scontrol`` no longer know a job, and not again once it said that
accounting is off. Only the current user's jobs are read (``squeue --user``).

A job is tied to a run (:class:`SlurmCollector`), strongest first: the launch registry's record
(happo-top submitted it; the run directory it was tied to), ``SLURM_JOB_ID`` in the environment
of the run's process on this node, or the run's directory lying below the job's working
directory (or its output file's directory) with the run started after the job started (and
before it ended). The last state Slurm reported is kept in the registry record, so a job that
Slurm forgot still says how it ended.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from collectors.model.job import (
    ACTIVE_STATES,
    BY_ENVIRON,
    BY_REGISTRY,
    BY_WORKDIR,
    CANCELLED,
    PENDING,
    UNKNOWN,
    JobInfo,
)
from collectors.model.run import CONTINUED, CRASHED, FINISHED, STOPPED, RunSnapshot

if TYPE_CHECKING:
    import subprocess

CONFIG_FILES = ("/etc/slurm/slurm.conf", "/etc/slurm-llnl/slurm.conf", "/run/slurm/conf/slurm.conf")
TIMEOUT = 15.0  # seconds for one Slurm command
INTERVAL = 10.0  # seconds between squeue calls (a controller serves a whole cluster)
START_SLACK = 30.0  # a run may be stamped this much before its job's start (clocks, rounding)
SEP = "\x1f"  # the field separator of squeue -O (no path or job name holds it)

# squeue -O fields, in the order parsed
FIELDS = (
    "JobID",
    "State",
    "Reason",
    "Partition",
    "NodeList",
    "TimeLeft",
    "TimeLimit",
    "SubmitTime",
    "StartTime",
    "EndTime",
    "UserName",
    "UserID",
    "Name",
    "WorkDir",
    "StdOut",
    "exit_code",
)


def slurm_conf() -> str | None:
    """The Slurm configuration file the tools will read, or None (Slurm not set up here)."""
    env = os.environ.get("SLURM_CONF")
    if env:
        return env if os.path.isfile(env) else None
    return next((p for p in CONFIG_FILES if os.path.isfile(p)), None)


def available() -> str | None:
    """Why Slurm cannot be used here, or None when it can (a configuration and ``squeue``). The
    configuration is looked for first: every start asks, and most machines have none (three
    stats, no PATH search and no shutil)."""
    if slurm_conf() is None:
        return "no Slurm configuration (SLURM_CONF, /etc/slurm/slurm.conf)"
    import shutil  # deferred for start-up time: see above

    if shutil.which("squeue") is None:
        return "squeue not found on PATH"
    return None


# --------------------------------------------------------------------------- values


def parse_time(text: str | None) -> float | None:
    """Slurm's ``2026-12-01T23:16:54`` (the local zone) as unix time; N/A, Unknown, None: None."""
    if not text or text in ("N/A", "Unknown", "None", "(null)", "0"):
        return None
    try:
        return time.mktime(time.strptime(text.strip(), "%Y-%m-%dT%H:%M:%S"))
    except (ValueError, OverflowError):
        return None


def parse_duration(text: str | None) -> float | None:
    """Slurm's ``[D-][HH:]MM:SS`` (or ``MM`` minutes) as seconds; UNLIMITED, INVALID: None."""
    if not text:
        return None
    text = text.strip()
    days = 0
    if "-" in text:
        d, _, text = text.partition("-")
        if not d.isdigit():
            return None
        days = int(d)
    parts = text.split(":")
    if not all(p.isdigit() for p in parts) or not 1 <= len(parts) <= 3:
        return None
    nums = [int(p) for p in parts]
    if len(nums) == 1:
        secs = nums[0] * 60
    elif len(nums) == 2:
        secs = nums[0] * 60 + nums[1]
    else:
        secs = nums[0] * 3600 + nums[1] * 60 + nums[2]
    return float(days * 86400 + secs)


def _text(v: str | None) -> str | None:
    if v is None:
        return None
    v = v.strip()
    return None if v in ("", "None", "(null)", "N/A", "n/a") else v


def _wait_status(raw: str | None) -> int | None:
    """squeue's ``exit_code`` is a wait status: the exit code, or minus the signal."""
    if raw is None or not raw.strip().lstrip("-").isdigit():
        return None
    status = int(raw)
    if status & 0x7F:
        return -(status & 0x7F)
    return status >> 8


def _exit_pair(text: str | None) -> int | None:
    """scontrol's / sacct's ``ExitCode=130:0`` (code:signal)."""
    if not text:
        return None
    code, _, sig = text.partition(":")
    if sig.isdigit() and int(sig):
        return -int(sig)
    return int(code) if code.isdigit() else None


def _job(
    *,
    id: str,
    state: str,
    reason: str | None,
    partition: str | None,
    node: str | None,
    time_left: str | None,
    time_limit: str | None,
    submitted: str | None,
    start: str | None,
    end: str | None,
    user: str | None,
    uid: str | None,
    name: str | None,
    workdir: str | None,
    stdout: str | None,
    exit_code: int | None,
    source: str,
    now: float,
) -> JobInfo:
    state = (state or "UNKNOWN").split()[0].rstrip("+").upper()  # "CANCELLED by 0"
    started = parse_time(start)
    ended = parse_time(end)
    expected = None
    if state == PENDING:
        expected, started, ended = started, None, None  # a pending job's start is an estimate
    elif state in ("RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED"):
        ended = None  # the end of a running job is its limit, not an end
    return JobInfo(
        id=id.strip(),
        state=state,
        reason=_text(reason),
        partition=_text(partition),
        node=_text(node),
        time_left=parse_duration(time_left) if state == "RUNNING" else None,
        time_limit=parse_duration(time_limit),
        submitted=parse_time(submitted),
        started=started,
        expected_start=expected,
        ended=ended,
        user=_text(user),
        uid=int(uid) if uid and uid.strip().isdigit() else None,
        name=_text(name),
        workdir=_text(workdir),
        stdout=_text(stdout),
        exit_code=exit_code,
        source=source,
        seen=now,
    )


def parse_squeue(out: str, now: float) -> list[JobInfo]:
    """Lines of ``squeue -h -O`` with :data:`FIELDS`, each followed by :data:`SEP`."""
    jobs = []
    for line in out.splitlines():
        if not line.strip():
            continue
        f = line.split(SEP)
        if len(f) < len(FIELDS):
            raise ValueError(f"squeue printed {len(f)} fields, not {len(FIELDS)}: {line[:200]!r}")
        jobs.append(
            _job(
                id=f[0],
                state=f[1],
                reason=f[2],
                partition=f[3],
                node=f[4],
                time_left=f[5],
                time_limit=f[6],
                submitted=f[7],
                start=f[8],
                end=f[9],
                user=f[10],
                uid=f[11],
                name=f[12],
                workdir=f[13],
                stdout=f[14],
                exit_code=_wait_status(f[15]),
                source="squeue",
                now=now,
            )
        )
    return jobs


def _jnum(v: Any) -> float | None:
    """A number of squeue --json: a plain number (0.0.38), or {set, infinite, number} (0.0.39+)."""
    if isinstance(v, dict):
        if not v.get("set", True) or v.get("infinite"):
            return None
        v = v.get("number")
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def _jtime(v: Any) -> str | None:
    n = _jnum(v)
    if n is None or n <= 0:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(n))


def parse_squeue_json(out: str, now: float) -> list[JobInfo]:
    """``squeue --json``: the jobs of its ``jobs`` list."""
    doc = json.loads(out)
    jobs = []
    for j in doc.get("jobs") or ():
        state = j.get("job_state")
        if isinstance(state, list):
            state = state[0] if state else "UNKNOWN"
        limit = _jnum(j.get("time_limit"))  # minutes
        start, end = _jnum(j.get("start_time")), _jnum(j.get("end_time"))
        left = None
        if str(state) == "RUNNING" and limit is not None and start is not None:
            left = max(0.0, start + limit * 60 - now)
        ec = j.get("exit_code")
        code: int | None = None
        if isinstance(ec, dict):  # 0.0.39+: {status, return_code: {number}, signal}
            rc = _jnum(ec.get("return_code"))
            code = None if rc is None else int(rc)
        else:
            n = _jnum(ec)
            code = None if n is None else _wait_status(str(int(n)))
        info = _job(
            id=str(j.get("job_id")),
            state=str(state),
            reason=j.get("state_reason"),
            partition=j.get("partition"),
            node=j.get("nodes"),
            time_left=None,
            time_limit=None,
            submitted=_jtime(j.get("submit_time")),
            start=_jtime(start),
            end=_jtime(end),
            user=j.get("user_name"),
            uid=str(j.get("user_id")) if j.get("user_id") is not None else None,
            name=j.get("name"),
            workdir=j.get("current_working_directory"),
            stdout=j.get("standard_output"),
            exit_code=code,
            source="squeue",
            now=now,
        )
        jobs.append(replace(info, time_left=left, time_limit=None if limit is None else limit * 60))
    return jobs


def parse_scontrol(out: str, now: float) -> list[JobInfo]:
    """``scontrol show job -o ID``: one line of ``Key=Value`` pairs per job."""
    jobs = []
    for line in out.splitlines():
        if "JobId=" not in line:
            continue
        kv = _pairs(line)
        user, _, uid = (kv.get("UserId") or "").partition("(")
        state = kv.get("JobState") or "UNKNOWN"
        limit = kv.get("TimeLimit")
        left = None
        start, lim = parse_time(kv.get("StartTime")), parse_duration(limit)
        if state == "RUNNING" and start is not None and lim is not None:
            left = max(0.0, start + lim - now)
        info = _job(
            id=kv.get("JobId", ""),
            state=state,
            reason=kv.get("Reason"),
            partition=kv.get("Partition"),
            node=kv.get("NodeList"),
            time_left=None,
            time_limit=limit,
            submitted=kv.get("SubmitTime"),
            start=kv.get("StartTime"),
            end=kv.get("EndTime"),
            user=user,
            uid=uid.rstrip(")"),
            name=kv.get("JobName"),
            workdir=kv.get("WorkDir"),
            stdout=kv.get("StdOut"),
            exit_code=_exit_pair(kv.get("ExitCode")),
            source="scontrol",
            now=now,
        )
        jobs.append(replace(info, time_left=left))
    return jobs


_KEYS_WITH_SPACES = ("Command", "WorkDir", "StdOut", "StdErr", "StdIn", "JobName", "Comment")


def _pairs(line: str) -> dict[str, str]:
    """``Key=Value Key=Value``; a value may hold spaces (a path): it runs to the next ``Key=``."""
    out: dict[str, str] = {}
    key: str | None = None
    for word in line.split(" "):
        head, eq, value = word.partition("=")
        if eq and head and head[0].isupper() and head.replace("/", "").replace(":", "").isalnum():
            key = head
            out[key] = value
        elif key is not None:
            out[key] += " " + word
    return {k: v.strip() for k, v in out.items()}


SACCT_FIELDS = "JobID,State,Reason,Partition,NodeList,Submit,Start,End,User,UID,JobName,WorkDir,ExitCode,Timelimit"


def parse_sacct(out: str, now: float) -> list[JobInfo]:
    """``sacct -X -n -P -o`` :data:`SACCT_FIELDS` (``|`` between fields)."""
    jobs = []
    for line in out.splitlines():
        f = line.split("|")
        if len(f) < 14:
            continue
        jobs.append(
            _job(
                id=f[0],
                state=f[1],
                reason=f[2],
                partition=f[3],
                node=f[4],
                time_left=None,
                time_limit=f[13],
                submitted=f[5],
                start=f[6],
                end=f[7],
                user=f[8],
                uid=f[9],
                name=f[10],
                workdir=f[11],
                stdout=None,
                exit_code=_exit_pair(f[12]),
                source="sacct",
                now=now,
            )
        )
    return jobs


# --------------------------------------------------------------------------- the tools


Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    # Deferred for start-up time: subprocess where Slurm is used (every start imports this
    # module for available()).
    import subprocess

    return subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
        errors="replace",
    )


class SlurmError(Exception):
    """A Slurm command failed (its stderr in the message)."""


class Slurm:
    """The installed Slurm's tools, with the output format that works here found once."""

    def __init__(self, runner: Runner = _run, clock: Callable[[], float] = time.time) -> None:
        self.run = runner
        self.clock = clock
        self.format: str | None = None  # "-O" or "--json", once one worked
        self.sacct_off: str | None = None  # why sacct is not asked again

    def _tool(self, *argv: str) -> subprocess.CompletedProcess[str]:
        import subprocess  # deferred for start-up time: see _run

        try:
            return self.run(argv)
        except FileNotFoundError:
            raise SlurmError(f"{argv[0]} not found") from None
        except subprocess.TimeoutExpired:
            raise SlurmError(f"{argv[0]} did not answer within {TIMEOUT:g} s") from None
        except OSError as e:
            raise SlurmError(f"{argv[0]}: {e.strerror or e}") from None

    def squeue(self, *, user: int | None = None, ids: Iterable[str] = ()) -> list[JobInfo]:
        """Jobs of ``user`` (and/or these ids) in every state Slurm still remembers."""
        sel = ["--states=all"]
        if user is not None:
            sel.append(f"--user={user}")
        ids = [i for i in ids if i]
        if ids:
            sel.append("--jobs=" + ",".join(ids))
        errors = []
        for fmt in [self.format] if self.format else ["-O", "--json"]:
            if fmt == "-O":
                spec = ",".join(f"{f}:{SEP}" for f in FIELDS)
                proc = self._tool("squeue", "--noheader", *sel, "--Format=" + spec)
            else:
                proc = self._tool("squeue", *sel, "--json")
            if proc.returncode != 0:
                err = proc.stderr.strip()
                if ids and "Invalid job id" in err:
                    return []  # none of them is remembered any more
                errors.append(f"squeue {fmt}: {err or f'exit {proc.returncode}'}")
                continue
            try:
                now = self.clock()
                jobs = (
                    parse_squeue(proc.stdout, now)
                    if fmt == "-O"
                    else parse_squeue_json(proc.stdout, now)
                )
            except (ValueError, TypeError, KeyError, AttributeError) as e:
                errors.append(f"squeue {fmt}: unreadable output ({e})")
                continue
            self.format = fmt
            return jobs
        raise SlurmError("; ".join(errors)[:500])

    def scontrol(self, job_id: str) -> JobInfo | None:
        """``scontrol show job`` of one job, None when Slurm no longer knows it."""
        proc = self._tool("scontrol", "--oneliner", "show", "job", job_id)
        if proc.returncode != 0:
            if "Invalid job id" in proc.stderr:
                return None
            raise SlurmError(f"scontrol: {proc.stderr.strip() or f'exit {proc.returncode}'}")
        jobs = parse_scontrol(proc.stdout, self.clock())
        return next((j for j in jobs if j.id == job_id), None)

    def sacct(self, ids: Sequence[str]) -> list[JobInfo]:
        """The accounting's record of these jobs; empty when accounting is off (remembered)."""
        import shutil  # deferred for start-up time: see available()

        if self.sacct_off or not ids or shutil.which("sacct") is None:
            return []
        proc = self._tool("sacct", "-X", "-n", "-P", "-j", ",".join(ids), "-o", SACCT_FIELDS)
        if proc.returncode != 0:
            self.sacct_off = proc.stderr.strip() or f"exit {proc.returncode}"
            return []
        return parse_sacct(proc.stdout, self.clock())

    def job(self, job_id: str) -> JobInfo | None:
        """One job, from the first tool that knows it (squeue, scontrol, sacct)."""
        found = [j for j in self.squeue(ids=[job_id]) if j.id == job_id]
        if found:
            return found[0]
        j = self.scontrol(job_id)
        if j is not None:
            return j
        return next((j for j in self.sacct([job_id]) if j.id == job_id), None)


# --------------------------------------------------------------------------- matching


def job_id_of_process(pid: int, started: float | None = None) -> str | None:
    """``SLURM_JOB_ID`` in the environment of the process ``pid`` (ours only: another user's
    environment cannot be read); "" when its environment is readable and names no job; None
    when it cannot tell (gone, not ours, or an environment that setproctitle wrote over: a long
    title takes the memory that ``/proc/PID/environ`` shows)."""
    # Deferred for start-up time: psutil only where Slurm is used (the module is imported on
    # every start, for available()).
    import psutil

    try:
        p = psutil.Process(pid)
        if started is not None and abs(p.create_time() - started) > 0.05:
            return None
        env = p.environ()
    except (psutil.Error, OSError):
        return None
    job = env.get("SLURM_JOB_ID") or env.get("SLURM_JOBID")
    if job:
        return job
    return "" if "PATH" in env and "HOME" in env else None


class JobRecordLike(Protocol):
    """What matching reads of a launch record (collectors.control.LaunchRecord)."""

    @property
    def id(self) -> str: ...
    @property
    def job_id(self) -> str | None: ...
    @property
    def run_dir(self) -> str | None: ...
    @property
    def job(self) -> Mapping[str, Any] | None: ...
    @property
    def launched_at(self) -> float: ...


class JobRegistryLike(Protocol):
    def note_run(self, record_id: str, run_path: str) -> None: ...
    def note_job(self, record_id: str, job: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True, slots=True)
class SlurmView:
    by_run: Mapping[str, JobInfo]  # run path -> its job
    unmatched: tuple[JobInfo, ...]  # happo-top's jobs that no run is tied to
    error: str | None = None


def _below(path: str, base: str | None) -> bool:
    if not base:
        return False
    base = os.path.abspath(base)
    return path == base or path.startswith(base.rstrip("/") + "/")


def _candidates(run: RunSnapshot, jobs: Iterable[JobInfo]) -> list[JobInfo]:
    if run.started is None:
        return []
    out = []
    for j in jobs:
        if j.started is None:
            continue
        dirs = [j.workdir, os.path.dirname(j.stdout) if j.stdout else None]
        if not any(_below(run.path, d) for d in dirs):
            continue
        if run.started < j.started - START_SLACK:
            continue
        if j.ended is not None and run.started > j.ended:
            continue
        out.append(j)
    return out


class SlurmCollector:
    """This user's jobs and the runs they are, once per :data:`INTERVAL` (the last answer in
    between). ``registry``: the launch registry (its Slurm records, and where the last known
    state of each job is kept)."""

    def __init__(
        self,
        registry: Any = None,
        *,
        slurm: Slurm | None = None,
        clock: Callable[[], float] = time.time,
        interval: float | None = None,
    ) -> None:
        self.registry = registry
        self.slurm = slurm or Slurm(clock=clock)
        self.clock = clock
        self.interval = INTERVAL if interval is None else interval
        self._last: float | None = None
        self._jobs: dict[str, JobInfo] = {}
        self._error: str | None = None
        self._environ: dict[tuple[int, float], str | None] = {}
        self._queried = False  # a query answered: a job Slurm does not list has ended

    def _records(self) -> list[JobRecordLike]:
        if self.registry is None:
            return []
        try:
            return [r for r in self.registry.records() if getattr(r, "job_id", None)]
        except OSError:
            return []

    def refresh(self, records: Sequence[JobRecordLike], force: bool = False) -> None:
        now = self.clock()
        if not force and self._last is not None and now - self._last < self.interval:
            return
        self._last = now
        try:
            jobs = {j.id: j for j in self.slurm.squeue(user=os.getuid())}
            # ours that left squeue while (as far as we know) still active: how did they end?
            recent = [
                r.job_id
                for r in records
                if r.job_id and r.job_id not in jobs and self._last_active(r)
            ]
            for job_id in recent:
                j = self.slurm.scontrol(job_id)
                if j is not None:
                    jobs[job_id] = j
            gone = [i for i in recent if i not in jobs]
            for j in self.slurm.sacct(gone):
                jobs[j.id] = j
            self._error = None
            self._queried = True
        except SlurmError as e:
            self._error = f"slurm: {e}"
            return
        self._jobs = jobs
        for r in records:  # keep the last state Slurm reported, for when it forgets the job
            j = jobs.get(r.job_id or "")
            if j is None or self.registry is None:
                continue
            doc = j.to_json()
            old = r.job or {}
            if any(old.get(k) != doc.get(k) for k in ("state", "reason", "node", "started")):
                with contextlib.suppress(OSError, AttributeError):
                    self.registry.note_job(r.id, doc)

    def _last_active(self, r: JobRecordLike) -> bool:
        """Whether the job was active when last seen (by this collector, else the record)."""
        j = self._jobs.get(r.job_id or "")
        if j is not None:
            return j.active
        state = (r.job or {}).get("state")
        return state is None or state in ACTIVE_STATES

    def _from_record(self, r: JobRecordLike) -> JobInfo | None:
        j = self._jobs.get(r.job_id or "")
        if j is None and r.job:
            try:
                j = replace(JobInfo.from_json(dict(r.job)), source="registry")
            except (KeyError, TypeError, ValueError):
                return None
            if j.active and self._queried:  # Slurm forgets only jobs that ended, not how
                j = replace(j, state=UNKNOWN, reason="Slurm no longer knows this job")
        if j is None:
            return None
        return replace(j, how_found=BY_REGISTRY, launch_id=r.id)

    def _environ_job(self, pid: int, started: float) -> str | None:
        key = (pid, started)
        if key not in self._environ:
            if len(self._environ) > 4096:
                self._environ.clear()
            self._environ[key] = job_id_of_process(pid, started)
        return self._environ[key]

    def collect(
        self,
        runs: Sequence[RunSnapshot],
        processes: Mapping[str, tuple[int, float]] | None = None,
        force: bool = False,
    ) -> SlurmView:
        """The job of each run that is one (by run path), and happo-top's jobs tied to no run.
        ``processes``: the pid and start time of each run's process on this node."""
        records = self._records()
        self.refresh(records, force)
        processes = processes or {}
        by_run: dict[str, JobInfo] = {}
        tied: set[str] = set()
        by_job = {r.job_id: r for r in records if r.job_id}
        paths = {r.path for r in runs}
        for r in records:  # 1. the launch registry
            if r.run_dir and r.run_dir in paths:
                j = self._from_record(r)
                if j is not None:
                    by_run[r.run_dir] = j
                    tied.add(j.id)
        no_job: set[str] = set()
        for run in runs:  # 2. SLURM_JOB_ID of the run's process here
            if run.path in by_run or run.path not in processes:
                continue
            pid, started = processes[run.path]
            job_id = self._environ_job(pid, started)
            if job_id == "":
                no_job.add(run.path)  # a process of its own outside any job
            if not job_id:
                continue
            rec = by_job.get(job_id)
            j = self._from_record(rec) if rec is not None else self._jobs.get(job_id)
            if j is None:
                continue
            by_run[run.path] = replace(j, how_found=BY_ENVIRON)
            tied.add(job_id)
            self._note(rec, run.path)
        free = [j for j in self._jobs.values() if j.id not in tied]
        for run in sorted(runs, key=lambda r: r.started or 0.0):  # 3. working directory, time
            if run.path in by_run or run.path in no_job:
                continue
            cands = _candidates(run, free)
            if not cands:
                continue
            j = max(cands, key=lambda c: c.started or 0.0)
            rec = by_job.get(j.id)
            if rec is not None:  # one of ours: one run per submitted job
                free.remove(j)
                self._note(rec, run.path)
                j = replace(j, launch_id=rec.id)
            by_run[run.path] = replace(j, how_found=BY_WORKDIR)
            tied.add(j.id)
        now = self.clock()
        by_run = {p: _aged(j, now) for p, j in by_run.items()}
        unmatched = []
        for r in records:
            if r.job_id in tied or (r.run_dir and r.run_dir in paths):
                continue
            j = self._from_record(r)
            if j is not None and (j.active or now - r.launched_at < 86400):
                unmatched.append(_aged(j, now))
        return SlurmView(by_run, tuple(unmatched), self._error)

    def close(self) -> None:
        self._jobs = {}

    def _note(self, rec: JobRecordLike | None, run_path: str) -> None:
        if rec is not None and self.registry is not None and rec.run_dir != run_path:
            with contextlib.suppress(OSError, AttributeError):
                self.registry.note_run(rec.id, run_path)


def _aged(job: JobInfo, now: float) -> JobInfo:
    """``time_left`` as of ``now`` (squeue said it at ``seen``)."""
    if job.time_left is None or job.seen is None or now <= job.seen:
        return job
    return replace(job, time_left=max(0.0, job.time_left - (now - job.seen)), seen=now)


def refine_by_job(state: str, run: RunSnapshot, job: JobInfo, stopped_by_us: bool) -> str:
    """The run's state once its job is known: a job that ended ends the run (CANCELLED, or
    stopped by happo-top: stopped; TIMEOUT, FAILED, NODE_FAIL, ...: crashed), whatever its
    files still say; a finished run stays finished, a job still active leaves the state alone."""
    if state in (FINISHED, CONTINUED) or job.active:
        return state
    if job.state == CANCELLED or stopped_by_us:
        return STOPPED
    return CRASHED
