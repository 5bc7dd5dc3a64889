"""The Textual monitor: ``make_app(...)`` builds it (the CLI, the demo and the tests all do).

Polling: one long-lived thread worker per source. Each loop calls ``source.collect()`` (blocking
I/O, never on the event loop), posts the result as a message, and sleeps on
``worker.cancelled_event.wait(interval)``, so polls of one source never overlap and quitting wakes
it at once. A poll that raises becomes a :class:`HappoTopApp.SourceFailed` message: the app keeps
the last good data, says what failed in the header, and tries again at the next interval.

Rendering: the main screen, and any detail or compare screen on the stack, get the immutable
snapshot; widgets skip everything whose input is the same object as last time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from textual import on, work
from textual.app import App
from textual.binding import Binding
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen, Screen
from textual.worker import Worker, WorkerState, get_current_worker

from collectors.analysis.health import thresholds_with_defaults
from collectors.analysis.selection import display_labels
from collectors.fmt import printable
from collectors.model.events import Event
from collectors.model.host import HostStats
from collectors.model.run import RunSnapshot, Snapshot
from collectors.monitor import Monitor
from collectors.sources.host import HostCollector
from tui.app import alerts
from tui.app.actions import INTERRUPT, KILL, STOP, ActionRefused, Actions, Outcome, Plan
from tui.app.commands import RunCommands
from tui.app.sources import Source, live_sources, read_log
from tui.screens.events import EventsScreen
from tui.screens.main_screen import MainScreen
from tui.screens.modals import (
    ConfirmModal,
    HelpScreen,
    LaunchModal,
    LaunchRequest,
    RestartModal,
    describe_preset,
    plan_text,
)
from tui.widgets import render as R
from tui.widgets.run_table import column_names

DETAIL = "detail"  # the name the detail screen is installed under (one, reused)
# How long the first paint waits for the first snapshot (when a child is making it, see
# collectors.monitor.fork_first_collect): about what the screen's own first paint costs.
FIRST_PAINT_WAIT = 0.1
RUN_ACTIONS = ("stop", "interrupt", "kill", "restart", "launch", "tensorboard")


def _is_compare(screen: object) -> bool:
    """The compare screen is on top. Its module (and the detail's: charts, plotext) is imported
    when first opened, not at start-up: before that, no screen can be one."""
    mod = sys.modules.get("tui.screens.compare")
    return mod is not None and isinstance(screen, mod.CompareScreen)


class HappoTopApp(App[int]):
    """htop for HAPPO/HARL training runs."""

    CSS_PATH = "app.tcss"
    TITLE = "happo-top"
    COMMANDS = App.COMMANDS | {RunCommands}
    BINDINGS = [
        # nvitop's keys: capitals, off every movement key (k is up); each asks first.
        Binding(
            "T",
            "stop",
            "Stop",
            tooltip="Terminate the selected run: SIGINT, SIGTERM after the grace (asks first)",
        ),
        Binding("s", "stop", "Stop", show=False),  # the same stop, by another name
        Binding(
            "I",
            "interrupt",
            "Interrupt",
            show=False,  # the footer is full: the help screen and the palette list it
            tooltip="One SIGINT to the selected run and nothing after it (asks first)",
        ),
        Binding("K", "kill", "Kill", tooltip="SIGKILL the selected run (asks first)"),
        Binding("r", "restart", "Restart", tooltip="Restart the selected run (asks first)"),
        Binding("l", "launch", "Launch", tooltip="Launch a run (asks first)"),
        Binding(
            "b",
            "tensorboard",
            "TensorBoard",
            show=False,  # the footer is full: the help screen and the palette list it
            tooltip="Start TensorBoard on the marked runs, or the selected one (asks first)",
        ),
        Binding("p", "pause", "Pause"),
        Binding("e", "events", "Events", show=False, tooltip="The events log"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit", tooltip="Quit (never stops a run)"),
    ]

    class SnapshotReady(Message):
        """A new snapshot of the runs (posted from the poll thread)."""

        def __init__(self, snapshot: Snapshot, labels: Mapping[str, str], seconds: float) -> None:
            super().__init__()
            self.snapshot = snapshot
            self.labels = labels
            self.seconds = seconds

    class HostReady(Message):
        def __init__(self, stats: HostStats) -> None:
            super().__init__()
            self.stats = stats

    class SourceFailed(Message):
        def __init__(self, source: str, error: str) -> None:
            super().__init__()
            self.source = source
            self.error = error

    class HookReport(Message):
        """The on_event command failed (posted from its thread)."""

        def __init__(self, event: Event) -> None:
            super().__init__()
            self.event = event

    class ActionDone(Message):
        def __init__(self, outcome: Outcome) -> None:
            super().__init__()
            self.outcome = outcome

    def __init__(
        self,
        sources: Source,
        settings: Any,
        actions: Actions | None = None,
        host: Source | None = None,
        clock: Callable[[], float] = time.time,
        refresh: float | None = None,
    ) -> None:
        super().__init__()
        if "TEXTUAL_ANIMATIONS" not in os.environ:
            # Over SSH on a slow link every animation frame is a screenful of bytes.
            self.animation_level = "none"
        self.sources = sources
        self.settings = settings
        self.actions = actions
        self.host_source = host
        self.clock = clock
        self.refresh_interval = float(refresh or getattr(settings, "refresh", 2.0) or 2.0)
        self.read_only = bool(getattr(settings, "read_only", False)) or actions is None
        self.snapshot: Snapshot | None = None
        self.labels: Mapping[str, str] = {}
        self.paused = False
        self.polls = 0  # snapshots received (tests, benchmarks)
        self.busy_pids: set[int] = set()  # processes with an action in flight
        self.after_first_frame: Callable[[], None] | None = None  # run_app's
        self.first_snapshot: Snapshot | None = None  # run_app's, shown before the first paint
        self._problems: dict[str, str] = {}
        self.main = MainScreen(clock=clock, read_only=self.read_only)
        self.main.thresholds = dict(thresholds_with_defaults(settings.thresholds))
        self.main.processes_known = bool(getattr(sources, "tracks_processes", False))
        self.alerts = alerts.Alerts(
            settings, report=lambda e: self.post_message(self.HookReport(e))
        )
        self.terminal_title = ""  # what the title escape last said (tests read it)
        self._detail: Any = None  # the installed detail screen, reused for every run
        self.main.table_columns = column_names(getattr(settings, "table_columns", ()))

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Notifications carry run names, paths and errors from run files: plain text (never
        markup, a '[/]' in a name would take the app down) with control characters escaped."""
        super().notify(
            printable(message), title=title, severity=severity, timeout=timeout, markup=markup
        )

    def get_default_screen(self) -> Screen:
        return self.main

    # -- polling ---------------------------------------------------------------------------------
    def on_mount(self) -> None:
        self._set_terminal_title(alerts.TITLE)
        first, self.first_snapshot = self.first_snapshot, None
        if first is not None:  # on the screen in the first paint; the next poll in an interval
            self.post_message(self._runs_message(first))
        self._start_poller("runs", self.sources, self._runs_message, wait_first=first is not None)
        if self.host_source is not None:
            self._start_poller("host", self.host_source, self.HostReady)
        if self.after_first_frame is not None:
            self.call_after_refresh(self.after_first_frame)

    def _start_poller(
        self,
        name: str,
        source: Source,
        to_message: Callable[..., Message],
        wait_first: bool = False,
    ) -> None:
        self.run_worker(
            lambda: self._poll_loop(name, source, to_message, wait_first),
            name=f"poll-{name}",
            group="poll",
            thread=True,
            exit_on_error=False,
        )

    def _poll_loop(
        self,
        name: str,
        source: Source,
        to_message: Callable[..., Message],
        wait_first: bool = False,
    ) -> None:
        """One source, forever: collect, post, sleep. Never two polls of a source at once.
        ``wait_first``: its first snapshot came already (run_app's): sleep first."""
        worker = get_current_worker()
        if wait_first:
            worker.cancelled_event.wait(self.refresh_interval)
        try:
            while not worker.is_cancelled:
                if not self.paused:
                    try:
                        msg = to_message(source.collect())
                    except Exception as e:  # a failing collector degrades, never crashes
                        msg = self.SourceFailed(name, f"{type(e).__name__}: {e}")
                    if not worker.is_cancelled:
                        self.post_message(msg)
                worker.cancelled_event.wait(self.refresh_interval)
        finally:
            with contextlib.suppress(Exception):
                source.close()

    def _runs_message(self, snap: Snapshot) -> Message:
        t0 = time.perf_counter()
        try:  # in the poll thread, off the event loop
            labels = display_labels(snap.runs, self.settings.aliases)
        except Exception:  # odd names in one run: plain names for all, never no runs at all
            labels = {r.path: r.name for r in snap.runs}
        return self.SnapshotReady(snap, labels, time.perf_counter() - t0)

    @on(SnapshotReady)
    def _snapshot(self, msg: SnapshotReady) -> None:
        self.snapshot = msg.snapshot
        self.labels = msg.labels
        self.polls += 1
        self._clear_problem("runs")
        if getattr(self.sources, "tracks_processes", False) or any(
            r.process is not None for r in msg.snapshot.runs
        ):
            self.main.processes_known = True
        with self.batch_update():
            for screen in [self.main, *(s for s in self.screen_stack if s is not self.main)]:
                if not hasattr(screen, "apply"):
                    continue
                try:
                    screen.apply(msg.snapshot, msg.labels)
                except Exception as e:  # a screen that cannot show this snapshot says why
                    self._problems["screen"] = f"cannot show the runs: {type(e).__name__}: {e}"
                    self.main.set_problem("; ".join(self._problems.values()))
        self._note_events(msg.snapshot, msg.labels)

    # -- events (tui.app.alerts) -----------------------------------------------------------------
    def _note_events(self, snap: Snapshot, labels: Mapping[str, str]) -> None:
        """This snapshot's events: notifications, the bell, the title, the on_event command."""
        try:
            events = self.alerts.observe(snap, labels)
        except Exception as e:  # events are a convenience: never cost the runs
            self._problems["events"] = f"events: {type(e).__name__}: {e}"
            self.main.set_problem("; ".join(self._problems.values()))
            return
        for toast in alerts.toasts(events):
            self.notify(
                toast.message, title=toast.title, severity=toast.severity, timeout=toast.timeout
            )
        if self.alerts.rings(events):
            self.bell()
        self._set_terminal_title(alerts.title(snap))
        if events and isinstance(self.screen, EventsScreen):
            self.screen.show()

    def _set_terminal_title(self, text: str) -> None:
        """The terminal's window title (OSC 2; tmux: the pane title), written when it changes.
        Textual's ``App.title`` is the header's, not the terminal's."""
        if text == self.terminal_title:
            return
        first = "" if self.terminal_title else alerts.SAVE_TITLE
        self.terminal_title = text
        driver = self._driver
        if driver is not None and not self.is_headless:
            driver.write(first + alerts.title_sequence(text))
            driver.flush()

    @on(HookReport)
    def _hook_report(self, msg: HookReport) -> None:
        self.alerts.add(msg.event)
        self.notify(msg.event.message, title="on_event", severity="warning", timeout=8)
        if isinstance(self.screen, EventsScreen):
            self.screen.show()

    def action_events(self) -> None:
        if isinstance(self.screen, EventsScreen):
            self.pop_screen()
        elif not isinstance(self.screen, ModalScreen):
            self.push_screen(EventsScreen(self.alerts.log, self.clock, goto=self.goto_run))

    def on_unmount(self) -> None:
        abandon = getattr(self.sources, "abandon_first", None)
        if abandon is not None:  # a child still making the first collect: the poll thread
            abandon()  # waiting on it returns now, and the exit does not wait for the child
        self.alerts.close()
        if self.terminal_title and self._driver is not None and not self.is_headless:
            # not "happo-top: 1 crashed" for good: cleared, and the title saved at start back
            # (xterm's title stack; terminals without one ignore it)
            self._driver.write(alerts.title_sequence("") + alerts.RESTORE_TITLE)
            self._driver.flush()

    @on(HostReady)
    def _host(self, msg: HostReady) -> None:
        self._clear_problem("host")
        self.main.set_host(msg.stats)

    @on(SourceFailed)
    def _failed(self, msg: SourceFailed) -> None:
        text = f"{msg.source}: {msg.error}"
        if self._problems.get(msg.source) != text:
            self._problems[msg.source] = text
            what = "runs" if msg.source == "runs" else msg.source
            when = ""
            if msg.source == "runs" and self.snapshot is not None:
                when = f" (showing data from {time.strftime('%H:%M:%S', time.localtime(self.snapshot.time))})"
            self.notify(f"{what} collector failed: {msg.error}{when}", severity="error", timeout=10)
        self.main.set_problem("; ".join(self._problems.values()))

    def _clear_problem(self, source: str) -> None:
        if self._problems.pop(source, None) is not None:
            self.main.set_problem("; ".join(self._problems.values()))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.group == "poll":
            self.notify(f"{event.worker.name} stopped: {event.worker.error}", severity="error")

    # -- screens ---------------------------------------------------------------------------------
    def selected_run(self) -> RunSnapshot | None:
        screen = self.screen
        if isinstance(screen, ModalScreen):
            stack = [s for s in self.screen_stack if not isinstance(s, ModalScreen)]
            screen = stack[-1] if stack else self.main
        get = getattr(screen, "selected_run", None)
        return get() if get is not None else None

    def _run(self, run_id: str) -> RunSnapshot | None:
        if self.snapshot is None:
            return None
        return next((r for r in self.snapshot.runs if r.id == run_id), None)

    def open_detail(self, run_id: str) -> None:
        run = self._run(run_id)
        if run is None:
            return
        # deferred: start-up time (the charts and plotext), imported when a detail first opens
        from tui.screens.detail import RunDetailScreen

        if isinstance(self.screen, RunDetailScreen) and self.screen.run_id == run_id:
            return
        label = self.labels.get(run.path) or run.name
        screen = self._detail
        if screen is None:
            screen = RunDetailScreen(run, self.settings, self.clock, label, log_reader=read_log)
            self._detail = screen
            self.install_screen(screen, DETAIL)
        elif screen in self.screen_stack:  # it is open below another screen: a new one on top
            self.push_screen(
                RunDetailScreen(run, self.settings, self.clock, label, log_reader=read_log)
            )
            return
        else:
            screen.show_run(run, label)
        self.push_screen(DETAIL)

    def open_compare(self, runs: list[RunSnapshot]) -> None:
        # deferred: start-up time (the charts and plotext), imported when compare first opens
        from tui.screens.compare import CompareScreen

        self.push_screen(CompareScreen(runs, self.settings, self.clock, self.labels))

    def goto_run(self, run_id: str) -> None:
        while len(self.screen_stack) > 1 and self.screen is not self.main:
            self.pop_screen()
        self.main.focus_run(run_id)

    # -- bindings --------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The footer shows only what applies to the selected run on this screen: an action that
        does not is hidden (False), and its key falls through to ``key_*`` below, which says
        why nothing happens."""
        if action not in RUN_ACTIONS:
            return True
        if isinstance(self.screen, ModalScreen):
            return False  # not behind a dialog
        if _is_compare(self.screen) and action not in ("launch", "tensorboard"):
            return False  # several runs: no "selected" one to act on
        return bool(self.action_allowed(action))

    # A hidden binding's key falls through to these: say why nothing happens.
    def key_upper_t(self) -> None:
        self._why_not("stop")

    def key_upper_i(self) -> None:
        self._why_not("interrupt")

    def key_s(self) -> None:
        self._why_not("stop")

    def key_upper_k(self) -> None:
        self._why_not("kill")

    def key_r(self) -> None:
        self._why_not("restart")

    def key_l(self) -> None:
        self._why_not("launch")

    def key_b(self) -> None:
        self._why_not("tensorboard")

    def _why_not(self, action: str) -> None:
        if isinstance(self.screen, ModalScreen) or _is_compare(self.screen):
            return
        if self.read_only:
            why = "read-only mode: actions on runs are disabled"
        else:
            run = self.selected_run()
            if run is None:
                why = "no run selected"
            elif action in ("stop", "interrupt", "kill") and not Actions.signallable(run):
                why = f"{run.name} has no live, identified process ({run.state})"
            elif action in ("stop", "interrupt", "kill"):
                why = f"{run.name}: an action on its process is still under way"
            else:
                return
        self.notify(f"cannot {action}: {why}", severity="warning", timeout=4)

    def action_allowed(self, action: str) -> bool | None:
        """True: offered; None: not offered (read-only, nothing selected, no process)."""
        if self.read_only:
            return None
        if action == "launch":
            return True
        if action == "tensorboard":
            return True if self._tensorboard_runs() else None
        run = self.selected_run()
        if run is None:
            return None
        if action in ("stop", "interrupt", "kill"):
            if not Actions.signallable(run):
                return None
            pid = getattr(run.process, "pid", None)
            return None if pid in self.busy_pids else True
        return True

    def palette_allows(self, action: str) -> bool:
        if action in RUN_ACTIONS:
            return bool(self.action_allowed(action))
        if action in ("open", "mark"):
            return self.main.selected_run() is not None
        if action == "compare":
            return len(self.main.marked_runs()) >= 2
        return True

    def palette_run(self, action: str) -> None:
        if action in ("open", "mark", "compare", "filter", "layout", "view"):
            if self.screen is not self.main:
                self.goto_run(self.main.selected_id or "")
            if action == "open" and self.main.selected_id:
                self.open_detail(self.main.selected_id)
            elif action == "mark" and self.main.selected_id:
                self.main.toggle_mark(self.main.selected_id)
            else:
                getattr(self.main, f"action_{action}")()
            return
        getattr(self, f"action_{action}")()

    def palette_runs(self) -> list[tuple[RunSnapshot, str]]:
        if self.snapshot is None:
            return []
        return [(r, self.labels.get(r.path) or r.name) for r in self.snapshot.runs]

    # -- simple actions --------------------------------------------------------------------------
    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.read_only))

    def action_pause(self) -> None:
        self.paused = not self.paused
        self.main.set_paused(self.paused)
        self.notify(
            "refreshing paused (p resumes)" if self.paused else "refreshing resumed", timeout=2
        )

    # -- run control -----------------------------------------------------------------------------
    def _label(self, run_path: str | None) -> str | None:
        """The name the panel shows for a run (its label, else its name)."""
        if run_path is None:
            return None
        run = next(
            (r for r in (self.snapshot.runs if self.snapshot else ()) if r.path == run_path), None
        )
        return self.labels.get(run_path) or (run.name if run is not None else None)

    def _refused(self, e: ActionRefused) -> None:
        self.notify(str(e), severity="warning", timeout=6)

    def action_stop(self) -> None:
        self._signal_action(STOP)

    def action_kill(self) -> None:
        self._signal_action(KILL)

    def action_interrupt(self) -> None:
        self._signal_action(INTERRUPT)

    def _signal_action(self, action: str) -> None:
        if self.actions is None:
            return self._refused(ActionRefused("read-only mode: actions are disabled"))
        try:
            plan = self.actions.plan_signal(action, self.selected_run())
        except ActionRefused as e:
            return self._refused(e)
        if plan.pid in self.busy_pids:
            return self._refused(ActionRefused(f"an action on pid {plan.pid} is in progress"))
        verb = {STOP: "Stop", INTERRUPT: "Interrupt"}.get(action, "Kill")
        label = self._label(plan.run_path)
        title = f"{verb} run {label}?"
        if action == INTERRUPT:
            title = f"Interrupt run {label}: one SIGINT, nothing after it?"
        self.push_screen(
            ConfirmModal(title, plan_text(plan.view(), label), yes=verb),
            lambda ok: self._confirmed(plan, ok),
        )

    def action_restart(self) -> None:
        if self.actions is None:
            return self._refused(ActionRefused("read-only mode: actions are disabled"))
        try:
            plan = self.actions.plan_restart(self.selected_run())
        except ActionRefused as e:
            return self._refused(e)

        def answered(choice: str | None) -> None:
            if choice is not None:
                self._confirmed(plan, True, resume=choice == "resume")

        self.push_screen(RestartModal(plan.view(), self._label(plan.run_path)), answered)

    def action_launch(self) -> None:
        if self.actions is None:
            return self._refused(ActionRefused("read-only mode: actions are disabled"))
        if self.actions.read_only:
            return self._refused(ActionRefused("read-only mode: actions are disabled"))
        presets = [(n, describe_preset(p)) for n, p in sorted(self.actions.presets.items())]

        def chosen(req: LaunchRequest | None) -> None:
            if req is None or self.actions is None:
                return
            try:
                plan = self.actions.plan_launch(
                    req.preset, req.command, req.cwd, shell=req.shell, host=req.host
                )
            except ActionRefused as e:
                return self._refused(e)
            self.push_screen(
                ConfirmModal(
                    "Launch this run?", plan_text(plan.view()), yes="Launch", danger=False
                ),
                lambda ok: self._confirmed(plan, ok),
            )

        hosts = tuple(self.actions.settings.hosts) if self.actions is not None else ()
        self.push_screen(LaunchModal(presets, os.getcwd(), hosts), chosen)

    def _tensorboard_runs(self) -> list[RunSnapshot]:
        """The runs ``b`` serves: those of the compare screen, else the marked runs, else the
        selected one."""
        if _is_compare(self.screen):
            return list(self.screen.runs)  # type: ignore[attr-defined]
        return self.main.marked_runs() or [r for r in (self.selected_run(),) if r is not None]

    def action_tensorboard(self) -> None:
        """TensorBoard on the marked runs (or the selected one): the confirmation names the runs
        and the port; the notification gives the ``ssh -L`` line (tui.cli.tensorboard)."""
        if self.actions is None:
            return self._refused(ActionRefused("read-only mode: actions are disabled"))
        try:
            plan = self.actions.plan_tensorboard(self._tensorboard_runs())
        except ActionRefused as e:
            return self._refused(e)
        port = self.actions.tensorboard_port(plan)
        self.push_screen(
            ConfirmModal(
                f"Start TensorBoard on port {port} for {plan.run_name}?",
                plan_text(plan.view()),
                yes="Start",
                danger=False,
            ),
            lambda ok: self._confirmed(plan, ok),
        )

    def _confirmed(self, plan: Plan, ok: bool | None, **kw: Any) -> None:
        if not ok:
            self.notify(f"{plan.action}: cancelled", timeout=2)
            return
        if plan.pid is not None:
            self.busy_pids.add(plan.pid)
            self.refresh_bindings()
        what = f"pid {plan.pid}" if plan.pid is not None else plan.command
        self.notify(f"{plan.action}: {what} ({plan.run_name or ''})…", timeout=4)
        self._execute(plan, **kw)

    @work(thread=True, group="actions", exit_on_error=False)
    def _execute(self, plan: Plan, **kw: Any) -> None:
        assert self.actions is not None
        try:
            outcome = self.actions.execute(plan, **kw)
        except ActionRefused as e:
            outcome = Outcome(False, str(e), plan=plan)
        except Exception as e:  # never let an action take the app down
            outcome = Outcome(False, f"{plan.action} failed: {type(e).__name__}: {e}", plan=plan)
        self.post_message(self.ActionDone(outcome))

    @on(ActionDone)
    def _action_done(self, msg: ActionDone) -> None:
        o = msg.outcome
        if o.plan is not None and o.plan.pid is not None:
            self.busy_pids.discard(o.plan.pid)
            self.refresh_bindings()
        self.notify(o.message, severity="information" if o.ok else "error", timeout=10)
        if o.still_alive and o.plan is not None:
            plan = dataclasses.replace(
                o.plan, action=KILL, detail="it survived SIGINT and SIGTERM: SIGKILL it now"
            )
            label = self._label(plan.run_path)
            self.push_screen(
                ConfirmModal(
                    f"pid {plan.pid} is still running: kill it?",
                    plan_text(plan.view(), label),
                    yes="Kill",
                ),
                lambda ok: self._confirmed(plan, ok),
            )


def make_app(
    sources: Source,
    settings: Any,
    *,
    actions: Actions | None = None,
    host: Source | None = None,
    clock: Callable[[], float] = time.time,
    refresh: float | None = None,
) -> HappoTopApp:
    """The app, wired to ``sources`` (``collect() -> Snapshot``, ``close()``). ``actions``: the run
    control adapter (None: read-only); ``host``: CPU/RAM source; ``clock``: for the header and
    relative times (tests inject a fixed one)."""
    if actions is None and not getattr(settings, "read_only", False):
        actions = Actions(settings, getattr(sources, "registry", None))
    R.set_colour(not os.environ.get("NO_COLOR"))
    return HappoTopApp(sources, settings, actions=actions, host=host, clock=clock, refresh=refresh)


def run_app(
    roots: list[str],
    settings: Any,
    actions: Actions | None = None,
    after_first_frame: Callable[[], None] | None = None,
    sources: Monitor | None = None,
) -> int:
    """Open the monitor on ``roots`` (the CLI's and the demo's entry point). The monitor builds
    the launch registry (unless ``actions`` brings one) and run control shares it.
    ``after_first_frame`` is called once the first frame is on the screen (the demo starts its
    trainers then, so that their start does not delay it). ``sources``: the monitor of ``roots``,
    built already (the CLI's, whose first collect began before Textual was imported)."""
    if sys.stdout.isatty():
        # Exported COLUMNS/LINES would pin Textual to that size: the grid must follow resizes.
        os.environ.pop("COLUMNS", None)
        os.environ.pop("LINES", None)
    if sources is None:
        given = actions.registry if actions is not None and actions.has_registry else None
        sources = live_sources(roots, settings, registry=given)
    if actions is None and not settings.read_only:
        actions = Actions(settings, sources.registry)
    elif actions is not None:
        actions.attach_registry(sources.registry)
    app = make_app(sources, settings, actions=actions, host=HostCollector())
    app.after_first_frame = after_first_frame
    if isinstance(sources, Monitor):
        # The first paint shows the runs if the child's first collect comes in time; else the
        # screen comes now and the runs with the first poll.
        app.first_snapshot = sources.first_snapshot(wait=FIRST_PAINT_WAIT)
    app.run()
    return int(app.return_code or 0)
