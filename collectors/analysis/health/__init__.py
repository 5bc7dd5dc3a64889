"""Health rules: findings (ok / warn / bad) about a run, from its snapshot alone.

The rules live in a registry (:mod:`.registry`), one module per family: :mod:`.run_state`
(process, stall, crashed, stopped), :mod:`.data` (nonfinite), :mod:`.training` (reward, entropy,
entropy_trend, clipping, grad_spike, value_loss, value_loss_trend). Each rule names the thresholds it reads;
the defaults, the validation of a ``thresholds:`` mapping and the README's table all come from the
declarations (:mod:`.thresholds`, imported at once: a config file is checked without the rules;
the rules, and numpy with them, only when a run is first evaluated). :func:`evaluate` works on the snapshot's read-only numpy views, vectorised, and only
looks at the tail of a series for the "current level" rules, so it is cheap enough to run on
every poll: measured about 0.3 ms for a run of 12 tags x 200 points, 0.8 ms for 12 x 10k, 4.7 ms
for 12 x 100k (uncapped series; the gradient-spike rule takes medians only where a point could
be a spike). Pure data layer: no Textual, Rich or plotext.
"""

from __future__ import annotations

import _thread
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from collectors.model.findings import BAD, LEVELS, OK, WARN, Finding, worst
from collectors.model.run import RunSnapshot

if TYPE_CHECKING:
    from collectors.analysis.health.registry import Registry, Rule
    from collectors.analysis.health.thresholds import Threshold, ThresholdSet

    REGISTRY: Registry
    RULES: tuple[Rule, ...]
    THRESHOLDS: Mapping[str, Threshold]
    DEFAULT_THRESHOLDS: dict[str, float]

_BUILDING = _thread.RLock()  # two threads asking at once build one registry


def __getattr__(name: str) -> Any:
    """``REGISTRY`` and ``RULES``, built on first use (PEP 562): the rules import numpy and the
    analysis, which a config file's validation, a ``--help`` or a root without runs never need;
    ``THRESHOLDS`` and ``DEFAULT_THRESHOLDS``, from the declarations."""
    if name in ("THRESHOLDS", "DEFAULT_THRESHOLDS"):
        declared = _declared()
        globals().update(THRESHOLDS=declared.thresholds, DEFAULT_THRESHOLDS=declared.defaults())
        return globals()[name]
    if name not in ("REGISTRY", "RULES"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _BUILDING:
        here = globals()
        if "REGISTRY" not in here:
            # Deferred for start-up time: the rule families (numpy) on the first evaluation.
            from collectors.analysis.health import data, run_state, training
            from collectors.analysis.health.registry import Registry

            registry = Registry(
                rules=(*run_state.RULES, *data.RULES, *training.RULES),
                thresholds=_declared().thresholds.values(),
                orders=_declared().orders,
            )
            here.update(REGISTRY=registry, RULES=registry.rules)
    return here[name]


def _declared() -> ThresholdSet:
    # Deferred for start-up time: the declarations once a threshold is asked for.
    from collectors.analysis.health.thresholds import DECLARED

    return DECLARED


def evaluate(
    run: RunSnapshot,
    thresholds: Mapping[str, float] | None = None,
    *,
    now: float | None = None,
) -> tuple[Finding, ...]:
    """All health findings of a run, worst first (bad, warn, ok; rule order within a level).

    ``thresholds``: the YAML ``thresholds:`` mapping (missing keys take the defaults; unknown
    keys are ignored, see :func:`validate_thresholds`). ``now`` only chooses between 'HH:MM'
    and 'MM-DD HH:MM' in the stall messages.
    """
    registry = sys.modules[__name__].REGISTRY
    return registry.evaluate(run, thresholds, time.time() if now is None else now)


def validate_thresholds(mapping: Mapping[str, Any] | None) -> list[str]:
    """Problems with a ``thresholds:`` mapping, one message each (empty when it is fine):
    unknown keys, values of the wrong kind, band edges out of order."""
    return _declared().validate(mapping)


def thresholds_with_defaults(mapping: Mapping[str, Any] | None) -> dict[str, float]:
    """The defaults with ``mapping`` on top (unknown keys are ignored here: validate first)."""
    return _declared().with_defaults(mapping)


def thresholds_markdown() -> str:
    """The threshold table (key | default | meaning) in Markdown, as the README shows it."""
    return _declared().markdown_table()


__all__ = [
    "BAD",
    "DEFAULT_THRESHOLDS",
    "LEVELS",
    "OK",
    "REGISTRY",
    "RULES",
    "THRESHOLDS",
    "WARN",
    "evaluate",
    "thresholds_markdown",
    "thresholds_with_defaults",
    "validate_thresholds",
    "worst",
]
