"""Health rules: findings (ok / warn / bad) about a run, from its snapshot alone."""

from collectors.analysis.health.rules import (
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
