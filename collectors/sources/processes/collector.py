"""The training process behind each run (run-format.md section 5), and what it costs.

A process is tied to a run in this order:

1. ``open-files``: it holds a file inside the run directory open **for writing** (HARL keeps
   ``<run>/progress.txt`` and every tensorboardX event file open for the whole run). Readers such
   as TensorBoard, ``tail -f`` or happo-top itself hold files read-only and never count.
2. ``title-cwd``: HARL renames itself with setproctitle to ``<algo>-<env>-<exp_name>``, so its
   command line has no arguments any more. A process with a run's title whose working directory
   holds the run (``<cwd>/<log_dir>/<env>/<task>/<algo>/<exp_name>/seed-*``) maps to the run whose
   timestamp is closest to and not before the process start.
3. ``parent-cmdline``: the process (or a wrapper above it: ``conda run ...``, ``bash train.sh``)
   still shows ``--exp_name X [--seed N]``; same start-time rule.
4. ``registry``: a process that happo-top launched (the launch registry of
   :mod:`collectors.control`), matched through the run directory noted in its record or the
   arguments it was launched with.

When the working directory of another user's process cannot be read, a title and start-time
match is still shown (``title``), but it is not a positive identification: run control refuses it
(and refuses every process of another user anyway).

Cost: a full scan of ``/proc`` (every process's ``stat``, the fd links of the processes we may
read) runs at a slow cadence (``scan_interval``, 10 s) and right away when new runs appear; in
between, :meth:`ProcessCollector.collect` only refreshes the pids it already knows (one
``psutil.Process.oneshot()`` each). Processes that vanish, turn into zombies, belong to other users
or deny access are skipped quietly; what is known is shown.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import psutil

from collectors.model.process import (
    METHODS,
    OPEN_FILES,
    PARENT_CMDLINE,
    POSITIVE,
    REGISTRY,
    TITLE_CWD,
    TITLE_ONLY,
    LaunchRecordLike,
    ProcessInfo,
    RegistryLike,
)
from collectors.model.run import CRASHED, FINISHED, RUNNING, STALLED, STARTING, STOPPED, RunSnapshot
from collectors.model.run_dir import RUN_DIR_RE, parse_run_dir_name
from collectors.sources.processes.cache import SystemCache
from collectors.sources.processes.commands import (
    command_like,
    command_txt_log,
    is_wrapper,
    read_command_txt,
    training_args,
)
from collectors.sources.processes.logs import process_log
from collectors.sources.processes.table import Backend, Proc, ProcFS, PsutilProcs, default_backend

__all__ = [  # the collector, and what its callers and tests reach through this module
    "METHODS",
    "OPEN_FILES",
    "PARENT_CMDLINE",
    "POSITIVE",
    "REGISTRY",
    "TITLE_CWD",
    "TITLE_ONLY",
    "ProcFS",
    "ProcessCollector",
    "ProcessInfo",
    "PsutilProcs",
    "RegistryLike",
    "SystemCache",
    "command_txt_log",
    "read_command_txt",
    "refine_state",
    "training_args",
]

SCAN_INTERVAL = 10.0  # seconds between full scans
MIN_SCAN_GAP = 1.0  # new runs trigger a scan, but not more often than this
START_SLACK = 2.0  # run-directory stamps have 1 s resolution and are taken after the start
ANCESTOR_DEPTH = 6  # how far up the parent chain to look for the original command


def refine_state(
    file_state: str,
    run: RunSnapshot | None,
    proc: ProcessInfo | None,
    stopped_by_us: bool,
    *,
    process_visible: bool = True,
) -> str:
    """The run state once the process is known.

    ``running`` / ``stalled`` need a live process: with one, a run the files call ``crashed``
    (silent for a long time) is only ``stalled``. Without one, a run that did not reach its last
    step and has no ``summary.json`` (the files do not say ``finished``) is ``crashed``, or
    ``stopped`` when happo-top stopped it. ``process_visible=False`` (the collector could not look
    for the run's process: not scanned yet, or another user's run behind ``hidepid``) keeps the
    state the files give.
    """
    del run  # the file state already knows the run's last step and summary.json
    if proc is not None and proc.alive:
        return STALLED if file_state == CRASHED else file_state
    if not process_visible or file_state == FINISHED:
        return file_state
    if file_state in (STARTING, RUNNING, STALLED, CRASHED, STOPPED):
        return STOPPED if stopped_by_us else CRASHED
    return file_state


# --------------------------------------------------------------------------- runs as keys


@dataclass(frozen=True, slots=True)
class _RunKey:
    path: str
    real: str
    algo: str | None
    env: str | None
    exp_name: str | None
    seed: int | None
    started: float | None
    log_dir: str | None
    finished: bool  # the files already call it finished (no title/parent search needed)

    @property
    def title(self) -> str | None:
        if self.algo and self.env and self.exp_name:
            return f"{self.algo}-{self.env}-{self.exp_name}"
        return None


def _component(path: str, up: int) -> str | None:
    parts = os.path.normpath(path).split(os.sep)
    return parts[-1 - up] if len(parts) > up + 1 else None


def _known(v: Any) -> str | None:
    return str(v) if v not in (None, "", "?") else None


# --------------------------------------------------------------------------- the collector


@dataclass(slots=True)
class _Tracked:
    """A run's identified process, refreshed cheaply between scans."""

    pid: int
    start: float  # identity in the scan table
    how: str
    ps: psutil.Process
    static: ProcessInfo  # everything that does not change (title, cmdline, cwd, ...)
    primed: bool = False  # cpu_percent has a previous sample


class ProcessCollector:
    """Finds and refreshes the process of each run. ``collect()`` is cheap between full scans."""

    def __init__(
        self,
        registry: RegistryLike | None = None,
        clock: Callable[[], float] = time.time,
        scan_interval: float = SCAN_INTERVAL,
        methods: Sequence[str] = METHODS,
        backend: Backend | None = None,
        cache: SystemCache | None = None,
    ) -> None:
        """``registry``: the launch registry (collectors.control.Registry, built by
        collectors.monitor; None: match without one). ``methods``: the identification methods to
        use, in order. ``cache``: user names and the mount table (a fresh one by default)."""
        self.registry = registry
        self.cache = cache if cache is not None else SystemCache()
        self.clock = clock
        self.scan_interval = scan_interval
        self.methods = tuple(methods)
        self.backend = backend or default_backend()
        self.table: dict[int, Proc] = {}
        self.scans = 0
        self.last_scan = -1e18
        self.last_scan_seconds = 0.0
        self._tracked: dict[str, _Tracked] = {}
        self._covered: set[str] = set()  # runs the last full scan looked for
        self._seen: set[str] = set()  # runs whose process was seen at some time
        self._logs: dict[str, str] = {}  # run path -> its process's log, kept after it exits
        self._config_cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._owner: dict[str, int | None] = {}
        self._realpaths: dict[str, str] = {}
        self._sees_others = False
        self.me = os.getpid()
        self.euid = os.geteuid()

    # -- public ----------------------------------------------------------------------------------

    def collect(
        self,
        runs: Sequence[RunSnapshot] | Sequence[str],
        gpu_memory: Mapping[int, int] | None = None,
    ) -> dict[str, ProcessInfo]:
        """The live process of each run that has one, by run path."""
        now = self.clock()
        keys = [self._key(r) for r in runs]
        paths = {k.path for k in keys}
        for p in [p for p in self._tracked if p not in paths]:
            del self._tracked[p]
        for p in [p for p in self._logs if p not in paths]:
            del self._logs[p]
        fresh = any(k.path not in self._covered for k in keys)
        due = now - self.last_scan >= self.scan_interval
        if due or (fresh and now - self.last_scan >= MIN_SCAN_GAP):
            self.full_scan(keys)
        out: dict[str, ProcessInfo] = {}
        for k in keys:
            t = self._tracked.get(k.path)
            if t is None:
                continue
            info = self._refresh(t, gpu_memory)
            if info is None:
                del self._tracked[k.path]  # gone since the scan
                continue
            out[k.path] = info
        return out

    def can_judge(self, run_path: str) -> bool:
        """Whether a missing process means the run has none (``process_visible`` of
        :func:`refine_state`).

        True once a full scan has looked for the run and either its process was seen before
        (and is gone now), or the run lies on a local filesystem and its owner's processes are
        visible to us. A run on a network filesystem (NFS, Lustre, ...) may be written from
        another host: until its process has been seen here, the files alone decide.
        """
        path = os.path.abspath(run_path)
        if path not in self._covered:
            return False
        if path in self._seen:
            return True
        if self.cache.is_network_fs(path):
            return False
        if self.euid == 0 or self._sees_others:
            return True
        if path not in self._owner:
            try:
                self._owner[path] = os.stat(path).st_uid
            except OSError:
                self._owner[path] = None
        return self._owner[path] in (None, self.euid)

    def refine(self, run: RunSnapshot, proc: ProcessInfo | None, stopped_by_us: bool) -> str:
        """:func:`refine_state` with ``process_visible`` from :meth:`can_judge`."""
        return refine_state(
            run.state, run, proc, stopped_by_us, process_visible=self.can_judge(run.path)
        )

    def log_of(self, run_path: str) -> str | None:
        """The log file of the run's process as it was seen (its launch log, the regular file
        its stdout or stderr went to, or ``nohup.out`` in its cwd): still known after the
        process died."""
        return self._logs.get(os.path.abspath(run_path))

    def find_pid(self, pid: int) -> str | None:
        """The run path whose process (or its launcher) is ``pid``, among those tracked."""
        for path, t in self._tracked.items():
            if pid in (t.pid, t.static.launcher):
                return path
        return None

    def close(self) -> None:
        self._tracked.clear()
        self.table.clear()

    # -- keys ------------------------------------------------------------------------------------

    def _key(self, run: RunSnapshot | str) -> _RunKey:
        if isinstance(run, str):
            path = os.path.abspath(run)
            cfg = self._config(path)
            main = cfg.get("main_args", {}) if isinstance(cfg.get("main_args"), dict) else {}
            algo_args = cfg.get("algo_args")
            logger = algo_args.get("logger") if isinstance(algo_args, dict) else None
            parsed = parse_run_dir_name(os.path.basename(path))
            seed, started = parsed if parsed else (None, None)
            return _RunKey(
                path,
                self._real(path),
                _known(main.get("algo")) or _component(path, 2),
                _known(main.get("env")) or _component(path, 4),
                _known(main.get("exp_name")) or _component(path, 1),
                seed,
                started,
                _known(logger.get("log_dir") if isinstance(logger, dict) else None),
                os.path.exists(os.path.join(path, "logs", "summary.json")),
            )
        return _RunKey(
            run.path,
            self._real(run.path),
            _known(run.algo) or _component(run.path, 2),
            _known(run.env) or _component(run.path, 4),
            _known(run.exp_name) or _component(run.path, 1),
            run.seed,
            run.started,
            _known(run.config.get("algo_args.logger.log_dir")),
            run.state == FINISHED,
        )

    def _real(self, path: str) -> str:
        real = self._realpaths.get(path)
        if real is None:
            if len(self._realpaths) > 10_000:
                self._realpaths.clear()
            real = self._realpaths[path] = os.path.realpath(path)
        return real

    def _config(self, path: str) -> dict[str, Any]:
        cfg_path = os.path.join(path, "config.json")
        try:
            mtime = os.stat(cfg_path).st_mtime
        except OSError:
            return {}
        cached = self._config_cache.get(path)
        if cached and cached[0] == mtime:
            return cached[1]
        try:
            with open(cfg_path, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError):
            doc = {}
        if not isinstance(doc, dict):
            doc = {}
        self._config_cache[path] = (mtime, doc)
        return doc

    # -- the full scan ---------------------------------------------------------------------------

    def full_scan(self, keys: Sequence[_RunKey]) -> None:
        t0 = time.perf_counter()
        b = self.backend
        table = b.scan()
        self.table = table
        self.scans += 1
        self.last_scan = self.clock()
        self._sees_others = any(p.uid not in (None, self.euid) for p in table.values())
        by_path = {k.path: k for k in keys}
        # Keep what is still the same process; the rest is looked for again.
        for path, t in list(self._tracked.items()):
            p = table.get(t.pid)
            if path not in by_path or p is None or p.start != t.start or p.state == "Z":
                del self._tracked[path]
        found: dict[str, tuple[int, str, int | None, Any]] = {}
        taken = {t.pid for t in self._tracked.values()}
        pending = [k for k in keys if k.path not in self._tracked]
        records = self._live_records(table)
        for method in self.methods:
            if not pending:
                break
            if method == OPEN_FILES:
                hits = self._by_open_files(pending, table, taken)
            elif method == TITLE_CWD:
                hits = self._by_title(pending, table, taken)
            elif method == PARENT_CMDLINE:
                hits = self._by_parent(pending, table, taken)
            elif method == REGISTRY:
                hits = self._by_registry(pending, table, taken, records)
            else:
                raise ValueError(f"unknown method {method!r}")
            for path, (pid, how) in hits.items():
                if how != OPEN_FILES and not self._same_owner(by_path[path], table[pid]):
                    continue  # a stranger's run cannot claim this process by its name alone
                found[path] = (pid, how, None, None)
                taken.add(pid)
            pending = [k for k in pending if k.path not in found]
        for path, (pid, how, _, _) in found.items():
            new = self._track(by_path[path], pid, how, table, records)
            if new is not None:
                self._tracked[path] = new
                self._seen.add(path)
        self._covered = set(by_path)
        self.last_scan_seconds = time.perf_counter() - t0

    def _by_open_files(
        self, keys: Sequence[_RunKey], table: Mapping[int, Proc], taken: set[int]
    ) -> dict[str, tuple[int, str]]:
        keys = [k for k in keys if not k.finished]  # summary.json: its writer is gone
        # Files inside the run's real directory only: the kernel names open files by their
        # resolved path, so a path through a symlink (another user's "run" pointing into our
        # directories) never matches by itself.
        runs = {k.real: k for k in keys}
        prefixes = tuple(sorted({p + os.sep for p in runs}))
        if not prefixes:
            return {}
        writers: dict[str, set[int]] = {}
        for pid, p in table.items():
            if pid == self.me or pid in taken or p.state == "Z":
                continue
            files = self.backend.written_files(pid, prefixes)
            if not files:
                continue
            for f in files:
                d = os.path.dirname(f)
                for _ in range(10):
                    k = runs.get(d)
                    if k is not None:
                        writers.setdefault(k.path, set()).add(pid)
                        break
                    parent = os.path.dirname(d)
                    if parent == d:
                        break
                    d = parent
        out = {}
        for path, pids in writers.items():
            top = [pid for pid in pids if table[pid].ppid not in pids]
            out[path] = (min(top or pids, key=lambda q: (table[q].create_time, q)), OPEN_FILES)
        return out

    def _same_owner(self, k: _RunKey, p: Proc) -> bool:
        """Whether the run's real directory belongs to the process's user: a match by title,
        command line or registry record (not by files the process holds open inside the
        directory) is taken only then. A directory planted by another user, named and
        configured like our run, must not get our trainer identified as its process (and
        stopped through it)."""
        if p.uid is None:
            return True  # unknown owner: never signalled anyway (control requires our uid)
        owner = self._owner_of(k.real)
        return owner is None or owner == p.uid

    def _owner_of(self, path: str) -> int | None:
        if path not in self._owner:
            if len(self._owner) > 10_000:
                self._owner.clear()
            try:
                self._owner[path] = os.stat(path).st_uid
            except OSError:
                self._owner[path] = None
        return self._owner[path]

    def _by_title(
        self, keys: Sequence[_RunKey], table: Mapping[int, Proc], taken: set[int]
    ) -> dict[str, tuple[int, str]]:
        by_title: dict[str, list[_RunKey]] = {}
        for k in keys:
            if k.title and not k.finished:
                by_title.setdefault(k.title, []).append(k)
        if not by_title:
            return {}
        comms = {t[:15]: t for t in by_title}
        claims: dict[str, list[tuple[float, int, str]]] = {}
        for pid, p in table.items():
            if pid == self.me or pid in taken or p.state == "Z" or p.comm not in comms:
                continue
            cmd = self._cmdline(p)
            if not cmd or len(cmd) != 1 or cmd[0].strip() not in by_title:
                continue
            title = cmd[0].strip()
            cwd = self.backend.cwd(pid)
            if cwd is None and p.uid in (None, self.euid):
                continue  # gone meanwhile
            how = TITLE_CWD if cwd is not None else TITLE_ONLY
            candidates = [
                k for k in by_title[title] if cwd is None or _under_cwd(k, os.path.realpath(cwd))
            ]
            best = _closest(candidates, p.create_time)
            if best is not None:
                gap = (best.started or 0.0) - p.create_time
                claims.setdefault(best.path, []).append((gap, pid, how))
        return _pick_claims(claims, table)

    def _by_parent(
        self, keys: Sequence[_RunKey], table: Mapping[int, Proc], taken: set[int]
    ) -> dict[str, tuple[int, str]]:
        live = [k for k in keys if k.exp_name and not k.finished]
        if not live:
            return {}
        claims: dict[str, list[tuple[float, int, str]]] = {}
        args_of: dict[int, dict[str, str] | None] = {}
        for pid, p in table.items():
            if pid == self.me or pid in taken or p.state == "Z":
                continue
            cmd = self._cmdline(p)
            if not cmd or is_wrapper(cmd):
                continue
            args = None
            for q in (p, *self._launch_chain(p, table)):
                if q.pid not in args_of:
                    args_of[q.pid] = training_args(self._cmdline(q) or ())
                args = args_of[q.pid]
                if args:
                    break
            if not args:
                continue
            candidates = [k for k in live if _args_match(args, k)]
            best = _closest(candidates, p.create_time)
            if best is not None:
                gap = (best.started or 0.0) - p.create_time
                claims.setdefault(best.path, []).append((gap, pid, PARENT_CMDLINE))
        return _pick_claims(claims, table)

    def _by_registry(
        self,
        keys: Sequence[_RunKey],
        table: Mapping[int, Proc],
        taken: set[int],
        records: Mapping[int, LaunchRecordLike],
    ) -> dict[str, tuple[int, str]]:
        out: dict[str, tuple[int, str]] = {}
        by_path = {k.path: k for k in keys}
        for pid, rec in records.items():
            trainer = self._trainer_under(pid, table)
            if trainer is None or trainer in taken:
                continue
            key = by_path.get(rec.run_dir) if rec.run_dir else None
            if key is None:
                argv = tuple(rec.argv)
                if rec.shell and argv:
                    try:
                        argv = tuple(shlex.split(argv[0]))
                    except ValueError:
                        continue
                args = training_args(argv)
                if args is None:
                    continue
                cands = [k for k in keys if not k.finished and _args_match(args, k)]
                key = _closest([k for k in cands if k.path not in out], table[pid].create_time)
            if key is not None and key.path not in out:
                out[key.path] = (trainer, REGISTRY)
                taken.add(trainer)
        return out

    def _trainer_under(self, pid: int, table: Mapping[int, Proc]) -> int | None:
        """The launched process itself, or its first descendant that is not a wrapper."""
        kids: dict[int, list[int]] = {}
        for q in table.values():
            kids.setdefault(q.ppid, []).append(q.pid)
        queue = [pid]
        while queue:
            cur = queue.pop(0)
            p = table.get(cur)
            if p is None:
                continue
            cmd = self._cmdline(p)
            if cmd and not is_wrapper(cmd) and p.state != "Z":
                return cur
            queue.extend(sorted(kids.get(cur, ())))
        return None

    def _live_records(self, table: Mapping[int, Proc]) -> dict[int, LaunchRecordLike]:
        """Launch records whose process is still the one launched, by pid."""
        if self.registry is None:
            return {}
        out: dict[int, LaunchRecordLike] = {}
        try:
            recs = self.registry.records()
        except OSError:
            return {}
        for rec in recs:
            p = table.get(rec.pid)
            ct = rec.create_time
            if p is not None and ct is not None and abs(p.create_time - ct) < 0.05:
                out[rec.pid] = rec
        return out

    def _launch_chain(self, p: Proc, table: Mapping[int, Proc]) -> list[Proc]:
        """The ancestors that started ``p`` on behalf of the user: wrappers (``bash train.sh``,
        ``conda run``, ``srun``) or commands with training arguments, up to the first other
        process (an orchestrating script, a terminal multiplexer, a test runner)."""
        out: list[Proc] = []
        q = table.get(p.ppid)
        while q is not None and q.pid > 1 and len(out) < ANCESTOR_DEPTH:
            cmd = self._cmdline(q) or ()
            if not (is_wrapper(cmd) or training_args(cmd)):
                break
            out.append(q)
            q = table.get(q.ppid)
        return out

    def _cmdline(self, p: Proc) -> tuple[str, ...] | None:
        if p._cmdline is None:
            p._cmdline = self.backend.cmdline(p.pid) or ()
        return p._cmdline

    # -- per process ------------------------------------------------------------------------------

    def _track(
        self,
        key: _RunKey,
        pid: int,
        how: str,
        table: Mapping[int, Proc],
        records: Mapping[int, LaunchRecordLike],
    ) -> _Tracked | None:
        p = table.get(pid)
        if p is None:
            return None
        try:
            ps = psutil.Process(pid)
            started = ps.create_time()
        except psutil.Error:
            return None
        if abs(started - p.create_time) > 0.05:
            return None  # the pid was reused between the scan and now
        own = self._cmdline(p) or ()
        title = " ".join(own) if own else p.comm
        chain = [p, *self._launch_chain(p, table)]
        rec = next((records[c.pid] for c in chain if c.pid in records), None)
        cmdline: tuple[str, ...] = own
        source = "title"
        launcher = None
        if len(own) > 1:
            source = "self"
        elif rec is not None:
            cmdline, source, launcher = tuple(rec.argv), "registry", rec.pid
        else:
            cmds = [(c.pid, self._cmdline(c) or ()) for c in chain[1:]]
            hit = next(((q, c) for q, c in cmds if training_args(c)), None)
            hit = hit or next(((q, c) for q, c in cmds if command_like(c)), None)
            if hit is not None:
                launcher, cmdline, source = hit[0], hit[1], "parent"
            else:
                ct = read_command_txt(key.path)
                if ct is not None:
                    cmdline, source = ct[0], "command.txt"
        if rec is not None and launcher is None:
            launcher = rec.pid
        if rec is not None and self.registry is not None and rec.run_dir != key.path:
            with contextlib.suppress(OSError):
                self.registry.note_run(rec.id, key.path)
        cwd = self.backend.cwd(pid)
        log = rec.log if rec is not None and rec.log else None
        if log is None:
            try:
                log = process_log(pid, cwd, key.path, p.uid)
            except OSError:
                log = None
        if log is not None:
            self._logs[key.path] = log
        static = ProcessInfo(
            pid=pid,
            title=title,
            cmdline=cmdline,
            cmdline_source=source,
            cwd=cwd,
            started=started,
            uid=p.uid,
            user=self.cache.user_name(p.uid),
            status="",
            cpu_percent=None,
            rss=None,
            threads=p.threads,
            children=(),
            gpu_memory=None,
            how_found=how,
            pgid=p.pgid,
            sid=p.sid,
            launcher=launcher,
            launch_id=rec.id if rec is not None else None,
            log=log,
            run_path=key.path,
        )
        return _Tracked(pid, p.start, how, ps, static)

    def _refresh(self, t: _Tracked, gpu: Mapping[int, int] | None) -> ProcessInfo | None:
        ps = t.ps
        cpu = rss = threads = None
        try:
            with ps.oneshot():
                if not ps.is_running():
                    return None  # gone, or the pid was reused
                status = ps.status()
                if status == psutil.STATUS_ZOMBIE:
                    return None
                try:
                    c = ps.cpu_percent(None)
                    cpu = c if t.primed else None
                    t.primed = True
                    rss = ps.memory_info().rss
                    threads = ps.num_threads()
                except psutil.AccessDenied:
                    pass  # another user's process: show what is known
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            return None
        except psutil.AccessDenied:
            status = "?"
        kids = self.backend.children(t.pid)
        if kids is None:
            kids = tuple(sorted(q.pid for q in self.table.values() if q.ppid == t.pid))
        mem = None
        if gpu:
            used = [gpu[p] for p in (t.pid, *kids) if p in gpu]
            mem = sum(used) if used else None
        return replace(
            t.static,
            status=status,
            cpu_percent=cpu,
            rss=rss,
            threads=threads if threads is not None else t.static.threads,
            children=kids,
            gpu_memory=mem,
        )


# --------------------------------------------------------------------------- matching rules


def _under_cwd(k: _RunKey, cwd: str) -> bool:
    """The run lies at ``<cwd>/<log_dir>/<env>/<task>/<algo>/<exp_name>/seed-*``."""
    for path in {k.real, k.path}:
        rel = os.path.relpath(path, cwd)
        if rel.startswith(os.pardir):
            continue
        parts = rel.split(os.sep)
        if len(parts) < 5 or not RUN_DIR_RE.match(parts[-1]):
            continue
        if k.exp_name and parts[-2] != k.exp_name:
            continue
        if k.algo and parts[-3] != k.algo:
            continue
        if k.env and parts[-5] != k.env:
            continue
        base = os.sep.join(parts[:-5])
        if k.log_dir and not os.path.isabs(k.log_dir):
            return os.path.normpath(k.log_dir) == os.path.normpath(base or ".")
        return True
    return False


def _args_match(args: Mapping[str, str], k: _RunKey) -> bool:
    if args.get("exp_name") != k.exp_name:
        return False
    if "seed" in args and k.seed is not None:
        try:
            if int(args["seed"]) != k.seed:
                return False
        except ValueError:
            return False
    if "algo" in args and k.algo and args["algo"] != k.algo:
        return False
    return not ("env" in args and k.env and args["env"] != k.env)


def _closest(keys: Iterable[_RunKey], start: float) -> _RunKey | None:
    """The run whose stamp is closest to and not before the process start (with slack)."""
    best, best_gap = None, None
    for k in keys:
        if k.started is None:
            continue
        gap = k.started - start
        if gap < -START_SLACK:
            continue
        if best_gap is None or gap < best_gap:
            best, best_gap = k, gap
    return best


def _pick_claims(
    claims: Mapping[str, list[tuple[float, int, str]]], table: Mapping[int, Proc]
) -> dict[str, tuple[int, str]]:
    """One process per run: not a descendant of another claimant, closest start."""
    out: dict[str, tuple[int, str]] = {}
    for path, items in claims.items():
        pids = {pid for _, pid, _ in items}
        top = [it for it in items if not _has_ancestor_in(it[1], pids, table)]
        gap, pid, how = min(top or items, key=lambda it: (abs(it[0]), it[1]))
        out[path] = (pid, how)
    return out


def _has_ancestor_in(pid: int, pids: set[int], table: Mapping[int, Proc]) -> bool:
    p = table.get(pid)
    for _ in range(32):
        if p is None or p.ppid <= 1:
            return False
        if p.ppid in pids:
            return True
        p = table.get(p.ppid)
    return False
