"""The checkpoint scan's cache (issue 16): an idle scan lists nothing and returns the same tuple,
and every change on disk is still seen: a new checkpoint, a deleted one, one replaced, files
added within the same mtime tick as the last scan. Real directories and files throughout; the
clock is the scanner's (the settle rule), mtimes are set with os.utime where a test needs them
old or equal."""

from __future__ import annotations

import os
import shutil
import struct
import time
from pathlib import Path

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboardX import SummaryWriter

from collectors.model import Settings
from collectors.sources.runs import checkpoints as checkpoints_mod
from collectors.sources.runs.checkpoints import CheckpointScanner
from collectors.sources.runs.event_reader import masked_crc32c
from collectors.sources.runs.fscache import DirCache
from collectors.sources.runs.tracker import LOG_TREE_RESCAN, RunTracker
from tests.builders import make_run_dir, write_harl_config

FILES = ("actor_agent0.pt", "actor_agent1.pt", "critic_agent.pt", "value_normalizer.pt")


def save(run: Path, step: int, old: float | None = None, files=FILES, size: int = 1000) -> Path:
    """A HARL save; with ``old``, its files and directory (and models/) dated then."""
    d = run / "models" / f"rl_model_{step}_steps"
    d.mkdir()
    for name in files:
        (d / name).write_bytes(b"\0" * size)
        if old is not None:
            os.utime(d / name, (old, old))
    if old is not None:
        os.utime(d, (old, old))
        os.utime(run / "models", (old, old))
    return d


def count_listings(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = os.scandir
    monkeypatch.setattr(os, "scandir", lambda p: calls.append(str(p)) or real(p))
    return calls


def test_an_idle_scan_lists_nothing_and_returns_the_same_tuple(tmp_path, clock, monkeypatch):
    run = make_run_dir(tmp_path)
    old = time.time() - 3600
    for k in range(1, 6):
        save(run, k * 2_500_000, old=old + k)
    scanner = CheckpointScanner(str(run), DirCache(), clock)
    first = scanner.scan(True, 2)
    assert [c.step for c in first] == [k * 2_500_000 for k in range(1, 6)]
    assert all(c.complete for c in first)
    calls = count_listings(monkeypatch)
    assert scanner.scan(True, 2) is first
    assert calls == []  # the newest checkpoint was settled: one stat, no listing
    # Other arguments (a config that changed) judge the newest again.
    again = scanner.scan(True, 3)
    assert calls and again[-1].complete is False  # 3 actors wanted, 2 saved


def test_a_new_checkpoint_is_seen_and_the_one_before_it_is_complete(tmp_path, clock):
    run = make_run_dir(tmp_path)
    old = time.time() - 3600
    save(run, 2_500_000, old=old)
    save(run, 5_000_000, old=old, files=FILES[:1])  # cut short: incomplete, but settled
    scanner = CheckpointScanner(str(run), DirCache(), clock)
    assert [c.complete for c in scanner.scan(True, 2)] == [True, False]
    assert [c.complete for c in scanner.scan(True, 2)] == [True, False]
    save(run, 7_500_000)  # written just now, within the same second as the scan below
    cps = scanner.scan(True, 2)
    assert [c.step for c in cps] == [2_500_000, 5_000_000, 7_500_000]
    assert [c.complete for c in cps] == [True, True, False]  # a newer one exists; settling
    clock.now += 60
    assert scanner.scan(True, 2)[-1].complete is True


def test_a_deleted_checkpoint_goes_and_a_replaced_one_is_read_again(tmp_path, clock):
    run = make_run_dir(tmp_path)
    old = time.time() - 3600
    save(run, 2_500_000, old=old)
    save(run, 5_000_000, old=old + 10)
    scanner = CheckpointScanner(str(run), DirCache(), clock)
    assert scanner.scan(True, 2)[-1].bytes == 4000
    scanner.scan(True, 2)
    # Replaced under the same name (a resumed run saving the same step again): other files.
    shutil.rmtree(run / "models" / "rl_model_5000000_steps")
    save(run, 5_000_000, old=old + 20, size=3000)
    cps = scanner.scan(True, 2)
    assert [c.bytes for c in cps] == [4000, 12000]
    assert cps[-1].time == old + 20
    shutil.rmtree(run / "models" / "rl_model_5000000_steps")
    os.utime(run / "models", (old + 30, old + 30))
    cps = scanner.scan(True, 2)
    assert [c.step for c in cps] == [2_500_000]
    shutil.rmtree(run / "models" / "rl_model_2500000_steps")
    os.utime(run / "models", (old + 40, old + 40))
    assert scanner.scan(True, 2) == ()


def test_a_change_within_the_same_mtime_tick_is_still_seen(tmp_path, clock, monkeypatch):
    """The directory's mtime is left exactly as it was at the last scan (the kernel's clock tick
    is coarser than writes): a listing read within a second of that mtime is not trusted."""
    run = make_run_dir(tmp_path)
    clock.now += 3600  # every file counts as settled: only the mtimes' race is left
    d = save(run, 2_500_000, files=FILES[:3])
    scanner = CheckpointScanner(str(run), DirCache(), clock)
    assert scanner.scan(True, 2)[-1].complete is False  # no value normaliser yet
    tick = os.stat(d).st_mtime_ns
    (d / "value_normalizer.pt").write_bytes(b"\0" * 1000)
    os.utime(d, ns=(tick, tick))  # the same tick
    cp = scanner.scan(True, 2)[-1]
    assert cp.complete is True and cp.bytes == 4000
    # The same for models/: a new checkpoint created in the tick of the last listing.
    models = run / "models"
    tick = os.stat(models).st_mtime_ns
    save(run, 5_000_000)
    os.utime(models, ns=(tick, tick))
    assert [c.step for c in scanner.scan(True, 2)] == [2_500_000, 5_000_000]


def test_a_quiet_newest_checkpoint_is_listed_again_after_a_while(tmp_path, clock, monkeypatch):
    """A file rewritten in place leaves its directory's mtime alone: the newest checkpoint is
    listed again every RECHECK_SECONDS all the same."""
    run = make_run_dir(tmp_path)
    old = time.time() - 3600
    d = save(run, 2_500_000, old=old)
    scanner = CheckpointScanner(str(run), DirCache(), clock)
    assert scanner.scan(True, 2)[-1].bytes == 4000
    (d / "critic_agent.pt").write_bytes(b"\0" * 5000)  # in place: the directory is unchanged
    os.utime(d / "critic_agent.pt", (old, old))
    assert scanner.scan(True, 2)[-1].bytes == 4000  # cached...
    monkeypatch.setattr(checkpoints_mod, "RECHECK_SECONDS", 0.0)
    assert scanner.scan(True, 2)[-1].bytes == 8000  # ...until it is looked at again


def _finished_run(tmp_path: Path) -> tuple[Path, Path]:
    run = make_run_dir(tmp_path)
    write_harl_config(run)
    w = SummaryWriter(str(run / "logs"), flush_secs=3600)
    for i in range(1, 4):
        w.add_scalars("train_episode_rewards", {"aver_rewards": float(i)}, i * 500_000)
    w.close()
    (run / "logs" / "summary.json").write_text("{}")
    files = sorted((run / "logs" / "train_episode_rewards").rglob("events.out.tfevents.*"))
    return run, files[0]


def _append_point(path: Path, step: int) -> None:
    """One more scalar record appended, framed as TFRecord (the writer is closed)."""
    ev = event_pb2.Event(wall_time=time.time(), step=step)
    ev.summary.CopyFrom(
        summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag="train_episode_rewards", simple_value=9.0)]
        )
    )
    payload = ev.SerializeToString()
    head = struct.pack("<Q", len(payload))
    rec = head + struct.pack("<I", masked_crc32c(head)) + payload
    rec += struct.pack("<I", masked_crc32c(payload))
    with open(path, "ab") as f:
        f.write(rec)


def test_a_finished_quiet_run_is_read_every_few_seconds_not_every_poll(tmp_path, clock):
    run, events = _finished_run(tmp_path)
    tracker = RunTracker(str(run), Settings(), clock)
    first = tracker.poll()
    assert first.step == 1_500_000
    clock.now += 120  # a minute of silence after the summary
    assert tracker.poll().step == 1_500_000
    _append_point(events, 2_000_000)
    clock.now += 1
    assert tracker.poll().step == 1_500_000  # not looked at on this poll...
    clock.now += LOG_TREE_RESCAN
    assert tracker.poll().step == 2_000_000  # ...but within LOG_TREE_RESCAN seconds


def test_a_run_without_its_summary_is_read_at_every_poll(tmp_path, clock):
    run, events = _finished_run(tmp_path)
    (run / "logs" / "summary.json").unlink()
    tracker = RunTracker(str(run), Settings(), clock)
    assert tracker.poll().step == 1_500_000
    clock.now += 120
    tracker.poll()
    _append_point(events, 2_000_000)
    clock.now += 1
    assert tracker.poll().step == 2_000_000
