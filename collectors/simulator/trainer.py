"""A stand-in for a HARL / MAPush HAPPO trainer, at accelerated speed.

``happo-top simulate`` (or ``python -m collectors.simulator``) starts a real process that
writes a run directory exactly the way HARL does (see docs/run-format.md): a
``seed-XXXXX-<local time>`` directory, ``config.json`` with a TAB after every colon,
TensorBoard event files written by **tensorboardX** through ``add_scalars`` (one sub-writer
directory per key, real ``flush_secs`` behaviour, so data arrives in bursts), checkpoints in
layout A, B or U, a held-open ``progress.txt``, a process title ``<algo>-<env>-<exp_name>``,
HARL's stdout lines, and ``logs/summary.json`` only after a clean finish.

The curves are deterministic for a given seed and depend only on the fraction of training done,
so every ``num_env_steps`` gives the same shape. The ``basic`` preset degrades in the third
quarter as in the seed document (quarter means about -15.0 / -16.7 / -19.5 / -17.7); ``safe``
improves steadily with less noise.

Python API (no subprocess): :func:`write_instant_run` writes a whole (or an unfinished) run at
once with simulated wall times; :func:`spawn` starts the simulator as a child process.

This module must not import textual, rich or plotext.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import select
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TextIO

import numpy as np
import setproctitle

__all__ = ["SimConfig", "build_config", "main", "spawn", "write_instant_run"]

LAYOUTS = ("A", "B", "U")
PRESETS = {
    # preset -> (lr, critic_lr, max_grad_norm, use_adv_normalize)
    "basic": (5e-4, 5e-4, 10.0, False),
    "safe": (3e-4, 3e-4, 0.5, True),
}
REWARD_COMPONENTS = (  # layout B's rewards/<component> terms: (base, gain with quality)
    ("push_reward", 0.0, 0.004),
    ("engagement_bonus", 0.001, 0.006),
    ("cooperation_bonus", 0.0, 0.003),
    ("directional_progress", -0.002, 0.006),
    ("reach_target_reward", 0.0, 0.002),
    ("exception_punishment", -0.006, 0.003),
    ("blocking_penalty", -0.004, 0.002),
    ("same_side_bonus", 0.0005, 0.002),
    ("approach_to_box_reward", -0.09, 0.03),
    ("distance_to_target_reward", -0.08, 0.02),
    ("collision_punishment", -0.045, 0.01),
    ("ocb_reward", -0.0015, 0.001),
)
# Plateau of the basic preset's episode reward (knots over the fraction of training done),
# solved so that, with the early transient below, the quarter means are -15.0/-16.7/-19.5/-17.7.
_BASIC_KNOTS_F = (0.0, 0.125, 0.3, 0.45, 0.6, 0.7, 0.875, 1.0)
_BASIC_KNOTS_R = (-13.57, -13.84, -15.56, -17.80, -19.95, -19.71, -17.34, -17.09)
_CKPT_SIZES = {"actor": 4096, "critic": 4352, "value_normalizer": 513}


@dataclass
class SimConfig:
    """Everything that shapes a simulated run (HARL defaults of the real MAPush runs)."""

    root: Path
    exp_name: str = "cuboid"
    num_env_steps: int = 100_000_000
    layout: str = "A"
    preset: str = "basic"
    seed: int = 1
    env: str = "mapush"
    task: str = "go1push_mid"
    algo: str = "happo"
    num_agents: int = 2
    n_rollout_threads: int = 500
    episode_length: int = 200
    log_interval: int = 5
    eval_interval: int = 25
    checkpoint_every: int = 10_000_000  # layout B: save cadence in steps
    flush_secs: float = 2.0
    log_dir: str | None = None  # written as algo_args.logger.log_dir; defaults to str(root)
    model_dir: str | None = None  # HARL's --model_dir: the checkpoint a resumed run starts from
    trainer_argv: list[str] = field(default_factory=list)  # layout B's command.txt

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.layout = self.layout.upper()
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, not {self.layout!r}")
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {tuple(PRESETS)}, not {self.preset!r}")
        if self.total_updates < 1:
            raise ValueError(
                "num_env_steps is smaller than one update (episode_length * n_rollout_threads)"
            )

    @property
    def steps_per_update(self) -> int:
        return self.episode_length * self.n_rollout_threads

    @property
    def total_updates(self) -> int:
        return int(self.num_env_steps) // self.episode_length // self.n_rollout_threads

    @property
    def title(self) -> str:
        return f"{self.algo}-{self.env}-{self.exp_name}"


def build_config(cfg: SimConfig) -> dict[str, Any]:
    """The ``config.json`` content HARL writes: main_args, algo_args (happo.yaml), env_args."""
    lr, critic_lr, max_grad_norm, adv_norm = PRESETS[cfg.preset]
    algo_args = {
        "seed": {"seed_specify": True, "seed": cfg.seed},
        "device": {"cuda": True, "cuda_deterministic": True, "torch_threads": 4},
        "train": {
            "n_rollout_threads": cfg.n_rollout_threads,
            "num_env_steps": float(cfg.num_env_steps),  # a float when given on the command line
            "episode_length": cfg.episode_length,
            "log_interval": cfg.log_interval,
            "eval_interval": cfg.eval_interval,
            "use_valuenorm": True,
            "use_linear_lr_decay": False,
            "use_proper_time_limits": True,
            "model_dir": cfg.model_dir,
        },
        "eval": {"use_eval": False, "n_eval_rollout_threads": 10, "eval_episodes": 20},
        "render": {"use_render": False, "render_episodes": 10},
        "model": {
            "hidden_sizes": [256, 256],
            "activation_func": "relu",
            "use_feature_normalization": True,
            "initialization_method": "orthogonal_",
            "gain": 0.01,
            "use_naive_recurrent_policy": False,
            "use_recurrent_policy": False,
            "recurrent_n": 1,
            "data_chunk_length": 10,
            "lr": lr,
            "critic_lr": critic_lr,
            "opti_eps": 1e-05,
            "weight_decay": 0,
            "std_x_coef": 1,
            "std_y_coef": 0.5,
        },
        "algo": {
            "ppo_epoch": 5,
            "critic_epoch": 5,
            "use_clipped_value_loss": True,
            "clip_param": 0.2,
            "actor_num_mini_batch": 1,
            "critic_num_mini_batch": 1,
            "entropy_coef": 0.01,
            "value_loss_coef": 1,
            "use_max_grad_norm": True,
            "max_grad_norm": max_grad_norm,
            "use_gae": True,
            "gamma": 0.99,
            "gae_lambda": 0.95,
            "use_huber_loss": True,
            "use_policy_active_masks": True,
            "huber_delta": 10.0,
            "action_aggregation": "prod",
            "share_param": False,
            "fixed_order": False,
            "use_adv_normalize": adv_norm,
        },
        "logger": {"log_dir": cfg.log_dir if cfg.log_dir is not None else str(cfg.root)},
    }
    main_args = {"algo": cfg.algo, "env": cfg.env, "exp_name": cfg.exp_name, "load_config": ""}
    env_args = {"task": cfg.task, "headless": True, "n_agents": cfg.num_agents}
    return {"algo_args": algo_args, "env_args": env_args, "main_args": main_args}


# --------------------------------------------------------------------------- curves


def _ar1(rng: np.random.Generator, n: int, sd: float, phi: float = 0.5) -> np.ndarray:
    """Autocorrelated noise with marginal standard deviation ``sd``."""
    z = rng.standard_normal(n) * sd * math.sqrt(1.0 - phi * phi)
    out = np.empty(n)
    prev = rng.standard_normal() * sd
    for i in range(n):
        prev = phi * prev + z[i]
        out[i] = prev
    return out


def _reward_mean(preset: str, f: np.ndarray) -> np.ndarray:
    """Noise-free mean episode reward as a function of the fraction of training done."""
    if preset == "basic":
        return np.interp(f, _BASIC_KNOTS_F, _BASIC_KNOTS_R) - 11.5 * np.exp(-f / 0.02)
    return -13.2 - 11.8 * np.exp(-f / 0.12) + 1.4 * f


class _Curves:
    """Every logged series, precomputed for all log points (and all updates)."""

    def __init__(self, cfg: SimConfig) -> None:
        n_updates = cfg.total_updates
        n_points = n_updates // cfg.log_interval
        f = np.arange(1, n_points + 1) * cfg.log_interval / n_updates
        basic = cfg.preset == "basic"
        rng = np.random.default_rng([cfg.seed, 0 if basic else 1])
        bump = np.exp(-(((f - 0.6) / 0.12) ** 2))  # basic's trouble zone around 50-75% of training
        s: dict[str, np.ndarray] = {}
        mean = _reward_mean(cfg.preset, f)
        s["reward"] = mean + _ar1(rng, n_points, 1.0 if basic else 0.45)
        s["step_reward"] = (
            s["reward"] / cfg.episode_length * (1 + 0.03 * rng.standard_normal(n_points))
        )
        for i in range(cfg.num_agents):
            if basic:
                ent = 1.38 + 0.03 * i + 0.85 * f**1.6 + _ar1(rng, n_points, 0.03, 0.8)
                gn = 3.2 * (1 + 0.35 * bump) * np.exp(0.25 * rng.standard_normal(n_points))
                spike = rng.random(n_points) < 0.03 + 0.15 * bump
                gn = np.where(spike, rng.uniform(10.0, 25.0, n_points), gn)
            else:
                ent = 1.40 + 0.02 * i + 0.30 * f**1.3 + _ar1(rng, n_points, 0.02, 0.8)
                gn = np.clip(0.40 * np.exp(0.10 * rng.standard_normal(n_points)), 0.3, 0.5)
                gn = np.where(rng.random(n_points) < 0.03, rng.uniform(0.51, 0.58, n_points), gn)
            s[f"agent{i}/policy_loss"] = np.clip(
                -0.002 + (0.01 if basic else 0.006) * rng.standard_normal(n_points), -0.04, 0.04
            )
            s[f"agent{i}/dist_entropy"] = ent
            s[f"agent{i}/actor_grad_norm"] = gn
            s[f"agent{i}/ratio"] = 1.0005 + (0.004 if basic else 0.002) * rng.standard_normal(
                n_points
            )
        if basic:
            vl = (0.55 - 0.2 * f + 0.25 * bump) * np.exp(0.2 * rng.standard_normal(n_points))
            vl = np.where(
                rng.random(n_points) < 0.04 + 0.08 * bump, vl * rng.uniform(2.5, 4.0, n_points), vl
            )
            cg = 4.0 * (1 + 0.5 * bump) * np.exp(0.3 * rng.standard_normal(n_points))
            cg = np.where(rng.random(n_points) < 0.03, cg * rng.uniform(3.0, 5.0, n_points), cg)
        else:
            vl = (0.5 - 0.25 * f) * np.exp(0.12 * rng.standard_normal(n_points))
            vl = np.where(rng.random(n_points) < 0.01, vl * 1.8, vl)
            cg = 1.6 * np.exp(0.2 * rng.standard_normal(n_points))
        s["critic/value_loss"] = vl
        s["critic/critic_grad_norm"] = cg
        # layout B extras
        quality = np.clip((mean + 25.0) / 13.0, 0.0, 1.0)
        sig = 1.0 / (1.0 + np.exp(-(mean + 16.0)))
        s["mapush/success_rate"] = np.clip(
            0.6 * sig + 0.02 * rng.standard_normal(n_points), 0.0, 1.0
        )
        for name, base, gain in REWARD_COMPONENTS:
            sd = 0.05 * abs(base) + 0.0005
            s[f"rewards/{name}"] = base + gain * quality + sd * rng.standard_normal(n_points)
        self.series = s
        self.happo_factor = 1.0 + (0.03 if basic else 0.015) * rng.standard_normal(
            (n_updates, cfg.num_agents)
        )
        self.hist_rng = np.random.default_rng([cfg.seed, 2])

    def at(self, name: str, k: int) -> float:
        return float(self.series[name][k])


# --------------------------------------------------------------------------- writers


class _InstantWriter:
    """The records tensorboardX's SummaryWriter writes, written synchronously.

    Instant mode only: same directories (one per add_scalars key), same file names, same
    TFRecord framing and Event protos (built with tensorboardX's own summary helpers and
    RecordWriter), but with simulated wall times everywhere (file name epoch and header too)
    and without the queue/thread per file, which is 5-8x faster for big benchmark runs.
    """

    def __init__(self, logdir: str, created: float) -> None:
        self.logdir = logdir
        self.scalar_dict: dict[str, list[list[float]]] = {}
        self.files: dict[str, Any] = {}
        self.main = self._open(logdir, created)
        self.default_bins = _tf_default_bins()

    def _open(self, directory: str, created: float) -> Any:
        # deferred: tensorboardX (protobuf) takes ~0.1 s to import; only writing a run needs it
        from tensorboardX.proto import event_pb2
        from tensorboardX.record_writer import RecordWriter

        os.makedirs(directory, exist_ok=True)
        name = f"events.out.tfevents.{int(created)}.{socket.gethostname()}"
        rw = RecordWriter(os.path.join(directory, name))
        header = event_pb2.Event(wall_time=created, file_version="brain.Event:2")
        rw.write(header.SerializeToString())
        self.files[directory] = rw
        return rw

    @staticmethod
    def _write(rw: Any, summary: Any, step: int, walltime: float) -> None:
        # deferred: tensorboardX (protobuf) takes ~0.1 s to import; only writing a run needs it
        from tensorboardX.proto import event_pb2

        event = event_pb2.Event(wall_time=walltime, step=int(step), summary=summary)
        rw.write(event.SerializeToString())

    def add_scalars(
        self, main_tag: str, values: dict[str, float], step: int, walltime: float
    ) -> None:
        # deferred: tensorboardX (protobuf) takes ~0.1 s to import; only writing a run needs it
        from tensorboardX.summary import scalar

        for tag, value in values.items():
            key = os.path.join(self.logdir, main_tag, tag)
            rw = self.files.get(key) or self._open(key, walltime)
            self._write(rw, scalar(main_tag, value), step, walltime)
            self.scalar_dict.setdefault(key, []).append([walltime, step, float(value)])

    def add_scalar(self, tag: str, value: float, step: int, walltime: float) -> None:
        # deferred: tensorboardX (protobuf) takes ~0.1 s to import; only writing a run needs it
        from tensorboardX.summary import scalar

        self._write(self.main, scalar(tag, value), step, walltime)

    def add_histogram(
        self,
        tag: str,
        values: np.ndarray,
        step: int,
        bins: Any = "tensorflow",
        walltime: float = 0.0,
    ) -> None:
        # deferred: tensorboardX (protobuf) takes ~0.1 s to import; only writing a run needs it
        from tensorboardX.summary import histogram

        if isinstance(bins, str) and bins == "tensorflow":
            bins = self.default_bins
        self._write(self.main, histogram(tag, values, bins), step, walltime)

    def export_scalars_to_json(self, path: str) -> None:
        with open(path, "w") as fh:
            json.dump(self.scalar_dict, fh)
        self.scalar_dict = {}

    def flush(self) -> None:
        for rw in self.files.values():
            rw.flush()

    def close(self) -> None:
        for rw in self.files.values():
            rw.flush()
            rw.close()
        self.files = {}


def _tf_default_bins() -> list[float]:
    """SummaryWriter.default_bins (TensorFlow's histogram buckets)."""
    v, pos = 1e-12, []
    while v < 1e20:
        pos.append(v)
        v *= 1.1
    return [-x for x in reversed(pos)] + [0.0] + pos


# --------------------------------------------------------------------------- the run


class _Run:
    """One run directory and its writer; live (real clock) or instant (simulated clock)."""

    def __init__(
        self,
        cfg: SimConfig,
        *,
        instant: bool,
        start_time: float | None = None,
        steps_per_hour: float = 20e6,
        out: TextIO | None = None,
        ckpt_gap: float = 0.0,
        stop_after: int | None = None,
    ) -> None:
        self.cfg = cfg
        self.instant = instant
        self.out = out
        self.ckpt_gap = ckpt_gap
        self.curves = _Curves(cfg)
        self.writer: Any = None
        self.progress: TextIO | None = None
        self.run_dir = Path()
        self.walls: np.ndarray | None = None
        n = cfg.total_updates
        self.start = time.time() if start_time is None else float(start_time)
        if instant:
            # ~20M steps/hour with a little jitter, ~20 s of start-up before the first update
            trng = np.random.default_rng([cfg.seed, 3])
            dt = cfg.steps_per_update / steps_per_hour * 3600.0
            dts = dt * np.clip(1.0 + 0.03 * trng.standard_normal(n), 0.8, 1.2)
            offsets = 20.0 + np.concatenate([[0.0], np.cumsum(dts)])
            if start_time is None:  # default: the (written part of the) run ends now
                self.start = time.time() - offsets[n if stop_after is None else stop_after] - 5.0
            self.walls = self.start + offsets  # walls[u] = wall time at the end of update u
        self.t0 = time.time()
        self.last_ckpt = 0  # layout B: steps of the last checkpoint

    # -- helpers
    def say(self, line: str) -> None:
        if self.out is not None:
            with contextlib.suppress(OSError, ValueError):
                print(line, file=self.out, flush=True)

    def wall(self, u: int) -> float | None:
        return None if self.walls is None else float(self.walls[u])

    def now(self, u: int) -> float:
        return time.time() if self.walls is None else float(self.walls[u])

    # -- setup
    def setup(self) -> Path:
        cfg = self.cfg
        exp_dir = cfg.root / cfg.env / cfg.task / cfg.algo / cfg.exp_name
        exp_dir.mkdir(parents=True, exist_ok=True)
        while True:  # two runs never share a directory: bump to the next second
            t = self.start if self.instant else time.time()
            stamp = time.strftime("%Y-%m-%d-%H-%M-%S", time.localtime(t))
            run_dir = exp_dir / f"seed-{cfg.seed:0>5}-{stamp}"
            try:
                run_dir.mkdir()
                break
            except FileExistsError:
                if self.instant:
                    self.start += 1.0
                    if self.walls is not None:
                        self.walls += 1.0
                else:
                    time.sleep(1.0 - (time.time() % 1.0) + 0.01)
        self.run_dir = run_dir
        (run_dir / "logs").mkdir()
        if self.instant:
            self.writer = _InstantWriter(str(run_dir / "logs"), created=self.start)
        else:
            # deferred: tensorboardX (protobuf) takes ~0.1 s to import; only writing a run needs it
            from tensorboardX import SummaryWriter

            self.writer = SummaryWriter(str(run_dir / "logs"), flush_secs=cfg.flush_secs)
        (run_dir / "models").mkdir()
        text = json.dumps(build_config(cfg), separators=(",", ":\t"), indent=4, sort_keys=True)
        (run_dir / "config.json").write_text(text, encoding="utf-8")
        if cfg.layout == "B":
            (run_dir / "checkpoints").mkdir()
            self._write_b_extras()
        self.progress = open(run_dir / "progress.txt", "w", encoding="utf-8")  # noqa: SIM115
        if self.instant:
            for name in ("config.json", "progress.txt", "command.txt", "run_config.yaml"):
                if (run_dir / name).exists():
                    os.utime(run_dir / name, (self.start, self.start))
        return run_dir

    def _write_b_extras(self) -> None:
        cfg = self.cfg
        argv = cfg.trainer_argv or [
            "HARL/harl_mapush/train.py",
            "--exp_name",
            cfg.exp_name,
            "--seed",
            str(cfg.seed),
            "--num_env_steps",
            str(int(cfg.num_env_steps)),
            "--n_rollout_threads",
            str(cfg.n_rollout_threads),
        ]
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.start))
        (self.run_dir / "command.txt").write_text(
            f"# Training command ({stamp}, cwd {os.getcwd()})\npython -u {shlex.join(argv)}\n",
            encoding="utf-8",
        )
        _, _, mgn, adv = PRESETS[cfg.preset]
        yaml_text = (
            "# Run configuration summary (readable copy; config.json is authoritative)\n"
            f"experiment:\n  exp_name: {cfg.exp_name}\n  seed: {cfg.seed}\n"
            f"  env: {cfg.env}\n  task: {cfg.task}\n  algo: {cfg.algo}\n"
            f"training:\n  num_env_steps: {int(cfg.num_env_steps)}\n"
            f"  n_rollout_threads: {cfg.n_rollout_threads}\n  episode_length: {cfg.episode_length}\n"
            f"  log_interval: {cfg.log_interval}\n  checkpoint_interval: {cfg.checkpoint_every}\n"
            "actor:\n  lr: null\ncritic:\n  lr: null\n"
            f"algo:\n  max_grad_norm: {mgn}\n  entropy_coef: 0.01\n  clip_param: 0.2\n"
            f"  ppo_epoch: 5\n  use_adv_normalize: {str(adv).lower()}\n"
        )
        (self.run_dir / "run_config.yaml").write_text(yaml_text, encoding="utf-8")

    def banner(self) -> None:
        cfg = self.cfg
        if cfg.model_dir:
            self.say(f"Restoring the actors and the critic from {cfg.model_dir}")
        if cfg.layout == "B":
            self.say(f"Checkpoint interval: {cfg.checkpoint_every:,} steps")
            self.say(f"Checkpoints will be saved to: {self.run_dir / 'checkpoints'}")
            self.say(
                f"Starting training for {cfg.total_updates} rollouts "
                f"(~{cfg.total_updates // 5} MAPush episodes)"
            )
        self.say("start running")

    # -- one update (1-based index, as HARL's `episode`)
    def update(self, u: int) -> None:
        cfg = self.cfg
        steps = u * cfg.steps_per_update
        w = self.wall(u)
        if cfg.layout == "B":  # checkpoints happen inside the rollout, every checkpoint_every
            while True:
                target = self.last_ckpt + cfg.checkpoint_every
                s = -(-target // cfg.n_rollout_threads) * cfg.n_rollout_threads
                if s > steps:
                    break
                self._save_b(s, u)
                self.last_ckpt = s
        if u % cfg.log_interval == 0:
            self._log(u, steps, w)
        if cfg.layout == "B":
            for i in range(cfg.num_agents):
                self.writer.add_scalar(
                    f"happo_factor/agent{i}",
                    float(self.curves.happo_factor[u - 1, i]),
                    steps,
                    walltime=w,
                )
        if cfg.layout != "B" and u % cfg.eval_interval == 0:
            target_dir = self.run_dir / "models"
            if cfg.layout == "A":
                target_dir = target_dir / f"rl_model_{steps}_steps"
                target_dir.mkdir(exist_ok=True)
            self._write_ckpt(target_dir, u)

    def _log(self, u: int, steps: int, w: float | None) -> None:
        cfg, c, wr = self.cfg, self.curves, self.writer
        k = u // cfg.log_interval - 1
        elapsed = max(self.now(u) - (self.start + 20.0 if self.instant else self.t0), 1e-6)
        self.say(
            f"Env {cfg.env} Task {cfg.task} Algo {cfg.algo} Exp {cfg.exp_name} updates "
            f"{u}/{cfg.total_updates} episodes, total num timesteps "
            f"{steps}/{int(cfg.num_env_steps)}, FPS {int(steps / elapsed)}."
        )
        for i in range(cfg.num_agents):  # HARL's log_train
            for key in ("policy_loss", "dist_entropy", "actor_grad_norm", "ratio"):
                tag = f"agent{i}/{key}"
                wr.add_scalars(tag, {tag: c.at(tag, k)}, steps, walltime=w)
        critic_keys = ["critic/value_loss", "critic/critic_grad_norm"]
        if cfg.layout != "B":
            critic_keys.append("critic/average_step_rewards")
        for tag in critic_keys:
            v = c.at("step_reward" if tag.endswith("average_step_rewards") else tag, k)
            wr.add_scalars(tag, {tag: v}, steps, walltime=w)
        self.say(f"Average step reward is {c.at('step_reward', k)}.")
        if cfg.layout != "B":
            self.say(f"Some episodes done, average episode reward is {c.at('reward', k)}.\n")
            wr.add_scalars(
                "train_episode_rewards", {"aver_rewards": c.at("reward", k)}, steps, walltime=w
            )
            return
        wr.add_scalar("average_step_reward", c.at("step_reward", k), steps, walltime=w)
        for name, _, _ in REWARD_COMPONENTS:
            wr.add_scalar(f"rewards/{name}", c.at(f"rewards/{name}", k), steps, walltime=w)
        wr.add_scalar("mapush/success_rate", c.at("mapush/success_rate", k), steps, walltime=w)
        hr = c.hist_rng
        wr.add_histogram(
            "hist/episode_rewards", hr.normal(c.at("reward", k), 3.0, 256), steps, walltime=w
        )
        wr.add_histogram(
            "hist/actions_agent0", hr.normal(0.0, 0.6, 256), steps, bins="auto", walltime=w
        )
        self.say(
            f"[Rollout {u}/{cfg.total_updates}] Progress: {u / cfg.total_updates * 100:.1f}% | "
            f"Steps: {steps:,} | ~MAPush episodes: {steps // 1000:,}"
        )

    def _write_ckpt(self, target_dir: Path, u: int) -> None:
        """actor_agent{i}.pt, critic_agent.pt, value_normalizer.pt, one after the other."""
        names = [(f"actor_agent{i}.pt", "actor") for i in range(self.cfg.num_agents)]
        names += [("critic_agent.pt", "critic"), ("value_normalizer.pt", "value_normalizer")]
        for j, (name, kind) in enumerate(names):
            if j and self.ckpt_gap > 0:
                time.sleep(self.ckpt_gap)
            size = _CKPT_SIZES[kind]
            body = (b"PK\x03\x04happo-top simulated checkpoint " + name.encode() + b"\n") * 200
            path = target_dir / name
            with open(path, "wb") as fh:
                fh.write(body[:size])
            if self.instant:
                t = self.now(u) + 0.2 * j
                os.utime(path, (t, t))
        if self.instant and target_dir.name != "models":
            os.utime(target_dir, (self.now(u) + 0.2 * len(names),) * 2)

    def _save_b(self, steps: int, u: int) -> None:
        target = self.run_dir / "checkpoints" / f"{steps // 1_000_000}M"
        target.mkdir(exist_ok=True)
        self._write_ckpt(target, u)
        self.say(f"[Checkpoint] Saved models at {steps:,} steps -> {target}")

    # -- endings
    def finish(self) -> None:
        """Clean end: layout B's final checkpoint, summary.json, close."""
        cfg = self.cfg
        n = cfg.total_updates
        if cfg.layout == "B":
            self.say("Training complete! Saving final checkpoint...")
            self._save_b(n * cfg.steps_per_update, n)
        summary = self.run_dir / "logs" / "summary.json"
        self.writer.export_scalars_to_json(str(summary))
        self.close(end_update=n)
        if self.instant:
            os.utime(summary, (self.now(n) + 2.0,) * 2)

    def close(self, end_update: int | None = None) -> None:
        """Flush and close every writer and progress.txt (no summary.json)."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.progress is not None:
            self.progress.close()
            self.progress = None
        if self.instant and end_update is not None:
            self._settle_event_files(end_update)

    def _settle_event_files(self, end_update: int) -> None:
        """Instant mode: event files get the mtime of the simulated end."""
        end = self.now(end_update) + 1.0
        for path in (self.run_dir / "logs").rglob("events.out.tfevents.*"):
            os.utime(path, (end, end))

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()


# --------------------------------------------------------------------------- Python API


def write_instant_run(
    root: str | os.PathLike[str],
    *,
    exp_name: str = "cuboid",
    num_env_steps: int = 100_000_000,
    layout: str = "A",
    preset: str = "basic",
    seed: int = 1,
    start_time: float | None = None,
    steps_per_hour: float = 20e6,
    finished: bool = True,
    stop_at: float = 0.5,
    **options: Any,
) -> Path:
    """Write a whole run at once, with simulated wall times; return its run directory.

    ``finished=False`` stops after ``stop_at`` of the updates without summary.json (a run that
    was killed or crashed). ``start_time`` (unix seconds) is the simulated start; by default the
    run ends now. ``options`` are further :class:`SimConfig` fields (n_rollout_threads,
    episode_length, log_interval, eval_interval, checkpoint_every, env, task, algo, ...).
    """
    cfg = SimConfig(
        root=Path(root),
        exp_name=exp_name,
        num_env_steps=int(num_env_steps),
        layout=layout,
        preset=preset,
        seed=seed,
        **options,
    )
    n = cfg.total_updates
    stop_after = None if finished else min(n, int(stop_at * n))
    run = _Run(
        cfg,
        instant=True,
        start_time=start_time,
        steps_per_hour=steps_per_hour,
        stop_after=stop_after,
    )
    run.setup()
    try:
        for u in range(1, (n if stop_after is None else stop_after) + 1):
            run.update(u)
        if stop_after is None:
            run.finish()
        else:
            run.close(end_update=stop_after)
    finally:
        run.close()
    return run.run_dir


def command(
    root: str | os.PathLike[str],
    *,
    exp_name: str = "cuboid",
    num_env_steps: int = 100_000_000,
    duration: float = 10.0,
    layout: str = "A",
    preset: str = "basic",
    seed: int = 1,
    flush_secs: float = 1.0,
    extra_args: list[str] | tuple[str, ...] = (),
    **options: Any,
) -> list[str]:
    """The argv that runs the simulator (this interpreter, unbuffered). ``options`` become
    flags: ``n_rollout_threads=10`` -> ``--n-rollout-threads 10``; ``True`` -> a bare flag."""
    cmd = [
        sys.executable,
        "-u",
        "-m",
        "collectors.simulator",
        "--root",
        str(root),
        "--exp-name",
        exp_name,
        "--num-env-steps",
        str(int(num_env_steps)),
        "--duration",
        str(duration),
        "--layout",
        layout,
        "--config-preset",
        preset,
        "--seed",
        str(seed),
        "--flush-secs",
        str(flush_secs),
    ]
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            cmd.append(flag)
        elif value not in (None, False):
            cmd += [flag, str(value)]
    cmd += list(extra_args)
    return cmd


def spawn(
    root: str | os.PathLike[str], *, timeout: float = 30.0, **options: Any
) -> subprocess.Popen[str]:
    """Start the simulator as a child process (``options``: those of :func:`command`); return it
    once it has printed its run dir.

    The returned Popen has ``run_dir`` (Path) and ``output`` (list of the stdout lines after the
    first, filled by a daemon thread so the pipe never blocks the child). stderr is a pipe (read
    it after the child exits).
    """
    cmd = command(root, **options)
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    first = proc.stdout.readline() if ready else ""
    prefix = "happo-top simulate: run dir "
    if not first.startswith(prefix):
        proc.kill()
        _, err = proc.communicate()
        raise RuntimeError(f"simulator did not start (first line {first!r}): {err[-2000:]}")
    output: list[str] = []

    def drain(stream: IO[str] = proc.stdout) -> None:
        with stream:  # closed at EOF, when the child exits
            for line in stream:
                output.append(line.rstrip("\n"))

    threading.Thread(target=drain, daemon=True, name="happo-sim-stdout").start()
    proc.run_dir = Path(first[len(prefix) :].strip())  # type: ignore[attr-defined]
    proc.output = output  # type: ignore[attr-defined]
    return proc


# --------------------------------------------------------------------------- CLI


_CRASH_TEXT = """\
Traceback (most recent call last):
  File "HARL/examples/train.py", line 112, in <module>
    main()
  File "HARL/examples/train.py", line 107, in main
    runner.run()
  File "HARL/harl/runners/on_policy_base_runner.py", line 244, in run
    actor_train_infos, critic_train_info = self.train()
  File "HARL/harl/runners/on_policy_ha_runner.py", line 58, in train
    actor_train_info = self.actor[agent_id].train(
  File "HARL/harl/algorithms/actors/happo.py", line 121, in train
    policy_loss, dist_entropy, actor_grad_norm, imp_weights = self.update(
RuntimeError: CUDA error: an illegal memory access was encountered
CUDA kernel errors might be asynchronously reported at some other API call, so the stacktrace \
below might be incorrect.
For debugging consider passing CUDA_LAUNCH_BLOCKING=1.
"""


def _steps_arg(text: str) -> int:
    text = text.replace("_", "").replace(",", "")
    try:
        return int(text)
    except ValueError:
        return int(float(text))


def _fraction(text: str) -> float:
    v = float(text)
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError("must be a fraction between 0 and 1")
    return v


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="happo-top simulate",
        allow_abbrev=False,
        description="Run a HARL/MAPush HAPPO trainer stand-in that writes a real run directory "
        "at accelerated speed.",
    )
    p.add_argument("--root", default="./results", help="results root (HARL's logger.log_dir)")
    p.add_argument("--exp-name", default="cuboid")
    p.add_argument("--num-env-steps", type=_steps_arg, default=100_000_000)
    p.add_argument(
        "--duration",
        type=float,
        default=300.0,
        help="real seconds to spread the run over; 0 means --instant",
    )
    p.add_argument("--layout", type=str.upper, choices=LAYOUTS, default="A")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--model_dir",
        "--model-dir",
        metavar="DIR",
        help="as HARL's train.py: start from this checkpoint (restart --resume passes it)",
    )
    p.add_argument("--config-preset", choices=tuple(PRESETS), default="basic")
    p.add_argument(
        "--crash-at",
        type=_fraction,
        default=None,
        metavar="FRACTION",
        help="die like a crash (traceback, exit 1) at this fraction of the steps",
    )
    p.add_argument(
        "--stall-at",
        type=_fraction,
        default=None,
        metavar="FRACTION",
        help="stop writing at this fraction but stay alive until signalled",
    )
    p.add_argument(
        "--flush-secs",
        type=float,
        default=2.0,
        help="tensorboardX flush_secs (HARL's default is 120)",
    )
    p.add_argument("--env", default="mapush")
    p.add_argument("--task", default="go1push_mid")
    p.add_argument("--algo", default="happo")
    p.add_argument("--num-agents", type=int, default=2)
    p.add_argument("--n-rollout-threads", type=int, default=500)
    p.add_argument("--episode-length", type=int, default=200)
    p.add_argument("--log-interval", type=int, default=5)
    p.add_argument("--eval-interval", type=int, default=25)
    p.add_argument(
        "--checkpoint-every",
        type=_steps_arg,
        default=10_000_000,
        help="layout B: checkpoint cadence in steps",
    )
    p.add_argument(
        "--checkpoint-gap",
        type=float,
        default=0.05,
        help="live mode: seconds between the files of one checkpoint",
    )
    p.add_argument(
        "--instant", action="store_true", help="write the whole run now, with simulated wall times"
    )
    p.add_argument(
        "--verbose", action="store_true", help="an instant run prints HARL's stdout lines too"
    )
    p.add_argument(
        "--start-time",
        type=float,
        default=None,
        help="instant mode: simulated start (unix time); default: ends now",
    )
    p.add_argument(
        "--steps-per-hour", type=float, default=20e6, help="instant mode: simulated training speed"
    )
    return p


class _Stop:
    signum = 0

    def __call__(self, signum: int, frame: Any) -> None:
        self.signum = signum


def _sleep_until(t: float, stop: _Stop) -> None:
    while not stop.signum:
        left = t - time.time()
        if left <= 0:
            return
        time.sleep(min(0.05, left))


def main(argv: list[str] | None = None) -> int:
    """``happo-top simulate ...``: run the simulated trainer; return the exit code."""
    raw = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(raw)
    stop = _Stop()
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    instant = args.instant or args.duration <= 0
    try:
        cfg = SimConfig(
            root=Path(args.root).absolute(),
            log_dir=args.root,
            exp_name=args.exp_name,
            num_env_steps=args.num_env_steps,
            layout=args.layout,
            preset=args.config_preset,
            seed=args.seed,
            env=args.env,
            task=args.task,
            algo=args.algo,
            num_agents=args.num_agents,
            n_rollout_threads=args.n_rollout_threads,
            episode_length=args.episode_length,
            log_interval=args.log_interval,
            eval_interval=args.eval_interval,
            checkpoint_every=args.checkpoint_every,
            flush_secs=args.flush_secs,
            model_dir=args.model_dir,
        )
    except ValueError as exc:
        print(f"happo-top simulate: {exc}", file=sys.stderr)
        return 2
    n = cfg.total_updates
    event_at = args.crash_at if args.crash_at is not None else args.stall_at
    limit = n if event_at is None else min(n, int(event_at * n))
    run = _Run(
        cfg,
        instant=instant,
        start_time=args.start_time,
        steps_per_hour=args.steps_per_hour,
        out=sys.stdout if args.verbose or not instant else None,  # instant: just the run dir
        ckpt_gap=0.0 if instant else args.checkpoint_gap,
        stop_after=None if event_at is None else limit,
    )
    try:
        run.setup()
    except OSError as exc:
        print(f"happo-top simulate: cannot write the run under {args.root}: {exc}", file=sys.stderr)
        return 2
    setproctitle.setproctitle(cfg.title)
    print(f"happo-top simulate: run dir {run.run_dir}", flush=True)
    run.banner()
    run.t0 = time.time()
    duration = max(float(args.duration), 0.0)
    for u in range(1, limit + 1):
        if not instant:
            _sleep_until(run.t0 + duration * u / n, stop)
        if stop.signum:
            break
        run.update(u)
    if not stop.signum and args.crash_at is not None:
        if instant:  # keep what was written; a live crash loses the unflushed tail
            run.close(end_update=limit)
        else:
            _sleep_until(run.t0 + duration * min(limit + 1, n) / n, stop)
        print(_CRASH_TEXT, end="", file=sys.stderr, flush=True)
        os._exit(1)
    if not stop.signum and args.stall_at is not None:
        if instant:
            run.flush()
        while not stop.signum:  # alive, holding every file, writing nothing
            time.sleep(0.1)
    if stop.signum:
        run.close()
        if stop.signum == signal.SIGINT:
            print("KeyboardInterrupt", file=sys.stderr, flush=True)
        return 128 + stop.signum
    run.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
