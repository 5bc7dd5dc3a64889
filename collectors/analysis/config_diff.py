"""Config differences between runs, and labels that name sibling runs by what makes them differ.

:func:`diff_configs` compares flat dotted configs (``RunSnapshot.config``) and keeps the keys
whose values differ; a key missing on one side counts as a difference and shows as ``-``
(:data:`MISSING`). Values compare as JSON values: ``100000000`` equals ``100000000.0``, ``true``
does not equal ``1``, NaN equals NaN. Nothing is ignored unless the caller passes ``ignore``
patterns (``fnmatch`` on the full dotted key).

:func:`run_labels` labels runs of the same experiment (same ``exp_name``) by the keys that differ
between them, e.g. ``lr=3e-4 max_grad_norm=0.5 use_adv_normalize=true``. Keys are taken in a
fixed order of interest (learning rates, clipping, entropy, ... then the rest alphabetically,
seeds last), a key whose values mirror an earlier key's across the siblings (``critic_lr`` set
with ``lr``) is left out, paths are ignored (:data:`LABEL_IGNORE`), and at most ``max_keys`` keys
are shown (``+N`` says how many more differ). Runs without a config, runs without siblings and
siblings with identical configs get no label.

Pure data layer: no Textual, Rich or plotext.
"""

from __future__ import annotations

import fnmatch
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from collectors.model.run import RunSnapshot


class _Missing:
    """The value of a key a run's config does not have (shown as ``-``)."""

    __slots__ = ()
    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "-"

    def __str__(self) -> str:
        return "-"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()

# Keys that name places on disk rather than training choices (for labels only).
LABEL_IGNORE: tuple[str, ...] = ("*_dir", "*.load_config", "*_path", "*.path")

# Short key names in the order labels show them; everything else follows alphabetically.
LABEL_PRIORITY: tuple[str, ...] = (
    "lr",
    "critic_lr",
    "max_grad_norm",
    "use_max_grad_norm",
    "entropy_coef",
    "use_adv_normalize",
    "clip_param",
    "ppo_epoch",
    "critic_epoch",
    "actor_num_mini_batch",
    "critic_num_mini_batch",
    "gamma",
    "gae_lambda",
    "hidden_sizes",
    "use_valuenorm",
    "use_huber_loss",
    "value_loss_coef",
    "num_env_steps",
    "n_rollout_threads",
    "episode_length",
    "algo",
    "env",
    "task",
)
_SEED_KEYS = ("seed",)


@dataclass(frozen=True, slots=True)
class DiffRow:
    key: str  # full dotted key
    values: tuple[Any, ...]  # one per config, MISSING where the key is absent

    @property
    def short(self) -> str:
        return self.key.rsplit(".", 1)[-1]

    def cells(self) -> tuple[str, ...]:
        """The values formatted for a table (``-`` for missing)."""
        return tuple(compact(v) for v in self.values)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "values": [None if v is MISSING else _jsonable(v) for v in self.values],
            "present": [v is not MISSING for v in self.values],
        }


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def same_value(a: Any, b: Any) -> bool:
    """Equality of two config values as JSON values (see the module docstring)."""
    if a is MISSING or b is MISSING:
        return a is b
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            return True
        return a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if type(a) is not type(b):
        return False
    try:
        return bool(a == b)
    except Exception:  # an exotic value: compare by representation
        return repr(a) == repr(b)


def ignored(key: str, patterns: Iterable[str]) -> bool:
    """True when ``key`` matches one of the fnmatch ``patterns``."""
    return any(fnmatch.fnmatchcase(key, p) for p in patterns)


def diff_configs(configs: Sequence[Mapping[str, Any]], ignore: Iterable[str] = ()) -> list[DiffRow]:
    """The keys whose values differ between the configs, sorted by key."""
    patterns = tuple(ignore)
    keys: set[str] = set()
    for c in configs:
        keys.update(c)
    rows = []
    for key in sorted(keys):
        if patterns and ignored(key, patterns):
            continue
        values = tuple(c.get(key, MISSING) for c in configs)
        first = values[0]
        if any(not same_value(first, v) for v in values[1:]):
            rows.append(DiffRow(key, values))
    return rows


# -- compact formatting --------------------------------------------------------------------------


def _sci(x: float) -> str:
    """The shortest scientific form that reads back as ``x``: 0.0003 -> 3e-4, 1e8 -> 1e8."""
    for p in range(17):
        s = f"{x:.{p}e}"
        if float(s) == x:
            break
    mant, exp = s.split("e")
    if "." in mant:
        mant = mant.rstrip("0").rstrip(".")
    e = int(exp)
    return f"{mant}e{e}"


def compact_number(x: float | int) -> str:
    """A number in few characters: 0.0003 -> 3e-4, 10.0 -> 10, 0.5 -> 0.5, 1e8 -> 1e8.

    Integers (and integral floats) print as integers unless the scientific form is at least three
    characters shorter; other floats use the shortest round-trip form, or the scientific form
    when it is shorter (below 1) or at least three characters shorter (1 and above).
    """
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        if x == int(x) and abs(x) < 1e15:
            x = int(x)
    if isinstance(x, int):
        plain = str(x)
        sci = _sci(float(x)) if x != 0 and abs(x) < 1e300 else plain
        return sci if len(sci) + 3 <= len(plain) and float(sci) == x else plain
    plain = repr(float(x))
    if "e" in plain or "E" in plain:
        return _sci(x)
    sci = _sci(x)
    if abs(x) < 1:
        return sci if len(sci) < len(plain) else plain
    return sci if len(sci) + 3 <= len(plain) else plain


def compact(v: Any) -> str:
    """A config value for a table or label: numbers compact, JSON spelling otherwise."""
    if v is MISSING:
        return "-"
    if v is None:
        return "null"
    if isinstance(v, (bool, int, float)):
        return compact_number(v)
    if isinstance(v, str):
        return v if v else '""'
    try:
        return json.dumps(v, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return str(v)


def short_keys(keys: Sequence[str]) -> dict[str, str]:
    """The last dotted component of each key, longer where two keys would share it."""
    out: dict[str, str] = {}
    depth = dict.fromkeys(keys, 1)
    while True:
        for k in keys:
            out[k] = ".".join(k.split(".")[-depth[k] :])
        seen: dict[str, list[str]] = {}
        for k, s in out.items():
            seen.setdefault(s, []).append(k)
        clashes = [ks for ks in seen.values() if len(ks) > 1]
        grew = False
        for ks in clashes:
            for k in ks:
                if depth[k] < k.count(".") + 1:
                    depth[k] += 1
                    grew = True
        if not grew:
            return out


# -- labels --------------------------------------------------------------------------------------


def _label_order(key: str) -> tuple[int, int, str]:
    short = key.rsplit(".", 1)[-1]
    if short in _SEED_KEYS:
        return (2, 0, key)
    if short in LABEL_PRIORITY:
        return (0, LABEL_PRIORITY.index(short), key)
    return (1, 0, key)


def run_labels(
    runs: Sequence[RunSnapshot],
    max_keys: int = 3,
    ignore: Iterable[str] = LABEL_IGNORE,
) -> dict[str, str]:
    """run id -> label, for runs that share their ``exp_name`` with another run."""
    patterns = tuple(ignore)
    groups: dict[str, list[RunSnapshot]] = {}
    for r in runs:
        if r.config:
            groups.setdefault(r.exp_name, []).append(r)
    labels: dict[str, str] = {}
    for group in groups.values():
        if len(group) < 2:
            continue
        rows = diff_configs([r.config for r in group], ignore=patterns)
        if not rows:
            continue
        rows.sort(key=lambda row: _label_order(row.key))
        chosen: list[DiffRow] = []
        signatures: list[tuple[str, ...]] = []
        for row in rows:
            sig = row.cells()
            if any(_mirrors(sig, s) for s in signatures):
                continue  # says nothing an earlier key does not (critic_lr moving with lr)
            chosen.append(row)
            signatures.append(sig)
        shown = chosen[:max_keys]
        # Every sibling must get its own label: when the first keys leave two runs alike, the
        # first remaining key that tells them apart is shown too (e.g. seed=2 vs seed=3).
        for row in chosen[max_keys:]:
            seen = {tuple(r.values[i] for r in shown) for i in range(len(group))}
            if len(seen) == len(group):
                break
            alike = [tuple(r.values[i] for r in shown) for i in range(len(group))]
            split = {(a, row.values[i]) for i, a in enumerate(alike)}
            if len(split) > len(set(alike)):
                shown.append(row)
        more = len(chosen) - len(shown)
        names = short_keys([row.key for row in shown])
        for i, r in enumerate(group):
            parts = [f"{names[row.key]}={compact(row.values[i])}" for row in shown]
            if more > 0:
                parts.append(f"+{more}")
            labels[r.id] = " ".join(parts)
    return labels


def _mirrors(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """True when two keys split the runs identically and with the same values."""
    return a == b
