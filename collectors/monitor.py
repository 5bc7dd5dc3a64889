"""Everything happo-top watches, as one :class:`~collectors.model.Snapshot`.

The runs come from their files (:mod:`collectors.runs`); this module adds what the files cannot
tell: the training process behind each run and the state it implies (:mod:`collectors.processes`),
the GPUs (:mod:`collectors.gpu`), the filesystems and the space the running runs still need
(:mod:`collectors.disk`), the health findings (:mod:`collectors.health`) and the labels of sibling
runs (:mod:`collectors.config_diff`). The headless commands and the TUI all use it.

Roots of the form ``host:path`` are other hosts, each read over ssh
(:mod:`collectors.sources.remote`); their runs join the snapshot tagged with the host, and each
host's state, GPUs and disks are in its ``hosts``.

Each part fails on its own: a broken GPU library costs the GPU line and leaves a message in the
snapshot's ``errors``, never the runs. A run whose files, process and health did not change is
returned as the identical object as in the previous snapshot, so a front end can skip it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from collectors.analysis.health import evaluate
from collectors.model.disk import DiskSnapshot, SharedListings
from collectors.model.gpu import GpuSnapshot
from collectors.model.job import JobInfo
from collectors.model.run import (
    CRASHED,
    RUNNING,
    STALLED,
    STARTING,
    STOPPED,
    RunSnapshot,
    Snapshot,
    internal_error,
)
from collectors.model.settings import Settings
from collectors.sources.disk import DiskCollector
from collectors.sources.gpu import GpuCollector
from collectors.sources.remote import CONNECT_TIMEOUT, RemoteHost, host_roots, specs
from collectors.sources.runs.tracker import RunsCollector
from collectors.sources.slurm import SlurmCollector, SlurmView, refine_by_job
from collectors.sources.slurm import available as slurm_available

if TYPE_CHECKING:
    from collectors.analysis.chains import ChainLinker
    from collectors.control.registry import Registry
    from collectors.forked import ForkedCall
    from collectors.model.process import ProcessInfo
    from collectors.sources.processes import ProcessCollector
    from collectors.sources.processes.logs import LastLines

_Part = TypeVar("_Part")
_UNSET: Any = object()  # a part not built yet


class Monitor:
    """The engine assembled: the runs, their processes, the GPUs and disks, health and labels.

    This is the one place the launch :class:`~collectors.control.Registry` is built (when none is
    given): the process collector reads it to tie launched runs to their process, the stop marks
    in it turn "crashed" into "stopped", and front ends that act on runs take it from
    :attr:`registry` so that everyone shares one.

    The registry and the process collector (psutil) are built when first needed, i.e. once a run
    is found or a front end asks for them: ``--once`` on a root with no runs imports neither.
    """

    def __init__(
        self,
        roots: Sequence[str],
        settings: Settings | None = None,
        clock: Callable[[], float] = time.time,
        *,
        processes: bool = True,
        gpu: bool = True,
        disk: bool = True,
        slurm: bool = True,
        registry: Registry | None = None,
        first: ForkedCall | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.clock = clock
        # The directories the run readers list in a poll, kept for that poll's disk sizing (which
        # then lists and stats none of them again); emptied at the start of every poll.
        self._shared: SharedListings = {}
        self.runs = RunsCollector(host_roots(roots)[0], self.settings, clock, shared=self._shared)
        self._registry: Registry | None = registry
        self._failed: dict[str, str] = {}  # part -> why it could not even start
        self._want_procs = processes
        self._procs: ProcessCollector | None = _UNSET
        self.gpu = self._start("gpu", gpu, self._make_gpu)
        self.disk = self._start("disk", disk, self._make_disk)
        # Slurm only where it is set up (squeue and a slurm.conf): elsewhere no tool is run
        self.slurm = self._start("slurm", slurm and slurm_available() is None, self._make_slurm)
        self._cache: dict[
            str, tuple[RunSnapshot, tuple[ProcessInfo | None, JobInfo | None], str, RunSnapshot]
        ] = {}
        self._labels_key: tuple[tuple[str, int], ...] = ()
        self._labels: dict[str, str] = {}
        self._chains: ChainLinker | None = None  # built with the first run
        self._label_error: str | None = None
        self._last_lines: LastLines | None = None  # built with the first run that ended
        # The first collect made by a child process (fork_first_collect): its snapshot is the
        # first collect()'s, its runs' reader state is taken over at the second.
        self._first = first
        self._adopt: ForkedCall | None = None
        self.remotes = self._start_remotes(roots)

    @property
    def roots(self) -> list[str]:
        return self.runs.roots

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            # Deferred for start-up time: the registry once a run (or a front end) needs it.
            from collectors.control.registry import Registry

            self._registry = Registry()
        return self._registry

    @property
    def procs(self) -> ProcessCollector | None:
        """The process collector (None: not wanted, or it could not start), built on first use."""
        if self._procs is _UNSET:
            self._procs = self._start("processes", self._want_procs, self._make_procs)
        return self._procs

    # -- parts -------------------------------------------------------------------------------

    def _start(self, name: str, wanted: bool, make: Callable[[], _Part]) -> _Part | None:
        if not wanted:
            return None
        try:
            return make()
        except Exception as e:  # a missing library, a broken /proc: that part only
            self._failed[name] = f"{name} collector unavailable: {type(e).__name__}: {e}"
            return None

    def _make_procs(self) -> ProcessCollector:
        # Deferred for start-up time: psutil and the matching code once there is a run.
        from collectors.sources.processes import ProcessCollector

        return ProcessCollector(registry=self.registry, clock=self.clock)

    def _make_gpu(self) -> GpuCollector:
        return GpuCollector(clock=self.clock)

    def _make_slurm(self) -> SlurmCollector:
        return SlurmCollector(self.registry, clock=self.clock)

    def _make_disk(self) -> DiskCollector:
        return DiskCollector(self.roots, clock=self.clock, shared=self._shared)

    @property
    def tracks_processes(self) -> bool:
        """Whether "no process" means there is none (the process part works)."""
        return self.procs is not None

    # -- polling -----------------------------------------------------------------------------

    def collect(self) -> Snapshot:
        """One snapshot of everything. The first, where a child made it
        (:func:`fork_first_collect`), is the child's; the second then reads on from where the
        child's readers stopped (their state is taken over), so no file is read twice."""
        snap = self._take_first()
        if snap is not None:
            return snap
        adopt, self._adopt = self._adopt, None
        if adopt is not None:
            state = adopt.part(self._shared_names())
            adopt.finish()  # it sent its last part: it is leaving
            if isinstance(state, dict) and set(state) == set(_READING_STATE):
                for name, value in state.items():
                    old = getattr(self, name)
                    setattr(self, name, value)
                    if old is not None and old is not value and hasattr(old, "close"):
                        with contextlib.suppress(Exception):
                            old.close()  # this process's own, never used: nothing read yet
            # else this process's readers read everything at this collect (cold, once)
        return self._collect()

    def first_snapshot(self, wait: float) -> Snapshot | None:
        """The snapshot of the child's first collect, if it comes within ``wait`` seconds
        (the next :meth:`collect` then goes on from it); None otherwise (and collect() returns
        it when it comes)."""
        if self._first is None or not self._first.ready(wait):
            return None
        return self._take_first()

    def abandon_first(self) -> None:
        """End a child still making the first collect (the front end is quitting: a poll
        thread waiting on it returns at once). From any thread; close() still reaps it."""
        for forked in (self._first, self._adopt):
            if forked is not None:
                forked.kill()

    def _take_first(self) -> Snapshot | None:
        first = self._first
        if first is None:
            return None
        snap = first.part(self._shared_names())  # while it waits, abandon_first() can end it
        self._first = None
        if isinstance(snap, Snapshot):
            self._adopt = first  # its readers' state, taken over at the next collect
            return snap
        first.close()  # it failed: this process reads everything itself
        return None

    def _shared_names(self) -> dict[str, Any]:
        """What a child's parts refer to by name (see :func:`fork_first_collect`): its settings,
        clock and shared listings, and the monitor itself (anything carried over that calls
        back into it finds this one, never a copy of the child's)."""
        return {
            "monitor": self,
            "settings": self.settings,
            "shared": self._shared,
            "clock": self.clock,
        }

    def _collect(self) -> Snapshot:
        self._shared.clear()
        snap = self.runs.collect()
        errors = [*snap.errors, *self._failed.values()]
        gpus: GpuSnapshot | None = None
        if self.gpu is not None:
            try:
                gpus = self.gpu.collect()
            except Exception as e:
                errors.append(f"GPU collector failed: {type(e).__name__}: {e}")
        infos: dict[str, ProcessInfo] | None = None
        if snap.runs and self.procs is not None:
            try:
                mem = gpus.memory_by_pid() if gpus is not None and gpus.available else None
                infos = self.procs.collect(snap.runs, mem)
            except Exception as e:
                errors.append(f"process collector failed: {type(e).__name__}: {e}")
        stopped = self._stopped_runs() if snap.runs else set()
        view = self._jobs(snap.runs, infos, errors)
        runs = [self._run_isolated(r, infos, stopped, view.by_run.get(r.path)) for r in snap.runs]
        live = {r.path for r in runs}
        for path in [p for p in self._cache if p not in live]:
            del self._cache[path]
        runs = self._label(runs)
        runs = self._link(runs)
        if self._label_error:
            errors.append(self._label_error)
        disks: DiskSnapshot | None = None
        if self.disk is not None:
            try:
                disks = self.disk.collect(runs)
            except Exception as e:
                errors.append(f"disk collector failed: {type(e).__name__}: {e}")
        self._shared.clear()  # this poll's listings are stale by the next one
        snap = dataclasses.replace(
            snap,
            runs=tuple(runs),
            gpus=gpus,
            disks=disks,
            errors=tuple(errors),
            jobs=view.unmatched,
        )
        return self._merge_remotes(snap)

    def _jobs(
        self,
        runs: Sequence[RunSnapshot],
        infos: dict[str, ProcessInfo] | None,
        errors: list[str],
    ) -> SlurmView:
        """The Slurm job of each run that is one (collectors.sources.slurm), and happo-top's
        jobs tied to no run; nothing where Slurm is not set up."""
        if self.slurm is None:
            return SlurmView({}, ())
        procs = {path: (i.pid, i.started) for path, i in (infos or {}).items() if i.host is None}
        try:
            view = self.slurm.collect(runs, procs)
        except Exception as e:
            errors.append(f"slurm collector failed: {type(e).__name__}: {e}")
            return SlurmView({}, ())
        if view.error:
            errors.append(view.error)
        return view

    # -- other hosts (collectors.sources.remote) -----------------------------------------------

    def _start_remotes(self, roots: Sequence[str]) -> list[RemoteHost]:
        """One ssh stream per host named in ``roots`` (``host:path``)."""
        s = self.settings
        found = specs(
            roots, s.hosts, remote_command=s.remote_command, ssh_args=s.ssh_args, refresh=s.refresh
        )
        return [RemoteHost(spec, clock=self.clock) for spec in found]

    def wait_for_hosts(self, timeout: float = CONNECT_TIMEOUT + 5) -> None:
        """Until every host sent a snapshot or failed once (``--once``, check, report: one
        answer from each). All hosts connect at once; none waits for another."""
        deadline = time.monotonic() + timeout
        for r in self.remotes:
            r.wait_first(max(0.0, deadline - time.monotonic()))

    def _merge_remotes(self, snap: Snapshot) -> Snapshot:
        """The local snapshot with each host's runs (tagged with the host), its state, GPUs,
        disks and errors (in ``hosts``) and a line in ``errors`` for a host that is not up.
        Never blocks: each host's newest snapshot, however old."""
        if not self.remotes:
            return snap
        # Deferred for start-up time: the host values only when there are hosts.
        from collectors.model.host import CONNECTING

        runs, hosts, errors = list(snap.runs), [], list(snap.errors)
        for remote in self.remotes:
            status, rsnap = remote.latest()
            hosts.append(status)
            line = status.line()
            starting = status.state == CONNECTING and rsnap is None
            if starting and self.clock() - (status.since or 0) < CONNECT_TIMEOUT + 5:
                pass  # a host still connecting for the first time is not an error yet
            elif line is not None:
                errors.append(line)
            else:
                errors += [f"{status.name}: {e}" for e in status.errors]
            if rsnap is not None:
                if line is None:
                    runs += rsnap.runs
                else:  # last known, marked as such
                    note = (
                        f"{line} (data as of {time.strftime('%H:%M', time.localtime(rsnap.time))})"
                    )
                    runs += [dataclasses.replace(r, errors=(*r.errors, note)) for r in rsnap.runs]
        roots = (*snap.roots, *(f"{r.name}:{p}" for r in self.remotes for p in r.spec.roots))
        return dataclasses.replace(
            snap, runs=tuple(runs), hosts=tuple(hosts), errors=tuple(errors), roots=roots
        )

    def _stopped_runs(self) -> set[str]:
        try:
            return set(self.registry.stopped_runs())
        except Exception:
            return set()

    def _run_isolated(
        self,
        r: RunSnapshot,
        infos: dict[str, ProcessInfo] | None,
        stopped: set[str],
        job: JobInfo | None = None,
    ) -> RunSnapshot:
        """:meth:`_run`, and when that raises, the run as its files tell it, with the error:
        one run's odd data never costs the others."""
        try:
            return self._run(r, infos, stopped, job)
        except Exception as e:
            message = internal_error("adding the process and health", e)
            return dataclasses.replace(r, errors=(*r.errors, message))

    def _run(
        self,
        r: RunSnapshot,
        infos: dict[str, ProcessInfo] | None,
        stopped: set[str],
        job: JobInfo | None = None,
    ) -> RunSnapshot:
        """The run with its process, its Slurm job, the state they imply, and its health."""
        info = infos.get(r.path) if infos is not None else None
        state = r.state
        if infos is not None and self.procs is not None:
            try:
                state = self.procs.refine(r, info, r.path in stopped)
            except Exception:
                state = r.state
        if job is not None:  # a job that ended ends the run, as Slurm says (not the files)
            state = refine_by_job(state, r, job, r.path in stopped)
        cached = self._cache.get(r.path)
        if cached and cached[0] is r and cached[1] == (info, job) and cached[2] == state:
            return cached[3]
        changes: dict[str, Any] = {"process": info, "job": job}
        if state != r.state:
            changes["state"] = state
            if state in (CRASHED, STOPPED):
                changes.update(eta=None, ended=r.last_data)
            elif state in (RUNNING, STARTING, STALLED):
                changes["ended"] = None
        try:
            changes.update(self._log(r, info, state))
        except Exception as e:  # the log is a convenience: say so, keep the run
            changes["errors"] = (*r.errors, internal_error("finding the log", e))
        # Deferred for start-up time: the reward analysis (numpy) once there is a run.
        from collectors.analysis.reward import with_trusted_best

        new = with_trusted_best(dataclasses.replace(r, **changes))
        try:
            findings = evaluate(new, self.settings.thresholds, now=self.clock())
        except Exception as e:  # a rule tripping on odd data must not cost the run
            findings = ()
            new = dataclasses.replace(
                new, errors=(*new.errors, internal_error("evaluating the health rules", e))
            )
        new = dataclasses.replace(new, health=tuple(findings))
        self._cache[r.path] = (r, (info, job), state, new)
        return new

    def _log(self, r: RunSnapshot, info: ProcessInfo | None, state: str) -> dict[str, Any]:
        """The run's stdout log (the live process's; the one its process had, remembered by
        the process collector; the launch registry's; ``command.txt``'s redirect; a
        ``nohup.out`` where HARL's working directory was) and, for a run that ended before
        its last step, the line that says why. Files are only stat'ed while nothing changed."""
        # Deferred for start-up time: the process package (psutil) once there is a run.
        from collectors.sources.processes import command_txt_log
        from collectors.sources.processes.logs import LastLines, guess_nohup

        log = info.log if info is not None else None
        if log is None and self.procs is not None:
            log = self.procs.log_of(r.path)
        ended = state in (CRASHED, STOPPED)
        if log is None and ended:
            rec = self.registry.for_run(r.path)
            log = rec.log if rec is not None and rec.log else None
            log = log or command_txt_log(r.path)
            if log is None:
                log_dir = r.config.get("algo_args.logger.log_dir")
                log = guess_nohup(
                    r.path, log_dir if isinstance(log_dir, str) else None, r.last_data
                )
        last = None
        if log is not None and ended:
            if self._last_lines is None:
                self._last_lines = LastLines()
            last = self._last_lines.cause(log)
        return {"log": log, "log_last": last}

    def _link(self, runs: list[RunSnapshot]) -> list[RunSnapshot]:
        """Resumed runs continue their parents (analysis.chains)."""
        if self._chains is None:
            if not runs:
                return runs
            # Deferred for start-up time: the chain linker once there is a run.
            from collectors.analysis.chains import ChainLinker

            self._chains = ChainLinker(self._rescore)
        return self._chains.link(runs)

    def _rescore(self, run: RunSnapshot) -> RunSnapshot:
        """Health again for a run whose state the chain changed (a parent now ``continued``)."""
        try:
            findings = evaluate(run, self.settings.thresholds, now=self.clock())
        except Exception:
            return run
        return dataclasses.replace(run, health=tuple(findings))

    def _label(self, runs: list[RunSnapshot]) -> list[RunSnapshot]:
        """Sibling runs (one experiment) are labelled by the config keys that tell them apart."""
        key = tuple((r.id, id(r.config)) for r in runs)
        if key != self._labels_key:
            # Deferred for start-up time: the config diff once there is a run.
            from collectors.analysis.config_diff import run_labels

            try:
                self._labels = run_labels(runs)
            except Exception as e:  # labels are a convenience: say so, keep the runs
                self._labels = {}
                self._label_error = internal_error("labelling sibling runs", e)
            else:
                self._label_error = None
            self._labels_key = key
        out = []
        for r in runs:
            label = self._labels.get(r.id, "")
            out.append(r if r.label == label else dataclasses.replace(r, label=label))
            if out[-1] is not r:
                cached = self._cache.get(r.path)
                if cached is not None:  # keep returning the same object while nothing changes
                    self._cache[r.path] = (*cached[:3], out[-1])
        return out

    def close(self) -> None:
        for forked in (self._first, self._adopt):
            if forked is not None:
                forked.close()
        self._first = self._adopt = None
        for part in (self._procs, self.gpu, self.disk, self.slurm):
            if part is not None and part is not _UNSET:
                with contextlib.suppress(Exception):
                    part.close()
        self.runs.close()
        for remote in self.remotes:
            with contextlib.suppress(Exception):
                remote.close()


# What a Monitor knows after reading the runs, taken over from the child that made the first
# collect: the runs' readers (offsets, series, checkpoints, listings), the runs with their
# process and health (kept while nothing changes), the disk sizes, the ended runs' last log
# lines. Not the parts that hold a library's handles or live processes (processes, GPUs,
# Slurm, the launch registry), nor the caches keyed by id() (labels, resume chains), which name
# nothing in this process: this process makes those its own at the second collect.
_READING_STATE = ("runs", "_cache", "disk", "_last_lines")


# Up to how many runs the child makes the first collect. Its gain is the first poll beside
# Textual's import; its cost, pickling what it read (and the memory that unpickling leaves
# fragmented). Measured (200x50, bench_tui / the same for more runs): 30 runs, first frame
# 405 against 481 ms; 100 runs, 0.81 against 0.84 s and RSS +8 MiB; 300 runs, 1.94 against
# 1.84 s and +27 MiB. Above this the child declines as soon as it has counted them.
FORK_MAX_RUNS = 64


def fork_first_collect(roots: Sequence[str], settings: Settings) -> ForkedCall | None:
    """The first collect of ``roots``, begun now in a forked child process (see
    :mod:`collectors.forked`): pass it to the :class:`Monitor` of the same roots and settings,
    built after this call. The full-screen monitor calls it before importing Textual, so that
    the first poll runs on another core beside that import and the first paint (30 runs: the
    first frame about a fifth sooner, see the README's benchmarks). None where it does not apply: another host among the roots (the
    child would open ssh connections of its own), or no fork."""
    if not hasattr(os, "fork") or host_roots(roots)[1]:
        return None
    # Deferred for start-up time: pickle and the child's plumbing, for the full-screen monitor.
    from collectors.forked import ForkedCall

    def first() -> tuple[tuple[Any, ...], dict[str, Any]]:  # in the child
        monitor = Monitor(roots, settings)
        monitor.runs.rescan()  # which runs there are (collect() does not scan again at once)
        found = len(monitor.runs.trackers)
        if found > FORK_MAX_RUNS:  # declined: the parent reads them itself, at once
            return (f"{found} runs: more than {FORK_MAX_RUNS}",), {}
        snap = monitor.collect()
        state = {name: getattr(monitor, name) for name in _READING_STATE}
        return (snap, state), monitor._shared_names()

    try:
        return ForkedCall(first)
    except OSError:  # no fork (a limit on processes): the monitor reads everything itself
        return None


def import_run_readers() -> None:
    """Import now what a poll that finds runs imports on first use (numpy, the event reader, the
    checkpoint scanner, the process collector, the health rules, labels and chains). The
    full-screen monitor calls it before Textual: otherwise the first poll's thread imports them
    while the main thread draws the first frame, and the two share one interpreter lock (the
    first paint of 30 runs came 10% later). ``--once`` keeps importing them only when a run is
    there."""
    # Deferred for start-up time: the modules a poll with runs needs, on purpose, here.
    import importlib

    for name in RUN_READERS:
        importlib.import_module(name)
    # Deferred for start-up time: the health rules, the same way.
    from collectors.analysis import health

    health.REGISTRY  # noqa: B018 - the rules, built on first use (PEP 562)


RUN_READERS = (
    "numpy",
    "collectors.analysis.chains",
    "collectors.analysis.config_diff",
    "collectors.analysis.reward",
    "collectors.control.registry",
    "collectors.sources.processes",
    "collectors.sources.runs.checkpoints",
    "collectors.sources.runs.event_reader",
    "collectors.sources.runs.series",
)
