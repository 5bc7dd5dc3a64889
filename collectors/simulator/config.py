"""What shapes a simulated run (HARL's defaults of the real MAPush runs) and the ``config.json``
it writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

CHECKPOINT_SIZES = {"actor": 4096, "critic": 4352, "value_normalizer": 513}


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
    # Conditions of the real runs (issue 9), off by default so every preset stays as it was:
    short_first_interval: bool = False  # the first reward point averages short episodes only
    lengthening_episodes: bool = False  # episodes 860 -> 1820 steps, step reward -0.0167 -> -0.0075
    action_dim: int = 0  # > 0: entropy of a HARL DiagGaussian with this many action dimensions

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
