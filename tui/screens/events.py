"""The events log (``e``): what changed, newest first: time, run, what (collectors.model.events).

The app owns the log (tui.app.alerts) and hands it to the screen; :meth:`EventsScreen.show`
redraws it when it grew. Enter on a row goes to that run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from collectors.fmt import printable
from collectors.model import events as E
from collectors.model.events import Event
from tui.widgets.footer import QuietFooter

STYLE = {E.ERROR: "bold red", E.WARNING: "yellow", E.INFO: ""}


def event_time(t: float, now: float) -> str:
    """HH:MM:SS today, else MM-DD HH:MM:SS (local time)."""
    same_day = time.localtime(t)[:3] == time.localtime(now)[:3]
    return time.strftime("%H:%M:%S" if same_day else "%m-%d %H:%M:%S", time.localtime(t))


class EventsScreen(Screen[None]):
    """Every event since the monitor started (the last 1000)."""

    BINDINGS = [
        Binding("escape,backspace,e", "back", "Back"),
        Binding("enter", "goto", "Go to run", show=True),
    ]

    def __init__(
        self,
        events: Sequence[Event],
        clock: Callable[[], float] = time.time,
        goto: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(id="events-screen")
        self.events = events
        self.clock = clock
        self.goto = goto  # the app's: back to the main screen, on this run
        self._shown: tuple[int, int] = (-1, 0)
        self._ids: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static(id="events-head")
        table: DataTable[Text | str] = DataTable(
            id="events-table", cursor_type="row", zebra_stripes=False
        )
        yield table
        yield QuietFooter()

    def on_mount(self) -> None:
        table = self.query_one("#events-table", DataTable)
        table.add_column("time", key="time")
        table.add_column("run", key="run")
        table.add_column("event", key="kind")
        table.add_column("what", key="what")
        self.show()
        table.focus()

    def show(self) -> None:
        """Redraw when the log changed (newest first)."""
        n = len(self.events)
        last = self.events[-1] if n else None
        key = (n, id(last))
        if key == self._shown:
            return
        self._shown = key
        table = self.query_one("#events-table", DataTable)
        table.clear()
        now = self.clock()
        self._ids = []
        for e in reversed(self.events):
            style = STYLE.get(e.severity, "")
            run = printable(e.run_name or "-")
            if e.host:
                run = f"{run} @{printable(e.host)}"
            table.add_row(
                event_time(e.time, now),
                Text(run, overflow="ellipsis", no_wrap=True),
                Text(e.kind, style=style),
                Text(printable(e.message), style=style),
            )
            self._ids.append(e.run_id)
        head = self.query_one("#events-head", Static)
        if n:
            bad = sum(e.severity == E.ERROR for e in self.events)
            errors = f"{bad} error{'' if bad == 1 else 's'}"
            head.update(
                f"Events: {n} since the monitor started ({errors}); newest first. "
                "Enter: go to the run, Esc: back"
            )
        else:
            head.update(
                "Events: none yet. A run that crashes, stalls, finishes, logs NaN/inf or "
                "turns unhealthy while the monitor watches is listed here."
            )

    def apply(self, snap: object, labels: object = None) -> None:
        """Called with every snapshot (as every screen on the stack is): the log may have grown."""
        del snap, labels
        self.show()

    def action_back(self) -> None:
        self.app.pop_screen()

    @on(DataTable.RowSelected, "#events-table")
    def _selected(self, msg: DataTable.RowSelected) -> None:
        msg.stop()
        self.action_goto()

    def action_goto(self) -> None:
        table = self.query_one("#events-table", DataTable)
        row = table.cursor_row
        if 0 <= row < len(self._ids) and self._ids[row] and self.goto is not None:
            self.goto(self._ids[row])
