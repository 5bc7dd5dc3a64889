"""The health rules' registry: every rule and every threshold declared once, with what it means.

A family module (:mod:`.training`, :mod:`.run_state`, :mod:`.data`) declares its
:class:`Rule` s (each naming the thresholds it reads); the thresholds themselves and the
:class:`Order` s they must keep are declared in :mod:`.thresholds`, which needs no numpy. A
:class:`Registry` built from them gives everything else: the defaults, the validation of a
``thresholds:`` mapping (config files, ``check``), the evaluation of a run, and the Markdown
table of the README.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from collectors.analysis.health.thresholds import (
    FACTOR,
    KINDS,
    NUMBER,
    WHOLE,
    Order,
    Threshold,
    ThresholdSet,
)
from collectors.analysis.quarters import metric_tags, quarter_span
from collectors.model.findings import RANK, Finding
from collectors.model.run import RunSnapshot


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


class Registry(ThresholdSet):
    """Rules in evaluation order, and the thresholds they read in the order of the docs (the
    threshold half, :class:`~.thresholds.ThresholdSet`, works without the rules)."""

    def __init__(
        self,
        rules: Iterable[Rule],
        thresholds: Iterable[Threshold],
        orders: Iterable[Order] = (),
    ) -> None:
        super().__init__(thresholds, orders)
        self.rules: tuple[Rule, ...] = tuple(rules)
        names = [r.name for r in self.rules]
        if len(set(names)) != len(names):
            raise ValueError(f"a rule name is used twice: {names}")
        for r in self.rules:
            missing = [k for k in r.thresholds if k not in self.thresholds]
            if missing:
                raise ValueError(f"rule '{r.name}' reads undeclared thresholds {missing}")

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


__all__ = [
    "FACTOR",
    "KINDS",
    "NUMBER",
    "WHOLE",
    "Context",
    "Order",
    "Registry",
    "Rule",
    "Threshold",
]
