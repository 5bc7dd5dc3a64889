"""Command palette (ctrl+p): every action that has a key, and "go to run" / "open run"."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from tui.app.app import HappoTopApp

# (action, title, help) in the order shown
ACTIONS = (
    ("stop", "Stop the selected run", "SIGINT, SIGTERM after a grace period, then SIGKILL (T)"),
    ("interrupt", "Interrupt the selected run", "one SIGINT and nothing after it (I)"),
    ("kill", "Kill the selected run", "SIGKILL its process group (K)"),
    ("restart", "Restart the selected run", "stop, then start the same command (r)"),
    ("launch", "Launch a run", "a preset from the config file, or a command (l)"),
    (
        "tensorboard",
        "Start TensorBoard on the marked runs",
        "or on the selected run; asks first, then gives the ssh -L line (b)",
    ),
    ("open", "Open the selected run", "charts, checkpoints, config, process, log, health (Enter)"),
    ("mark", "Mark / unmark the selected run", "for comparison (Space)"),
    ("compare", "Compare the marked runs", "config differences, curves, timeline (c)"),
    ("filter", "Filter runs", "by name, label, state, id or path (/)"),
    ("pause", "Pause / resume refreshing", "(p)"),
    ("view", "Table or panels", "one line a run, or a panel a run (v)"),
    ("layout", "Change the panel layout", "auto, compact, full (V)"),
    ("events", "Events log", "crashes, stalls, NaN/inf, findings turning bad (e)"),
    ("help", "Keys", "help screen (?)"),
)


class RunCommands(Provider):
    def _commands(self) -> Iterator[tuple[str, str, Callable[[], object]]]:
        app: HappoTopApp = self.app  # type: ignore[assignment]
        for action, title, help_text in ACTIONS:
            if app.palette_allows(action):
                yield title, help_text, partial(app.palette_run, action)
        for run, label in app.palette_runs():
            where = f"{run.state} · {run.exp_name}/{os.path.basename(run.path)} · id {run.id}"
            if label != run.name:
                label = f"{label} ({run.name})"
            yield f"Go to run: {label}", where, partial(app.goto_run, run.id)
            yield f"Open run: {label}", where, partial(app.open_detail, run.id)

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
