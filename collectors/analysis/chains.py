"""Run chains: a run resumed from another run's checkpoint is that run's continuation.

HARL resumes by weights only (``harl/runners/on_policy_base_runner.py``: ``restore()`` loads the
actors, the critic and the value normaliser from ``algo_args.train.model_dir``; ``run()`` counts
``episode`` from 1 again), in a new ``seed-*`` directory (``harl/utils/configs_tools.py:
init_dir``) whose ``config.json`` records ``model_dir`` (``save_config``). So a run whose
``model_dir`` lies inside another run's directory continues that run from the checkpoint's step:

* the child gets ``resumed_from`` (parent id, path, the checkpoint's chain step), and its
  ``step``, ``total_steps``, ``progress`` and checkpoint steps move onto the chain's axis
  (checkpoint step + its own steps; ``own_step`` keeps its own). Its ETA needs no change: it is
  the end of its own ``num_env_steps``, which restart --resume sets to what the chain had left.
* the parent gets ``continued_by`` (the child's id) and, when it ended (crashed or stopped), the
  state ``continued``.
* every segment gets ``chain``: the ids from the first run to the last.

Chains of any length are followed (each link through its parent's offset); a cycle or a
``model_dir`` outside every known run is ignored.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from collectors import fmt
from collectors.model.run import (
    CONTINUED,
    CRASHED,
    RUNNING,
    STALLED,
    STARTING,
    STOPPED,
    ResumedFrom,
    RunSnapshot,
)
from collectors.model.series import SeriesView

MODEL_DIR_KEY = "algo_args.train.model_dir"
RELINK_SECONDS = 30.0  # an unchanged set of runs is linked again this often all the same
_STEP_RE = re.compile(r"rl_model_(\d+)_steps$|^(\d+(?:\.\d+)?)M$")


def _real(path: str) -> str:
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return os.path.abspath(path)


def _ckpt_step(parent: RunSnapshot, model_dir: str) -> int | None:
    """The parent's own step of the checkpoint at ``model_dir``: its listed checkpoint, else the
    step in the directory's name (``rl_model_<N>_steps``, layout B's ``<N>M``)."""
    real = _real(model_dir)
    for c in parent.checkpoints:
        if _real(c.path) == real:
            return c.step
    m = _STEP_RE.search(os.path.basename(real.rstrip(os.sep)))
    if m is None:
        return None
    return int(m.group(1)) if m.group(1) else int(float(m.group(2)) * 1_000_000)


def parents(runs: Sequence[RunSnapshot]) -> dict[str, tuple[str, str, int]]:
    """child path -> (parent path, model_dir, the checkpoint's step in the parent's own steps)."""
    by_real = {_real(r.path): r for r in runs}
    out: dict[str, tuple[str, str, int]] = {}
    for r in runs:
        md = r.config.get(MODEL_DIR_KEY)
        if not isinstance(md, str) or not md:
            continue
        d = _real(md if os.path.isabs(md) else os.path.join(r.path, md))
        while True:
            up = os.path.dirname(d)
            if up == d:
                break
            d = up
            parent = by_real.get(d)
            if parent is not None:
                if parent.path != r.path:
                    step = _ckpt_step(parent, md)
                    if step is not None:
                        out[r.path] = (parent.path, md, step)
                break
    return out


def chain_changes(runs: Sequence[RunSnapshot]) -> dict[str, dict[str, Any]]:
    """The field changes (run path -> {field: value}) that put each chained run on its chain."""
    by_path = {r.path: r for r in runs}
    links = parents(runs)
    offsets: dict[str, int] = {}

    def offset(path: str, seen: frozenset[str] = frozenset()) -> int:
        if path in offsets:
            return offsets[path]
        link = links.get(path)
        if link is None or path in seen or len(seen) > 64:
            value = 0
        else:
            value = offset(link[0], seen | {path}) + link[2]
        offsets[path] = value
        return value

    children: dict[str, list[str]] = {}
    for child, (parent, _, _) in links.items():
        children.setdefault(parent, []).append(child)
    out: dict[str, dict[str, Any]] = {}
    for child, (parent_path, md, _) in links.items():
        r, up = by_path[child], by_path[parent_path]
        off = offset(child)
        total = None if r.total_steps is None else r.total_steps + off
        step = r.step + off
        at: list[int] = []
        hop = child
        while hop in links and len(at) < 64:
            at.append(offset(hop))
            hop = links[hop][0]
        out.setdefault(child, {}).update(
            resumed_from=ResumedFrom(up.id, up.path, off, md),
            resumed_at=tuple(sorted(set(at))),
            own_step=r.step,
            step=step,
            total_steps=total,
            progress=min(step / total, 1.0) if total else r.progress,
            checkpoints=tuple(dataclasses.replace(c, step=c.step + off) for c in r.checkpoints),
        )
    for parent_path, kids in children.items():
        prev = by_path[parent_path]
        last = max((by_path[k] for k in kids), key=lambda k: (k.started or 0.0, k.path))
        ch = out.setdefault(parent_path, {})
        ch["continued_by"] = last.id
        if prev.state in (CRASHED, STOPPED):
            ch.update(state=CONTINUED, eta=None)
    # each segment's chain: first run to last (following the latest continuation)
    for path in list(out):
        first = path
        seen = {first}
        while first in links and links[first][0] not in seen:
            first = links[first][0]
            seen.add(first)
        ids: list[str] = []
        cur: str | None = first
        seen2: set[str] = set()
        while cur is not None and cur not in seen2:
            seen2.add(cur)
            ids.append(by_path[cur].id)
            nxt = out.get(cur, {}).get("continued_by")
            cur = next((p for p in children.get(cur, []) if by_path[p].id == nxt), None)
        out[path]["chain"] = tuple(ids)
    return out


def stitch(parent: SeriesView | None, child: SeriesView, offset: int) -> SeriesView:
    """One continuous curve: the parent's points up to the checkpoint's step, then the child's
    own points moved to the chain's axis (``offset`` + its steps)."""
    # Deferred for start-up time: numpy only once runs are chained (the monitor builds the
    # linker before any run is found).
    import numpy as np

    steps = child.steps.astype(np.int64) + offset
    values, wall = child.values, child.wall
    if parent is not None and len(parent):
        keep = parent.steps <= offset
        steps = np.concatenate([parent.steps[keep], steps])
        values = np.concatenate([parent.values[keep], values])
        wall = np.concatenate([parent.wall[keep], wall])
    wall0 = float(wall[0]) if len(wall) else 0.0
    rel = (np.asarray(wall, dtype=np.float64) - wall0).astype(np.float32)
    for a in (steps, values, rel):
        a.flags.writeable = False
    return SeriesView(steps, np.asarray(values, dtype=np.float32), rel, wall0)


def _depth(path: str, links: dict[str, tuple[str, str, int]]) -> int:
    n, seen = 0, {path}
    while path in links and links[path][0] not in seen and n < 64:
        path = links[path][0]
        seen.add(path)
        n += 1
    return n


class ChainLinker:
    """:func:`chain_changes` applied to a snapshot's runs, returning the identical object for a
    run whose inputs did not change (front ends skip those), and re-scoring a changed run's
    health (``rescore``: its state or axis moved)."""

    def __init__(
        self,
        rescore: Callable[[RunSnapshot], RunSnapshot] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rescore = rescore
        self.clock = clock
        self._cache: dict[str, tuple[RunSnapshot, dict[str, Any], RunSnapshot]] = {}
        self._last: tuple[tuple[RunSnapshot, ...], list[RunSnapshot], float] | None = None

    def link(self, runs: Sequence[RunSnapshot]) -> list[RunSnapshot]:
        """The runs linked; the previous answer again when every run is the identical object
        as last time (an idle poll: no run changed), for up to RELINK_SECONDS (a symlink
        changed under unchanged runs is seen then). Linking resolves every run's real path."""
        now = self.clock()
        last = self._last
        if (
            last is not None
            and now - last[2] < RELINK_SECONDS
            and len(last[0]) == len(runs)
            and all(a is b for a, b in zip(last[0], runs, strict=True))
        ):
            return list(last[1])
        out = self._link(runs)
        self._last = (tuple(runs), out, now)
        return list(out)

    def _link(self, runs: Sequence[RunSnapshot]) -> list[RunSnapshot]:
        changes = chain_changes(runs)
        links = parents(runs)
        done: dict[str, RunSnapshot] = {}
        # parents first: a child's curve starts with its parent's (already stitched) curve
        for r in sorted(runs, key=lambda r: _depth(r.path, links)):
            ch = changes.get(r.path)
            if not ch:
                self._cache.pop(r.path, None)
                done[r.path] = r
                continue
            up = done.get(links[r.path][0]) if r.path in links else None
            key = {**ch, "_parent": id(up)}
            cached = self._cache.get(r.path)
            if cached is not None and cached[0] is r and cached[1] == key:
                done[r.path] = cached[2]
                continue
            if r.path in links:
                off = ch["resumed_from"].step
                ch = {
                    **ch,
                    "series": {
                        tag: stitch(up.series.get(tag) if up is not None else None, v, off)
                        for tag, v in r.series.items()
                    },
                }
            new = dataclasses.replace(r, **ch)
            if self.rescore is not None and (new.state != r.state):
                new = self.rescore(new)
            self._cache[r.path] = (r, key, new)
            done[r.path] = new
        out = [done[r.path] for r in runs]
        live = {r.path for r in runs}
        for path in [p for p in self._cache if p not in live]:
            del self._cache[path]
        return out


@dataclasses.dataclass(frozen=True, slots=True)
class Segment:
    """One segment of a chain, on the chain's axis: ``end`` is None for a live last segment."""

    id: str
    start: int
    end: int | None


def segments(run: RunSnapshot) -> tuple[Segment, ...]:
    """The segments of ``run``'s chain up to ``run`` (first to ``run``), from ``chain`` and
    ``resumed_at``; () for a run that is not a resumed segment of a chain."""
    if run.id not in run.chain or run.resumed_from is None:
        return ()
    ids = run.chain[: run.chain.index(run.id) + 1]
    starts = (0, *run.resumed_at)
    if len(starts) != len(ids):  # a chain whose links are not all known: no ranges to show
        return ()
    ends: list[int | None] = list(starts[1:])
    ends.append(None if run.state in (RUNNING, STARTING, STALLED) else run.step)
    return tuple(Segment(i, s, e) for i, s, e in zip(ids, starts, ends, strict=True))


def chain_heads(runs: Sequence[RunSnapshot]) -> list[RunSnapshot]:
    """``runs`` with each chain shown once: the earlier segments of a chain whose latest segment
    is among ``runs`` are left out (the latest stands for the chain), in the runs' order."""
    hidden: set[str] = set()
    for r in runs:
        if segments(r) and r.chain[-1] == r.id:
            hidden.update(i for i in r.chain if i != r.id)
    return [r for r in runs if r.id not in hidden]


def head_of(run: RunSnapshot, runs: Sequence[RunSnapshot]) -> RunSnapshot:
    """The run that stands for ``run``'s chain among ``runs`` (``run`` itself when none)."""
    for h in runs:
        if h.id != run.id and run.id in h.chain and h.chain[-1] == h.id and segments(h):
            return h
    return run


def segments_text(segs: Sequence[Segment]) -> str:
    """``aaaa0001 0-30M, bbbb0002 30M-50M, cccc0003 50M-``: each segment's id and step range."""

    def at(step: int) -> str:
        return "0" if step == 0 else fmt.steps(step)

    return ", ".join(f"{s.id} {at(s.start)}-{'' if s.end is None else at(s.end)}" for s in segs)
