"""``happo-top check``, ``report`` and ``diff`` run as a user runs them (subprocesses)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from collectors.model.run_config import flatten
from collectors.simulator.trainer import write_instant_run
from tests.builders import HARL_CONFIG, make_run_dir, write_harl_config
from tests.support import ROOT
from tests.support import happo_top as run_cli


def happo_top(*args: str, cwd: Path | str = ROOT, env: dict | None = None):
    """The CLI, reading its config file (if any) from ``cwd``."""
    return run_cli(*args, cwd=cwd, env={"XDG_CONFIG_HOME": str(cwd), **(env or {})})


def summary_points(run_dir: Path, key: str) -> tuple[np.ndarray, np.ndarray]:
    """tensorboardX's own export of a finished run (independent of our reader)."""
    doc = json.loads((run_dir / "logs" / "summary.json").read_text())
    (pts,) = [v for k, v in doc.items() if k.split("/logs/", 1)[1].startswith(key + "/")]
    a = np.array(pts, dtype=np.float64)
    return a[:, 1], a[:, 2]


def write_handmade_run(root: Path, stamp: str, values: dict, finished: bool) -> Path:
    """A HARL-shaped run written with tensorboardX add_scalars, as HARL does."""
    from tensorboardX import SummaryWriter

    run = make_run_dir(root, stamp=stamp)
    cfg = json.loads(json.dumps(HARL_CONFIG))
    cfg["algo_args"]["train"]["num_env_steps"] = 10_000_000.0
    write_harl_config(run, cfg)
    w = SummaryWriter(str(run / "logs"))
    t0 = time.time() - 3600
    n = len(next(iter(values.values())))
    for i in range(n):
        step = (i + 1) * 500_000
        for tag, v in values.items():
            w.add_scalars(tag, {tag.split("/")[-1]: float(v[i])}, step, walltime=t0 + i * 90)
    if finished:
        w.export_scalars_to_json(str(run / "logs" / "summary.json"))
    w.close()
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("cli")
    now = time.time()
    basic_root = base / "basic" / "results"
    basic = write_instant_run(basic_root, preset="basic", seed=1, start_time=now - 6 * 3600)
    safe_root = base / "safe" / "results"
    safe_done = write_instant_run(safe_root, preset="safe", seed=1, start_time=now - 9 * 3600)
    live = write_instant_run(
        base / "live" / "results",
        preset="safe",
        seed=1,
        start_time=now - 47.5e6 / 13e6 * 3600,  # last point is now: running
        finished=False,
        stop_at=0.475,
        steps_per_hour=13e6,
    )
    crashed = write_instant_run(
        base / "crashed" / "results",
        preset="safe",
        seed=3,
        start_time=now - 20 * 3600,
        finished=False,
        stop_at=0.3,
    )
    rng = np.random.default_rng(0)
    nan_values = {
        "train_episode_rewards": np.linspace(-20, -12, 20),
        "agent0/dist_entropy": 1.5 + 0.01 * rng.standard_normal(20),
        "critic/value_loss": np.r_[np.full(12, 0.4), np.nan, np.full(7, 0.3)],
    }
    nan_run = write_handmade_run(base / "nan" / "results", "2025-11-20-10-00-00", nan_values, True)
    # The live run's trainer: a real process holding the run's progress.txt open for writing,
    # as HARL does, so the process collector finds it and the run counts as running.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; f = open(sys.argv[1], 'a'); time.sleep(600)",
            str(live / "progress.txt"),
        ]
    )
    yield {
        "base": base,
        "basic": basic,
        "safe_done": safe_done,
        "live": live,
        "crashed": crashed,
        "nan": nan_run,
    }
    holder.kill()
    holder.wait()


# -- check --------------------------------------------------------------------------------------


def test_check_healthy_run_exits_0(runs):
    r = happo_top("check", str(runs["safe_done"].parents[5]))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 bad" in r.stdout


def test_check_nan_run_exits_1(runs):
    r = happo_top("check", str(runs["nan"]))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "NaN in critic/value_loss from 6.5M" in r.stdout  # the 13th point: step 6.5M


def test_check_crashed_run_exits_1(runs):
    r = happo_top("check", str(runs["crashed"]))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "crashed" in r.stdout and "presumed dead before the last step" in r.stdout


def test_check_json(runs):
    r = happo_top("check", "--json", str(runs["base"]))
    doc = json.loads(r.stdout)
    assert r.returncode == doc["exit"] == 1
    by_path = {x["path"]: x for x in doc["runs"]}
    assert len(by_path) == 5
    assert by_path[str(runs["crashed"])]["status"] == "bad"
    assert by_path[str(runs["nan"])]["status"] == "bad"
    assert by_path[str(runs["safe_done"])]["status"] in ("ok", "warn")
    assert by_path[str(runs["live"])]["state"] == "running"
    nan = [f for f in by_path[str(runs["nan"])]["health"] if f["rule"] == "nonfinite"]
    assert nan == [
        {
            "rule": "nonfinite",
            "level": "bad",
            "message": "NaN in critic/value_loss from 6.5M (1 pts)",
            "step": 6_500_000,
            "tag": "critic/value_loss",
            "value": None,
            "band": None,
            "metric": None,
            "agent": None,
            "verdict": None,
            "current": True,
        }
    ]


@pytest.mark.slow
def test_check_reports_data_errors(tmp_path):
    """A corrupt event file and a malformed config.json: check names them (problem first, path
    relative to the run), the JSON lists them, and --strict fails on them."""
    good = write_instant_run(tmp_path / "a", preset="safe", num_env_steps=5_000_000)
    broken = write_instant_run(tmp_path / "b", preset="safe", num_env_steps=5_000_000)
    events = sorted(
        (broken / "logs").rglob("events.out.tfevents.*"), key=lambda p: p.stat().st_size
    )
    data = bytearray(events[-1].read_bytes())
    data[len(data) // 2 : len(data) // 2 + 200] = b"\xab" * 200
    events[-1].write_bytes(bytes(data))
    cfg = broken / "config.json"
    cfg.write_text(cfg.read_text()[: len(cfg.read_text()) // 2])
    r = happo_top("check", str(broken))
    # Issue 9: a data error needs attention (it was exit 0 without --strict before)
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(
        r"\n  error \d+ corrupt region\(s\) skipped.*\(logs/\S+tfevents\S+\)\n", r.stdout
    )
    assert "malformed JSON at line" in r.stdout and "(config.json)" in r.stdout
    assert happo_top("check", "--strict", str(broken)).returncode == 1
    assert happo_top("check", "--strict", str(good)).returncode in (0, 1)  # its own findings
    doc = json.loads(happo_top("check", "--json", str(broken)).stdout)
    (run,) = doc["runs"]
    assert run["status"] in ("warn", "bad") and len(run["errors"]) == 2
    assert run["attention"] == "bad"
    assert any(e.startswith(str(broken)) and "corrupt" in e for e in run["errors"])  # full paths


@pytest.mark.slow
def test_check_usage_errors_exit_2(runs, tmp_path):
    r = happo_top("check", str(tmp_path / "nowhere"))
    assert r.returncode == 2 and "no such directory" in r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("thresholds:\n  entropy_lo: 1.0\n")
    r = happo_top("check", "--config", str(bad), str(runs["basic"]))
    assert r.returncode == 2
    assert str(bad) in r.stderr and "entropy_lo" in r.stderr
    r = happo_top("check", "--config", str(tmp_path / "missing.yaml"), str(runs["basic"]))
    assert r.returncode == 2 and "no such file" in r.stderr
    r = happo_top("check", "--bogus")
    assert r.returncode == 2


def test_check_thresholds_from_the_config_file(runs, tmp_path):
    cfg = tmp_path / "strict.yaml"
    cfg.write_text("thresholds:\n  grad_spike_factor: 1.05\n  grad_spike_window: 3\n")
    # Issue 9: a finished run's past spikes are its history: shown, not failing without --history.
    r = happo_top("check", "--config", str(cfg), "--strict", str(runs["safe_done"]))
    assert r.returncode == 0, r.stdout
    assert "grad_spike:" in r.stdout and "does not fail check without --history" in r.stdout
    r = happo_top("check", "--config", str(cfg), "--strict", "--history", str(runs["safe_done"]))
    assert r.returncode == 1, r.stdout
    assert "> 1.05x recent median" in r.stdout


def test_check_fails_only_on_what_needs_attention_now(runs):
    """The basic run finished with a degraded quarter and grad spikes: its history, shown but
    exit 0 even with --strict; with --history it counts."""
    r = happo_top("check", "--json", "--strict", str(runs["basic"]))
    doc = json.loads(r.stdout)
    (run,) = doc["runs"]
    assert run["status"] == "warn" and run["attention"] == "ok" and r.returncode == 0
    assert happo_top("check", "--strict", "--history", str(runs["basic"])).returncode == 1


def test_check_internal_failure_has_its_own_exit_code(runs, tmp_path):
    """happo-top itself failing is not "a run is unhealthy" (1): it is INTERNAL_ERROR (3). The
    failure is real: a sitecustomize breaks the health registry in the child process."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import collectors.analysis.health as h\n"
        "def boom(*a, **k):\n    raise RuntimeError('boom')\n"
        "h.REGISTRY.evaluate = boom\n"
    )
    env = {"PYTHONPATH": f"{site}:{ROOT}"}
    r = happo_top("check", str(runs["safe_done"]), env=env)
    assert r.returncode == 3, r.stdout + r.stderr
    out = r.stdout + r.stderr  # the run that could not be judged says so, the others are shown
    assert "internal error" in out and "RuntimeError: boom" in out
    assert happo_top("check", "--json", str(runs["safe_done"]), env=env).returncode == 3


# -- report -------------------------------------------------------------------------------------


def table_rows(text: str, heading: str) -> list[list[str]]:
    """The rows of the first Markdown table after ``heading``."""
    part = text.split(heading, 1)[1]
    rows = []
    started = False
    for line in part.splitlines():
        if line.startswith("|"):
            started = True
            rows.append([c.strip() for c in line.strip("|").split("|")])
        elif started:
            break
    return rows[2:]  # without the header and the separator


def test_report_of_the_seed_comparison(runs, tmp_path):
    out = tmp_path / "report.md"
    r = happo_top("report", str(runs["basic"]), str(runs["live"]), "-o", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    for section in (
        "## Training runs overview",
        "## Configuration differences",
        "## Checkpoint timeline",
        "## Training speed",
        "## Reward by quarter",
        "## Health metrics by quarter",
        "## Findings",
        "## Success criteria",
    ):
        assert section in text
    # Quarter means of the basic run: two decimals, as numpy computes them from raw points.
    steps, values = summary_points(runs["basic"], "train_episode_rewards")
    basic_name = text.split("### Run 1: ", 1)[1].split(" (", 1)[0]
    rows = table_rows(text, f"### {basic_name}\n\n`train_episode_rewards`")
    for q, row in enumerate(rows):
        m = (steps > q * 25e6) & (steps <= (q + 1) * 25e6)
        assert row[2] == f"{values[m].mean():.2f}"
        assert row[5] == str(int(m.sum()))
    assert [row[-1] for row in rows] == ["baseline", "degrading", "degrading", "recovering"]
    # Config differences: the seed's four keys, '-' nowhere (both configs have them).
    diff = {row[0]: row[1:] for row in table_rows(text, "## Configuration differences")}
    assert diff["**lr** (`algo_args.model.lr`)"] == ["5e-4", "3e-4"]
    assert diff["**max_grad_norm** (`algo_args.algo.max_grad_norm`)"] == ["10", "0.5"]
    assert len(diff) == 4  # paths are listed apart
    assert "Paths that differ too (see `happo-top diff`): `algo_args.logger.log_dir`" in text
    # Timeline: the live run's current step is marked, later steps are estimates.
    timeline = {row[0]: row[1:] for row in table_rows(text, "## Checkpoint timeline")}
    assert "(now)" in timeline["47.5M"][1]
    assert timeline["100M"][0].startswith("✅") and timeline["100M"][1].startswith("⏳")
    # Speed: ~20M/h vs ~13M/h (35% slower), as in the seed.
    speed = table_rows(text, "## Training speed")
    assert speed[0][1] == "20M/h" and speed[1][1] == "13M/h" and speed[1][5] == "35% slower"
    criteria = {row[0].split(" (")[0]: row[1:] for row in table_rows(text, "## Success criteria")}
    complete = next(v for k, v in criteria.items() if k.startswith("Completes"))
    assert complete[0].startswith("✅ pass") and complete[1].startswith("⏳ not yet")
    degr = criteria["No reward degradation after 50% of the steps"]
    assert degr[0].startswith("❌ fail")
    final = next(v for k, v in criteria.items() if k.startswith("Final"))
    assert final[0].startswith("❌ fail") and final[1].startswith("⏳ not yet")
    # Issue 9: the gradient criterion is about spikes against the run's own median, and quotes
    # the share of clipped updates (HARL logs the pre-clip norm).
    grads = next(v for k, v in criteria.items() if k.startswith("Stable gradients"))
    assert grads[0].startswith("❌ fail") and "recent median" in grads[0]
    assert "```" in text and "▁" in text  # a text chart


@pytest.mark.slow
def test_report_to_stdout_by_id_and_by_name(runs):
    root = runs["basic"].parents[5]
    doc = json.loads(happo_top("--once", "--json", str(root)).stdout)
    (run,) = doc["runs"]
    by_id = happo_top("report", run["id"][:6], "--root", str(root))
    assert by_id.returncode == 0, by_id.stderr
    assert f"`{run['path']}`" in by_id.stdout
    by_name = happo_top("report", run["name"], "--root", str(root))
    assert by_name.returncode == 0 and f"`{run['path']}`" in by_name.stdout


def test_report_of_a_run_with_no_config(runs, tmp_path):
    run = write_handmade_run(
        tmp_path / "results", "2025-11-21-10-00-00", {"agent0/dist_entropy": [1.5] * 8}, True
    )
    (run / "config.json").unlink()
    r = happo_top("report", str(run), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "no readable config.json" in r.stdout
    assert "No reward series" in r.stdout


def test_report_usage_errors(runs, tmp_path):
    r = happo_top("report", "no-such-run", "--root", str(runs["basic"].parents[5]))
    assert r.returncode == 2 and "no run matches 'no-such-run'" in r.stderr
    r = happo_top("report")
    assert r.returncode == 2


# -- diff ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_diff_text_and_json(runs, tmp_path):
    a, b = runs["basic"], runs["safe_done"]
    r = happo_top("diff", str(a), str(b), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("A  ") and lines[0].endswith(str(a))
    rows = {ln.split()[0]: ln.split()[1:] for ln in lines if ln.startswith("algo_args")}
    seed_keys = {
        "algo_args.algo.max_grad_norm": ["10", "0.5"],
        "algo_args.algo.use_adv_normalize": ["false", "true"],
        "algo_args.model.critic_lr": ["5e-4", "3e-4"],
        "algo_args.model.lr": ["5e-4", "3e-4"],
    }
    # The two runs live under different results/ roots: HARL's log_dir differs too.
    assert rows == {**seed_keys, "algo_args.logger.log_dir": [str(a.parents[4]), str(b.parents[4])]}
    r = happo_top("diff", "--ignore", "*.log_dir", str(a), str(b), cwd=tmp_path)
    rows = {ln.split()[0]: ln.split()[1:] for ln in r.stdout.splitlines() if ln.startswith("algo")}
    assert rows == seed_keys
    r = happo_top("diff", "--json", str(a), str(b), cwd=tmp_path)
    doc = json.loads(r.stdout)
    ca = flatten(json.loads((a / "config.json").read_text()))
    cb = flatten(json.loads((b / "config.json").read_text()))
    expected = {k for k in set(ca) | set(cb) if ca.get(k, "<none>") != cb.get(k, "<none>")}
    assert {d["key"] for d in doc["differences"]} == expected
    for d in doc["differences"]:
        assert d["values"] == [ca[d["key"]], cb[d["key"]]]
    assert [x["path"] for x in doc["runs"]] == [str(a), str(b)]


@pytest.mark.slow
def test_diff_identical_and_usage(runs, tmp_path):
    a = runs["safe_done"]
    r = happo_top("diff", str(a), str(runs["live"]), "--ignore", "*log_dir", cwd=tmp_path)
    assert r.returncode == 0 and re.search(r"no differences \(\d+ keys compared\)", r.stdout)
    r = happo_top("diff", str(a), str(runs["live"]), cwd=tmp_path)
    assert r.stdout.rstrip().endswith("1 key differs")
    r = happo_top("diff", str(a), cwd=tmp_path)
    assert r.returncode == 2 and "at least two runs" in r.stderr
    r = happo_top("diff", str(a), "nothing-like-this", cwd=tmp_path)
    assert r.returncode == 2 and "no run matches" in r.stderr


# -- report pieces, in-process ------------------------------------------------------------------


def test_sparkline_bins_match_numpy():
    from tui.text.report import BLOCKS, sparkline

    rng = np.random.default_rng(2)
    steps = np.sort(rng.choice(np.arange(1, 1000), 300, replace=False))
    values = rng.normal(0, 1, 300)
    width = 12
    line = sparkline(steps, values, width, (0, 1000))
    bins = np.minimum((steps / 1000 * width).astype(int), width - 1)
    means = np.array([values[bins == b].mean() for b in range(width)])
    lo, hi = means.min(), means.max()
    expected = "".join(BLOCKS[int(round((m - lo) / (hi - lo) * 7))] for m in means)
    assert line == expected
    # Before the first and after the last point: empty; a gap inside repeats the level before.
    gap = sparkline(np.array([150, 250, 650]), np.array([0.0, 1.0, 1.0]), 10, (0, 1000), (0, 1))
    assert gap == " ▁" + "█" * 5 + "   "


def test_layout_b_per_step_reward_keeps_three_digits(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from collectors.sources.runs.tracker import RunsCollector
    from tui.text.report import render_report

    run = write_instant_run(
        tmp_path / "results",
        layout="B",
        preset="safe",
        num_env_steps=5_000_000,
        start_time=time.time() - 3600,
    )
    snap = RunsCollector([str(tmp_path / "results")]).collect()
    text = render_report(snap.runs, snap.time)
    acc = EventAccumulator(str(run / "logs"), size_guidance={"scalars": 0})
    acc.Reload()
    pts = acc.Scalars("average_step_reward")
    steps = np.array([p.step for p in pts], dtype=np.float64)
    values = np.array([p.value for p in pts], dtype=np.float64)
    rows = table_rows(text, "`average_step_reward`, S =")
    assert len(rows) == 4
    for q, row in enumerate(rows):
        m = (steps > q * 5e6 / 4) & (steps <= (q + 1) * 5e6 / 4)
        mean = values[m].mean()
        digits = 2 - int(np.floor(np.log10(abs(mean))))
        assert row[2] == f"{mean:.{digits}f}"
