"""The health thresholds: every key of the ``thresholds:`` mapping declared once (name, default,
meaning, kind), the orders their values must keep, and what follows from the declarations alone:
the defaults, the validation of a mapping (config files, ``check``) and the README's table.

Kept apart from the rules (:mod:`.registry`, :mod:`.training`), which need numpy and the analysis:
reading a config file, or a snapshot of a root with no run, never imports them. The rules name
the thresholds they read; :class:`~.registry.Registry` checks that each is declared here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# What a threshold's value may be (all of them are numbers >= 0).
NUMBER = "number"
WHOLE = "whole number >= 1"
FACTOR = "factor >= 1"
KINDS = (NUMBER, WHOLE, FACTOR)


@dataclass(frozen=True, slots=True)
class Threshold:
    """One key of the ``thresholds:`` mapping."""

    name: str
    default: float
    meaning: str
    kind: str = NUMBER

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value`` for this threshold (None when it is fine)."""
        key = self.name
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            return f"threshold '{key}' must be a number, got {value!r}"
        if value < 0:
            return f"threshold '{key}' must not be negative, got {value!r}"
        if self.kind == WHOLE and (value < 1 or value != int(value)):
            return f"threshold '{key}' must be a whole number >= 1, got {value!r}"
        if self.kind == FACTOR and value < 1:
            return f"threshold '{key}' must be >= 1, got {value!r}"
        return None


@dataclass(frozen=True, slots=True)
class Order:
    """Thresholds that must not decrease in the order given (the edges of nested bands)."""

    what: str  # "entropy thresholds"
    names: tuple[str, ...]

    def problem(self, t: Mapping[str, float]) -> str | None:
        values = [t[k] for k in self.names]
        if all(a <= b for a, b in zip(values, values[1:], strict=False)):
            return None
        return (
            f"{self.what} must satisfy {' <= '.join(self.names)}, "
            f"got {', '.join(f'{k}={t[k]:g}' for k in self.names)}"
        )


# The training rules' (collectors.analysis.health.training), in the order of the docs (the README
# table is generated from this).
THRESHOLDS = (
    Threshold("entropy_low", 1.0, "healthy entropy band, lower edge (warn below)"),
    Threshold("entropy_high", 2.0, "healthy entropy band, upper edge (warn above)"),
    Threshold("entropy_min", 0.5, "bad below: policy too deterministic"),
    Threshold("entropy_max", 3.0, "bad above: policy too random"),
    Threshold(
        "entropy_rise_min", 0.2, "smallest Q1 -> last-quarter entropy rise that is a warning"
    ),
    Threshold("value_loss_max", 1.0, "warn when the current value loss is above"),
    Threshold(
        "sigma_cap_high",
        0.85,
        "Gaussian policies: warn when sigma is above this fraction of its cap (std_y_coef)",
    ),
    Threshold(
        "sigma_cap_max",
        0.95,
        "Gaussian policies: bad (too random) when sigma is above this fraction of its cap",
    ),
    Threshold(
        "grad_spike_factor",
        5.0,
        "a grad norm point this many times the median of the points before it is a spike",
        FACTOR,
    ),
    Threshold(
        "grad_spike_window",
        20,
        "points before a grad norm point whose median it is compared with",
        WHOLE,
    ),
    Threshold("window", 5, 'points in the rolling median that gives a "current" level', WHOLE),
    Threshold("min_quarter_points", 5, "points a quarter needs before its verdict is used", WHOLE),
    Threshold("flat_noise", 0.5, "quarter changes within this many pooled std devs are flat"),
    Threshold("flat_relative", 0.02, "... or within this fraction of the Q1 mean"),
    Threshold(
        "reward_noise_max",
        0.05,
        'report: "smooth curve" when point-to-point reward noise is at most this fraction of '
        "the mean |reward| (single run)",
    ),
)
ORDERS = (
    Order("entropy thresholds", ("entropy_min", "entropy_low", "entropy_high", "entropy_max")),
    Order("sigma cap thresholds", ("sigma_cap_high", "sigma_cap_max")),
)


class ThresholdSet:
    """Declared thresholds in the order of the docs, and the orders between them."""

    def __init__(self, thresholds: Iterable[Threshold], orders: Iterable[Order] = ()) -> None:
        self.thresholds: dict[str, Threshold] = {}
        for th in thresholds:
            if th.name in self.thresholds:
                raise ValueError(f"threshold '{th.name}' declared twice")
            if th.kind not in KINDS:
                raise ValueError(f"threshold '{th.name}': unknown kind {th.kind!r}")
            self.thresholds[th.name] = th
        self.orders: tuple[Order, ...] = tuple(orders)
        for o in self.orders:
            missing = [k for k in o.names if k not in self.thresholds]
            if missing:
                raise ValueError(f"order of {o.what} names undeclared thresholds {missing}")

    def defaults(self) -> dict[str, float]:
        return {k: th.default for k, th in self.thresholds.items()}

    def with_defaults(self, mapping: Mapping[str, Any] | None) -> dict[str, float]:
        """The defaults with ``mapping`` on top (unknown keys are ignored here: validate first)."""
        t = self.defaults()
        if mapping:
            for k, v in mapping.items():
                if k in t and isinstance(v, (int, float)) and not isinstance(v, bool):
                    t[k] = float(v)
        return t

    def problem(self, key: str, value: Any) -> str | None:
        """What is wrong with one key of a ``thresholds:`` mapping on its own (None: fine)."""
        th = self.thresholds.get(key)
        if th is None:
            return f"unknown threshold '{key}' (known: {', '.join(sorted(self.thresholds))})"
        return th.problem(value)

    def order_problems(self, mapping: Mapping[str, Any] | None) -> list[tuple[Order, str]]:
        """The orders that ``mapping`` (defaults filled in) breaks, with their messages."""
        t = self.with_defaults(mapping)
        return [(o, p) for o in self.orders if (p := o.problem(t)) is not None]

    def validate(self, mapping: Mapping[str, Any] | None) -> list[str]:
        """Problems with a ``thresholds:`` mapping, one message each (empty when it is fine):
        each key on its own, then (when those are fine) the orders between them."""
        if not mapping:
            return []
        problems = [p for k, v in mapping.items() if (p := self.problem(k, v)) is not None]
        if not problems:
            problems = [p for _, p in self.order_problems(mapping)]
        return problems

    def markdown_table(self) -> str:
        """The thresholds as a Markdown table: key | default | meaning."""
        lines = ["| key | default | meaning |", "|-----|---------|---------|"]
        for th in self.thresholds.values():
            default = f"{th.default:g}" if th.kind == WHOLE else _float_text(th.default)
            meaning = th.meaning.replace("|", "\\|")  # a cell may not hold a bare pipe
            lines.append(f"| `{th.name}` | {default} | {meaning} |")
        return "\n".join(lines) + "\n"


def _float_text(x: float) -> str:
    """1.0, 0.5, 0.02: a default as the docs write it."""
    return f"{x:.1f}" if x == round(x, 1) else f"{x:g}"


DECLARED = ThresholdSet(THRESHOLDS, ORDERS)
"""Every threshold the rules read (all of them are the training rules' today)."""
