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
import os
import shlex
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import setproctitle

from collectors.simulator.config import (
    CHECKPOINT_SIZES,
    LAYOUTS,
    PRESETS,
    REWARD_COMPONENTS,
    SimConfig,
    build_config,
)
from collectors.simulator.curves import Curves
from collectors.simulator.process import command, spawn
from collectors.simulator.writer import InstantWriter

__all__ = ["SimConfig", "build_config", "command", "main", "spawn", "write_instant_run"]


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
        utc_offset: float | None = None,
        pace: Sequence[tuple[float, float]] | None = None,
    ) -> None:
        self.cfg = cfg
        # hours: the trainer's host is in another zone (None: this machine's own)
        self.utc_offset = utc_offset
        self.instant = instant
        self.out = out
        self.ckpt_gap = ckpt_gap
        self.curves = Curves(cfg)
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
            if pace:
                offsets = paced_offsets(cfg, pace)
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

    def local(self, t: float) -> time.struct_time:
        """The trainer host's local time (HARL's ``init_dir`` names the run directory after
        it); the event files' names and wall times stay true instants in any zone."""
        if self.utc_offset is None:
            return time.localtime(t)
        return time.gmtime(t + self.utc_offset * 3600.0)

    # -- setup
    def setup(self) -> Path:
        cfg = self.cfg
        exp_dir = cfg.root / cfg.env / cfg.task / cfg.algo / cfg.exp_name
        exp_dir.mkdir(parents=True, exist_ok=True)
        while True:  # two runs never share a directory: bump to the next second
            t = self.start if self.instant else time.time()
            stamp = time.strftime("%Y-%m-%d-%H-%M-%S", self.local(t))
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
            self.writer = InstantWriter(str(run_dir / "logs"), created=self.start)
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
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", self.local(self.start))
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
            size = CHECKPOINT_SIZES[kind]
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


# --------------------------------------------------------------------------- time options


def paced_offsets(cfg: SimConfig, pace: Sequence[tuple[float, float]]) -> np.ndarray:
    """Seconds after the start at which each update ends, through ``pace``'s (steps, seconds)
    knots (piecewise linear, with (0, 0) first): a run with a given timing, e.g. the seed
    document's, without jitter."""
    knots = sorted((float(a), float(b)) for a, b in pace)
    if not knots or knots[0][0] > 0:
        knots.insert(0, (0.0, 0.0))
    ks, kt = np.array(knots).T
    steps = np.arange(cfg.total_updates + 1, dtype=np.float64) * cfg.steps_per_update
    if len(ks) == 1 or steps[-1] > ks[-1]:  # beyond the last knot: at the last knots' speed
        rate = (kt[-1] - kt[-2]) / (ks[-1] - ks[-2]) if len(ks) > 1 else 1.0 / 20e6 * 3600
        ks, kt = np.append(ks, steps[-1]), np.append(kt, kt[-1] + (steps[-1] - ks[-1]) * rate)
    return np.interp(steps, ks, kt)


def make_copied(run_dir: str | os.PathLike[str], when: float | None = None) -> None:
    """Make a run look copied (``cp -r``, ``scp``, a download): every file and directory in it
    gets the same modification time, ``when`` (default now)."""
    t = time.time() if when is None else float(when)
    for dirpath, _dirs, files in os.walk(run_dir):
        for name in files:
            os.utime(os.path.join(dirpath, name), (t, t))
        os.utime(dirpath, (t, t))


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
    utc_offset: float | None = None,
    copied: float | bool | None = None,
    pace: Sequence[tuple[float, float]] | None = None,
    **options: Any,
) -> Path:
    """Write a whole run at once, with simulated wall times; return its run directory.

    ``finished=False`` stops after ``stop_at`` of the updates without summary.json (a run that
    was killed or crashed). ``start_time`` (unix seconds) is the simulated start; by default the
    run ends now. ``options`` are further :class:`SimConfig` fields (n_rollout_threads,
    episode_length, log_interval, eval_interval, checkpoint_every, env, task, algo, ...).

    Time options: ``utc_offset`` (hours) writes the run as a host in that zone does (directory
    stamp in its local time, event names and wall times true instants); ``copied`` (True for
    now, or a unix time) then gives every file that one mtime, as a copy does; ``pace``, a list
    of (steps, seconds after the start) knots, fixes the run's timing (see paced_offsets).
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
        utc_offset=utc_offset,
        pace=pace,
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
    if copied is not None and copied is not False:
        make_copied(run.run_dir, None if copied is True else float(copied))
    return run.run_dir


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


DURATION_ENV = "HAPPO_TOP_SIM_DURATION"


def _loaded_defaults(path: str) -> dict[str, Any]:
    """``--load_config``: the simulator's options from a saved ``config.json``, read as HARL's
    ``examples/train.py`` reads it (``main_args`` for algo/env/exp_name, ``algo_args`` and
    ``env_args`` for the rest; ``harl/utils/configs_tools.py: save_config`` wrote it)."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    main, algo, env = doc["main_args"], doc["algo_args"], doc["env_args"]
    train = algo["train"]
    out: dict[str, Any] = {
        "algo": main["algo"],
        "env": main["env"],
        "exp_name": main["exp_name"],
        "seed": algo["seed"]["seed"],
        "num_env_steps": int(train["num_env_steps"]),
        "n_rollout_threads": train["n_rollout_threads"],
        "episode_length": train["episode_length"],
        "log_interval": train["log_interval"],
        "eval_interval": train["eval_interval"],
        "model_dir": train.get("model_dir"),
        "root": algo["logger"]["log_dir"],
        "task": env.get("task", "go1push_mid"),
        "num_agents": env.get("n_agents", 2),
    }
    lr, mgn = algo["model"].get("lr"), algo["algo"].get("max_grad_norm")
    for name, (p_lr, _, p_mgn, _) in PRESETS.items():
        if lr == p_lr and mgn == p_mgn:
            out["config_preset"] = name
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="happo-top simulate",
        allow_abbrev=False,
        description="Run a HARL/MAPush HAPPO trainer stand-in that writes a real run directory "
        "at accelerated speed.",
    )
    p.add_argument("--root", default="./results", help="results root (HARL's logger.log_dir)")
    p.add_argument("--exp-name", "--exp_name", dest="exp_name", default="cuboid")
    p.add_argument(
        "--num-env-steps",
        "--num_env_steps",
        dest="num_env_steps",
        type=_steps_arg,
        default=100_000_000,
    )
    p.add_argument(
        "--load_config",
        metavar="CONFIG_JSON",
        help="as HARL's examples/train.py: take every setting from a run's config.json "
        "(the options given beside it still win)",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=float(os.environ.get(DURATION_ENV) or 300.0),
        help=f"real seconds to spread the run over; 0 means --instant (default: ${DURATION_ENV}, "
        "else 300; the variable survives a restart, which passes only HARL's arguments)",
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
    p.add_argument(
        "--utc-offset",
        type=float,
        default=None,
        metavar="HOURS",
        help="write the run as a host in that zone does: the directory stamp in its local time, "
        "event file names and wall times true instants (e.g. 9 for UTC+9)",
    )
    p.add_argument(
        "--copied",
        action="store_true",
        help="at the end, give every file of the run one mtime (now), as a copy does",
    )
    real = p.add_argument_group("conditions of the real runs (issue 9)")
    real.add_argument(
        "--short-first-interval",
        action="store_true",
        help="the first reward point averages only the short episodes (HARL's first interval)",
    )
    real.add_argument(
        "--lengthening-episodes",
        action="store_true",
        help="episodes lengthen 860 -> 1820 steps while the per-step reward improves "
        "-0.0167 -> -0.0075",
    )
    real.add_argument(
        "--action-dim",
        type=int,
        default=0,
        help="entropy of a Gaussian policy with this many action dimensions (sigma towards 96%% "
        "of its cap)",
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
    parser = _parser()
    args = parser.parse_args(raw)
    if args.load_config:  # HARL: the file's settings, with the command line's on top
        try:
            parser.set_defaults(**_loaded_defaults(args.load_config))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"happo-top simulate: --load_config {args.load_config}: {exc}", file=sys.stderr)
            return 2
        args = parser.parse_args(raw)
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
            short_first_interval=args.short_first_interval,
            lengthening_episodes=args.lengthening_episodes,
            action_dim=args.action_dim,
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
        utc_offset=args.utc_offset,
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
    if args.copied:
        make_copied(run.run_dir)
    return 0
