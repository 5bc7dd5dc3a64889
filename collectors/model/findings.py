"""Health findings: the verdict of a rule on a run, with the value and the band it was judged on.

A finding is made once, by :mod:`collectors.analysis.health`, and every front end shows it as it
is: the panels take their marks, values and band edges from here instead of judging again.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

OK = "ok"
WARN = "warn"
BAD = "bad"
LEVELS = (OK, WARN, BAD)
RANK = {OK: 0, WARN: 1, BAD: 2}


def rank(level: str | None) -> int:
    """How bad a level is: ok 0, warn 1, bad 2 (-1 for no level)."""
    return -1 if level is None else RANK.get(level, 0)


def worst(findings: Iterable[Finding]) -> str:
    """The worst level among findings ('ok' when there are none)."""
    level = OK
    for f in findings:
        if RANK.get(f.level, 0) > RANK[level]:
            level = f.level
    return level


@dataclass(frozen=True, slots=True)
class Band:
    """What a value was judged against: healthy inside [``low``, ``high``] (warn outside), bad
    outside [``bad_low``, ``bad_high``]. An edge that is None is open.

    ``Band(1.0, 2.0, 0.5, 3.0)``: warn outside [1.0, 2.0], bad outside [0.5, 3.0].
    ``Band(high=1.0)``: warn above a value-loss limit of 1.0.
    """

    low: float | None = None
    high: float | None = None
    bad_low: float | None = None
    bad_high: float | None = None

    def outside(self, x: float) -> float:
        """How far ``x`` is outside the healthy edges (0 or less inside; NaN stays NaN)."""
        below = self.low - x if self.low is not None else -math.inf
        above = x - self.high if self.high is not None else -math.inf
        return max(below, above)

    def to_json(self) -> dict[str, float | None]:
        return {
            "low": _num(self.low),
            "high": _num(self.high),
            "bad_low": _num(self.bad_low),
            "bad_high": _num(self.bad_high),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Band:
        return cls(doc.get("low"), doc.get("high"), doc.get("bad_low"), doc.get("bad_high"))


@dataclass(frozen=True, slots=True)
class Finding:
    """One health finding (filled in by the analysis layer).

    ``value`` is the number the rule judged (a rolling median, a maximum, a quarter's mean) and
    ``band`` the edges it was judged against; ``metric`` and ``agent`` say what was judged
    (``"entropy"``, ``"agent1"``), so that a panel can find the entropy finding of agent 1.
    """

    rule: str
    level: str  # ok | warn | bad
    message: str
    step: int | None = None
    tag: str | None = None
    value: float | None = None
    band: Band | None = None
    metric: str | None = None
    agent: str | None = None
    verdict: str | None = None  # the reward rule's quarter verdict (one word, shown everywhere)
    current: bool = True  # False: about the run's history (a past spike, a past quarter)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "level": self.level,
            "message": self.message,
            "step": self.step,
            "tag": self.tag,
            "value": _num(self.value),
            "band": None if self.band is None else self.band.to_json(),
            "metric": self.metric,
            "agent": self.agent,
            "verdict": self.verdict,
            "current": self.current,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Finding:
        band = doc.get("band")
        return cls(
            rule=doc["rule"],
            level=doc["level"],
            message=doc.get("message", ""),
            step=doc.get("step"),
            tag=doc.get("tag"),
            value=doc.get("value"),
            band=None if band is None else Band.from_json(band),
            metric=doc.get("metric"),
            agent=doc.get("agent"),
            verdict=doc.get("verdict"),
            current=doc.get("current", True),
        )


def find(
    findings: Iterable[Finding], rules: tuple[str, ...], agent: str | None = None
) -> list[Finding]:
    """The findings of ``rules`` (of one agent, when given), in their order."""
    return [f for f in findings if f.rule in rules and (agent is None or f.agent == agent)]


def _num(x: float | None) -> float | None:
    """JSON has no NaN or infinity: those become null."""
    if x is None or not math.isfinite(x):
        return None
    return float(x)
