"""Tests for collectors.simulator: instant runs (structure, event files, curves) and live child
processes (title, open files, bursty growth, SIGINT, clean finish, crash, stall)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from tensorboard.backend.event_processing.event_accumulator import (
    HISTOGRAMS,
    SCALARS,
    EventAccumulator,
)

from collectors.simulator.trainer import spawn, write_instant_run
from collectors.sources.runs.tracker import RunsCollector

START = 1_763_217_253.0  # 2025-11-15 ~15:34 (UTC), a fixed simulated start
AGENT_TAGS = [
    f"agent{i}/{k}"
    for i in range(2)
    for k in ("policy_loss", "dist_entropy", "actor_grad_norm", "ratio")
]
CRITIC_TAGS = ["critic/value_loss", "critic/critic_grad_norm"]
# live runs: 10 threads x 10 steps = 100 steps/update, 200 updates, a log point every 5 updates
LIVE = dict(num_env_steps=20_000, n_rollout_threads=10, episode_length=10, flush_secs=1.0)
LIVE_POINTS = 40


# --------------------------------------------------------------------------- helpers


def event_dirs(run: Path) -> list[Path]:
    return sorted({p.parent for p in (run / "logs").rglob("events.out.tfevents.*")})


def load(directory: Path) -> EventAccumulator:
    acc = EventAccumulator(str(directory), size_guidance={SCALARS: 0, HISTOGRAMS: 0})
    acc.Reload()
    return acc


def all_scalars(run: Path) -> dict[str, list]:
    """Every scalar series of a run, keyed by the tag stored inside the files."""
    out: dict[str, list] = {}
    for d in event_dirs(run):
        acc = load(d)
        for tag in acc.Tags()["scalars"]:
            out.setdefault(tag, []).extend(acc.Scalars(tag))
    return out


def event_bytes(run: Path) -> int:
    return sum(p.stat().st_size for p in (run / "logs").rglob("events.out.tfevents.*"))


def wait_for(cond, timeout: float, step: float = 0.05) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(step)
    return bool(cond())


def quarter_means(events) -> list[float]:
    steps = np.array([e.step for e in events], dtype=float)
    values = np.array([e.value for e in events])
    q = np.minimum(((steps - 1) / steps.max() * 4).astype(int), 3)
    return [float(values[q == k].mean()) for k in range(4)]


# --------------------------------------------------------------------------- instant runs


@pytest.fixture(scope="module")
def instant(tmp_path_factory):
    """One finished run per layout (100M steps, default cadence), plus an unfinished one."""
    root = tmp_path_factory.mktemp("instant") / "results"
    runs = {
        layout: write_instant_run(root, layout=layout, exp_name=f"exp{layout}", start_time=START)
        for layout in "ABU"
    }
    runs["unfinished"] = write_instant_run(
        root,
        layout="A",
        exp_name="cut",
        preset="safe",
        start_time=START,
        finished=False,
        stop_at=0.5,
    )
    return runs


@pytest.mark.parametrize("layout", ["A", "B", "U"])
def test_instant_structure(instant, layout):
    run = instant[layout]
    stamp = time.strftime("%Y-%m-%d-%H-%M-%S", time.localtime(START))
    assert run.name == f"seed-00001-{stamp}"
    assert run.parent.parts[-5:] == ("results", "mapush", "go1push_mid", "happo", f"exp{layout}")
    assert (run / "logs").is_dir() and (run / "models").is_dir()
    assert (run / "progress.txt").stat().st_size == 0
    assert (run / "logs" / "summary.json").is_file()

    text = (run / "config.json").read_text()
    assert '"num_env_steps":\t100000000.0' in text and '": ' not in text
    cfg = json.loads(text)
    assert sorted(cfg) == ["algo_args", "env_args", "main_args"]
    train = cfg["algo_args"]["train"]
    assert isinstance(train["num_env_steps"], float)
    assert (train["n_rollout_threads"], train["episode_length"]) == (500, 200)
    assert (train["log_interval"], train["eval_interval"]) == (5, 25)
    assert (
        cfg["algo_args"]["model"]["lr"] == 5e-4 and cfg["algo_args"]["model"]["critic_lr"] == 5e-4
    )
    assert cfg["algo_args"]["algo"]["max_grad_norm"] == 10.0
    assert cfg["algo_args"]["algo"]["use_adv_normalize"] is False
    assert cfg["algo_args"]["seed"]["seed"] == 1
    assert cfg["main_args"] == {
        "algo": "happo",
        "env": "mapush",
        "exp_name": f"exp{layout}",
        "load_config": "",
    }
    assert cfg["env_args"]["task"] == "go1push_mid"

    files = {"actor_agent0.pt", "actor_agent1.pt", "critic_agent.pt", "value_normalizer.pt"}
    models = run / "models"
    if layout == "A":
        ckpts = sorted(models.iterdir(), key=lambda p: int(re.findall(r"\d+", p.name)[0]))
        assert [p.name for p in ckpts] == [f"rl_model_{k * 2_500_000}_steps" for k in range(1, 41)]
        assert all({f.name for f in c.iterdir()} == files for c in ckpts)
        mtimes = [(c / "value_normalizer.pt").stat().st_mtime for c in ckpts]
        assert mtimes == sorted(mtimes) and START < mtimes[0] < mtimes[-1] < START + 6 * 3600
    elif layout == "U":
        assert {f.name for f in models.iterdir()} == files
    else:
        assert list(models.iterdir()) == []
        names = sorted(p.name for p in (run / "checkpoints").iterdir())
        assert names == sorted(f"{k}M" for k in range(10, 101, 10))
        assert {f.name for f in (run / "checkpoints" / "100M").iterdir()} == files
        command = (run / "command.txt").read_text().splitlines()
        assert command[0].startswith("#") and "--exp_name expB" in command[1]
        assert "lr: null" in (run / "run_config.yaml").read_text()
    sizes = {f.stat().st_size for f in models.rglob("*.pt")}
    assert layout == "B" or all(500 <= s <= 10_000 for s in sizes)


def test_instant_unfinished(instant):
    run = instant["unfinished"]
    assert not (run / "logs" / "summary.json").exists()
    series = all_scalars(run)
    assert len(series["train_episode_rewards"]) == 100  # half of 200
    assert series["train_episode_rewards"][-1].step == 50_000_000
    assert len(list((run / "models").iterdir())) == 20
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["algo_args"]["model"]["lr"] == 3e-4
    assert cfg["algo_args"]["algo"]["max_grad_norm"] == 0.5
    assert cfg["algo_args"]["algo"]["use_adv_normalize"] is True


@pytest.mark.parametrize("layout", ["A", "U"])
def test_event_files_parse_a_u(instant, layout):
    run = instant[layout]
    dirs = event_dirs(run)
    rel = {d.relative_to(run / "logs").as_posix() for d in dirs}
    assert "agent0/dist_entropy/agent0/dist_entropy" in rel
    assert "train_episode_rewards/aver_rewards" in rel
    assert "." in rel  # the main file: header only in U/A
    summary = json.loads((run / "logs" / "summary.json").read_text())
    expected = AGENT_TAGS + CRITIC_TAGS + ["critic/average_step_rewards", "train_episode_rewards"]
    seen = []
    for d in dirs:
        acc = load(d)
        tags = acc.Tags()["scalars"]
        if d == run / "logs":
            assert tags == []
            continue
        assert len(tags) == 1  # one key per sub-writer; the in-file tag is the main tag
        tag = tags[0]
        seen.append(tag)
        events = acc.Scalars(tag)
        assert len(events) == 200
        assert [e.step for e in events] == [k * 500_000 for k in range(1, 201)]
        walls = np.array([e.wall_time for e in events])
        assert np.all(np.diff(walls) > 0)
        hours = (walls[-1] - walls[0]) / 3600  # ~20M steps per hour
        assert 4.5 < hours < 5.5
        rows = summary[str(d)]  # summary.json: {writer_dir: [[wall, step, value], ...]}
        assert [r[1] for r in rows] == [e.step for e in events]
        assert np.allclose([r[2] for r in rows], [e.value for e in events], rtol=1e-6)
    assert sorted(seen) == sorted(expected)


def test_event_files_parse_b(instant):
    run = instant["B"]
    series = all_scalars(run)
    assert "train_episode_rewards" not in series and "critic/average_step_rewards" not in series
    for tag in AGENT_TAGS + CRITIC_TAGS + ["average_step_reward", "mapush/success_rate"]:
        assert len(series[tag]) == 200 and series[tag][0].step == 500_000, tag
    rewards = [t for t in series if t.startswith("rewards/")]
    assert len(rewards) == 12
    assert len(series["happo_factor/agent1"]) == 1000  # every update
    main = load(run / "logs")
    assert main.Tags()["histograms"]  # not simple scalars: a reader must skip them
    assert not (run / "logs" / "train_episode_rewards").exists()


def scalars_by_reader_key(run: Path) -> dict[str, list]:
    """EventAccumulator's scalars of every event directory, keyed the way our reader keys them.

    tensorboardX's add_scalars puts each key in its own sub-writer directory, where the in-file tag
    is the main tag. The reader keys a series by its in-file tag; when a second directory (in
    sorted path order) holds the same tag, that one becomes ``tag@<dir relative to logs>``.
    """
    logs = run / "logs"
    out: dict[str, list] = {}
    owner: dict[str, str] = {}
    for d in sorted(map(str, event_dirs(run))):
        acc = load(Path(d))
        for tag in acc.Tags()["scalars"]:
            key = tag
            if owner.setdefault(tag, d) != d:
                key = f"{tag}@{Path(d).relative_to(logs).as_posix()}"
            assert key not in out, key
            out[key] = acc.Scalars(tag)
    return out


def assert_reader_matches_event_accumulator(run: Path) -> int:
    """Every scalar EventAccumulator finds, point for point, in our RunSnapshot; returns the
    number of points compared."""
    expected = scalars_by_reader_key(run)
    assert len(expected) >= 10, sorted(expected)
    snap = RunsCollector([str(run.parent)]).collect()
    (ours,) = [r for r in snap.runs if r.path == str(run)]
    assert sorted(ours.series) == sorted(expected)  # nothing dropped, nothing invented
    assert sorted(ours.scalars) == sorted(expected)
    compared = 0
    for key, events in expected.items():
        view = ours.series[key]
        steps = np.array([e.step for e in events], dtype=np.int64)
        values = np.array([e.value for e in events], dtype=np.float32)
        walls = np.array([e.wall_time for e in events])
        assert len(view) == len(events), key
        np.testing.assert_array_equal(view.steps, steps, err_msg=key)
        np.testing.assert_allclose(
            view.values, values, rtol=float(np.finfo(np.float32).eps), atol=0, err_msg=key
        )
        np.testing.assert_allclose(view.wall, walls, rtol=0, atol=0.01, err_msg=key)
        latest = ours.scalars[key]
        assert (latest.step, latest.count) == (int(steps[-1]), len(events)), key
        assert latest.value == pytest.approx(float(values[-1]), rel=1e-7), key
        compared += len(events)
    assert ours.step == max(int(e[-1].step) for e in expected.values())
    return compared


@pytest.mark.parametrize("layout", ["A", "B"])
def test_reader_reads_every_point_eventaccumulator_reads_instant(instant, layout):
    n = assert_reader_matches_event_accumulator(instant[layout])
    # 200 log points per tag (B: plus happo_factor at every one of the 1000 updates)
    assert n == (12 * 200 if layout == "A" else (8 + 2 + 14) * 200 + 2 * 1000)


def test_reward_curves(tmp_path):
    root = tmp_path / "results"
    for seed in (1, 2, 3):
        basic = write_instant_run(root, exp_name="basic", seed=seed, start_time=START)
        q = quarter_means(all_scalars(basic)["train_episode_rewards"])
        assert q[0] == max(q) and q[2] == min(q), q
        assert np.allclose(q, [-15.0, -16.7, -19.5, -17.7], atol=1.0), q
    safe = write_instant_run(root, exp_name="safe", preset="safe", start_time=START)
    s = all_scalars(safe)
    qs = quarter_means(s["train_episode_rewards"])
    assert qs[3] == max(qs) and qs[0] == min(qs) and -13.5 < qs[3] < -11.0, qs
    b = all_scalars(basic)
    for series, spikes in ((b, True), (s, False)):
        grads = np.array([e.value for e in series["agent0/actor_grad_norm"]])
        ent = np.array([e.value for e in series["agent0/dist_entropy"]])
        assert 1.2 < ent[:10].mean() < 1.6 and ent[-20:].mean() > ent[:20].mean()
        if spikes:
            assert 2.0 < np.median(grads) < 6.0 and grads.max() > 10.0
        else:
            assert 0.3 <= np.median(grads) <= 0.6 and grads.max() < 0.65
    basic_r = np.diff([e.value for e in b["train_episode_rewards"]]).std()
    safe_r = np.diff([e.value for e in s["train_episode_rewards"]]).std()
    assert safe_r < basic_r
    again = write_instant_run(root, exp_name="again", seed=3, start_time=START)
    assert [e.value for e in all_scalars(again)["critic/value_loss"]] == [
        e.value for e in b["critic/value_loss"]
    ]  # deterministic given the seed


def test_same_second_runs_get_distinct_dirs(tmp_path):
    root = tmp_path / "results"
    a = write_instant_run(root, num_env_steps=1_000_000, start_time=START)
    b = write_instant_run(root, num_env_steps=1_000_000, start_time=START)
    assert a != b and a.parent == b.parent
    assert b.name == "seed-00001-" + time.strftime("%Y-%m-%d-%H-%M-%S", time.localtime(START + 1))


def test_no_ui_imports():
    code = (
        "import sys, collectors.simulator; "
        "bad = {m.split('.')[0] for m in sys.modules} & {'textual', 'rich', 'plotext'}; "
        "sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


# --------------------------------------------------------------------------- live processes


@pytest.fixture
def sim(tmp_path):
    procs: list[subprocess.Popen] = []

    def start(**kw):
        proc = spawn(tmp_path / "results", **{**LIVE, **kw})
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        proc.stderr.close()
        wait_for(lambda p=proc: p.stdout.closed, 5.0)  # the drain thread closes it at EOF


@pytest.mark.slow
def test_live_clean_finish(sim):
    proc = sim(exp_name="live-ok", duration=4.0)
    run = proc.run_dir
    assert (run / "config.json").is_file() and (run / "models").is_dir()
    ps = psutil.Process(proc.pid)
    title = "happo-mapush-live-ok"
    assert wait_for(lambda: [a for a in ps.cmdline() if a] == [title], 3.0), ps.cmdline()
    assert Path(f"/proc/{proc.pid}/cmdline").read_bytes().startswith(title.encode())
    open_files = {f.path for f in ps.open_files()}
    assert str(run / "progress.txt") in open_files
    assert any("events.out.tfevents" in f for f in open_files)
    time.sleep(1.2)
    early = event_bytes(run)
    time.sleep(1.5)
    later = event_bytes(run)
    assert 0 < early < later  # the files grow (in flush bursts) while it runs
    assert not (run / "logs" / "summary.json").exists()
    assert proc.wait(timeout=20) == 0
    assert (run / "logs" / "summary.json").is_file()
    rewards = all_scalars(run)["train_episode_rewards"]
    assert len(rewards) == LIVE_POINTS and rewards[0].step == 500
    assert len(list((run / "models").iterdir())) == 8  # every 25 updates
    assert wait_for(lambda: any("updates 200/200 episodes" in line for line in proc.output), 2.0)
    assert any(
        line.startswith("Some episodes done, average episode reward is ") for line in proc.output
    )


@pytest.mark.slow
def test_live_sigint(sim):
    proc = sim(exp_name="interrupted", duration=8.0)
    run = proc.run_dir
    assert wait_for(lambda: (run / "logs" / "train_episode_rewards").exists(), 5.0)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 130
    assert not (run / "logs" / "summary.json").exists()
    n = len(all_scalars(run)["train_episode_rewards"])
    assert 1 <= n < LIVE_POINTS


@pytest.mark.slow
def test_live_crash(sim):
    proc = sim(exp_name="crashy", duration=3.0, crash_at=0.5)
    run = proc.run_dir
    assert proc.wait(timeout=15) == 1
    err = proc.stderr.read()
    assert "Traceback (most recent call last)" in err and "RuntimeError" in err
    assert not (run / "logs" / "summary.json").exists()
    n = len(all_scalars(run).get("train_episode_rewards", []))
    assert n <= LIVE_POINTS // 2  # at most the half before the crash; unflushed data is lost


@pytest.mark.slow
def test_live_stall(sim):
    proc = sim(exp_name="stuck", duration=4.0, stall_at=0.3)
    run = proc.run_dir
    history = [event_bytes(run)]

    def settled() -> bool:  # no growth for 2.5 s (> two flush periods)
        history.append(event_bytes(run))
        return len(history) > 10 and history[-1] == history[-11] > 0

    assert wait_for(settled, 12.0, step=0.25)
    assert proc.poll() is None  # still alive, writing nothing
    n = len(all_scalars(run)["train_episode_rewards"])
    assert n == 12  # 30% of 200 updates, a point every 5
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 143
    assert not (run / "logs" / "summary.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["A", "B"])
def test_reader_reads_every_point_eventaccumulator_reads_live(sim, layout):
    """The same, on files written by tensorboardX's own SummaryWriter (a live run)."""
    proc = sim(exp_name=f"live{layout}", layout=layout, duration=1.5)
    assert proc.wait(timeout=30) == 0
    n = assert_reader_matches_event_accumulator(proc.run_dir)
    assert n == (12 * LIVE_POINTS if layout == "A" else 24 * LIVE_POINTS + 2 * 200)


def test_cli_instant_parallel_runs_never_share_a_dir(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "collectors.simulator",
        "--root",
        str(tmp_path / "results"),
        "--num-env-steps",
        "2e6",
        "--duration",
        "0",
        "--start-time",
        str(START),
        "--layout",
        "B",
        "--checkpoint-every",
        "1000000",
        "--verbose",
    ]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    dirs = {out.splitlines()[0].split("run dir ", 1)[1] for out, _ in outs}
    assert len(dirs) == 2
    for d in map(Path, dirs):
        assert (d / "logs" / "summary.json").is_file()
        assert sorted(p.name for p in (d / "checkpoints").iterdir()) == ["1M", "2M"]
        assert "[Checkpoint] Saved models at 1,000,000 steps" in "".join(o for o, _ in outs)
