"""Checkpoints of a run, per layout (run-format.md section 1).

* A: ``models/rl_model_<steps>_steps/`` directories
* B: ``checkpoints/<steps // 1e6>M/`` directories
* O: ``checkpoints/rl_model_<steps>_steps/module.pt``
* U: flat ``models/*.pt`` overwritten at every save (one checkpoint; its step is not on disk)

Sorted numerically by step. A checkpoint's files are written one after another, so it counts as
complete when a newer checkpoint exists, or when it holds every file a HARL save writes and the
newest of them is a few seconds old. Settled checkpoints are cached and never stat'ed again.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable

from collectors.model.run import Checkpoint
from collectors.sources.runs.fscache import DirCache

SETTLE_SECONDS = 5.0
_A_RE = re.compile(r"^rl_model_(\d+)_steps$")
_B_RE = re.compile(r"^(\d+(?:\.\d+)?)M$")
_ACTOR_RE = re.compile(r"^actor_agent(\d+)\.pt$")


def _dir_files(path: str) -> tuple[int, float, set[str]]:
    """Total bytes, newest mtime and file names of a checkpoint directory (one level)."""
    total, newest, names = 0, 0.0, set()
    with os.scandir(path) as it:
        for e in it:
            try:
                if not e.is_file():
                    continue
                st = e.stat()
            except OSError:
                continue
            total += st.st_size
            newest = max(newest, st.st_mtime)
            names.add(e.name)
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

    def scan(self, use_valuenorm: bool | None = None, n_agents: int = 1) -> tuple[Checkpoint, ...]:
        found: list[tuple[int, str]] = []  # (step, path)
        flat: list[str] = []
        for sub in ("models", "checkpoints"):
            d = os.path.join(self.run_dir, sub)
            try:
                listing = self.cache.list(d)
            except OSError:
                continue
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
        out: list[Checkpoint] = []
        live = {p for _, p in found}
        for p in [p for p in self._settled if p not in live]:
            del self._settled[p]  # deleted checkpoint
        now = self.clock()
        for i, (step, path) in enumerate(found):
            cp = self._settled.get(path)
            if cp is None:
                try:
                    size, newest, names = _dir_files(path)
                except OSError:
                    continue  # deleted between the listing and now
                has_newer = i < len(found) - 1
                settled = bool(names) and now - newest >= SETTLE_SECONDS
                complete = bool(names) and (  # an empty directory is never a checkpoint
                    has_newer or (settled and _has_full_set(names, use_valuenorm, n_agents))
                )
                cp = Checkpoint(step, newest, size, complete, path)
                if complete and has_newer:
                    self._settled[path] = cp
            out.append(cp)
        if not found and flat:
            out.append(self._flat(flat, now))
        return tuple(out)

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
