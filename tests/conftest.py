"""Shared fixtures: real event files written by the real writers, HARL-shaped run directories."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# A short live simulator run (collectors.simulator.spawn options) for the process tests.
LIVE = dict(num_env_steps=20_000, n_rollout_threads=10, episode_length=10)

# A stand-in trainer: makes a HARL run directory below --root, optionally holds progress.txt
# open for writing, renames itself, then writes a line every 50 ms until signalled.
STANDIN = (Path(__file__).parent / "standin_train.py").read_text()


@pytest.fixture
def private_state(tmp_path, monkeypatch):
    """The launch registry and logs in ``tmp_path``, no user config file read."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def happo_top(
    *args: str,
    cwd: Path | str = ROOT,
    env: dict | None = None,
    check: bool = False,
    timeout: float = 120,
) -> subprocess.CompletedProcess:
    """Run the command line as a user does: a real process, plain output, 200 columns."""
    e = dict(os.environ, NO_COLOR="1", COLUMNS="200")
    e.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        capture_output=True,
        text=True,
        env=e,
        cwd=cwd,
        check=check,
        timeout=timeout,
    )


HARL_CONFIG = {
    "algo_args": {
        "algo": {
            "entropy_coef": 0.01,
            "max_grad_norm": 10.0,
            "use_max_grad_norm": True,
        },
        "model": {"critic_lr": 0.0005, "lr": 0.0005},
        "seed": {"seed": 1, "seed_specify": True},
        "train": {
            "episode_length": 200,
            "eval_interval": 25,
            "log_interval": 5,
            "n_rollout_threads": 500,
            "num_env_steps": 100000000.0,
            "use_valuenorm": True,
        },
    },
    "env_args": {"task": "go1push_mid"},
    "main_args": {"algo": "happo", "env": "mapush", "exp_name": "cuboid", "load_config": ""},
}


def write_harl_config(run: Path, cfg: dict | None = None) -> None:
    """Exactly as HARL's save_config: sorted keys, indent 4, a TAB after every colon."""
    text = json.dumps(cfg or HARL_CONFIG, separators=(",", ":\t"), indent=4, sort_keys=True)
    (run / "config.json").write_text(text)


def make_run_dir(
    root: Path, exp: str = "cuboid", stamp: str = "2025-11-15-15-34-13", seed: int = 1
) -> Path:
    run = root / "mapush" / "go1push_mid" / "happo" / exp / f"seed-{seed:05d}-{stamp}"
    (run / "logs").mkdir(parents=True)
    (run / "models").mkdir()
    return run


def event_files(directory: Path) -> list[Path]:
    return sorted(
        Path(p) for p in glob.glob(str(directory / "**" / "events.out.tfevents.*"), recursive=True)
    )


@pytest.fixture
def harl_run(tmp_path: Path) -> Path:
    run = make_run_dir(tmp_path / "results")
    write_harl_config(run)
    return run


@pytest.fixture
def clock():
    """A controllable clock: call it for the time, set .now to move it."""

    class Clock:
        def __init__(self) -> None:
            self.now = time.time()

        def __call__(self) -> float:
            return self.now

    return Clock()


def pytest_configure(config):
    # Hermetic: no user config file, launch registry or colour leaks into the tests.
    import tempfile

    home = tempfile.mkdtemp(prefix="happo-top-tests-")
    config._happo_top_home = home
    os.environ["XDG_CONFIG_HOME"] = os.path.join(home, "config")
    os.environ["XDG_STATE_HOME"] = os.path.join(home, "state")
    os.environ["NO_COLOR"] = "1"


def pytest_unconfigure(config):
    import shutil

    home = getattr(config, "_happo_top_home", None)
    if home:
        shutil.rmtree(home, ignore_errors=True)


def series_view(steps, values):
    """A read-only series view of hand-built points (wall time: 1.7e9 + step / 1e4)."""
    import numpy as np

    from collectors.sources.runs.series import ScalarSeries

    s = ScalarSeries(max_points=None)
    steps = np.asarray(steps, dtype=np.int64)
    s.extend(steps, np.asarray(values, dtype=np.float32), 1.7e9 + steps.astype(np.float64) / 1e4)
    return s.view()


def run_snapshot(views=None, **fields):
    """A RunSnapshot for pure-function tests: plausible defaults, ``fields`` override them."""
    from collectors.model.run import RUNNING, RunSnapshot

    views = views or {}
    step = max((int(v.steps[-1]) for v in views.values() if len(v)), default=0)
    base = dict(
        id="r1",
        path="/x/seed-00001-2025-11-15-15-34-13",
        name="r",
        layout="A",
        algo="happo",
        env="mapush",
        task="t",
        exp_name="e",
        seed=1,
        started=1.7e9,
        state=RUNNING,
        step=step,
        total_steps=None,
        progress=None,
        steps_per_hour=None,
        eta=None,
        last_data=None,
        ended=None,
        reward=None,
        checkpoints=(),
        scalars={},
        config={},
        stall_after=360.0,
        series=views,
    )
    base.update(fields)
    return RunSnapshot(**base)
