"""Runs: one :class:`RunTracker` per run directory, and the :class:`RunsCollector` over all roots.

A tracker owns the run's event readers, series, config and checkpoints, polls them incrementally,
and turns them into an immutable :class:`~collectors.model.RunSnapshot`: progress, speed from the
event wall times, ETA, and the state as far as files can tell.

The event reader and numpy are imported when the first run is found (``import`` inside the
methods that use them): a root without runs, or ``--help``, never pays for them.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from collectors.model.disk import SharedListings
from collectors.model.run import (
    CRASHED,
    FINISHED,
    RUNNING,
    STALLED,
    STARTING,
    Checkpoint,
    Reward,
    RunSnapshot,
    ScalarLatest,
    Snapshot,
    internal_error,
    pick_reward_tag,
    text_value,
)
from collectors.model.settings import Settings
from collectors.sources.runs.discovery import Discovery

if TYPE_CHECKING:
    import numpy as np

    from collectors.model.run_config import RunConfig
    from collectors.sources.runs.event_reader import EventFileReader
    from collectors.sources.runs.notify import Notifier, RunWatch
    from collectors.sources.runs.series import ScalarSeries

SPEED_WINDOW = 1800.0  # seconds of recent wall time the speed is measured over
LOG_TREE_RESCAN = 10.0  # seconds between walks of a run's logs/ tree for new event files
FINISHED_QUIET = 60.0  # a finished run silent this long has its files polled with the walks only
DEAD_FACTOR = 3.0  # silent for this many stall periods: presumed dead (files only)
HEADER_SLACK = 5.0  # a header wall time this close to the file name's epoch is the same moment
COPY_SPREAD = 2.0  # checkpoint mtimes all within this many seconds: the run was copied
LOG_TREE_DEPTH = 6  # levels below logs/ searched for event files (tensorboardX nests 4)


def run_id(path: str) -> str:
    # Deferred for start-up time: hashlib (OpenSSL) once there is a run.
    import hashlib

    # fsencode: a directory name that is not UTF-8 (surrogate-escaped) has an id too
    return hashlib.sha1(os.fsencode(os.path.abspath(path))).hexdigest()[:8]


def steps_per_hour(
    steps: np.ndarray, wall: np.ndarray, window: float = SPEED_WINDOW
) -> float | None:
    """Recent speed from event wall times (not file mtimes, which move in 120 s bursts).

    Uses the points of the last ``window`` seconds, at least the last few points.
    """
    n = len(steps)
    if n < 2:
        return None
    import numpy as np  # deferred for start-up time (see the module's docstring)

    lo = int(np.searchsorted(wall, wall[-1] - window, side="left"))
    lo = min(lo, n - 4) if n >= 4 else 0
    lo = max(lo, 0)
    ds = float(steps[-1]) - float(steps[lo])  # floats: int64 -1 .. 2**63-1 would overflow
    dt = float(wall[-1] - wall[lo])
    if ds <= 0 or dt <= 0:
        return None
    return ds / dt * 3600.0


class RunTracker:
    """Everything known about one run directory, kept up to date incrementally."""

    def __init__(
        self,
        path: str,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        shared: SharedListings | None = None,
        notifier: Notifier | None = None,
    ):
        # Deferred for start-up time (see the module's docstring).
        from collectors.model.run_config import RunConfig
        from collectors.model.run_dir import dir_stamp, parse_run_dir_name
        from collectors.sources.runs.checkpoints import CheckpointScanner
        from collectors.sources.runs.fscache import DirCache

        self.path = os.path.abspath(path)
        # change notification (notify.py): a run in whose directories nothing happened is not
        # read at all; None: every poll looks at every file, as it must without it
        self.watch: RunWatch | None = notifier.watcher() if notifier is not None else None
        self._log_dirs: tuple[str, ...] = ()  # the directories of logs/ the last walk listed
        self._linked: set[str] = set()  # event files that are symlinks (written to elsewhere)
        self.id = run_id(self.path)
        self.settings = settings
        self.clock = clock
        self.cache = DirCache(shared)  # shared: the directories read this poll, for disk sizing
        self.config = RunConfig()
        self.readers: dict[str, EventFileReader] = {}  # event file path -> reader
        self.series: dict[str, ScalarSeries] = {}
        self._tag_dirs: dict[str, str] = {}  # series key -> directory it comes from
        self._file_keys: dict[str, dict[str, str]] = {}  # file -> in-file tag -> series key
        self._logs_walked = -1e18
        self._start_unset = True  # _update_start has not run yet
        self._files_polled = False  # this poll looked at the event files
        self._config_path = os.path.join(self.path, "config.json")
        self._summary_path = os.path.join(self.path, "logs", "summary.json")
        self._models_path = os.path.join(self.path, "models")
        self._scan_key: tuple[RunConfig, int] | None = None
        self._scan_for: tuple[bool | None, int] = (None, 1)
        self._logs_mtime = -1
        self._errors: dict[str, str] = {}  # source -> message (one per source)
        self.checkpoints = CheckpointScanner(self.path, self.cache, clock)
        parsed = parse_run_dir_name(os.path.basename(self.path))
        self.seed_from_name: int | None = parsed[0] if parsed else None
        self.dir_started: float | None = parsed[1] if parsed else None  # viewer's zone: fallback
        self.dir_stamp = dir_stamp(os.path.basename(self.path))
        self.started: float | None = self.dir_started
        self.utc_offset: int | None = None
        self._headers: dict[str, float] = {}  # main event file -> its header's wall time
        self._header_tried: dict[str, int] = {}  # main event file -> its size when last tried
        self._epochs: dict[str, float] = {}  # event file -> the epoch in its name
        self._dated_key: Any = None  # what the dated checkpoints were computed from
        self._dated: tuple[Checkpoint, ...] = ()
        self.last_change = clock()  # when new data was last seen (our clock)
        self.points_purged = 0
        self._snapshot: RunSnapshot | None = None
        self._dirty = True
        self.finished_file = False
        self._config_for: RunConfig | None = None
        self._config_proxy: Mapping[str, Any] = MappingProxyType({})
        self.reading = self.path  # what poll() is reading: named when it fails (isolation)

    # -- polling ---------------------------------------------------------------------------------

    def poll(self) -> RunSnapshot:
        """Read whatever changed and return the run's snapshot (the same object if nothing did)."""
        now = self.clock()
        watch, snap = self.watch, self._snapshot
        if watch is not None and snap is not None and not watch.due(now, self._pending()):
            self._snapshot = self._with_state(snap, now)  # nothing happened on disk
            return self._snapshot
        snap = self._read(now)
        if watch is not None:
            watch.ensure(self._watched_dirs(snap))
        return snap

    def _pending(self) -> bool:
        """Something no event in the run's directories announces: a checkpoint still settling
        (judged once its files have been quiet for a while), the start time not yet found, an
        event file read only in part (MAX_READ_PER_POLL: the rest is on disk already), or one
        that is a symlink (written through its target, in another directory)."""
        return (
            self._start_unset
            or bool(self._linked)
            or self.checkpoints.waits_on_time()
            or any(r.behind for r in self.readers.values())
        )

    def _watched_dirs(self, snap: RunSnapshot) -> list[str]:
        """What change notification watches: the run directory (config.json, logs/ and models/
        coming), every directory of logs/ the walk listed, models/ and checkpoints/, and the
        newest checkpoint's directory (its files are still being written)."""
        dirs = [
            self.path,
            *self._log_dirs,
            self._models_path,
            os.path.join(self.path, "checkpoints"),
        ]
        if snap.checkpoints:
            dirs.append(snap.checkpoints[-1].path)
        return dirs

    def _read(self, now: float) -> RunSnapshot:
        # Deferred for start-up time (see the module's docstring).
        from collectors.sources.runs.config_file import load_config

        self.cache.fresh.clear()  # a stat from an earlier poll is stale
        self.reading = self._config_path
        cfg = load_config(self.reading, self.config)
        if cfg is not self.config:
            self.config = cfg
            self._dirty = True
            self._set_error("config", cfg.error)
        self._files_polled = False
        changed = self._poll_logs(now)
        if changed:
            self.last_change = now
            self._dirty = True
        fin = os.path.exists(self._summary_path)
        if fin != self.finished_file:
            self.finished_file = fin
            self._dirty = True
            self._report_cut_tails()
        elif self._files_polled:
            self._report_cut_tails()
        self.reading = self._models_path  # and checkpoints/
        cps = self._scan_checkpoints()
        self.reading = self.path
        snap = self._snapshot
        if snap is None or self._dirty or cps != snap.checkpoints:
            snap = self._build(now, cps)
            self._dirty = False
        else:
            snap = self._with_state(snap, now)
        self._snapshot = snap
        return snap

    def _set_error(self, source: str, message: str | None) -> None:
        if message:
            if self._errors.get(source) != message:
                self._errors[source] = message
                self._dirty = True
        elif source in self._errors:
            del self._errors[source]
            self._dirty = True

    def _report_cut_tails(self) -> None:
        """A finished run's event file that ends inside a record will never be completed: say
        so (while the run is live, a cut-off tail is a record still being written)."""
        for path, reader in self.readers.items():
            if self.finished_file and reader.tail_bytes and not reader.error:
                self._set_error(
                    f"{path}#tail",
                    f"{path}: ends inside a record ({reader.tail_bytes} bytes at byte "
                    f"{reader.offset} not read; the run has finished)",
                )
            else:
                self._set_error(f"{path}#tail", None)

    def _poll_logs(self, now: float) -> bool:
        # Deferred for start-up time (see the module's docstring).
        from collectors.sources.runs import event_reader

        logs = os.path.join(self.path, "logs")
        try:
            st = os.stat(logs)
        except FileNotFoundError:
            return False
        except OSError as e:
            self._set_error("logs", f"{logs}: {e.strerror or e}")
            return False
        touched = False  # readers added or gone, or a file that grew: the start may move
        walked = st.st_mtime_ns != self._logs_mtime or now - self._logs_walked >= LOG_TREE_RESCAN
        if walked:
            self._logs_mtime = st.st_mtime_ns
            self._logs_walked = now
            before = set(self.readers)
            self._walk_logs(logs)
            if set(self.readers) != before:
                self._dirty = True
                touched = True
        elif self.finished_file and now - self.last_change >= FINISHED_QUIET:
            # A finished run (summary.json written) silent for a minute: its event files are
            # looked at when its logs/ tree is, every LOG_TREE_RESCAN seconds or when logs/
            # changes, not at every poll (an idle poll of 300 such runs is 4,000 stats less).
            return False
        self._files_polled = True
        changed = False
        fresh = self.cache.fresh  # the walk just stat'ed these regular files: no second stat
        for path in list(self.readers):
            reader = self.readers[path]
            self.reading = path
            try:
                batch = reader.poll(fresh.pop(path, None))
            except FileNotFoundError:
                del self.readers[path]  # deleted (the series keep what was read)
                self._set_error(path, None)
                touched = True
                continue
            except OSError as e:
                self._set_error(path, f"{path}: {e.strerror or e}")
                continue
            except Exception as e:  # a reader bug on odd bytes costs this file only
                self._set_error(path, f"{path}: {internal_error('reading it', e)}")
                continue
            self._set_error(path, reader.error)
            if batch is None:
                continue
            touched = True
            if not batch.series:
                continue
            keys = self._file_keys.setdefault(path, {})
            renamed = {}
            for tag, data in batch.series.items():
                key = keys.get(tag)
                if key is None:
                    key = keys[tag] = self._series_key(tag, os.path.dirname(path))
                renamed[key] = data
            batch.series = renamed
            self.points_purged += event_reader.merge_batch(self.series, batch)
            changed = True
        if (touched or self._start_unset) and self._update_start():
            self._dirty = True
        self._start_unset = False
        return changed

    def _update_start(self) -> bool:
        """The true start instant and the host's UTC offset from the event files; True when
        either changed.

        The main file ``logs/events.out.tfevents.<unix seconds>.<host>`` is created by HARL's
        ``init_dir`` (harl/utils/configs_tools.py) right after it names the directory after
        ``time.localtime()``: its name's epoch, refined by its header record's wall time, is the
        start. Without a main file the earliest per-key file (created at the first log call) is
        an upper bound, used through the directory stamp when they give a whole UTC offset.
        Only without any event file does the directory stamp, read in the viewer's zone, stand
        in (``utc_offset`` None: unknown)."""
        # Deferred for start-up time (see the module's docstring).
        from collectors.model.run_dir import utc_offset_from
        from collectors.sources.runs.event_reader import (
            HEADER_BYTES,
            event_file_order,
            header_wall_time,
        )

        logs = os.path.join(self.path, "logs")
        mains: list[float] = []
        others: list[float] = []
        for path, reader in self.readers.items():
            epoch = self._epochs.get(path)
            if epoch is None:
                epoch = self._epochs[path] = float(event_file_order(os.path.basename(path))[0])
            if os.path.dirname(path) != logs:
                others.append(epoch)
                continue
            hdr = self._headers.get(path)
            if hdr is None and self._header_tried.get(path) != reader.size:
                self._header_tried[path] = reader.size  # retried only when the file grows
                # (not opened while the poll's stat says it cannot hold a header: HARL's
                # main file stays 0 bytes until the writer closes)
                hdr = header_wall_time(path) if reader.size >= HEADER_BYTES else None
                if hdr is not None:
                    self._headers[path] = hdr
            mains.append(hdr if hdr is not None and abs(hdr - epoch) <= HEADER_SLACK else epoch)
        # No event is older than the run: the earliest logged point bounds the start too (it
        # matters only when a writer's file name and its events disagree).
        first = min((s.wall0 for s in self.series.values() if len(s)), default=None)
        started, offset = self.dir_started, None
        if mains:
            started = min(mains) if first is None else min(*mains, first)
            offset = utc_offset_from(self.dir_stamp, started)
        elif others:
            first = min(others) if first is None else min(*others, first)
            offset = utc_offset_from(self.dir_stamp, first)
            if offset is not None and self.dir_stamp is not None:
                started = min(self.dir_stamp - offset, first)
            else:
                started = first if self.dir_started is None else min(self.dir_started, first)
        if (started, offset) == (self.started, self.utc_offset):
            return False
        self.started, self.utc_offset = started, offset
        return True

    def _series_key(self, tag: str, directory: str) -> str:
        """The in-file tag, unless another directory already owns it (then ``tag@subdir``).

        A clash is reported. The directory that tensorboardX's ``add_scalars(tag, {tag: v})``
        (HARL's way: ``logs/<tag>/<tag>/``, tensorboardX ``SummaryWriter.add_scalars`` joins
        logdir, main_tag and tag) writes the tag to wins the plain key even when another
        directory was read first; the other's series moves to ``tag@subdir``."""
        owner = self._tag_dirs.setdefault(tag, directory)
        if owner == directory:
            return tag
        logs = os.path.join(self.path, "logs")
        if _writes_tag(logs, directory, tag) and not _writes_tag(logs, owner, tag):
            moved = f"{tag}@{os.path.relpath(owner, logs)}"
            if tag in self.series:
                self.series[moved] = self.series.pop(tag)
            for f, keys in self._file_keys.items():
                if os.path.dirname(f) == owner and keys.get(tag) == tag:
                    keys[tag] = moved
            self._tag_dirs[moved] = owner
            self._tag_dirs[tag] = directory
            owner, directory = directory, owner
            key = tag
        else:
            key = f"{tag}@{os.path.relpath(directory, logs)}"
            self._tag_dirs.setdefault(key, directory)
        self._set_error(
            f"clash:{tag}",
            f"{logs}: tag '{tag}' is written by {os.path.relpath(owner, logs)} and "
            f"{os.path.relpath(directory, logs)}; shown as '{tag}' from "
            f"{os.path.relpath(self._tag_dirs[tag], logs)}, the other as 'tag@dir'",
        )
        return key

    def _walk_logs(self, logs: str) -> None:
        """Find event files below logs/ (tensorboardX nests each add_scalars key 4 deep)."""
        # Deferred for start-up time (see the module's docstring).
        from collectors.sources.runs.event_reader import (
            EVENT_FILE_RE,
            EventFileReader,
            event_file_order,
        )

        found: list[tuple[str, tuple[int, str]]] = []
        too_deep: list[str] = []
        listed: list[str] = []
        stack = [(logs, 0)]
        while stack:
            d, depth = stack.pop()
            try:
                listing = self.cache.list(d)
            except FileNotFoundError:
                self.cache.forget(d)
                continue
            except OSError as e:
                self._set_error(d, f"{d}: {e.strerror or e}")
                continue
            self._set_error(d, None)
            listed.append(d)
            prefix = d + os.sep  # d never ends with one (logs/ and names below it): the join
            for f in listing.files:
                if EVENT_FILE_RE.match(f):
                    found.append((prefix + f, event_file_order(f)))
            links = listing.links
            subdirs = [s for s in listing.dirs if s not in links] if links else listing.dirs
            if depth < LOG_TREE_DEPTH:
                stack.extend([(prefix + s, depth + 1) for s in subdirs])
            elif subdirs:
                too_deep.append(os.path.join(d, subdirs[0]))
        self._set_error(
            "logs-depth",
            f"{logs}: directories deeper than {LOG_TREE_DEPTH} levels are not searched for "
            f"event files (e.g. {too_deep[0]})"
            if too_deep
            else None,
        )
        self._log_dirs = tuple(listed)
        # Files of one directory in creation order, so a restarted writer's data comes last.
        found.sort(key=lambda x: (os.path.dirname(x[0]), x[1]))
        ordered = {}
        for path, _ in found:
            reader = self.readers.get(path)
            if reader is None:
                reader = EventFileReader(path, self.settings.verify_crc)
                # written through elsewhere: no event in logs/ (in cache.fresh: the walk's
                # lstat found a regular file, no second call)
                if path not in self.cache.fresh and os.path.islink(path):
                    self._linked.add(path)
            ordered[path] = reader
        self.readers = ordered
        self._linked.intersection_update(ordered)

    def _scan_args(self) -> tuple[bool | None, int]:
        """What a HARL save holds: the value normaliser or not, and how many actors; kept until
        the config or the set of tags changes (every poll asks)."""
        key = (self.config, len(self.series))
        if key != self._scan_key:
            valuenorm = self.config.get("use_valuenorm")
            agents = len({t.split("/", 1)[0] for t in self.series if t.startswith("agent")}) or 1
            self._scan_key = key
            self._scan_for = (valuenorm if isinstance(valuenorm, bool) else None, agents)
        return self._scan_for

    def _scan_checkpoints(self) -> tuple[Checkpoint, ...]:
        cps = self.checkpoints.scan(*self._scan_args())
        if cps and cps[-1].step == -1:  # layout U: the step of the last save, from the cadence
            every = self.config.save_every_steps("U")
            step = self.latest_step()
            est = (step // every) * every if every and step > 0 else 0
            cps = (dataclasses.replace(cps[-1], step=est),)
        return self._date_checkpoints(cps)

    def _date_checkpoints(self, cps: tuple[Checkpoint, ...]) -> tuple[Checkpoint, ...]:
        """Checkpoint times from the events: HARL logs and saves in the same update
        (harl/runners/on_policy_base_runner.py, ``OnPolicyBaseRunner.run``: ``episode_log`` when
        ``episode % log_interval == 0``, then ``save()`` when ``episode % eval_interval == 0``,
        both at ``total_num_steps = episode * episode_length * n_rollout_threads``), so the wall
        time logged at a checkpoint's step is its save time, and it survives a copy. Layout B
        saves inside the rollout that crosses each 10M steps, just before that rollout's update
        and log (heterogeneous-MAPush harl_mapush/runners/mapush_happo_runner.py,
        ``MAPushHAPPORunner.run``): there the event time is later by one update's training. A step
        between two log points gets the time interpolated between them. Beyond the last event
        (or without events) the files' mtime stands, unless every checkpoint has the same mtime
        (a copy): then the last event's time plus the steps left at the run's average speed."""
        clock = self._clock_series()
        if not cps or clock is None or len(clock) == 0:
            return cps
        # the series itself, not its id(): compared by identity all the same, and still right
        # when the tracker is pickled (the first collect's child hands its readers over)
        key = (cps, clock, len(clock), clock.last_step, self.started)
        if key == self._dated_key:
            return self._dated  # the same files and the same events: the same times
        import numpy as np  # deferred for start-up time (see the module's docstring)

        v = clock.view()
        steps, wall = v.steps, v.wall
        last_step, last_wall = int(steps[-1]), float(wall[-1])
        if self.started is not None and self.started <= wall[0] and steps[0] > 0:
            steps = np.concatenate([[0], steps])  # before the first log point: from the start
            wall = np.concatenate([[self.started], wall])
        mtimes = [c.time for c in cps]
        copied = len(cps) >= 2 and max(mtimes) - min(mtimes) <= COPY_SPREAD
        at = np.interp(np.array([c.step for c in cps], np.float64), steps, wall)
        out = []
        for c, t_event in zip(cps, at.tolist(), strict=True):
            if 0 < c.step <= last_step:  # the constructor: dataclasses.replace costs 3x more
                out.append(Checkpoint(c.step, t_event, c.bytes, c.complete, c.path, "event"))
            elif c.step > last_step and copied:
                t0 = self.started if self.started is not None else float(wall[0])
                rate = (last_step / (last_wall - t0)) if last_wall > t0 and last_step else None
                t = last_wall + (c.step - last_step) / rate if rate else last_wall
                out.append(dataclasses.replace(c, time=t, time_from="estimate"))
            else:
                out.append(c)
        self._dated_key, self._dated = key, tuple(out)
        return self._dated

    # -- derived ---------------------------------------------------------------------------------

    def latest_step(self) -> int:
        return max((s.last_step for s in self.series.values() if len(s)), default=0)

    @property
    def layout(self) -> str:
        hint = self.checkpoints.layout_hint
        if hint in ("B", "O"):
            return hint
        if os.path.exists(os.path.join(self.path, "command.txt")):
            return "B"
        return hint or "?"

    def _clock_series(self) -> ScalarSeries | None:
        """The series that best tracks progress: the reward if any, else the longest."""
        tag = pick_reward_tag(self.series)
        if tag and len(self.series[tag]) >= 2:
            return self.series[tag]
        return max(self.series.values(), key=len, default=None)

    def stall_after(self, sph: float | None) -> float:
        """Seconds of silence before a run is stalled: several flushes, several log periods."""
        base = self.settings.stall_timeout
        every = self.config.log_every_steps
        if sph and every:
            base = max(base, 3.0 * every / sph * 3600.0 + self.settings.flush_secs)
        return base

    def _state(self, now: float, step: int, last_data: float | None, stall: float) -> str:
        if self.finished_file:
            return FINISHED
        last = self.config.last_log_step
        if last and step >= last:
            return FINISHED
        # Silence is measured on the trainer's own event times: the stall period already allows
        # for tensorboardX delivering them up to a flush period late.
        if last_data is None:
            silent = now - (self.started if self.started is not None else self.last_change)
            if silent < stall:
                return STARTING
        else:
            silent = now - last_data
            if silent < stall:
                return RUNNING
        return STALLED if silent < DEAD_FACTOR * stall else CRASHED

    def _with_state(self, snap: RunSnapshot, now: float) -> RunSnapshot:
        """The snapshot with its time-dependent fields (state, ETA, end) brought up to ``now``."""
        state = self._state(now, snap.step, snap.last_data, snap.stall_after)
        if state == snap.state:
            return snap
        ended = self._end(snap.last_data) if state not in (RUNNING, STARTING, STALLED) else None
        return dataclasses.replace(snap, state=state, eta=self._eta(state, snap), ended=ended)

    def _end(self, last_data: float | None) -> float | None:
        """The end of a run that is over: its last event, never before its start."""
        if last_data is None or self.started is None:
            return last_data
        return max(last_data, self.started)

    def _eta(self, state: str, snap: RunSnapshot) -> float | None:
        """When the run will reach its last step at its recent speed; None unless it is moving
        (a stalled run has no ETA: its old one would lie in the past)."""
        if state not in (RUNNING, STARTING) or not snap.steps_per_hour:
            return None
        if snap.total_steps is None or snap.last_data is None:
            return None
        left = max(snap.total_steps - snap.step, 0)
        return snap.last_data + left / snap.steps_per_hour * 3600.0

    def name(self) -> str:
        aliases = self.settings.aliases
        for key in (self.path, self.id):
            if key in aliases:
                return aliases[key]
        exp = text_value(self.config.exp_name) or os.path.basename(os.path.dirname(self.path))
        exp = exp or "run"
        seed = self.config.seed if self.config.seed is not None else self.seed_from_name
        # The directory's own stamp (the run's local time), so the name never depends on the
        # viewer's zone.
        stamp = self.dir_stamp
        when = time.strftime("%m-%d %H:%M", time.gmtime(stamp)) if stamp is not None else "?"
        return f"{exp} s{seed} {when}"

    def _build(self, now: float, cps: tuple[Checkpoint, ...]) -> RunSnapshot:
        cfg = self.config
        step = self.latest_step()
        last_data = max((s.last_wall for s in self.series.values() if len(s)), default=None)
        total = cfg.num_env_steps
        views = {tag: s.view() for tag, s in self.series.items() if len(s)}
        scalars = {
            tag: ScalarLatest(
                s.last_step, s.last_value, s.offered, s.nonfinite, s.first_nonfinite_step
            )
            for tag, s in self.series.items()
            if len(s)
        }

        clock = self._clock_series()
        sph = None
        if clock is not None and len(clock) >= 2:
            v = clock.view()
            sph = steps_per_hour(v.steps, v.wall)
        stall = self.stall_after(sph)
        state = self._state(now, step, last_data, stall)
        if state == FINISHED and clock is not None and len(clock) >= 2:
            # A finished run: its average over the whole run (the seed's "Training Speed").
            v = clock.view()
            t0 = self.started if self.started and self.started <= v.wall[0] else None
            if t0 is not None and step > 0:
                sph = step / max(float(v.wall[-1]) - t0, 1e-9) * 3600.0
            else:
                sph = steps_per_hour(v.steps, v.wall, window=float("inf"))

        reward = None
        rtag = pick_reward_tag(views)
        if rtag:
            import numpy as np  # deferred for start-up time (see the module's docstring)

            rv = views[rtag]
            finite = np.isfinite(rv.values)
            if finite.any():
                i = int(np.argmax(np.where(finite, rv.values, -np.inf)))
                last = self.series[rtag].last_value
                reward = Reward(rtag, last, float(rv.values[i]), int(rv.steps[i]))
        progress = None
        if total:
            progress = 1.0 if state == FINISHED and self.finished_file else min(step / total, 1.0)
        errors = tuple(self._errors.values())
        snap = RunSnapshot(
            id=self.id,
            path=self.path,
            name=self.name(),
            layout=self.layout,
            algo=text_value(cfg.algo) or _from_path(self.path, 2) or "?",
            env=text_value(cfg.env) or _from_path(self.path, 4) or "?",
            task=text_value(cfg.task) or _from_path(self.path, 3) or "?",
            exp_name=text_value(cfg.exp_name) or _from_path(self.path, 1) or "?",
            seed=cfg.seed if cfg.seed is not None else self.seed_from_name,
            started=self.started,
            state=state,
            step=step,
            total_steps=total,
            progress=progress,
            steps_per_hour=sph,
            eta=None,
            last_data=last_data,
            ended=self._end(last_data) if state not in (RUNNING, STARTING, STALLED) else None,
            reward=reward,
            checkpoints=cps,
            scalars=scalars,
            config=self._config_view(),
            stall_after=stall,
            errors=errors,
            utc_offset=self.utc_offset,
            series=views,
        )
        return dataclasses.replace(snap, eta=self._eta(state, snap))

    def memory_bytes(self) -> int:
        return sum(s.nbytes for s in self.series.values())

    def _config_view(self) -> Mapping[str, Any]:
        """A read-only view of the flat config, the same object while config.json is unchanged."""
        if self._config_for is not self.config:
            self._config_for = self.config
            self._config_proxy = MappingProxyType(dict(self.config.flat))
        return self._config_proxy


def _writes_tag(logs: str, directory: str, tag: str) -> bool:
    """Whether ``directory`` is where ``add_scalars(tag, {tag: v})`` writes ``tag``."""
    return os.path.relpath(directory, logs) == os.path.normpath(os.path.join(tag, tag))


def _poll_isolated(tracker: RunTracker, now: float) -> RunSnapshot:
    """The run's snapshot; when reading it raises anything, the last good snapshot (or a bare
    one) with an error naming the file being read and the problem. Never raises: one bad file
    costs its own run, never the others."""
    try:
        return tracker.poll()
    except Exception as e:
        message = f"{tracker.reading}: {internal_error('reading it', e)}"
        prev = tracker._snapshot
        if prev is None:
            return broken_run(tracker.path, message, now)
        errors = tuple(x for x in prev.errors if x != message) + (message,)
        return dataclasses.replace(prev, errors=errors)


def broken_run(path: str, message: str, now: float | None = None) -> RunSnapshot:
    """A run that could not be read at all: its directory, its error, nothing else."""
    # Deferred for start-up time (see the module's docstring).
    from collectors.model.run_dir import parse_run_dir_name

    parsed = parse_run_dir_name(os.path.basename(path))
    return RunSnapshot(
        id=run_id(path),
        path=path,
        name=os.path.basename(path),
        layout="?",
        algo=_from_path(path, 2) or "?",
        env=_from_path(path, 4) or "?",
        task=_from_path(path, 3) or "?",
        exp_name=_from_path(path, 1) or "?",
        seed=parsed[0] if parsed else None,
        started=parsed[1] if parsed else None,
        state=STARTING,
        step=0,
        total_steps=None,
        progress=None,
        steps_per_hour=None,
        eta=None,
        last_data=None,
        ended=None,
        reward=None,
        checkpoints=(),
        scalars={},
        config={},
        stall_after=0.0,
        errors=(message,),
    )


def _run_order(r: RunSnapshot) -> tuple[str, float, str]:
    started = r.started if isinstance(r.started, float) and r.started == r.started else 0.0
    return (str(r.exp_name), started, str(r.path))


def _from_path(path: str, up: int) -> str | None:
    """results/<env>/<task>/<algo>/<exp>/seed-*: the component ``up`` levels above the run."""
    parts = os.path.normpath(path).split(os.sep)
    return parts[-1 - up] if len(parts) > up + 1 else None


class RunsCollector:
    """All runs below the roots. ``collect()`` returns a :class:`Snapshot`; cheap when idle."""

    def __init__(
        self,
        roots: list[str],
        settings: Settings | None = None,
        clock: Callable[[], float] = time.time,
        rescan_interval: float = 5.0,
        shared: SharedListings | None = None,
    ):
        self.settings = settings or Settings()
        self.shared = shared  # the monitor's: directories read this poll, for the disk sizing
        self.clock = clock
        self.discovery = Discovery(roots)
        self.rescan_interval = rescan_interval
        self.trackers: dict[str, RunTracker] = {}
        self._last_scan = -1e18
        self._scan_errors: tuple[str, ...] = ()
        self._broken: dict[str, str] = {}  # run directory -> why no tracker could be made
        self.host = os.uname().nodename  # gethostname(2) on Linux: socket would cost ~2 ms
        # Change notification from the second collect on: a command that collects once
        # (--once, check, report) would only pay for the watches (42 a HARL run).
        self.notifier: Notifier | None = None
        self._collects = 0

    @property
    def roots(self) -> list[str]:
        return self.discovery.roots

    def rescan(self) -> None:
        self._last_scan = self.clock()
        try:
            result = self.discovery.scan()
        except Exception as e:  # the runs already known stay; the scan is retried next time
            self._scan_errors = (internal_error("scanning the roots", e),)
            return
        self._scan_errors = tuple(dict.fromkeys(result.errors))
        found = set(result.runs)
        for path in [p for p in self.trackers if p not in found]:
            self._drop(path)  # deleted or moved away: it simply disappears
        self._broken = {p: m for p, m in self._broken.items() if p in found}
        for path in result.runs:
            if path not in self.trackers:
                try:
                    self.trackers[path] = RunTracker(
                        path, self.settings, self.clock, self.shared, self.notifier
                    )
                except Exception as e:
                    self._broken[path] = f"{path}: {internal_error('opening the run', e)}"
                else:
                    self._broken.pop(path, None)

    def collect(self) -> Snapshot:
        now = self.clock()
        if now - self._last_scan >= self.rescan_interval:
            self.rescan()
        self._collects += 1
        if self._collects == 2 and self.notifier is None:
            # Deferred for start-up time: inotify (ctypes) from the second collect, as above.
            from collectors.sources.runs.notify import Notifier

            self.notifier = Notifier()
            for tracker in self.trackers.values():
                tracker.watch = self.notifier.watcher()
        if self.notifier is not None:
            self.notifier.drain()  # which runs' directories changed since the last poll
        runs = []
        for path, tracker in list(self.trackers.items()):
            w = tracker.watch
            quiet = w is not None and w.trusted and not w.dirty  # its own directory is watched
            if not quiet and not os.path.isdir(path):
                self._drop(path)  # deleted between two scans
                continue
            runs.append(_poll_isolated(tracker, now))
        runs += [broken_run(p, m, now) for p, m in self._broken.items() if p not in self.trackers]
        runs.sort(key=_run_order)
        return Snapshot(self.host, now, tuple(runs), tuple(self.roots), self._scan_errors)

    def _drop(self, path: str) -> None:
        tracker = self.trackers.pop(path)
        if tracker.watch is not None:
            tracker.watch.close()

    def close(self) -> None:
        self.trackers.clear()
        if self.notifier is not None:
            self.notifier.close()

    def memory_bytes(self) -> int:
        return sum(t.memory_bytes() for t in self.trackers.values())


def find_run(snapshot: Snapshot, key: str) -> list[RunSnapshot]:
    """Runs matching a directory, an id (or its prefix), a name, an experiment name, or a name
    prefix, tried in that order."""
    path = os.path.abspath(key)
    exact = [
        r
        for r in snapshot.runs
        if r.path == path or os.path.realpath(r.path) == os.path.realpath(path)
    ]
    if exact:
        return exact
    by_id = [r for r in snapshot.runs if r.id.startswith(key)]
    if by_id:
        return by_id
    for match in (
        lambda r: r.name == key,
        lambda r: r.exp_name == key,  # an experiment: all its runs (callers say if ambiguous)
        lambda r: r.name.startswith(key),
    ):
        found = [r for r in snapshot.runs if match(r)]
        if found:
            return found
    return []
