"""Deprecated: the health rules moved into a registry (see :mod:`collectors.analysis.health`).

Kept only until its last importers (collectors/monitor.py, tui/app/sources.py,
tui/cli/analysis.py, owned by other areas) import from the package; then delete this module.
"""

from collectors.analysis.health import (
    BAD,
    DEFAULT_THRESHOLDS,
    LEVELS,
    OK,
    WARN,
    evaluate,
    thresholds_with_defaults,
    validate_thresholds,
    worst,
)

__all__ = [
    "BAD",
    "DEFAULT_THRESHOLDS",
    "LEVELS",
    "OK",
    "WARN",
    "evaluate",
    "thresholds_with_defaults",
    "validate_thresholds",
    "worst",
]
