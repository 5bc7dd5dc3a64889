"""collectors.disk: incremental run sizes, filesystems, and the projection of what running runs
will still write. Real directories; statvfs faked only to make a filesystem "full"."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from tensorboardX import SummaryWriter

from collectors.model import Settings
from collectors.model.run import CRASHED, FINISHED, RUNNING, STALLED, Checkpoint
from collectors.monitor import Monitor
from collectors.simulator.trainer import write_instant_run
from collectors.sources import disk
from collectors.sources.disk import DiskCollector, TreeSizer, project_run, save_interval
from collectors.sources.runs.tracker import RunsCollector
from tests.builders import run_snapshot

OLD = time.time() - 3600


def _write(path: Path, n: int, old: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * n)
    if old:
        os.utime(path, (OLD, OLD))


def _du(root: Path) -> int:
    total = 0
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total


def _run(path="/r", state=RUNNING, layout="A", step=0, total=None, cps=(), config=None, rid="id1"):
    return run_snapshot(
        id=rid,
        path=path,
        layout=layout,
        state=state,
        step=step,
        total_steps=total,
        checkpoints=tuple(cps),
        config=config or {},
        started=None,
    )


def _cp(step: int, size: int, complete: bool = True) -> Checkpoint:
    return Checkpoint(step, 0.0, size, complete, f"/r/models/rl_model_{step}_steps")


# --------------------------------------------------------------------------- TreeSizer


def test_tree_sizer_incremental(tmp_path, clock):
    run = tmp_path / "run"
    _write(run / "config.json", 50)
    _write(run / "logs" / "a" / "b" / "events.out.tfevents.1.h", 100, old=False)  # growing
    _write(run / "models" / "rl_model_100_steps" / "actor_agent0.pt", 200)
    _write(run / "models" / "rl_model_100_steps" / "critic_agent.pt", 300)
    (run / "link").symlink_to(run / "models")  # not followed
    s = TreeSizer(str(run), clock)
    assert s.sizes() == {"": 50, "logs": 100, "models": 500}
    first = s.syscalls
    clock.now += 1
    assert s.sizes() == {"": 50, "logs": 100, "models": 500}
    # nothing changed: one stat per directory (6 of them) and one for the recently written
    # ("hot") event file; no listing, no stat of settled files
    assert s.syscalls - first == 7
    # the growing event file is seen without its directory changing
    ev = run / "logs" / "a" / "b" / "events.out.tfevents.1.h"
    with open(ev, "ab") as f:
        f.write(b"y" * 25)
    clock.now += 1
    assert s.sizes()["logs"] == 125
    # a new checkpoint directory and file are picked up
    _write(run / "models" / "rl_model_200_steps" / "actor_agent0.pt", 1000)
    assert s.sizes()["models"] == 1500
    # a settled file that changes behind our back (mtime forced old) is seen at the full refresh
    cfg = run / "config.json"
    cfg.write_bytes(b"z" * 80)
    os.utime(cfg, (OLD, OLD))  # (its directory did not change: no entry was added)
    assert s.sizes()[""] == 50
    clock.now += disk.FULL_REFRESH
    assert s.sizes()[""] == 80
    # deleted trees go away, with their cache entries
    shutil.rmtree(run / "models" / "rl_model_100_steps")
    assert s.sizes()["models"] == 1000
    assert not any("rl_model_100_steps" in d for d in s._dirs)
    assert s.total() == 80 + 125 + 1000
    shutil.rmtree(run)
    assert s.sizes() == {} and s._dirs == {}


# --------------------------------------------------------------------------- projection


def test_projection_layout_a():
    cps = [_cp(s, 580_000) for s in range(2_500_000, 45_000_001, 2_500_000)]
    r = _run(layout="A", step=47_500_000, total=100_000_000, cps=cps)
    assert save_interval(r) == 2_500_000
    logs = 1_000_000
    projected, left = project_run(r, logs)
    assert left == 40 - 18
    assert projected == int(22 * 580_000 + logs / 47_500_000 * 52_500_000)


def test_projection_layout_b_and_final_save():
    cps = [_cp(s, 1_000) for s in (10_000_000, 20_000_000, 30_000_000, 40_000_000)]
    r = _run(layout="B", step=45_000_000, total=100_000_000, cps=cps)
    assert project_run(r, 0) == (6 * 1_000, 6)
    r = _run(layout="B", step=45_000_000, total=105_000_000, cps=cps)
    assert project_run(r, 0) == (7 * 1_000, 7)  # 50..100M, then the final save at 105M


def test_projection_uses_last_complete_checkpoint_size():
    cps = [_cp(2_500_000, 500), _cp(5_000_000, 600), _cp(7_500_000, 10, complete=False)]
    r = _run(step=7_600_000, total=10_000_000, cps=cps)
    assert project_run(r, 0) == (1 * 600, 1)


def test_projection_from_config_before_any_checkpoint():
    config = {
        "algo_args.train.eval_interval": 25,
        "algo_args.train.episode_length": 200,
        "algo_args.train.n_rollout_threads": 500,
    }
    r = _run(step=1_000_000, total=100_000_000, config=config)
    assert save_interval(r) == 2_500_000
    projected, left = project_run(r, 10_000)
    assert left == 40 and projected == int(10_000 / 1_000_000 * 99_000_000)  # size unknown yet
    assert save_interval(_run(layout="B")) == 10_000_000


def test_projection_layout_u_and_not_running():
    r = _run(layout="U", step=50, total=100, cps=[Checkpoint(25, 0.0, 999, True, "/r/models")])
    assert project_run(r, 1000) == (1000, 0)  # overwritten in place: only the logs grow
    for state in (FINISHED, CRASHED):
        assert project_run(_run(state=state, step=50, total=100), 1000) == (None, None)
    assert project_run(_run(step=50, total=None), 1000) == (None, None)
    assert project_run(_run(state=STALLED, step=0, total=100), 0) == (None, None)


# --------------------------------------------------------------------------- the collector


def test_collector_on_real_runs(tmp_path):
    root = tmp_path / "results"
    write_instant_run(root, num_env_steps=2_000_000, finished=True, n_rollout_threads=50)
    write_instant_run(
        root, exp_name="live", num_env_steps=5_000_000, finished=False, stop_at=0.5, layout="B",
        checkpoint_every=500_000, n_rollout_threads=50,
    )  # fmt: skip
    snap = RunsCollector([str(root)]).collect()
    assert len(snap.runs) == 2
    dc = DiskCollector([str(root), str(tmp_path / "missing")])
    ds = dc.collect(snap.runs)
    assert any("missing" in e for e in ds.errors)
    for r in snap.runs:
        u = ds.usage(r.path)
        assert u is not None and u.id == r.id
        assert u.total == _du(Path(r.path))
        assert u.logs == _du(Path(r.path) / "logs")
        assert u.checkpoints == _du(Path(r.path) / "models") + _du(Path(r.path) / "checkpoints")
    (fs,) = ds.filesystems
    real = shutil.disk_usage(root)
    assert fs.total == real.total and abs(fs.free - real.free) < 64 << 20
    assert str(root).startswith(fs.mount) and fs.roots == (str(root),) and fs.runs == 2
    assert ds.filesystem_of(snap.runs[0].path) == fs
    doc = json.loads(json.dumps(ds.to_json()))
    assert doc["filesystems"][0]["mount"] == fs.mount and len(doc["runs"]) == 2


def test_warning_when_running_runs_will_not_fit(tmp_path, monkeypatch):
    root = tmp_path / "results"
    path = write_instant_run(root, num_env_steps=5_000_000, finished=False, stop_at=0.5)
    base = RunsCollector([str(root)]).collect().runs[0]
    run = _run(
        path=base.path, step=base.step, total=base.total_steps, cps=base.checkpoints,
        config=base.config, layout=base.layout, rid=base.id,
    )  # fmt: skip
    need, left = project_run(run, _du(path / "logs"))
    assert need and need > 0 and left and left > 0
    real = os.statvfs

    class Tiny:
        f_frsize = 4096
        f_blocks = 1_000_000
        f_bfree = 10
        f_bavail = 1  # 4 KiB free

    monkeypatch.setattr(disk.os, "statvfs", lambda p: Tiny())
    ds = DiskCollector([str(root)]).collect([run])
    (fs,) = ds.filesystems
    assert fs.free == 4096 and fs.projected == need and fs.running == 1
    assert fs.warning and fs.mount in fs.warning and "only 4.0K is free" in fs.warning
    assert ds.warnings == (fs.warning,)
    monkeypatch.setattr(disk.os, "statvfs", real)
    ds = DiskCollector([str(root)]).collect([run])
    assert ds.filesystems[0].warning is None  # there is room on the real disk
    # a finished run needs nothing more
    done = DiskCollector([str(root)]).collect([_run(path=base.path, state=FINISHED)])
    assert done.filesystems[0].projected == 0


def test_cadence_idle_runs_rarely(tmp_path, clock):
    r1 = tmp_path / "a" / "seed-00001-2025-01-01-00-00-00"
    r2 = tmp_path / "b" / "seed-00001-2025-01-01-00-00-00"
    _write(r1 / "logs" / "x", 10, old=False)
    _write(r2 / "logs" / "x", 10, old=False)
    live = _run(path=str(r1), state=RUNNING, rid="a")
    idle = _run(path=str(r2), state=FINISHED, rid="b")
    dc = DiskCollector([str(tmp_path)], clock, live_interval=10.0, idle_interval=300.0)
    dc.collect([live, idle])
    _write(r1 / "logs" / "y", 5, old=False)
    _write(r2 / "logs" / "y", 5, old=False)
    clock.now += 5
    ds = dc.collect([live, idle])
    assert ds.usage(str(r1)).logs == 10 and ds.usage(str(r2)).logs == 10  # cached
    clock.now += 6
    ds = dc.collect([live, idle])
    assert ds.usage(str(r1)).logs == 15 and ds.usage(str(r2)).logs == 10
    clock.now += 300
    assert dc.collect([live, idle]).usage(str(r2)).logs == 15
    # a run directory that disappears is dropped
    shutil.rmtree(r1)
    clock.now += 11
    assert dc.collect([live, idle]).usage(str(r1)) is None
    dc.collect([idle])
    assert str(r1) not in dc._sizers and str(r1) not in dc._sized


def test_nothing_to_watch(tmp_path):
    ds = DiskCollector([str(tmp_path / "missing-root")]).collect([])
    assert ds.filesystems == () and ds.errors and ds.to_json()["filesystems"] == []


# --------------------------------------------------------------------------- shared listings


def _usage_by_du(run: Path) -> tuple[int, int, int]:
    logs = _du(run / "logs")
    ckpt = sum(_du(run / d) for d in ("models", "checkpoints") if (run / d).exists())
    return logs, ckpt, _du(run) - logs - ckpt


def test_monitor_sizes_runs_from_the_listings_its_readers_made(tmp_path, clock):
    """The monitor's disk sizing takes logs/, models/ and every checkpoint directory from what
    the run readers listed in the same poll: the sizes are what du says (symlinks not counted,
    a checkpoint's own sub-directory counted), and the sizer lists only what no reader
    lists (the run directory itself, the checkpoint's sub-directory). After an event file grows and a checkpoint is added, the next sizing is right too."""
    root = tmp_path / "results"
    run = write_instant_run(
        root, num_env_steps=2_000_000, finished=False, stop_at=0.8, eval_interval=2
    )
    models = run / "models"
    cps = sorted(p for p in models.iterdir() if p.is_dir())
    assert len(cps) >= 2
    _write(cps[0] / "extra" / "optimizer.pt", 700)  # a sub-directory inside a checkpoint
    (cps[0] / "link.pt").symlink_to(cps[0] / "extra" / "optimizer.pt")  # counted by nobody
    (run / "logs" / "ln").symlink_to(run / "models")
    mon = Monitor([str(root)], Settings(), clock, processes=False, gpu=False, slurm=False)
    try:
        snap = mon.collect()
        (r,) = snap.runs
        u = snap.disks.runs[r.path]
        assert (u.logs, u.checkpoints, u.other) == _usage_by_du(run)
        assert mon.disk is not None
        sizer = mon.disk._sizers[r.path]
        # the run directory: one stat, one listing, one stat per file in it; below it only the
        # checkpoint's sub-directory, which no reader lists (a stat, a listing, its one file)
        files = [e for e in os.scandir(run) if e.is_file(follow_symlinks=False)]
        assert sizer.syscalls == 2 + len(files) + 3
        assert not mon._shared  # dropped after the poll

        events = sorted((run / "logs").rglob("events.out.tfevents.*"))
        with open(events[-1], "ab") as f:
            f.write(b"z" * 1000)
        _write(models / "rl_model_999999999_steps" / "actor_agent0.pt", 333, old=False)
        clock.now += 3600
        snap = mon.collect()
        u = snap.disks.runs[r.path]
        assert (u.logs, u.checkpoints, u.other) == _usage_by_du(run)
        # and the same as a sizer that shares nothing
        alone = TreeSizer(str(run), clock).sizes()
        assert sizer.sizes() == alone
    finally:
        mon.close()


def test_event_readers_take_the_walks_stat_and_still_see_new_files(tmp_path, clock, monkeypatch):
    """In the monitor, the logs/ walk's listing stats each event file once and its reader takes
    that stat: no event file is stat'ed twice in a cold collect. A file that tensorboardX adds
    afterwards (a new writer, as a restarted run makes) is read at the next walk, through the
    same path."""
    root = tmp_path / "results"
    run = write_instant_run(root, num_env_steps=2_000_000, finished=False, stop_at=0.8)
    calls: list[str] = []
    real_stat = os.stat

    def counting_stat(path, *a, **k):
        calls.append(os.fspath(path))
        return real_stat(path, *a, **k)

    mon = Monitor([str(root)], Settings(), clock, processes=False, gpu=False, slurm=False)
    try:
        monkeypatch.setattr(os, "stat", counting_stat)
        snap = mon.collect()
        monkeypatch.setattr(os, "stat", real_stat)
        (r,) = snap.runs
        events = [c for c in calls if "tfevents" in os.path.basename(c)]
        assert not events  # every event file's stat came from the walk (DirEntry.stat)
        tags = mon.runs.trackers[r.path].series
        assert "train_episode_rewards" in tags
        before = len(tags["train_episode_rewards"])

        w = SummaryWriter(str(run / "logs" / "extra_tag" / "extra_tag"), flush_secs=3600)
        w.add_scalar("extra_tag", 7.5, 123)
        w.close()
        clock.now += 11  # past the walk's interval
        snap = mon.collect()
        (r,) = snap.runs
        assert r.scalars["extra_tag"].value == 7.5
        assert len(mon.runs.trackers[r.path].series["train_episode_rewards"]) == before
        assert not mon.runs.trackers[r.path].cache.fresh  # taken by the readers or dropped
    finally:
        mon.close()
