"""A run's HARL config (``config.json``, flattened to dotted keys) and what follows from it:
planned steps, log and save cadence, names. Pure values; reading the file is
:mod:`collectors.sources.runs.config_file`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Layout B saves every 10M steps whatever eval_interval says (run-format.md).
LAYOUT_B_SAVE_STEPS = 10_000_000


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``. Lists stay values."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def lookup(flat: Mapping[str, Any], key: str) -> Any:
    """A value by its dotted key, or by its last component anywhere (``use_adv_normalize``)."""
    if key in flat:
        return flat[key]
    suffix = "." + key
    for k, v in flat.items():
        if k.endswith(suffix):
            return v
    return None


def as_int(v: Any) -> int | None:
    """A config number as an int (``100000000.0`` -> 100000000); None for anything else."""
    if isinstance(v, bool) or v is None:
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    # NaN, infinity and numbers past int64 (1e308, a 5000-digit integer) are no step count
    return int(x) if x == x and abs(x) < 2.0**63 else None


@dataclass(frozen=True, slots=True)
class RunConfig:
    flat: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    mtime: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.flat)

    def get(self, key: str, default: Any = None) -> Any:
        v = lookup(self.flat, key)
        return default if v is None else v

    @property
    def num_env_steps(self) -> int | None:
        return as_int(self.flat.get("algo_args.train.num_env_steps"))

    @property
    def steps_per_update(self) -> int | None:
        el = as_int(self.flat.get("algo_args.train.episode_length"))
        nr = as_int(self.flat.get("algo_args.train.n_rollout_threads"))
        return el * nr if el and nr else None

    @property
    def total_updates(self) -> int | None:
        n, spu = self.num_env_steps, self.steps_per_update
        return n // spu if n and spu else None

    @property
    def log_every_steps(self) -> int | None:
        li = as_int(self.flat.get("algo_args.train.log_interval"))
        spu = self.steps_per_update
        return li * spu if li and spu else None

    @property
    def last_log_step(self) -> int | None:
        """The step of the last log point HARL will write (``episode % log_interval == 0``)."""
        li = as_int(self.flat.get("algo_args.train.log_interval"))
        updates, spu = self.total_updates, self.steps_per_update
        if not (li and updates and spu):
            return None
        return (updates // li) * li * spu

    def save_every_steps(self, layout: str) -> int | None:
        if layout == "B":
            return LAYOUT_B_SAVE_STEPS
        ei = as_int(self.flat.get("algo_args.train.eval_interval"))
        spu = self.steps_per_update
        return ei * spu if ei and spu else None

    @property
    def algo(self) -> str | None:
        return self.flat.get("main_args.algo")

    @property
    def env(self) -> str | None:
        return self.flat.get("main_args.env")

    @property
    def exp_name(self) -> str | None:
        return self.flat.get("main_args.exp_name")

    @property
    def task(self) -> str | None:
        v = self.flat.get("env_args.task")
        return None if v is None else str(v)

    @property
    def seed(self) -> int | None:
        return as_int(self.flat.get("algo_args.seed.seed"))
