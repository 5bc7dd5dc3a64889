"""Runs from their files: discovery below the roots, the listing cache, event-file framing and
decoding, series, the run's config file, checkpoints, and the per-run tracker."""

from collectors.sources.runs.discovery import Discovery, foreign_link_on
from collectors.sources.runs.tracker import RunsCollector, RunTracker, find_run, run_id

__all__ = ["Discovery", "RunTracker", "RunsCollector", "find_run", "foreign_link_on", "run_id"]
