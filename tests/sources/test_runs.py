"""Run discovery, config, checkpoints, progress, speed and state, on real run directories."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from tensorboardX import SummaryWriter

from collectors.model.run import CRASHED, FINISHED, RUNNING, STALLED, STARTING
from collectors.model.run_config import flatten
from collectors.model.run_dir import parse_run_dir_name
from collectors.model.settings import Settings
from collectors.simulator.trainer import write_instant_run
from collectors.sources.runs.checkpoints import CheckpointScanner
from collectors.sources.runs.config_file import load_config
from collectors.sources.runs.discovery import Discovery
from collectors.sources.runs.fscache import DirCache
from collectors.sources.runs.tracker import RunsCollector, RunTracker, steps_per_hour
from tests.builders import HARL_CONFIG, make_run_dir, write_harl_config

STEP = 500_000  # a log point every 5 updates of 200 x 500 steps


def log_points(
    run: Path, n: int, t0: float, dt: float = 90.0, start: int = 1, tags=None, writer=None
):
    """Log n points like HARL's log_train (add_scalars, one sub-writer per key)."""
    w = writer or SummaryWriter(str(run / "logs"), flush_secs=3600)
    tags = tags or ("train_episode_rewards", "agent0/dist_entropy", "critic/value_loss")
    for i in range(start, start + n):
        for tag in tags:
            key = "aver_rewards" if tag == "train_episode_rewards" else tag
            w.add_scalars(tag, {key: -20.0 + i * 0.01}, i * STEP, walltime=t0 + i * dt)
    if writer is None:
        w.close()
    return w


def date_main_file(run: Path, started: float) -> None:
    """Give the main event file the name a writer created at ``started`` would have had (the
    real writer names it after the real clock, while these tests log simulated wall times)."""
    for f in (run / "logs").glob("events.out.tfevents.*"):
        host = f.name.split(".", 4)[4]
        f.rename(f.with_name(f"events.out.tfevents.{int(started)}.{host}"))


def save_checkpoint(run: Path, step: int, mtime: float | None = None, files=None):
    d = run / "models" / f"rl_model_{step}_steps"
    d.mkdir(parents=True)
    for name in files or (
        "actor_agent0.pt",
        "actor_agent1.pt",
        "critic_agent.pt",
        "value_normalizer.pt",
    ):
        (d / name).write_bytes(b"\0" * 1000)
        if mtime is not None:
            os.utime(d / name, (mtime, mtime))
    return d


# -- discovery --------------------------------------------------------------------------------


def test_run_dir_name_is_local_time():
    seed, started = parse_run_dir_name("seed-00001-2025-11-15-15-34-13")
    assert seed == 1
    assert time.localtime(started)[:6] == (2025, 11, 15, 15, 34, 13)
    assert parse_run_dir_name("seed-1-2025-11-15") is None


def test_discovers_runs_at_any_depth_and_ignores_lookalikes(tmp_path):
    a = make_run_dir(tmp_path / "results")
    b = make_run_dir(tmp_path / "results", exp="safe", stamp="2025-11-19-13-26-03")
    deep = tmp_path / "x" / "y" / "z" / "seed-00003-2025-01-01-00-00-00"
    (deep / "logs").mkdir(parents=True)
    only_config = tmp_path / "seed-00004-2025-01-01-00-00-00"
    only_config.mkdir()
    (only_config / "config.json").write_text("{}")
    (tmp_path / "seed-00005-2025-01-01-00-00-00").mkdir()  # empty: not a run
    (tmp_path / "results" / "seed-notes").mkdir()
    runs = Discovery([str(tmp_path)]).scan().runs
    assert sorted(runs) == sorted(map(str, [a, b, deep, only_config]))


def test_symlink_loops_and_duplicates_do_not_hang(tmp_path):
    run = make_run_dir(tmp_path / "results")
    (tmp_path / "results" / "loop").symlink_to(tmp_path / "results")
    (tmp_path / "results" / "mapush" / "again").symlink_to(tmp_path)
    (tmp_path / "results" / "dangling").symlink_to(tmp_path / "nowhere")
    res = Discovery([str(tmp_path / "results"), str(tmp_path)]).scan()
    assert res.runs == [str(run)]
    assert res.dirs_visited < 50


def test_rescan_of_a_huge_unchanged_tree_lists_nothing_again(tmp_path, monkeypatch):
    root = tmp_path / "results"
    run = make_run_dir(root)
    junk = root / "datasets"
    for i in range(300):
        d = junk / f"d{i:03d}"
        d.mkdir(parents=True)
        for j in range(10):
            (d / f"f{j}.npy").write_bytes(b"")
    disc = Discovery([str(root)])
    assert disc.scan().runs == [str(run)]
    calls = []
    real = os.scandir
    monkeypatch.setattr(os, "scandir", lambda p: calls.append(p) or real(p))
    assert disc.scan().runs == [str(run)]
    assert calls == []  # one stat per directory, no listing
    new = make_run_dir(root, exp="safe")
    assert disc.scan().runs == sorted([str(run), str(new)])
    assert 0 < len(calls) <= 6  # only the directories that changed


def test_scan_is_bounded(tmp_path):
    for i in range(60):
        (tmp_path / f"d{i}").mkdir()
    res = Discovery([str(tmp_path)], max_dirs=20).scan()
    assert res.dirs_visited == 21
    assert any("stopped after 20 directories" in e for e in res.errors)


def test_missing_root_is_an_error_not_a_crash(tmp_path):
    res = Discovery([str(tmp_path / "nope")]).scan()
    assert res.runs == [] and "no such directory" in res.errors[0]


# -- config -----------------------------------------------------------------------------------


def test_harl_config_with_tabs_and_float_steps(harl_run):
    text = (harl_run / "config.json").read_text()
    assert ":\t" in text
    cfg = load_config(str(harl_run / "config.json"))
    assert cfg.error is None
    assert cfg.num_env_steps == 100_000_000
    assert cfg.steps_per_update == 100_000
    assert cfg.total_updates == 1000
    assert cfg.log_every_steps == 500_000
    assert cfg.save_every_steps("A") == 2_500_000
    assert cfg.save_every_steps("B") == 10_000_000
    assert cfg.last_log_step == 100_000_000
    assert cfg.flat["algo_args.model.lr"] == 0.0005
    assert cfg.get("max_grad_norm") == 10.0
    assert flatten({"a": {"b": {"c": 1}, "d": [1, 2]}}) == {"a.b.c": 1, "a.d": [1, 2]}


def test_missing_keys_and_malformed_config(tmp_path):
    run = make_run_dir(tmp_path)
    (run / "config.json").write_text('{"main_args":\t{"algo":\t"happo"}}')
    cfg = load_config(str(run / "config.json"))
    assert cfg.error is None and cfg.num_env_steps is None and cfg.last_log_step is None
    (run / "config.json").write_text('{"algo_args": {"train": ')
    cfg = load_config(str(run / "config.json"))
    assert str(run / "config.json") in cfg.error and "line 1" in cfg.error
    snap = RunsCollector([str(tmp_path)]).collect()
    (r,) = snap.runs
    assert any("config.json" in e and "malformed" in e for e in r.errors)
    assert r.total_steps is None and r.progress is None


# -- checkpoints ------------------------------------------------------------------------------


def test_checkpoints_sorted_numerically_with_completeness(harl_run, clock):
    old = clock.now - 3600
    for step in (10_000_000, 2_500_000, 7_500_000, 5_000_000):
        save_checkpoint(harl_run, step, mtime=old)
    save_checkpoint(harl_run, 12_500_000, files=("actor_agent0.pt",))  # being written right now
    scanner = CheckpointScanner(str(harl_run), DirCache(), clock)
    cps = scanner.scan(use_valuenorm=True, n_agents=2)
    assert [c.step for c in cps] == [2_500_000, 5_000_000, 7_500_000, 10_000_000, 12_500_000]
    assert [c.complete for c in cps] == [True] * 4 + [False]
    assert cps[0].bytes == 4000 and cps[0].time == pytest.approx(old)
    clock.now += 60  # settled, but files are still missing: not complete
    assert scanner.scan(use_valuenorm=True, n_agents=2)[-1].complete is False
    shutil.rmtree(harl_run / "models" / "rl_model_12500000_steps")
    save_checkpoint(harl_run, 12_500_000, mtime=clock.now - 30)
    assert scanner.scan(use_valuenorm=True, n_agents=2)[-1].complete is True
    assert scanner.layout_hint == "A"


def test_layout_b_and_u_checkpoints(tmp_path, clock):
    run = make_run_dir(tmp_path)
    for m in ("10M", "20M", "100M", "2.5M"):
        d = run / "checkpoints" / m
        d.mkdir(parents=True)
        (d / "actor_agent0.pt").write_bytes(b"x")
        (d / "critic_agent.pt").write_bytes(b"x")
    s = CheckpointScanner(str(run), DirCache(), clock)
    assert [c.step for c in s.scan()] == [2_500_000, 10_000_000, 20_000_000, 100_000_000]
    assert s.layout_hint == "B"
    u = make_run_dir(tmp_path, exp="u")
    for f in ("actor_agent0.pt", "critic_agent.pt"):
        (u / "models" / f).write_bytes(b"y" * 10)
    su = CheckpointScanner(str(u), DirCache(), clock)
    (cp,) = su.scan()
    assert su.layout_hint == "U" and cp.bytes == 20 and cp.step == -1


# -- progress, speed, state -------------------------------------------------------------------


def test_progress_speed_eta_from_event_wall_times(harl_run, clock):
    t0 = clock.now - 95 * 90
    log_points(harl_run, 95, t0)  # 47.5M steps, a point every 90 s = 20M steps/hour
    for k in range(1, 20):
        save_checkpoint(harl_run, k * 2_500_000, mtime=t0 + k * 450)
    os.utime(harl_run / "logs", None)
    r = RunTracker(str(harl_run), Settings(), clock).poll()
    assert r.state == RUNNING
    assert r.step == 47_500_000 and r.total_steps == 100_000_000
    assert r.progress == pytest.approx(0.475)
    assert r.steps_per_hour == pytest.approx(20e6, rel=1e-3)
    assert r.eta == pytest.approx(r.last_data + 52.5e6 / 20e6 * 3600, abs=1)
    assert len(r.checkpoints) == 19 and r.checkpoints[-1].step == 47_500_000
    assert r.reward.tag == "train_episode_rewards"
    assert r.reward.latest == pytest.approx(-20 + 0.95, abs=1e-5)
    assert r.scalars["agent0/dist_entropy"].count == 95
    assert r.layout == "A"


def test_speed_uses_recent_window_not_whole_run():
    wall = np.concatenate([np.arange(0, 100) * 180.0, 18000 + np.arange(1, 101) * 90.0])
    steps = np.arange(1, 201) * STEP
    assert steps_per_hour(steps, wall) == pytest.approx(20e6, rel=1e-6)
    assert steps_per_hour(steps[:1], wall[:1]) is None


def test_state_transitions(harl_run, clock):
    settings = Settings(stall_timeout=360)
    tracker = RunTracker(str(harl_run), settings, clock)
    started = parse_run_dir_name(harl_run.name)[1]
    clock.now = started + 30
    assert tracker.poll().state == STARTING
    log_points(harl_run, 10, clock.now - 10 * 90)
    os.utime(harl_run / "logs", None)
    r = tracker.poll()
    assert r.state == RUNNING and r.eta is not None
    clock.now = r.last_data + r.stall_after + 1
    r = tracker.poll()
    assert r.state == STALLED and r.eta is None  # no ETA in the past
    clock.now = r.last_data + 3 * r.stall_after + 1
    r = tracker.poll()
    assert r.state == CRASHED and r.eta is None and r.ended == r.last_data
    (harl_run / "logs" / "summary.json").write_text("{}")
    assert tracker.poll().state == FINISHED


def test_final_step_means_finished_with_whole_run_speed(tmp_path, clock):
    run = make_run_dir(tmp_path)
    cfg = json.loads(json.dumps(HARL_CONFIG))
    cfg["algo_args"]["train"]["num_env_steps"] = 10_000_000.0
    write_harl_config(run, cfg)
    started = parse_run_dir_name(run.name)[1]
    log_points(run, 20, started, dt=180.0)  # 10M in 3600 s after the start
    date_main_file(run, started)  # the start instant comes from the main event file
    r = RunTracker(str(run), Settings(), clock).poll()
    assert r.state == FINISHED and r.progress == 1.0
    assert r.steps_per_hour == pytest.approx(10e6, rel=1e-6)
    assert r.eta is None


def test_no_config_still_visible(tmp_path, clock):
    run = make_run_dir(tmp_path)
    log_points(run, 5, clock.now - 500)
    r = RunTracker(str(run), Settings(), clock).poll()
    assert r.step == 5 * STEP and r.total_steps is None and r.progress is None
    assert r.algo == "happo" and r.exp_name == "cuboid"  # from the path
    assert any("config.json" in e and "missing" in e for e in r.errors)


def test_layout_b_reward_tag_and_command_txt(tmp_path, clock):
    run = make_run_dir(tmp_path)
    write_harl_config(run)
    (run / "command.txt").write_text("# launched by harl_mapush\npython train.py\n")
    w = SummaryWriter(str(run / "logs"), flush_secs=3600)
    for i in range(1, 11):
        w.add_scalar(
            "average_step_reward", -0.1 + i * 0.01, i * STEP, walltime=clock.now - 1000 + i * 90
        )
        w.add_scalar("rewards/push", 0.5, i * STEP, walltime=clock.now - 1000 + i * 90)
        w.add_histogram("actions", np.arange(10.0), i * STEP)
    w.close()
    r = RunTracker(str(run), Settings(), clock).poll()
    assert r.layout == "B"
    assert r.reward.tag == "average_step_reward" and r.reward.best == pytest.approx(0.0, abs=1e-6)
    assert "actions" not in r.scalars


@pytest.mark.slow
def test_restart_in_same_directory_newer_data_wins(harl_run, clock):
    log_points(harl_run, 60, clock.now - 10000, tags=("train_episode_rewards",))
    time.sleep(1.1)  # the next writer's file name carries a later epoch
    log_points(harl_run, 10, clock.now - 900, start=41, tags=("train_episode_rewards",))
    tracker = RunTracker(str(harl_run), Settings(), clock)
    r = tracker.poll()
    steps = r.series["train_episode_rewards"].steps
    assert steps[-1] == 50 * STEP and len(steps) == 50
    assert tracker.points_purged == 20


def test_live_appends_new_tags_and_deleted_run(tmp_path, clock):
    root = tmp_path / "results"
    run = make_run_dir(root)
    write_harl_config(run)
    w = log_points(
        run,
        3,
        clock.now - 300,
        tags=("train_episode_rewards",),
        writer=SummaryWriter(str(run / "logs"), flush_secs=3600),
    )
    w.flush()
    collector = RunsCollector([str(root)], Settings(), clock, rescan_interval=0)
    time.sleep(0.2)
    first = collector.collect()
    # a new tag appears (its sub-writer directory is created at the first log call)
    log_points(
        run, 3, clock.now - 100, start=4, tags=("train_episode_rewards", "agent1/ratio"), writer=w
    )
    w.close()
    clock.now += 11  # past the logs/ tree rescan period
    snap = collector.collect()
    (r,) = snap.runs
    assert (
        r.scalars["train_episode_rewards"].count
        == 6
        > first.runs[0].scalars["train_episode_rewards"].count
    )
    assert r.scalars["agent1/ratio"].count == 3
    # a second run appears; then the first is deleted between two polls
    other = make_run_dir(root, exp="safe")
    assert len(collector.collect().runs) == 2
    shutil.rmtree(run)
    snap = collector.collect()
    assert [x.path for x in snap.runs] == [str(other)]
    assert snap.errors == ()


def test_unchanged_poll_returns_the_same_snapshot(harl_run, clock):
    log_points(harl_run, 10, clock.now - 900)
    tracker = RunTracker(str(harl_run), Settings(), clock)
    a = tracker.poll()
    assert tracker.poll() is a


def test_discovery_from_the_filesystem_root_never_walks_into_proc_sys_dev(tmp_path):
    """``happo-top`` run from / (or a home holding a link to /proc) must not list kernel trees."""
    (tmp_path / "to_proc").symlink_to("/proc")
    for roots in (["/"], [str(tmp_path)]):
        d = Discovery(roots, max_depth=2, max_dirs=5_000)
        d.scan()
        listed = list(d.cache._cache)
        assert listed
        for bad in ("/proc", "/sys", "/dev"):
            assert not [p for p in listed if p == bad or p.startswith(bad + "/")], bad
        assert not [p for p in listed if p.startswith(str(tmp_path / "to_proc"))]


def test_discovery_one_run_through_symlinked_roots_and_run_dirs(tmp_path):
    """A run reached through a root that is a symlink, through a symlinked parent, and through a
    symlink to the run directory itself is one run, under its shortest real-path way there."""

    real = write_instant_run(tmp_path / "results", num_env_steps=2_000_000, finished=True)
    other = write_instant_run(tmp_path / "results", num_env_steps=2_000_000, finished=True, seed=2)
    (tmp_path / "alias").symlink_to(real.parent)  # a root that is a symlink to the runs' parent
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "linked-run").symlink_to(real)  # a symlink to one run itself
    roots = [str(tmp_path / "results"), str(tmp_path / "alias"), str(tmp_path / "more")]
    found = Discovery(roots).scan().runs
    assert sorted(os.path.realpath(p) for p in found) == sorted(
        os.path.realpath(p) for p in (real, other)
    )
    assert len(found) == 2
