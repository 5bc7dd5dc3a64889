"""Hand-built snapshots and fake sources for the TUI tests (deterministic: fixed clock and host)."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import threading
from typing import Any

import numpy as np

from collectors.analysis.health import evaluate
from collectors.analysis.reward import with_trusted_best
from collectors.model import HostStats
from collectors.model.run import Checkpoint, Finding, Reward, RunSnapshot, ScalarLatest, Snapshot
from collectors.model.series import SeriesView
from collectors.model.settings import Settings
from tests.builders import gpu_snapshot, process_info, run_snapshot
from tui.app.actions import Actions, Outcome, Plan

NOW = 1_763_566_800.0  # 2025-11-19 15:40 UTC: a fixed "now" for every TUI test
HOST = "gpu-box"
MAX_GRAD = {"basic": 10.0, "safe": 0.5}
LR = {"basic": 5e-4, "safe": 3e-4}


def view(steps: np.ndarray, values: np.ndarray, wall: np.ndarray) -> SeriesView:
    wall0 = float(wall[0])
    rel = (wall - wall0).astype(np.float32)
    s = np.asarray(steps, dtype=np.int64)
    v = np.asarray(values, dtype=np.float32)
    for a in (s, v, rel):
        a.flags.writeable = False
    return SeriesView(s, v, rel, wall0)


def make_run(
    name: str = "basic",
    *,
    preset: str = "basic",
    state: str = "running",
    step: int = 47_500_000,
    total: int = 100_000_000,
    sph: float = 13e6,
    started: float | None = None,
    seed: int = 1,
    pid: int | None = None,
    run_id: str | None = None,
    exp: str = "cuboid",
    health: tuple[Finding, ...] | None = None,
) -> RunSnapshot:
    started = NOW - step / sph * 3600.0 if started is None else started
    n = max(step // 500_000, 2)
    steps = np.arange(1, n + 1, dtype=np.int64) * 500_000
    wall = started + steps / sph * 3600.0
    f = steps / total
    rng = np.random.default_rng(seed)
    if preset == "basic":
        reward = -15 - 4 * np.exp(-(((f - 0.6) / 0.15) ** 2)) + rng.normal(0, 0.8, n)
        gn = 3 + rng.normal(0, 0.5, n)
    else:
        reward = -25 + 12 * (1 - np.exp(-f / 0.12)) + rng.normal(0, 0.3, n)
        gn = 0.4 + rng.normal(0, 0.03, n)
    series = {
        "train_episode_rewards": view(steps, reward, wall),
        "agent0/dist_entropy": view(steps, 1.4 + 0.3 * f, wall),
        "agent1/dist_entropy": view(steps, 1.45 + 0.3 * f, wall),
        "agent0/actor_grad_norm": view(steps, gn, wall),
        "agent1/actor_grad_norm": view(steps, gn * 1.05, wall),
        "critic/value_loss": view(steps, 0.5 - 0.2 * f, wall),
        "agent0/policy_loss": view(steps, -0.002 + 0.01 * np.sin(f * 20), wall),
        "agent1/policy_loss": view(steps, -0.002 + 0.01 * np.cos(f * 20), wall),
        "agent0/ratio": view(steps, 1 + 0.002 * np.sin(f * 30), wall),
    }
    scalars = {
        tag: ScalarLatest(int(v.steps[-1]), float(v.values[-1]), len(v))
        for tag, v in series.items()
    }
    best = int(np.argmax(reward))
    every = 2_500_000
    cps = tuple(
        Checkpoint(
            s, started + s / sph * 3600.0, 13_000, True, f"/runs/{name}/models/rl_model_{s}_steps"
        )
        for s in range(every, step + 1, every)
    )
    config = {
        "algo_args.algo.max_grad_norm": MAX_GRAD[preset],
        "algo_args.algo.use_max_grad_norm": True,
        "algo_args.model.lr": LR[preset],
        "algo_args.model.critic_lr": LR[preset],
        "algo_args.algo.use_adv_normalize": preset == "safe",
        "algo_args.train.num_env_steps": float(total),
        "algo_args.seed.seed": seed,
        "main_args.exp_name": exp,
    }
    live = state in ("running", "starting", "stalled")
    process = None
    if pid is not None:
        process = process_info(
            pid=pid,
            title=f"happo-mapush-{exp}",
            cmdline=("python", "train.py", "--exp_name", exp, "--seed", str(seed)),
            cmdline_source="self",
            cwd="/home/u/MAPush",
            started=started - 5,
            uid=1000,
            user="u",
            status="running",
            cpu_percent=98.0,
            rss=2_200_000_000,
            threads=12,
            children=(),
            gpu_memory=3_400_000_000,
            how_found="open-files",
            run_path=f"/runs/{name}",
        )
    last = float(wall[-1])
    eta = last + (total - step) / sph * 3600.0 if live else None
    run = run_snapshot(
        series,
        id=run_id or f"{abs(hash(name)) % 16**8:08x}",
        path=f"/runs/{name}",
        name=name,
        layout="A",
        algo="happo",
        env="mapush",
        task="go1push_mid",
        exp_name=exp,
        seed=seed,
        started=started,
        state=state,
        step=step,
        total_steps=total,
        progress=step / total,
        steps_per_hour=sph,
        eta=eta,
        last_data=last,
        ended=None if live else last,
        reward=Reward(
            "train_episode_rewards", float(reward[-1]), float(reward[best]), int(steps[best])
        ),
        checkpoints=cps,
        scalars=scalars,
        config=config,
        stall_after=360.0,
        process=process,
    )
    # Judged as the monitor judges every run, unless the test gives its own findings.
    run = with_trusted_best(run)
    judged = evaluate(run, now=last) if health is None else health
    return dataclasses.replace(run, health=judged)


def _with_finding(run: RunSnapshot, finding: Finding) -> RunSnapshot:
    """The run's findings with ``finding`` in place of the rule's own (worst first)."""
    rest = tuple(f for f in run.health if f.rule != finding.rule)
    return dataclasses.replace(run, health=(finding, *rest))


def standard_runs() -> tuple[RunSnapshot, ...]:
    """A finished basic run, a running safe one with a process and a warning, a crashed one;
    labelled as collectors.monitor labels siblings (by the config keys that differ)."""
    from collectors.analysis.config_diff import run_labels

    runs = (
        make_run(
            "basic",
            preset="basic",
            state="finished",
            step=100_000_000,
            sph=20e6,
            started=NOW - 8 * 3600,
            run_id="aaaa0001",
        ),
        _with_finding(
            make_run(
                "safe",
                preset="safe",
                state="running",
                step=47_500_000,
                pid=80319,
                run_id="bbbb0002",
            ),
            Finding(
                "grad_spike",
                "warn",
                "agent1 grad norm spike: 1 > 5x recent median, now at 20M",
                20_000_000,
                "agent1/actor_grad_norm",
                agent="agent1",
                metric="actor_grad_norm",
            ),
        ),
        make_run(
            "crashy", preset="basic", state="crashed", step=35_000_000, seed=3, run_id="cccc0003"
        ),
    )
    labels = run_labels(runs)
    return tuple(dataclasses.replace(r, label=labels.get(r.id, "")) for r in runs)


def snapshot(runs: tuple[RunSnapshot, ...] | None = None, **kw: Any) -> Snapshot:
    return Snapshot(
        host=HOST,
        time=NOW,
        runs=standard_runs() if runs is None else runs,
        roots=("/runs",),
        gpus=kw.pop("gpus", gpu_snapshot()),
        disks=kw.pop("disks", None),
        **kw,
    )


class FakeSources:
    """Returns the snapshot it holds; ``fail`` makes collect() raise; counts calls."""

    tracks_processes = True

    def __init__(self, snap: Snapshot | None = None) -> None:
        self.snap = snap or snapshot()
        self.calls = 0
        self.fail: str | None = None
        self.closed = False
        self.in_collect = 0
        self.max_in_collect = 0
        self.delay = 0.0
        self._lock = threading.Lock()

    def collect(self) -> Snapshot:
        with self._lock:
            self.in_collect += 1
            self.max_in_collect = max(self.max_in_collect, self.in_collect)
        try:
            self.calls += 1
            if self.delay:
                threading.Event().wait(self.delay)
            if self.fail:
                raise RuntimeError(self.fail)
            return self.snap
        finally:
            with self._lock:
                self.in_collect -= 1

    def set_runs(self, runs: tuple[RunSnapshot, ...]) -> None:
        self.snap = dataclasses.replace(self.snap, runs=runs)

    def close(self) -> None:
        self.closed = True


class FakeHost:
    def collect(self) -> HostStats:
        return HostStats(23.0, 16, 41_000_000_000, 128_000_000_000, 2.5, (10.0, 20.0, 23.0))

    def close(self) -> None:
        pass


class FakeRegistry:
    """No launch records, no stop marks."""

    def get(self, record_id: str) -> None:
        return None

    def for_run(self, run_path: str) -> None:
        return None

    def find(self, pid: int, create_time: float | None) -> None:
        return None

    def stopped_by_us(self, run_path: str) -> bool:
        return False


class FakeActions(Actions):
    """Real plans (collectors.control's checks), recorded instead of executed."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, registry=FakeRegistry())
        self.executed: list[tuple[Plan, dict]] = []

    def execute(self, plan: Plan, **kw: Any) -> Outcome:
        self._check_writable()
        self.executed.append((plan, kw))
        return Outcome(True, f"{plan.action} {plan.run_name}: done (fake)", plan=plan)


def fixed_clock() -> float:
    return NOW


def aio(fn):
    """Run an async test on its own event loop (no pytest-asyncio needed)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(fn(*args, **kwargs))

    return run
