"""One builder per model value, shared by every test: plausible defaults, keywords override.

Also the HARL run directories on disk (``config.json`` exactly as HARL writes it)."""

from __future__ import annotations

import glob
import json
from pathlib import Path
from typing import Any

import numpy as np

from collectors.model import (
    RUNNING,
    GpuDevice,
    GpuSnapshot,
    ProcessInfo,
    RunSnapshot,
)
from collectors.model.process import OPEN_FILES
from collectors.sources.runs.series import ScalarSeries

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


def series_view(steps, values):
    """A read-only series view of hand-built points (wall time: 1.7e9 + step / 1e4)."""
    s = ScalarSeries(max_points=None)
    steps = np.asarray(steps, dtype=np.int64)
    s.extend(steps, np.asarray(values, dtype=np.float32), 1.7e9 + steps.astype(np.float64) / 1e4)
    return s.view()


def run_snapshot(views=None, **fields):
    """A RunSnapshot for pure-function tests: plausible defaults, ``fields`` override them."""
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


def process_info(**kw: Any) -> ProcessInfo:
    """A ProcessInfo with plausible defaults; ``kw`` override them."""
    base = dict(
        pid=1,
        title="t",
        cmdline=("t",),
        cmdline_source="title",
        cwd=None,
        started=0.0,
        uid=0,
        user="root",
        status="sleeping",
        cpu_percent=None,
        rss=None,
        threads=None,
        children=(),
        gpu_memory=None,
        how_found=OPEN_FILES,
    )
    base.update(kw)
    return ProcessInfo(**base)


def gpu_snapshot(now: float = 1_763_567_400.0) -> GpuSnapshot:
    """One busy H200, as NVML reports it (a fake at the library boundary elsewhere)."""
    dev = GpuDevice(
        index=0,
        name="NVIDIA H200",
        utilization=87,
        memory_used=45_000_000_000,
        memory_total=143_000_000_000,
        temperature=62,
        power=310.0,
        history=(20.0, 40.0, 60.0, 80.0, 87.0, 90.0, 85.0, 87.0),
    )
    return GpuSnapshot(True, "", (dev,), "550.54", now)
