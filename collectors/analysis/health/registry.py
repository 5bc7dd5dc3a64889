"""The health rules' registry: every rule and every threshold declared once, with what it means.

A family module (:mod:`.training`, :mod:`.run_state`, :mod:`.data`) declares its
:class:`Threshold` s, its :class:`Rule` s (each naming the thresholds it reads) and any
:class:`Order` that its thresholds must keep. A :class:`Registry` built from them gives
everything else: the defaults, the validation of a ``thresholds:`` mapping (config files,
``check``), the evaluation of a run, and the Markdown table of the README.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from collectors.analysis.quarters import metric_tags, quarter_span
from collectors.model.findings import RANK, Finding
from collectors.model.run import RunSnapshot

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


@dataclass(frozen=True, slots=True)
class Context:
    """What a rule looks at: the run, the thresholds in force (defaults filled in), the time,
    the quarter span and the run's health metrics by group (computed once for all rules)."""

    run: RunSnapshot
    t: Mapping[str, float]
    now: float
    span: int | None
    groups: Mapping[str, list[str]]


@dataclass(frozen=True, slots=True)
class Rule:
    """A health rule: its name (the ``rule`` of its findings), its family (the module it lives
    in), what it checks, the thresholds it reads and the function that checks it."""

    name: str
    family: str
    checks: str
    thresholds: tuple[str, ...]
    check: Callable[[Context], list[Finding]]


class Registry:
    """Rules in evaluation order, and the thresholds they read in the order of the docs."""

    def __init__(
        self,
        rules: Iterable[Rule],
        thresholds: Iterable[Threshold],
        orders: Iterable[Order] = (),
    ) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.thresholds: dict[str, Threshold] = {}
        for th in thresholds:
            if th.name in self.thresholds:
                raise ValueError(f"threshold '{th.name}' declared twice")
            if th.kind not in KINDS:
                raise ValueError(f"threshold '{th.name}': unknown kind {th.kind!r}")
            self.thresholds[th.name] = th
        self.orders: tuple[Order, ...] = tuple(orders)
        names = [r.name for r in self.rules]
        if len(set(names)) != len(names):
            raise ValueError(f"a rule name is used twice: {names}")
        for r in self.rules:
            missing = [k for k in r.thresholds if k not in self.thresholds]
            if missing:
                raise ValueError(f"rule '{r.name}' reads undeclared thresholds {missing}")
        for o in self.orders:
            missing = [k for k in o.names if k not in self.thresholds]
            if missing:
                raise ValueError(f"order of {o.what} names undeclared thresholds {missing}")

    # -- thresholds
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

    # -- rules
    def evaluate(
        self, run: RunSnapshot, thresholds: Mapping[str, float] | None, now: float
    ) -> tuple[Finding, ...]:
        """All findings of ``run``, worst first (bad, warn, ok; rule order within a level)."""
        ctx = Context(
            run=run,
            t=self.with_defaults(thresholds),
            now=now,
            span=quarter_span(run),
            groups=metric_tags(run.series),
        )
        findings: list[Finding] = []
        with np.errstate(invalid="ignore", over="ignore"):
            for rule in self.rules:
                findings += rule.check(ctx)
        findings.sort(key=lambda f: -RANK.get(f.level, 0))
        return tuple(findings)


def _float_text(x: float) -> str:
    """1.0, 0.5, 0.02: a default as the docs write it."""
    return f"{x:.1f}" if x == round(x, 1) else f"{x:g}"
