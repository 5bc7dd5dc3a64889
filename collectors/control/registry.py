"""The launch registry: one JSON record per run happo-top launched
(``$XDG_STATE_HOME/happo-top/launches/<id>.json``, written atomically) and the stop marks that
make a run happo-top stopped read as "stopped", not "crashed".

One :class:`Registry` per process is built by the assembly (:class:`collectors.monitor.Monitor`,
or a headless command) and passed down to the process collector and to run control."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import psutil

from collectors.model.job import ACTIVE_STATES

START_TOLERANCE = 0.05  # seconds: psutil's create time is exact to the clock tick


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
    # A Slurm job (collectors.control.slurm): pid 0 and no create time (the process runs on a
    # node, under slurmstepd); its job id, the sbatch options it was submitted with, and the
    # last state Slurm reported (JobInfo.to_json), kept for when Slurm forgets the job
    backend: str = "local"  # local | slurm
    job_id: str | None = None
    sbatch: tuple[str, ...] = ()
    job: Mapping[str, Any] | None = None

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
            "backend": self.backend,
            "job_id": self.job_id,
            "sbatch": list(self.sbatch),
            "job": None if self.job is None else dict(self.job),
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
            backend=str(doc.get("backend") or "local"),
            job_id=None if doc.get("job_id") is None else str(doc["job_id"]),
            sbatch=tuple(str(a) for a in doc.get("sbatch") or ()),
            job=dict(doc["job"]) if isinstance(doc.get("job"), dict) else None,
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

    def note_job(self, record_id: str, job: Mapping[str, Any]) -> None:
        """The last state Slurm reported of a submitted job (JobInfo.to_json)."""
        self.update(record_id, job=dict(job))

    def for_job(self, job_id: str) -> LaunchRecord | None:
        return next((r for r in reversed(self.records()) if r.job_id == job_id), None)

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
            if r.job is not None and r.job.get("state") in ACTIVE_STATES:
                continue  # a Slurm job that may still run (pending for a month)
            if r.create_time is not None and self.find(r.pid, process_create_time(r.pid)):
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


def process_create_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None
