"""Checkpoints of a run, per layout (run-format.md section 1).

* A: ``models/rl_model_<steps>_steps/`` directories
* B: ``checkpoints/<steps // 1e6>M/`` directories
* O: ``checkpoints/rl_model_<steps>_steps/module.pt``
* U: flat ``models/*.pt`` overwritten at every save (one checkpoint; its step is not on disk)

Sorted numerically by step. A checkpoint's files are written one after another, so it counts as
complete when a newer checkpoint exists, or when it holds every file a HARL save writes and the
newest of them is a few seconds old. Settled checkpoints are cached and never stat'ed again.

An idle poll costs two ``stat`` calls (``models/`` and ``checkpoints/``, through the listing
cache) and one for the newest checkpoint: the step list is parsed again only when a listing
changed, and the newest checkpoint's files are listed again only when its directory changed,
while it is still settling, or once a minute. A directory whose mtime is within a second of the
time it was read may change again within the same mtime tick (filesystem times are coarser than
the writes), so it is read again at the next scan, not trusted.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable

from collectors.model.disk import SharedListings
from collectors.model.run import Checkpoint
from collectors.sources.runs.fscache import DirCache, Listing

SETTLE_SECONDS = 5.0
RECHECK_SECONDS = 60.0  # a quiet newest checkpoint is listed again this often all the same
RACY_NS = 1_000_000_000  # a directory modified this recently may change in the same mtime tick
_A_RE = re.compile(r"^rl_model_(\d+)_steps$")
_B_RE = re.compile(r"^(\d+(?:\.\d+)?)M$")
_ACTOR_RE = re.compile(r"^actor_agent(\d+)\.pt$")


def _dir_files(
    path: str, shared: SharedListings | None = None, mtime_ns: int = 0
) -> tuple[int, float, set[str]]:
    """Total bytes, newest mtime and file names of a checkpoint directory (one level).

    With ``shared``, the directory's real sub-directories and regular files' sizes are left there
    for the disk sizing of this poll (``mtime_ns``: the directory's, taken before the listing, or 0
    when not known: the sizing then lists it again at its next refresh)."""
    total, newest, names = 0, 0.0, set()
    real: list[str] = []
    sizes: dict[str, tuple[int, float]] = {}
    with os.scandir(path) as it:
        for e in it:
            try:
                if e.is_symlink():
                    if not e.is_file():
                        continue
                    st = e.stat()  # a link to a file counts here, not in the disk sizing
                elif e.is_file(follow_symlinks=False):
                    st = e.stat(follow_symlinks=False)
                    sizes[e.name] = (st.st_size, st.st_mtime)
                else:
                    if e.is_dir(follow_symlinks=False):
                        real.append(e.name)
                    continue
            except OSError:
                continue
            total += st.st_size
            newest = max(newest, st.st_mtime)
            names.add(e.name)
    if shared is not None:
        shared[path] = (mtime_ns, tuple(sorted(real)), sizes)
    return total, newest, names


def _has_full_set(names: set[str], want_valuenorm: bool | None, n_agents: int) -> bool:
    actors = {int(m.group(1)) for n in names if (m := _ACTOR_RE.match(n))}
    if "critic_agent.pt" not in names or not actors:
        # Not a HARL save (e.g. layout O's module.pt): any settled file counts.
        return bool(names) and not actors and "critic_agent.pt" not in names
    if len(actors) < n_agents or actors != set(range(max(actors) + 1)):
        return False
    return not (want_valuenorm and "value_normalizer.pt" not in names)


class CheckpointScanner:
    """Scans one run's checkpoints incrementally."""

    def __init__(self, run_dir: str, cache: DirCache, clock: Callable[[], float] = time.time):
        self.run_dir = run_dir
        self.cache = cache
        self.clock = clock
        self._settled: dict[str, Checkpoint] = {}
        self.layout_hint: str | None = None  # "A", "B", "O" or "U" once seen
        self._listings: tuple[Listing | None, ...] = ()  # what _found and _flat come from
        self._found: list[tuple[int, str]] = []  # (step, path), sorted
        self._flat_files: list[str] = []
        # The newest checkpoint once settled: path -> (its directory's mtime_ns, when it was
        # listed (time.time_ns), the arguments it was judged with, the checkpoint).
        self._quiet: dict[str, tuple[int, int, tuple[bool | None, int], Checkpoint]] = {}
        self._out: tuple[Checkpoint, ...] = ()
        self._older_settled = False  # every checkpoint but the newest in _settled

    def scan(self, use_valuenorm: bool | None = None, n_agents: int = 1) -> tuple[Checkpoint, ...]:
        """The run's checkpoints, oldest first; the same tuple as last time when nothing changed."""
        listings = (self._list("models"), self._list("checkpoints"))
        same = len(self._listings) == 2 and all(
            a is b for a, b in zip(listings, self._listings, strict=True)
        )
        if not same:
            self._parse(listings)
        found = self._found
        out_ = self._out
        if (  # the usual idle poll: every older checkpoint settled, the newest one quiet
            same
            and found
            and self._older_settled
            and len(out_) == len(found)
            and out_[-1].path == found[-1][1]
            and self._quiet_newest(found[-1][1], use_valuenorm, n_agents) is out_[-1]
        ):
            return out_
        out: list[Checkpoint] = []
        now = self.clock()
        for i, (step, path) in enumerate(found):
            cp = self._settled.get(path)
            if cp is None:
                has_newer = i < len(found) - 1
                cp = None if has_newer else self._quiet_newest(path, use_valuenorm, n_agents)
                if cp is None:
                    cp = self._judge(step, path, has_newer, now, use_valuenorm, n_agents)
                if cp is None:
                    continue  # deleted between the listing and now
            out.append(cp)
        if not found and self._flat_files:
            out.append(self._flat(self._flat_files, now))
        self._older_settled = all(p in self._settled for _, p in found[:-1])
        if len(out) == len(self._out) and all(a is b for a, b in zip(out, self._out, strict=True)):
            return self._out
        self._out = tuple(out)
        return self._out

    def waits_on_time(self) -> bool:
        """Whether the last scan's answer may change with time alone, its directories unchanged:
        a checkpoint not yet settled, or the newest one not yet judged quiet (a settled one
        counts even when incomplete: a save cut short stays so)."""
        if self._found:
            return not (self._older_settled and self._found[-1][1] in self._quiet)
        return bool(self._out) and not self._out[-1].complete  # layout U's files settling

    def _list(self, sub: str) -> Listing | None:
        try:
            return self.cache.list(os.path.join(self.run_dir, sub), recent=True)
        except OSError:
            return None

    def _parse(self, listings: tuple[Listing | None, ...]) -> None:
        """The checkpoint directories (and layout U's files) named in the listings."""
        found: list[tuple[int, str]] = []  # (step, path)
        flat: list[str] = []
        for sub, listing in zip(("models", "checkpoints"), listings, strict=True):
            if listing is None:
                continue
            d = os.path.join(self.run_dir, sub)
            for name in listing.dirs:
                m = _A_RE.match(name)
                if m and len(m.group(1)) < 19:  # a step past int64 (40 nines) is no checkpoint
                    found.append((int(m.group(1)), os.path.join(d, name)))
                    self.layout_hint = "A" if sub == "models" else "O"
                    continue
                m = _B_RE.match(name) if sub == "checkpoints" else None
                if m and float(m.group(1)) < 9e12:  # beyond int64 steps: not a checkpoint
                    found.append((round(float(m.group(1)) * 1_000_000), os.path.join(d, name)))
                    self.layout_hint = "B"
            if sub == "models":
                flat = [os.path.join(d, f) for f in listing.files if f.endswith(".pt")]
        found.sort()
        live = {p for _, p in found}
        for p in [p for p in self._settled if p not in live]:
            del self._settled[p]  # deleted checkpoint
        for p in [p for p in self._quiet if p not in live]:
            del self._quiet[p]
        self._listings, self._found, self._flat_files = listings, found, flat

    def _quiet_newest(
        self, path: str, use_valuenorm: bool | None, n_agents: int
    ) -> Checkpoint | None:
        """The newest checkpoint as last judged, when that still holds: it had settled, its
        directory has not changed since (and had not changed within a second of being read),
        and it was read less than RECHECK_SECONDS ago. None: judge it again."""
        entry = self._quiet.get(path)
        if entry is None:
            return None
        mtime_ns, listed_ns, args, cp = entry
        try:
            st = os.stat(path)
        except OSError:
            return None
        if (
            st.st_mtime_ns != mtime_ns
            or args != (use_valuenorm, n_agents)
            or time.time_ns() - listed_ns >= RECHECK_SECONDS * 1e9
        ):
            del self._quiet[path]
            return None
        return cp

    def _judge(
        self,
        step: int,
        path: str,
        has_newer: bool,
        now: float,
        use_valuenorm: bool | None,
        n_agents: int,
    ) -> Checkpoint | None:
        try:
            # The newest checkpoint's directory time, for _quiet_newest (not needed for others:
            # the disk sizing that takes their listing gets 0, "unknown", and lists them again
            # once at its next refresh rather than every cold start paying a stat for each).
            dir_mtime_ns = 0 if has_newer else os.stat(path).st_mtime_ns
            listed_ns = time.time_ns()
            size, newest, names = _dir_files(path, self.cache.shared, dir_mtime_ns)
        except OSError:
            return None
        settled = bool(names) and now - newest >= SETTLE_SECONDS
        complete = bool(names) and (  # an empty directory is never a checkpoint
            has_newer or (settled and _has_full_set(names, use_valuenorm, n_agents))
        )
        cp = Checkpoint(step, newest, size, complete, path)
        if complete and has_newer:
            self._settled[path] = cp
        elif settled and not has_newer and dir_mtime_ns < listed_ns - RACY_NS:
            self._quiet[path] = (dir_mtime_ns, listed_ns, (use_valuenorm, n_agents), cp)
        return cp

    def _flat(self, files: list[str], now: float) -> Checkpoint:
        """Layout U: one set of files, overwritten in place at every save."""
        self.layout_hint = "U"
        size, newest = 0, 0.0
        for f in files:
            try:
                st = os.stat(f)
            except OSError:
                continue
            size += st.st_size
            newest = max(newest, st.st_mtime)
        models = os.path.join(self.run_dir, "models")
        return Checkpoint(-1, newest, size, now - newest >= SETTLE_SECONDS, models)
