"""The simulator resumes as HARL does (``harl/runners/on_policy_base_runner.py``: restore()
loads weights only; run() counts episodes from 1 again): ``--load_config`` takes the saved
settings, the new run gets its own directory, logs from step 0, records ``model_dir`` in its
config.json and trains ``--num_env_steps``. Real runs written by the real simulator process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from collectors.sources.runs.tracker import RunsCollector


def _sim(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "collectors.simulator", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_load_config_model_dir_num_env_steps(tmp_path):
    small = ["--n-rollout-threads", "100", "--episode-length", "100", "--eval-interval", "10"]
    first = _sim(
        "--root",
        "results",
        "--exp-name",
        "res",
        "--num-env-steps",
        "2e6",
        "--duration",
        "0",
        "--config-preset",
        "safe",
        "--seed",
        "7",
        *small,
        cwd=tmp_path,
    )
    assert first.returncode == 0, first.stderr
    (run1,) = (tmp_path / "results").glob("mapush/*/happo/res/seed-*")
    ckpt = run1 / "models" / "rl_model_1000000_steps"
    assert ckpt.is_dir()
    second = _sim(
        "--load_config",
        str(run1 / "config.json"),
        "--exp_name",
        "res",
        "--model_dir",
        str(ckpt),
        "--num_env_steps",
        "1000000",
        "--duration",
        "0",
        cwd=tmp_path,
    )
    assert second.returncode == 0, second.stderr
    runs = sorted((tmp_path / "results").glob("mapush/*/happo/res/seed-*"))
    assert len(runs) == 2 and runs[0] == run1  # a new directory, the old one untouched
    run2 = runs[1]
    a = json.loads((run1 / "config.json").read_text())
    b = json.loads((run2 / "config.json").read_text())
    assert b["algo_args"]["train"]["model_dir"] == str(ckpt)
    assert b["algo_args"]["train"]["num_env_steps"] == 1_000_000
    assert b["algo_args"]["seed"] == a["algo_args"]["seed"]  # from the loaded file
    assert b["algo_args"]["model"]["lr"] == a["algo_args"]["model"]["lr"]  # the safe preset
    snap = {r.path: r for r in RunsCollector([str(tmp_path / "results")]).collect().runs}
    r2 = snap[str(run2)]
    assert r2.total_steps == 1_000_000 and r2.step == 1_000_000
    tag = r2.reward.tag
    assert int(r2.series[tag].steps[0]) <= 50_000  # logs from step 0 again
    assert [c.step for c in r2.checkpoints][0] == 100_000  # rl_model_100000_steps again
