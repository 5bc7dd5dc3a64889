"""The chain linker's memo (issue 16): an idle poll (every run the identical object) does not
resolve every run's real path again; a changed run, or RELINK_SECONDS later, links anew."""

from __future__ import annotations

import dataclasses
import os

from collectors.analysis import chains
from collectors.analysis.chains import ChainLinker
from tests.tui.test_chains_tui import chained_inputs


def _count_realpath(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = os.path.realpath
    monkeypatch.setattr(os.path, "realpath", lambda p, *a, **k: calls.append(p) or real(p, *a, **k))
    return calls


def test_unchanged_runs_are_not_linked_again_until_relink_time(monkeypatch):
    now = [1000.0]
    linker = ChainLinker(clock=lambda: now[0])
    raw = chained_inputs()
    first = linker.link(raw)
    calls = _count_realpath(monkeypatch)
    again = linker.link(raw)
    assert calls == []
    assert all(x is y for x, y in zip(first, again, strict=True))
    now[0] += chains.RELINK_SECONDS
    later = linker.link(raw)
    assert calls  # linked anew (a symlink may have changed)
    assert all(x is y for x, y in zip(first, later, strict=True))  # same inputs: same answer


def test_a_changed_run_is_linked_again(monkeypatch):
    linker = ChainLinker(clock=lambda: 0.0)
    raw = chained_inputs()
    before = linker.link(raw)
    calls = _count_realpath(monkeypatch)
    moved = [*raw[:2], dataclasses.replace(raw[2], step=raw[2].step + 1_000_000)]
    after = linker.link(moved)
    assert calls
    assert after[2] is not before[2]
    assert after[2].step == before[2].step + 1_000_000
