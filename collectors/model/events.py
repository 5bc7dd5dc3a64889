"""Events: what changed about a run between two polls (it crashed, stalled, finished, logged a
NaN, a health finding turned bad or recovered, it went away), and what happened to the user's
``on_event`` command. Found by :mod:`collectors.analysis.events`, run through the hook by
:mod:`collectors.control.hooks`, shown by the front ends. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# What happened, one word each (the ``kind`` of an event and the HAPPO_TOP_EVENT variable).
CRASHED = "crashed"
STALLED = "stalled"
FINISHED = "finished"
STOPPED = "stopped"
RESUMED = "resumed"  # a stalled run whose data flows again
NONFINITE = "nonfinite"  # NaN/inf appeared in a logged value
HEALTH_BAD = "health-bad"  # a health finding turned bad
HEALTH_OK = "health-ok"  # a bad finding is no longer bad
APPEARED = "appeared"  # a new run directory
GONE = "gone"  # a run that was watched is no longer found
HOOK_FAILED = "hook-failed"  # the on_event command failed, timed out or was rate-limited
KINDS = (
    CRASHED,
    STALLED,
    FINISHED,
    STOPPED,
    RESUMED,
    NONFINITE,
    HEALTH_BAD,
    HEALTH_OK,
    APPEARED,
    GONE,
    HOOK_FAILED,
)

# How loud: "error" and "warning" toast as such; "information" quietly.
INFO = "information"
WARNING = "warning"
ERROR = "error"
SEVERITIES = (INFO, WARNING, ERROR)


@dataclass(frozen=True, slots=True)
class Event:
    """One change, at ``time`` (unix): ``kind`` (one of :data:`KINDS`), the run it is about
    (``run_id``, ``run_path``, ``run_name``; empty for the hook's own events), the run's state
    and step then, a one-line ``message``, and for health events the ``rule`` that judged."""

    time: float
    kind: str
    severity: str
    message: str
    run_id: str = ""
    run_path: str = ""
    run_name: str = ""
    state: str = ""
    step: int | None = None
    rule: str | None = None
    host: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "kind": self.kind,
            "severity": self.severity,
            "message": self.message,
            "run_id": self.run_id,
            "run_path": self.run_path,
            "run_name": self.run_name,
            "state": self.state,
            "step": self.step,
            "rule": self.rule,
            "host": self.host,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Event:
        return cls(
            time=doc.get("time", 0.0),
            kind=doc["kind"],
            severity=doc.get("severity", INFO),
            message=doc.get("message", ""),
            run_id=doc.get("run_id", ""),
            run_path=doc.get("run_path", ""),
            run_name=doc.get("run_name", ""),
            state=doc.get("state", ""),
            step=doc.get("step"),
            rule=doc.get("rule"),
            host=doc.get("host"),
        )

    def environment(self) -> dict[str, str]:
        """The event as environment variables for the ``on_event`` command."""
        return {
            "HAPPO_TOP_EVENT": self.kind,
            "HAPPO_TOP_SEVERITY": self.severity,
            "HAPPO_TOP_MESSAGE": self.message,
            "HAPPO_TOP_RUN": self.run_name,
            "HAPPO_TOP_RUN_ID": self.run_id,
            "HAPPO_TOP_RUN_PATH": self.run_path,
            "HAPPO_TOP_STATE": self.state,
            "HAPPO_TOP_STEP": "" if self.step is None else str(self.step),
            "HAPPO_TOP_RULE": self.rule or "",
            "HAPPO_TOP_HOST": self.host or "",
            "HAPPO_TOP_TIME": f"{self.time:.3f}",
        }
