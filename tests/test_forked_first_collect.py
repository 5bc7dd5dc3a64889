"""The full-screen monitor's first collect, made by a forked child (collectors.forked and
Monitor's take-over of its readers): the same snapshot as reading here, the readers going on
from where the child stopped, and no child left behind whatever happens to it."""

from __future__ import annotations

import os
import struct
import threading
import time

import numpy as np
import pytest
from tensorboardX import SummaryWriter

from collectors import monitor as monitor_module
from collectors.forked import ForkedCall
from collectors.model.settings import Settings
from collectors.monitor import Monitor, fork_first_collect
from collectors.simulator.trainer import write_instant_run
from tests.builders import event_files, make_run_dir, write_harl_config
from tests.sources.test_runs import log_points


def reaped(call: ForkedCall, pid: int) -> bool:
    """The child was reaped by ``call`` (no zombie is left: the pid is no child of ours)."""
    if call.pid is not None:
        return False
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def records(path) -> int:
    """The whole TFRecords in an event file (length, its CRC, the data, its CRC)."""
    data = path.read_bytes()
    n = i = 0
    while i + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, i)
        i += 12 + length + 4
        if i > len(data):
            break
        n += 1
    return n


# -- the call ------------------------------------------------------------------------------------


def test_parts_come_in_order_as_one_stream_with_this_sides_shared_objects():
    mine = {"name": "the parent's"}

    def call():
        made = ["made in the child", os.getpid()]
        return (made, {"again": made, "shared": mine}), {"mine": mine}

    forked = ForkedCall(call)
    pid = forked.pid
    here = {"name": "what the parent has now"}
    first = forked.part({"mine": here})
    second = forked.part({"mine": here})
    assert first[0] == "made in the child" and first[1] == pid != os.getpid()
    assert second["again"] is first  # one pickle stream: one object across the two parts
    assert second["shared"] is here  # sent by name, not copied
    assert forked.part({"mine": here}) is None  # nothing more
    assert forked.status == 0 and reaped(forked, pid)


def test_a_view_comes_as_a_view_into_its_base_and_stays_read_only():
    def call():
        buf = np.arange(100, dtype=np.float64)  # a growing series' buffer
        view = buf[:60]
        view.flags.writeable = False
        return ((view, buf[10:20:2]), buf), {}

    forked = ForkedCall(call)
    (view, strided), buf = forked.part({}), forked.part({})
    forked.finish()
    assert np.shares_memory(view, buf) and np.shares_memory(strided, buf)
    assert list(view) == list(range(60)) and list(strided) == [10, 12, 14, 16, 18]
    assert not view.flags.writeable and buf.flags.writeable
    buf[5] = -1.0
    assert view[5] == -1.0  # one buffer, as in the child


def test_a_child_that_fails_sends_no_part_and_is_reaped():
    def call():
        raise RuntimeError("cannot read the runs")

    forked = ForkedCall(call)
    pid = forked.pid
    assert forked.part({}) is None
    assert forked.status == 1 and reaped(forked, pid)
    assert "sent no more" in (forked.error or "")


def test_a_part_that_does_not_pickle_is_no_part():
    forked = ForkedCall(lambda: ([lambda: 0], {}))
    assert forked.part({}) is None
    assert forked.status == 1


def test_a_part_naming_an_object_this_side_lacks_is_no_part():
    shared = object()
    forked = ForkedCall(lambda: ([[shared]], {"gone": shared}))
    assert forked.part({}) is None
    assert "no shared object 'gone'" in (forked.error or "")
    assert forked.pid is None


def test_close_ends_a_child_still_working_and_reaps_it():
    forked = ForkedCall(lambda: (time.sleep(60), ([], {}))[1])
    pid = forked.pid
    assert not forked.ready(0.2)  # nothing sent yet
    t0 = time.monotonic()
    forked.close()
    assert time.monotonic() - t0 < 5
    assert forked.status == -9 and reaped(forked, pid)
    assert forked.part({}) is None  # closed: nothing more, no error


def test_the_child_never_writes_to_our_terminal(capfd):
    def call():
        print("child stdout")
        os.write(2, b"child stderr\n")
        return ["ok"], {}

    forked = ForkedCall(call)
    assert forked.part({}) == "ok"
    forked.close()
    out, err = capfd.readouterr()
    assert "child" not in out and "child" not in err


# -- the monitor ---------------------------------------------------------------------------------


@pytest.fixture
def root(tmp_path):
    """Two finished runs written whole (checkpoints and all), a crashed run resumed by another
    (a chain), and one run logging through the real tensorboardX writer, still open:
    (results, the live run, log(n, start) to log more)."""
    results = tmp_path / "results"
    now = time.time()
    for seed in (1, 2):
        write_instant_run(results, exp_name="cuboid", seed=seed, start_time=now - 3 * 3600)
    crashed = write_instant_run(
        results, exp_name="resumed", seed=3, start_time=now - 6 * 3600, finished=False
    )
    last = sorted((crashed / "models").iterdir())[-1]
    write_instant_run(
        results, exp_name="resumed", seed=3, start_time=now - 2 * 3600, model_dir=str(last)
    )
    live = make_run_dir(results, exp="live", stamp=time.strftime("%Y-%m-%d-%H-%M-%S"))
    write_harl_config(live)
    writer = SummaryWriter(str(live / "logs"), flush_secs=3600)

    def log(n: int, start: int) -> None:
        log_points(live, n, now - 900, dt=60, start=start, writer=writer)
        # tensorboardX's flush() does not wait for its writer threads' queues (what they take
        # later waits for the next flush): flush until every tag's file holds its points (and
        # its version record) on disk
        deadline = time.monotonic() + 10
        subfiles = [f for f in event_files(live / "logs") if f.parent != live / "logs"]
        assert len(subfiles) == 3  # one a tag (add_scalars)
        while True:
            writer.flush()
            if all(records(f) >= start + n for f in subfiles):
                break
            assert time.monotonic() < deadline, "tensorboardX never wrote the points"
            time.sleep(0.01)

    log(10, 1)
    yield results, live, log
    writer.close()


def view(snap):
    """What a front end shows of each run."""
    return [
        (
            r.path,
            r.state,
            r.step,
            r.label,
            len(r.checkpoints),
            {tag: len(s.steps) for tag, s in r.series.items()},
            sorted(f.rule for f in r.health),
        )
        for r in snap.runs
    ]


def test_the_childs_first_snapshot_is_what_reading_here_gives_and_the_readers_go_on(root):
    results, live, log = root
    settings = Settings()
    first = fork_first_collect([str(results)], settings)
    assert first is not None
    pid = first.pid
    monitor = Monitor([str(results)], settings, first=first)
    own_readers = monitor.runs
    try:
        snap = monitor.first_snapshot(wait=30)
        assert snap is not None
        here = Monitor([str(results)], settings)
        try:
            assert view(snap) == view(here.collect())
        finally:
            here.close()
        assert len(snap.runs) == 5
        assert any(r.resumed_from is not None for r in snap.runs)  # the chain was linked

        log(5, 11)  # the run goes on
        again = monitor.collect()
        assert monitor.runs is not own_readers, first.error  # the child's readers were taken over
        assert reaped(first, pid) and first.status == 0
        # ... pointing at this process's own settings and shared listings, not at copies
        assert monitor.runs.settings is settings and monitor.runs.shared is monitor._shared
        assert monitor.disk is not None and monitor.disk.shared is monitor._shared
        for tracker in monitor.runs.trackers.values():
            assert tracker.settings is settings and tracker.cache.shared is monitor._shared
        # and a snapshot's series are views into the readers' buffers, not copies of them
        tracker = monitor.runs.trackers[snap.runs[0].path]
        tag = "train_episode_rewards"
        assert np.shares_memory(snap.runs[0].series[tag].steps, tracker.series[tag]._steps)
        grown = next(r for r in again.runs if r.path == str(live))
        rewards = grown.series["train_episode_rewards"].steps
        assert len(rewards) == 15 and list(rewards) == sorted(set(rewards))  # read on, not again
        # the runs that did not change are the very objects of the first snapshot (a chain's
        # segments are linked again here: the linker's cache is keyed by id(), not taken over)
        for before, after in zip(snap.runs, again.runs, strict=True):
            if before.path != str(live) and len(before.chain) <= 1:
                assert after is before
        fresh = Monitor([str(results)], settings)
        try:
            assert view(again) == view(fresh.collect())
        finally:
            fresh.close()
    finally:
        monitor.close()


def test_a_child_that_fails_leaves_the_monitor_to_read_everything_itself(root):
    results, _, _ = root
    settings = Settings()

    def broken():
        raise OSError("the child could not read")

    forked = ForkedCall(broken)
    monitor = Monitor([str(results)], settings, first=forked)
    try:
        snap = monitor.collect()
        here = Monitor([str(results)], settings)
        try:
            assert view(snap) == view(here.collect())
        finally:
            here.close()
        assert forked.pid is None and forked.status == 1
    finally:
        monitor.close()


def test_quitting_before_the_child_is_done_ends_it(root):
    results, _, _ = root
    forked = ForkedCall(lambda: (time.sleep(60), ([], {}))[1])
    pid = forked.pid
    monitor = Monitor([str(results)], Settings(), first=forked)
    assert monitor.first_snapshot(wait=0.1) is None  # not in time: the screen comes first
    monitor.close()
    assert reaped(forked, pid) and forked.status == -9


def test_other_hosts_among_the_roots_are_read_here(tmp_path):
    assert fork_first_collect([str(tmp_path), "gpu-7:/data/results"], Settings()) is None


def test_a_front_end_quitting_ends_the_wait_on_a_slow_child(root):
    """The poll thread waits on the child's first part; quitting ends the child, so the
    wait (and the exit, which joins that thread) does not last the child's whole collect."""
    results, _, _ = root
    forked = ForkedCall(lambda: (time.sleep(60), ([], {}))[1])
    pid = forked.pid
    monitor = Monitor([str(results)], Settings(), first=forked)
    got: list = []
    poll = threading.Thread(target=lambda: got.append(monitor.collect()))
    poll.start()
    time.sleep(0.3)
    assert poll.is_alive()  # waiting on the child
    t0 = time.monotonic()
    monitor.abandon_first()
    poll.join(timeout=20)
    assert not poll.is_alive() and time.monotonic() - t0 < 10
    assert reaped(forked, pid) and forked.status == -9
    assert len(got[0].runs) == 5  # and the monitor read the runs itself
    monitor.close()


def test_a_child_declines_a_root_with_more_runs_than_it_pays_to_hand_over(root, monkeypatch):
    """Above FORK_MAX_RUNS the child only counts the runs: the monitor reads them itself (its
    own readers, no pickled copy of them)."""
    results, _, _ = root
    monkeypatch.setattr(monitor_module, "FORK_MAX_RUNS", 4)  # the root has 5 runs
    settings = Settings()
    first = fork_first_collect([str(results)], settings)
    assert first is not None
    monitor = Monitor([str(results)], settings, first=first)
    own_readers = monitor.runs
    try:
        assert monitor.first_snapshot(wait=30) is None  # declined, at once
        assert first.pid is None and first.status == 0
        snap = monitor.collect()
        assert monitor.runs is own_readers and len(snap.runs) == 5
    finally:
        monitor.close()
