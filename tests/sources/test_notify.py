"""Change notification (collectors/sources/runs/notify.py) on real files: an idle poll of watched
runs makes no stat, a live trainer's appends are still seen at once, and every case where
inotify cannot be trusted falls back to polling every file."""

from __future__ import annotations

import errno
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from collectors.model import Settings
from collectors.simulator.process import spawn
from collectors.simulator.trainer import write_instant_run
from collectors.sources.runs import notify
from collectors.sources.runs.tracker import RunsCollector

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify: Linux")


class Calls:
    """Counts the real os.stat / os.scandir calls made (each still goes to the kernel)."""

    def __init__(self, monkeypatch) -> None:
        self.n = 0
        real_stat, real_scandir = os.stat, os.scandir

        def stat(*a, **k):
            self.n += 1
            return real_stat(*a, **k)

        def scandir(*a, **k):
            self.n += 1
            return real_scandir(*a, **k)

        monkeypatch.setattr(os, "stat", stat)
        monkeypatch.setattr(os, "scandir", scandir)


def settled_runs(root: Path, n: int = 3) -> list[Path]:
    """Finished runs with their checkpoints, written an hour ago (nothing left to settle)."""
    return [
        write_instant_run(root, exp_name=f"e{i}", seed=i, start_time=time.time() - 7 * 3600)
        for i in range(n)
    ]


def collector(root: Path, clock) -> RunsCollector:
    return RunsCollector([str(root)], Settings(), clock=clock, rescan_interval=1e9)


def settle(rc: RunsCollector) -> None:
    """The collects before the watches are in place: the first (a command that collects once
    sets up nothing), the second (the watches added), the third (what came before them)."""
    for _ in range(3):
        rc.collect()


def test_an_idle_poll_of_watched_runs_reads_nothing(tmp_path, monkeypatch):
    root = tmp_path / "results"
    settled_runs(root)
    now = [time.time()]
    rc = collector(root, lambda: now[0])
    try:
        first = rc.collect()
        assert rc.notifier is None  # one collect: nothing watched
        settle(rc)
        assert rc.notifier is not None and rc.notifier.active, rc.notifier.why_not
        assert all(t.watch is not None and t.watch.trusted for t in rc.trackers.values())
        calls = Calls(monkeypatch)
        now[0] += 5.0
        again = rc.collect()
        assert calls.n == 0  # not a stat, not a listing
        assert [r.step for r in again.runs] == [r.step for r in first.runs]
        assert [len(r.checkpoints) for r in again.runs] == [40, 40, 40]
        # the safety net: a full poll every FULL_POLL_EVERY seconds all the same
        now[0] += notify.FULL_POLL_EVERY
        rc.collect()
        assert calls.n > 0
        # a run whose directory goes is gone at the next poll, not at the next rescan
        victim = next(iter(rc.trackers))
        shutil.rmtree(victim)
        now[0] += 1.0
        assert victim not in {r.path for r in rc.collect().runs}
    finally:
        rc.close()


@pytest.mark.parametrize("enabled", [True, False])
def test_a_live_trainers_appends_are_seen_at_the_next_poll(tmp_path, monkeypatch, enabled):
    """The simulated trainer (tensorboardX, files kept open and appended to) is followed with
    notification (and with it disabled: every file stat'ed each poll, as before)."""
    if not enabled:
        monkeypatch.setenv(notify.DISABLE_ENV, "1")
    monkeypatch.setattr(notify, "FULL_POLL_EVERY", 1e9)  # only events can make it read
    root = tmp_path / "results"
    sim = spawn(
        root,
        exp_name="live",
        num_env_steps=5_000_000,
        n_rollout_threads=10,
        episode_length=10,
        duration=120,
        flush_secs=0.2,
    )
    rc = RunsCollector([str(root)], Settings(), rescan_interval=0.5)
    try:
        steps = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(set(steps)) < 4:
            snap = rc.collect()
            if snap.runs:
                steps.append(snap.runs[0].step)
            time.sleep(0.3)
        assert len(set(steps)) >= 4, steps  # it kept moving on
        assert steps == sorted(steps)
        assert rc.notifier is not None and rc.notifier.active is enabled
        (tracker,) = rc.trackers.values()
        assert tracker.watch is not None and tracker.watch.trusted is enabled
        if enabled:
            assert rc.notifier.events > 0
            watched = tracker.watch.watched
            assert str(sim.run_dir) in watched
            assert any(d.startswith(str(sim.run_dir / "logs")) for d in watched)
    finally:
        rc.close()
        sim.kill()
        sim.wait()


def test_an_overflowed_queue_makes_every_run_read_again(tmp_path, monkeypatch):
    root = tmp_path / "results"
    runs = settled_runs(root, 2)
    now = [time.time()]
    rc = collector(root, lambda: now[0])
    try:
        settle(rc)
        limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
        a, b = runs[0] / "config.json", runs[0] / "logs" / "summary.json"
        for _ in range(limit // 2 + 100):  # more events than the queue holds (two files in
            os.utime(a)  # turn: the kernel merges an event into an identical one before it)
            os.utime(b)
        calls = Calls(monkeypatch)
        now[0] += 1.0
        rc.collect()
        assert rc.notifier is not None and rc.notifier.overflows >= 1
        assert calls.n > 0
        # and the run not touched was read too: both trackers did a full poll
        assert all(t.watch is not None and not t.watch.dirty for t in rc.trackers.values())
    finally:
        rc.close()


class FullNotifier(notify.Notifier):
    """The kernel's watch limit (ENOSPC) reached after ``room`` watches: the real inotify
    instance, with the limit made small (the system's own limit is not changed)."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room

    def _add(self, owner, directory):
        if self.room <= 0 and os.path.isdir(directory):
            return -errno.ENOSPC
        wd = super()._add(owner, directory)
        self.room -= wd >= 0
        return wd


def test_at_the_watch_limit_a_run_is_polled_as_before(tmp_path, monkeypatch):
    root = tmp_path / "results"
    settled_runs(root, 2)
    now = [time.time()]
    probe = collector(root, lambda: now[0])
    settle(probe)
    one = len(next(iter(probe.trackers.values())).watch.watched)  # type: ignore[union-attr]
    probe.close()
    rc = collector(root, lambda: now[0])
    rc.notifier = FullNotifier(room=one + 1)  # enough for one run's directories, not two
    try:
        rc.rescan()
        first = rc.collect()
        settle(rc)
        watches = [t.watch for t in rc.trackers.values()]
        assert any(w is not None and not w.trusted for w in watches)
        (full,) = [w for w in watches if w is not None and not w.trusted]
        assert "max_user_watches" in (full.why_not or "")
        calls = Calls(monkeypatch)
        now[0] += 1.0
        again = rc.collect()
        assert calls.n > 0  # the untrusted run reads its files
        assert [r.step for r in again.runs] == [r.step for r in first.runs]
    finally:
        rc.close()


def test_a_run_on_a_network_filesystem_is_polled_as_before(tmp_path, monkeypatch):
    """NFS and friends: inotify does not see other machines' writes. The real statfs of the
    test's directory, named a network filesystem for the test."""
    kind = notify.filesystem_type(str(tmp_path))
    assert kind is not None
    assert notify.remote_filesystem(str(tmp_path)) is None  # a local disk here
    monkeypatch.setitem(notify.REMOTE_FS, kind, "nfs")
    root = tmp_path / "results"
    settled_runs(root, 1)
    now = [time.time()]
    rc = collector(root, lambda: now[0])
    try:
        settle(rc)
        (tracker,) = rc.trackers.values()
        assert tracker.watch is not None and not tracker.watch.trusted
        assert "nfs" in (tracker.watch.why_not or "") and not tracker.watch.watched
        calls = Calls(monkeypatch)
        now[0] += 1.0
        rc.collect()
        assert calls.n > 0
    finally:
        rc.close()
