"""The whole snapshot: runs from files, refined by their real processes, with health and labels."""

from __future__ import annotations

import json
import signal
import time

import pytest

from collectors.model.settings import Settings
from collectors.monitor import Monitor
from collectors.simulator.trainer import spawn, write_instant_run
from tests.cli.test_cli import happo_top


def wait_for(cond, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


@pytest.fixture
def live(tmp_path):
    procs = []

    def start(**kw):
        p = spawn(tmp_path / "results", flush_secs=1, **kw)
        procs.append(p)
        return p

    yield tmp_path / "results", start
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_live_run_has_its_process_and_a_killed_one_is_crashed_at_once(live):
    root, start = live
    proc = start(num_env_steps=100_000_000, duration=120, exp_name="cuboid")
    mon = Monitor([str(root)], Settings(stall_timeout=600), gpu=False)
    try:
        run = wait_for(lambda: next((r for r in mon.collect().runs if r.process is not None), None))
        assert run.process.pid == proc.pid and run.state in ("starting", "running")
        assert run.process.title.startswith("happo-mapush-cuboid")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # The files alone would say "running" for the whole stall period (600 s here).
        run = wait_for(
            lambda: next((r for r in mon.collect().runs if r.state == "crashed"), None), 15
        )
        assert run.process is None and run.eta is None
        assert any(f.level == "bad" for f in run.health)
    finally:
        mon.close()


def test_siblings_are_labelled_and_json_carries_system_parts(tmp_path):
    root = tmp_path / "results"
    now = time.time()
    write_instant_run(root, exp_name="cuboid", preset="basic", start_time=now - 7 * 3600)
    write_instant_run(root, exp_name="cuboid", preset="safe", start_time=now - 6 * 3600)
    doc = json.loads(happo_top("--once", "--json", str(root)).stdout)
    labels = sorted(r["label"] for r in doc["runs"])
    assert all("max_grad_norm" in label or "lr" in label for label in labels), labels
    assert labels[0] != labels[1]
    assert "available" in doc["gpus"] and doc["disks"]["filesystems"][0]["free"] > 0
    for r in doc["runs"]:
        assert r["state"] == "finished"
        assert {f["rule"] for f in r["health"]} >= {"entropy", "reward"}
        assert all(f["level"] in ("ok", "warn", "bad") for f in r["health"])


def test_unchanged_runs_are_the_same_objects(tmp_path):
    root = tmp_path / "results"
    write_instant_run(root, exp_name="a", start_time=time.time() - 7 * 3600)
    mon = Monitor([str(root)], Settings(), gpu=False)
    try:
        first = mon.collect().runs
        assert mon.collect().runs[0] is first[0]
    finally:
        mon.close()


def test_a_failing_part_costs_only_that_part(tmp_path, monkeypatch):
    root = tmp_path / "results"
    write_instant_run(root, exp_name="a", start_time=time.time() - 7 * 3600)
    mon = Monitor([str(root)], Settings(), gpu=False)

    def boom(*a, **k):
        raise RuntimeError("disk exploded")

    monkeypatch.setattr(mon.disk, "collect", boom)
    try:
        snap = mon.collect()
        assert len(snap.runs) == 1 and snap.disks is None
        assert any("disk collector failed" in e for e in snap.errors)
    finally:
        mon.close()


def test_best_reward_is_judged_once_and_the_same_in_json_and_text(tmp_path):
    """HARL's first log interval averages only short episodes (a best that stays for ever):
    the monitor leaves it out once, and --json, the text table and the JSON's left_out agree
    with an independent reading of the reward series."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = write_instant_run(
        tmp_path / "results",
        num_env_steps=20_000_000,
        short_first_interval=True,
        lengthening_episodes=True,  # as in the real runs: episodes of ~860 steps at first
        finished=True,
    )
    doc = json.loads(happo_top("--once", "--json", str(tmp_path / "results")).stdout)
    (r,) = doc["runs"]
    logs = next(
        p for p in (run / "logs").rglob("events.out.tfevents.*") if "train_episode" in str(p)
    )
    acc = EventAccumulator(str(logs.parent), size_guidance={"scalars": 0})
    acc.Reload()
    points = acc.Scalars(acc.Tags()["scalars"][0])
    first, rest = points[0], points[r["reward"]["left_out"] :]
    assert r["reward"]["left_out"] >= 1 and first.value > max(p.value for p in rest)
    best = max(rest, key=lambda p: p.value)
    assert r["reward"]["best"] == pytest.approx(best.value, abs=1e-4)
    assert r["reward"]["best_step"] == best.step
    text = happo_top("--once", "--width", "200", str(tmp_path / "results")).stdout
    assert f"{best.value:.2f}" in text and f"{first.value:.2f}" not in text.split("best", 1)[-1]
