"""Disk: free space of the filesystems that hold runs, run sizes, and what running runs will need.

* Filesystems are the ``st_dev`` groups of the watched roots and run directories; free and total
  space come from one ``statvfs`` per filesystem and poll (free = space available to us, as
  ``df`` shows it).
* Run sizes are kept incrementally (:class:`TreeSizer`): a directory is listed again only when its
  mtime changed (an entry was added or removed); files that changed recently ("hot": event files
  being appended to) are re-``stat``-ed every time, settled files only every few minutes. Runs
  that are not running are refreshed rarely. A directory the run readers already read in this
  poll (the monitor's ``shared`` listings: logs/, models/, checkpoint directories) is taken from
  there, with its files' sizes, at no syscall at all.
* Projection: for each running run, the checkpoints still to come times the size of its last
  checkpoint, plus its log growth (log bytes per step so far times the steps left), summed per
  filesystem and compared with the free space. A filesystem that will not hold it gets a warning.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

from collectors.fmt import nbytes
from collectors.model.disk import DiskSnapshot, Filesystem, RunDiskUsage, SharedListings
from collectors.model.run import RUNNING, STALLED, STARTING, RunSnapshot

HOT_WINDOW = 600.0  # seconds: files modified this recently are re-stat'ed at every refresh
FULL_REFRESH = 300.0  # seconds between re-stats of every file (settled files seldom change)
LIVE_INTERVAL = 10.0  # seconds between size refreshes of a running run
IDLE_INTERVAL = 300.0  # ... of a run that is not running
LIVE_STATES = (STARTING, RUNNING, STALLED)
CHECKPOINT_DIRS = ("models", "checkpoints")


# --------------------------------------------------------------------------- incremental sizes


class _Dir:
    __slots__ = ("files", "mtime_ns", "subdirs")

    def __init__(self, mtime_ns: int) -> None:
        self.mtime_ns = mtime_ns
        self.files: dict[str, tuple[int, float]] = {}  # name -> (size, mtime)
        self.subdirs: tuple[str, ...] = ()


class TreeSizer:
    """Bytes below a directory, per top-level entry, kept up to date cheaply.

    ``sizes()`` returns ``{top-level name: bytes}`` (files directly in the root under ``""``).
    Symlinks are not followed and count as nothing. ``syscalls`` counts stat/scandir calls.
    """

    def __init__(
        self,
        root: str,
        clock: Callable[[], float] = time.time,
        hot_window: float = HOT_WINDOW,
        full_refresh: float = FULL_REFRESH,
        shared: SharedListings | None = None,
    ) -> None:
        self.root = root
        self.shared = shared
        self.clock = clock
        self.hot_window = hot_window
        self.full_refresh = full_refresh
        self._dirs: dict[str, _Dir] = {}
        self._last_full = -1e18
        self.syscalls = 0

    def sizes(self) -> dict[str, int]:
        now = self.clock()
        full = now - self._last_full >= self.full_refresh
        if full:
            self._last_full = now
        out: dict[str, int] = {}
        seen: set[str] = set()
        root_total = self._dir_bytes(self.root, now, full, seen)
        if root_total is None:
            self._dirs.clear()
            return out
        out[""] = root_total
        node = self._dirs[self.root]
        for name in node.subdirs:
            out[name] = self._tree(os.path.join(self.root, name), now, full, seen)
        for path in [p for p in self._dirs if p not in seen]:
            del self._dirs[path]  # deleted directories
        return out

    def total(self) -> int:
        return sum(self.sizes().values())

    def _tree(self, top: str, now: float, full: bool, seen: set[str]) -> int:
        total = 0
        stack = [top]
        while stack:
            d = stack.pop()
            b = self._dir_bytes(d, now, full, seen)
            if b is None:
                continue
            total += b
            # d never ends with a separator (joined below the root): concatenation is the join
            prefix = d + os.sep
            stack.extend([prefix + s for s in self._dirs[d].subdirs])
        return total

    def _dir_bytes(self, d: str, now: float, full: bool, seen: set[str]) -> int | None:
        """Bytes of the files directly in ``d`` (None: gone or unreadable)."""
        read = self.shared.get(d) if self.shared is not None else None
        if read is not None:  # listed, and its files stat'ed, in this very poll
            mtime_ns, real, files = read
            node = self._dirs.get(d)
            if node is None or node.mtime_ns != mtime_ns:
                node = self._dirs[d] = _Dir(mtime_ns)
            node.subdirs = real
            node.files = files  # the poll's own dict: the shared entry is dropped after sizing
            seen.add(d)
            return sum([v[0] for v in files.values()])  # a list: faster than a generator
        try:
            st = os.stat(d)
        except OSError:
            return None
        finally:
            self.syscalls += 1
        node = self._dirs.get(d)
        if node is None or node.mtime_ns != st.st_mtime_ns:
            node = _Dir(st.st_mtime_ns)
            subdirs = []
            try:
                self.syscalls += 1
                with os.scandir(d) as it:
                    for e in it:
                        try:
                            if e.is_dir(follow_symlinks=False):
                                subdirs.append(e.name)
                            elif e.is_file(follow_symlinks=False):
                                fst = e.stat(follow_symlinks=False)
                                self.syscalls += 1
                                node.files[e.name] = (fst.st_size, fst.st_mtime)
                        except OSError:
                            continue
            except OSError:
                return None
            node.subdirs = tuple(sorted(subdirs))
            self._dirs[d] = node
        else:
            for name, (_, mtime) in list(node.files.items()):
                if not full and now - mtime >= self.hot_window:
                    continue  # settled
                try:
                    fst = os.stat(os.path.join(d, name))
                    node.files[name] = (fst.st_size, fst.st_mtime)
                except FileNotFoundError:
                    del node.files[name]
                except OSError:
                    pass
                finally:
                    self.syscalls += 1
        seen.add(d)
        return sum([v[0] for v in node.files.values()])


# --------------------------------------------------------------------------- projection


def save_interval(run: RunSnapshot) -> int | None:
    """Steps between two checkpoints: from the checkpoints seen, else from the config."""
    # Deferred for start-up time: the run config's helpers once there is a run.
    from collectors.model.run_config import LAYOUT_B_SAVE_STEPS
    from collectors.model.run_config import as_int as _int

    steps = sorted({c.step for c in run.checkpoints if c.step > 0})
    tail = steps[-5:]
    diffs = [b - a for a, b in zip(tail, tail[1:], strict=False) if b > a]
    if diffs:
        # Deferred for start-up time: statistics (with decimal and fractions, ~5 ms) for the
        # first run with checkpoints.
        import statistics

        return int(statistics.median(diffs))
    if run.layout == "B":
        return LAYOUT_B_SAVE_STEPS
    ei = _int(run.config.get("algo_args.train.eval_interval"))
    el = _int(run.config.get("algo_args.train.episode_length"))
    nr = _int(run.config.get("algo_args.train.n_rollout_threads"))
    return ei * el * nr if ei and el and nr else None


def project_run(run: RunSnapshot, logs_bytes: int) -> tuple[int | None, int | None]:
    """(bytes the run will still write, checkpoints still to come); (None, None) if not running
    or not known."""
    if run.state not in LIVE_STATES or not run.total_steps:
        return None, None
    total = run.total_steps
    remaining = max(total - run.step, 0)
    log_growth = logs_bytes / run.step * remaining if run.step > 0 else None
    if run.layout == "U":  # one set of files, overwritten in place
        return (None if log_growth is None else int(log_growth)), 0
    cps = sorted((c for c in run.checkpoints if c.step >= 0), key=lambda c: c.step)
    interval = save_interval(run)
    left = None
    if interval:
        last = cps[-1].step if cps else 0
        left = max(0, total // interval - last // interval)
        if run.layout == "B" and total % interval:
            left += 1  # the final save after the loop
    sized = [c for c in cps if c.complete] or cps
    size = sized[-1].bytes if sized else None
    ckpt = left * size if left is not None and size is not None else None
    if ckpt is None and log_growth is None:
        return None, left
    return int((ckpt or 0) + (log_growth or 0)), left


# --------------------------------------------------------------------------- the collector


class DiskCollector:
    """Filesystems of the roots and runs, run sizes, and the space the running runs will need."""

    def __init__(
        self,
        roots: Sequence[str] = (),
        clock: Callable[[], float] = time.time,
        live_interval: float = LIVE_INTERVAL,
        idle_interval: float = IDLE_INTERVAL,
        shared: SharedListings | None = None,
    ) -> None:
        self.roots = [os.path.abspath(r) for r in roots]
        self.clock = clock
        self.live_interval = live_interval
        self.idle_interval = idle_interval
        self.shared = shared
        self._sizers: dict[str, TreeSizer] = {}
        self._sized: dict[str, tuple[float, dict[str, int], int | None]] = {}
        self._mounts: dict[int, str] = {}

    def collect(self, runs: Sequence[RunSnapshot] = ()) -> DiskSnapshot:
        now = self.clock()
        errors: list[str] = []
        devices: dict[int, str] = {}  # device -> a path on it
        roots_on: dict[int, list[str]] = {}
        for r in self.roots:
            try:
                dev = os.stat(r).st_dev
            except OSError as e:
                errors.append(f"{r}: {e.strerror or e}")
                continue
            devices.setdefault(dev, r)
            roots_on.setdefault(dev, []).append(r)
        usages: dict[str, RunDiskUsage] = {}
        stale = set(self._sizers)
        for run in runs:
            usage = self._run_usage(run, now)
            stale.discard(run.path)
            if usage is None:
                continue
            usages[run.path] = usage
            if usage.device is not None:
                devices.setdefault(usage.device, run.path)
        for path in stale:  # runs that went away
            self._sizers.pop(path, None)
            self._sized.pop(path, None)
        fss = []
        for dev, path in devices.items():
            try:
                vfs = os.statvfs(path)
            except OSError as e:
                errors.append(f"{path}: {e.strerror or e}")
                continue
            total = vfs.f_blocks * vfs.f_frsize
            free = vfs.f_bavail * vfs.f_frsize
            used = (vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize
            on = [u for u in usages.values() if u.device == dev]
            running = [u for u in on if u.projected is not None]
            projected = sum(u.projected or 0 for u in running)
            mount = self._mount(dev, path)
            warning = None
            if projected > free:
                warning = (
                    f"{mount}: running runs will write about {nbytes(projected)} more, "
                    f"but only {nbytes(free)} is free"
                )
            fss.append(
                Filesystem(
                    dev,
                    mount,
                    total,
                    free,
                    used,
                    tuple(roots_on.get(dev, ())),
                    len(on),
                    len(running),
                    projected,
                    warning,
                )
            )
        fss.sort(key=lambda f: f.mount)
        return DiskSnapshot(tuple(fss), usages, tuple(errors), now)

    def _run_usage(self, run: RunSnapshot, now: float) -> RunDiskUsage | None:
        live = run.state in LIVE_STATES
        cached = self._sized.get(run.path)
        every = self.live_interval if live else self.idle_interval
        if cached is None or now - cached[0] >= every:
            sizer = self._sizers.get(run.path)
            if sizer is None:
                sizer = self._sizers[run.path] = TreeSizer(run.path, self.clock, shared=self.shared)
            sizes = sizer.sizes()
            if not sizes:
                self._sized.pop(run.path, None)
                return None
            try:
                dev: int | None = os.stat(run.path).st_dev
            except OSError:
                dev = None
            cached = (now, sizes, dev)
            self._sized[run.path] = cached
        _, sizes, dev = cached
        logs = sizes.get("logs", 0)
        ckpt = sum(sizes.get(d, 0) for d in CHECKPOINT_DIRS)
        other = sum(v for k, v in sizes.items() if k != "logs" and k not in CHECKPOINT_DIRS)
        projected, left = project_run(run, logs)
        return RunDiskUsage(run.path, run.id, logs, ckpt, other, dev, projected, left)

    def _mount(self, dev: int, path: str) -> str:
        """The mount point: the highest directory above ``path`` on the same device."""
        m = self._mounts.get(dev)
        if m is not None:
            return m
        cur = os.path.abspath(path)
        while True:
            parent = os.path.dirname(cur)
            if parent == cur:
                break
            try:
                if os.stat(parent).st_dev != dev:
                    break
            except OSError:
                break
            cur = parent
        self._mounts[dev] = cur
        return cur

    def close(self) -> None:
        self._sizers.clear()
        self._sized.clear()
