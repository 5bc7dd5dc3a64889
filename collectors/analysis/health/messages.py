"""How numbers read in findings' messages (kept exactly as the seed document wrote them)."""

from __future__ import annotations

import math

from collectors import fmt


def value_text(x: float) -> str:
    """A compact value for a message: 3 significant digits."""
    if not math.isfinite(x):
        return fmt.value(x)
    return f"{x:.3g}" if abs(x) < 1000 else fmt.steps(x)


def edge_text(x: float) -> str:
    """A threshold: 1.0, 0.5, 2.25."""
    return f"{x:.1f}" if x == round(x, 1) else f"{x:g}"


def agent_of(tag: str) -> str:
    """``agent1`` of ``agent1/dist_entropy``."""
    return tag.split("/", 1)[0]
