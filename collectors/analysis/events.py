"""What changed between two snapshots, as :class:`~collectors.model.events.Event` values.

:func:`detect` is a pure function of the previous and the current snapshot: a run that entered
``crashed``, ``stalled``, ``finished`` or ``stopped``; a stalled run whose data flows again; a
logged value that turned NaN/inf; a health finding that turned bad, or is bad no more; a new run;
a run no longer found. The first snapshot is the baseline (``previous`` None: no events), and so
is a run's first sighting: starting happo-top over 30 runs, three of them crashed long ago, says
nothing; the same three crashing while it watches says three things.

The run-state rules (``crashed``, ``stall``, ...) and ``nonfinite`` are left out of the health
events: their news is already the state and NaN events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from collectors import fmt
from collectors.analysis.health import REGISTRY
from collectors.model import events as E
from collectors.model.events import Event
from collectors.model.findings import BAD, Finding
from collectors.model.run import (
    CRASHED,
    FINISHED,
    RUNNING,
    STALLED,
    STOPPED,
    RunSnapshot,
    Snapshot,
)

# Health rules whose news is carried by another event kind.
_NOT_HEALTH = frozenset({r.name for r in REGISTRY.rules if r.family == "run state"} | {"nonfinite"})
# A run seen for the first time counts as new ("appeared") when it started at most this long
# before the previous poll; older runs found later (a root added, a host connected) are not news.
APPEARED_SLACK = 120.0

_STATE_EVENTS = {
    CRASHED: (E.CRASHED, E.ERROR),
    STALLED: (E.STALLED, E.WARNING),
    FINISHED: (E.FINISHED, E.INFO),
    STOPPED: (E.STOPPED, E.INFO),
}

_Key = tuple[str | None, str]  # (host, run path)


def detect(previous: Snapshot | None, current: Snapshot) -> tuple[Event, ...]:
    """The events between ``previous`` and ``current`` (none when ``previous`` is None)."""
    if previous is None:
        return ()
    now = current.time
    before: dict[_Key, RunSnapshot] = {(r.host, r.path): r for r in previous.runs}
    out: list[Event] = []
    seen: set[_Key] = set()
    for run in current.runs:
        key = (run.host, run.path)
        seen.add(key)
        old = before.get(key)
        if old is None:
            if run.started is None or run.started >= previous.time - APPEARED_SLACK:
                out.append(_event(run, now, E.APPEARED, E.INFO, "new run"))
            continue
        if old is run:  # the monitor hands back the same object while nothing changed
            continue
        out += run_events(old, run, now)
    for key, old in before.items():
        if key not in seen:
            out.append(_event(old, now, E.GONE, E.WARNING, "no longer found (directory gone?)"))
    return tuple(out)


def run_events(old: RunSnapshot, new: RunSnapshot, now: float) -> list[Event]:
    """The events of one run between two of its snapshots."""
    out: list[Event] = []
    if new.state != old.state:
        kind = _STATE_EVENTS.get(new.state)
        if kind is not None:
            out.append(_event(new, now, kind[0], kind[1], _state_message(new)))
        elif old.state == STALLED and new.state == RUNNING:
            out.append(_event(new, now, E.RESUMED, E.INFO, "data flows again"))
    tags = _newly_nonfinite(old, new)
    if tags:
        shown = ", ".join(tags[:3]) + (f" and {len(tags) - 3} more" if len(tags) > 3 else "")
        out.append(_event(new, now, E.NONFINITE, E.ERROR, f"NaN/inf in {shown}"))
    was, bad = _bad_findings(old.health), _bad_findings(new.health)
    for key, f in bad.items():
        if key not in was:
            out.append(_event(new, now, E.HEALTH_BAD, E.WARNING, f.message, rule=f.rule))
    for key, f in was.items():
        if key not in bad:
            what = " ".join(x for x in (f.metric or f.rule, f.agent) if x)
            out.append(_event(new, now, E.HEALTH_OK, E.INFO, f"{what}: no longer bad", f.rule))
    return out


def _event(
    run: RunSnapshot, now: float, kind: str, severity: str, message: str, rule: str | None = None
) -> Event:
    return Event(
        time=now,
        kind=kind,
        severity=severity,
        message=message,
        run_id=run.id,
        run_path=run.path,
        run_name=run.name,
        state=run.state,
        step=run.step,
        rule=rule,
        host=run.host,
    )


def _state_message(run: RunSnapshot) -> str:
    at = f"at {fmt.steps(run.step)}"
    if run.total_steps:
        at += f" of {fmt.steps(run.total_steps)}"
    if run.state == CRASHED:
        return f"crashed {at}" + (f": {run.log_last}" if run.log_last else "")
    if run.state == STALLED:
        return f"stalled {at}: no new data for {fmt.duration(run.stall_after)}"
    return f"{run.state} {at}"


def _newly_nonfinite(old: RunSnapshot, new: RunSnapshot) -> list[str]:
    """Tags with NaN/inf points now that had none before."""
    out = []
    for tag, s in sorted(new.scalars.items()):
        if s.nonfinite:
            prev = old.scalars.get(tag)
            if prev is None or not prev.nonfinite:
                out.append(tag)
    return out


def _bad_findings(findings: Iterable[Finding]) -> Mapping[tuple, Finding]:
    out: dict[tuple, Finding] = {}
    for f in findings:
        if f.level == BAD and f.current and f.rule not in _NOT_HEALTH:
            out.setdefault((f.rule, f.metric, f.agent, f.tag), f)
    return out
