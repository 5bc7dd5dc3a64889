"""What the monitor does about events (collectors.analysis.events): the log the events screen
shows, the notifications, the bell, the terminal title and the ``on_event`` command.

:class:`Alerts` is fed every snapshot on the event loop (``detect`` is a pure comparison of two
snapshots, microseconds for 30 runs) and hands the new events to the command runner
(collectors.control.hooks), which never blocks. No Textual here: the app turns what
:meth:`Alerts.observe` returns into notifications, the bell and the title.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from collectors.analysis.events import detect
from collectors.control.hooks import HookRunner
from collectors.fmt import printable
from collectors.model import events as E
from collectors.model.events import Event
from collectors.model.findings import BAD
from collectors.model.run import CRASHED, STALLED, Snapshot

LOG_SIZE = 1000  # events kept for the events screen
TOASTS_PER_POLL = 3  # past this, one notification sums up the rest
TITLE = "happo-top"
SAVE_TITLE = "\x1b[22;2t"  # xterm: push the window title (restored at exit)
RESTORE_TITLE = "\x1b[23;2t"
# Events that ring the bell (when the config asks for it).
BELL_KINDS = frozenset({E.CRASHED, E.NONFINITE, E.HEALTH_BAD})
# Good or routine news goes to the events log only, not over the runs.
QUIET_KINDS = frozenset({E.HEALTH_OK, E.APPEARED})
# A finding that turns bad again this soon after it last did (it flaps around its threshold) is
# logged, without a notification, the bell or the on_event command.
REPEAT_QUIET = 600.0


@dataclass(frozen=True, slots=True)
class Toast:
    message: str
    title: str
    severity: str
    timeout: float


class Alerts:
    """The events seen so far and what to do about new ones."""

    def __init__(
        self,
        settings: object,
        report: Callable[[Event], None] | None = None,
    ) -> None:
        """``report``: how a hook failure reaches the app (called from the hook's thread)."""
        self.log: collections.deque[Event] = collections.deque(maxlen=LOG_SIZE)
        self.bell = bool(getattr(settings, "bell", False))
        self.previous: Snapshot | None = None
        self._told: dict[tuple[str | None, str, str | None], float] = {}  # last loud health-bad
        self.hooks: HookRunner | None = None
        command = getattr(settings, "on_event", "")
        if command:
            self.hooks = HookRunner(
                command,
                per_minute=float(getattr(settings, "on_event_rate", 10.0)),
                timeout=float(getattr(settings, "on_event_timeout", 10.0)),
                report=report,
            )

    def observe(self, snap: Snapshot, labels: Mapping[str, str]) -> list[Event]:
        """The events since the previous snapshot (none for the first), all logged; those worth
        telling (not a finding flapping back to bad within :data:`REPEAT_QUIET`) handed to the
        ``on_event`` command and returned. Events name a run by its name (the alias, else
        experiment, seed and start): ``labels`` (the config keys that tell siblings apart) are
        not names."""
        del labels
        events = list(detect(self.previous, snap))
        self.previous = snap
        loud = []
        for e in events:
            self.log.append(e)
            if e.kind == E.HEALTH_BAD:
                key = (e.host, e.run_path, e.rule)
                if e.time - self._told.get(key, -1e18) < REPEAT_QUIET:
                    continue
                self._told[key] = e.time
            loud.append(e)
            if self.hooks is not None:
                self.hooks.submit(e)
        return loud

    def add(self, event: Event) -> None:
        """An event from elsewhere (a hook failure)."""
        self.log.append(event)

    def rings(self, events: Sequence[Event]) -> bool:
        return self.bell and any(e.kind in BELL_KINDS for e in events)

    def close(self) -> None:
        if self.hooks is not None:
            self.hooks.close()


def toasts(events: Sequence[Event]) -> list[Toast]:
    """The notifications for one poll's events: each on its own, up to
    :data:`TOASTS_PER_POLL`, then one that counts the rest (good or routine news,
    :data:`QUIET_KINDS`, only in the log)."""
    events = [e for e in events if e.kind not in QUIET_KINDS]
    out = [
        Toast(
            printable(e.message),
            printable(f"{e.run_name}: {e.kind}" if e.run_name else e.kind),
            e.severity,
            12.0 if e.severity == E.ERROR else 6.0,
        )
        for e in events[:TOASTS_PER_POLL]
    ]
    rest = events[TOASTS_PER_POLL:]
    if rest:
        worst = E.ERROR if any(e.severity == E.ERROR for e in rest) else E.WARNING
        kinds = collections.Counter(e.kind for e in rest)
        what = ", ".join(f"{n} {k}" for k, n in kinds.most_common())
        out.append(Toast(f"{what} (e: the events log)", f"{len(rest)} more events", worst, 12.0))
    return out


def title(snap: Snapshot | None) -> str:
    """The terminal title: what needs a look (``happo-top: 1 crashed, 2 stalled``), else how
    many runs are running."""
    if snap is None:
        return TITLE
    crashed = sum(r.state == CRASHED for r in snap.runs)
    stalled = sum(r.state == STALLED for r in snap.runs)
    bad = sum(
        r.state not in (CRASHED, STALLED) and any(f.level == BAD and f.current for f in r.health)
        for r in snap.runs
    )
    parts = [
        f"{n} {what}"
        for n, what in ((crashed, "crashed"), (stalled, "stalled"), (bad, "unhealthy"))
        if n
    ]
    if not parts:
        running = sum(r.state == "running" for r in snap.runs)
        parts = [f"{running} running"] if running else []
    return f"{TITLE}: {', '.join(parts)}" if parts else TITLE


def title_sequence(text: str) -> str:
    """The OSC 2 escape that sets the terminal's window title (tmux: the pane title), with
    control characters taken out of ``text`` so that a run name cannot end or extend it."""
    clean = "".join(c for c in text if c.isprintable())[:200]
    return f"\x1b]2;{clean}\x07"
