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
from tensorboardX import SummaryWriter

from collectors.model import Settings
from collectors.simulator.process import spawn
from collectors.simulator.trainer import write_instant_run
from collectors.sources.runs import event_reader, notify
from collectors.sources.runs.tracker import RunsCollector
from tests.builders import make_run_dir
from tests.corpus.build import frame, scalar_event

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


def _polls_until(rc: RunsCollector, now: list[float], want: int, limit: int) -> int:
    """Collect (the clock a second on each time) until the run reaches step ``want``; how many
    polls that took (``limit`` + 1 when it never did)."""
    for n in range(1, limit + 1):
        now[0] += 1.0
        if rc.collect().runs[0].step >= want:
            return n
    return limit + 1


def test_a_file_read_in_parts_goes_on_being_read_without_any_event(tmp_path, monkeypatch):
    """A backlog bigger than one poll may read (MAX_READ_PER_POLL) is read over the next
    polls, not left until the safety net: no event announces what is already on disk."""
    monkeypatch.setattr(notify, "FULL_POLL_EVERY", 1e9)
    monkeypatch.setattr(event_reader, "MAX_READ_PER_POLL", 100_000)
    monkeypatch.setattr(event_reader, "CHUNK", 50_000)
    run = make_run_dir(tmp_path / "results")
    with SummaryWriter(str(run / "logs"), flush_secs=3600) as w:
        for i in range(1, 20_001):
            w.add_scalar("r", float(i), i)
    now = [time.time()]
    rc = collector(tmp_path / "results", lambda: now[0])
    try:
        assert _polls_until(rc, now, 20_000, 60) <= 60
        (tracker,) = rc.trackers.values()
        assert tracker.watch is not None and tracker.watch.trusted
    finally:
        rc.close()


def test_an_event_file_linked_from_elsewhere_is_polled(tmp_path, monkeypatch):
    """Writes through a symlink's target raise events in the target's directory only, not in
    logs/: such a run is polled as before, and its appends are seen at the next poll."""
    monkeypatch.setattr(notify, "FULL_POLL_EVERY", 1e9)
    run = make_run_dir(tmp_path / "results")
    elsewhere = tmp_path / "elsewhere"
    with SummaryWriter(str(elsewhere), flush_secs=3600) as w:
        w.add_scalar("r", 1.0, 1)
    (target,) = elsewhere.glob("events.out.tfevents.*")
    (run / "logs" / target.name).symlink_to(target)
    now = [time.time()]
    rc = collector(tmp_path / "results", lambda: now[0])
    try:
        settle(rc)
        for step in (2, 3):
            with target.open("ab") as f:  # appended where the writer's file really is
                f.write(frame(scalar_event("r", float(step), step, 1.7e9 + step)))
            assert _polls_until(rc, now, step, 3) == 1
    finally:
        rc.close()


def test_a_settled_incomplete_checkpoint_does_not_keep_the_run_polled(tmp_path, monkeypatch):
    """A save cut short (a crash: no critic, the newest checkpoint never complete) settles like
    any other: once judged, an idle poll of the run reads nothing."""
    root = tmp_path / "results"
    (run,) = settled_runs(root, 1)
    cut = run / "models" / "rl_model_999999999_steps"
    cut.mkdir()
    (cut / "actor_agent0.pt").write_bytes(b"\0" * 10)
    old = time.time() - 3600
    os.utime(cut / "actor_agent0.pt", (old, old))
    os.utime(cut, (old, old))
    now = [time.time()]
    rc = collector(root, lambda: now[0])
    try:
        first = rc.collect()
        settle(rc)
        assert not first.runs[0].checkpoints[-1].complete
        calls = Calls(monkeypatch)
        now[0] += 1.0
        rc.collect()
        assert calls.n == 0
    finally:
        rc.close()


def test_a_directory_renamed_and_made_again_is_watched_again(tmp_path, monkeypatch):
    """logs/x renamed to logs/y and a new logs/x made: the old watch moved with the directory
    (IN_MOVE_SELF), so logs/x is watched afresh and appends to its new file are seen."""
    monkeypatch.setattr(notify, "FULL_POLL_EVERY", 1e9)
    run = make_run_dir(tmp_path / "results")

    def append(path: Path, step: int) -> None:
        with path.open("ab") as f:
            f.write(frame(scalar_event("r", float(step), step, 1.7e9 + step)))

    (run / "logs" / "x").mkdir()
    append(run / "logs" / "x" / "events.out.tfevents.1700000000.host", 1)
    now = [time.time()]
    rc = collector(tmp_path / "results", lambda: now[0])
    try:
        rc.collect()
        rc.collect()
        (run / "logs" / "x").rename(run / "logs" / "y")
        (run / "logs" / "x").mkdir()
        fresh = run / "logs" / "x" / "events.out.tfevents.1700000100.host"
        append(fresh, 5)
        assert _polls_until(rc, now, 5, 3) <= 2
        rc.collect()
        rc.collect()  # the new watches in place, nothing pending
        append(fresh, 6)
        assert _polls_until(rc, now, 6, 3) == 1
    finally:
        rc.close()
