"""Modal screens: confirmations (default No), restart and launch dialogs, help, tag picker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from collectors.fmt import printable
from collectors.model.run import STATE_SYMBOLS
from tui.widgets.plan_view import PlanView


def plan_text(plan: PlanView, label: str | None = None) -> Text:
    """What a confirmation names: the host (a run elsewhere), the run, the pid, the command,
    what will happen."""
    rows: list[tuple[str, str, str]] = []
    if plan.host:
        rows.append(("host", f"{plan.host} (over ssh: the happo-top there acts)", "bold"))
    if plan.run_name or label:
        name = plan.run_name or ""
        shown = f"{label}  ({name})" if label and label != name else name
        rows.append(("run", shown, "bold"))
    if plan.run_path:
        rows.append(("path", plan.run_path, "dim"))
    if plan.pid is not None:
        rows.append(("pid", str(plan.pid), "bold"))
    rows.append(("command", plan.command, "bold"))
    if plan.detail:
        rows.append(("what", plan.detail, ""))
    t = Text()
    for i, (k, v, style) in enumerate(rows):
        if i:
            t.append("\n")
        t.append(f"{k:>8}  ", style="dim")
        t.append(v, style=style)
    return t


NARROW = 70  # columns below which a dialog's buttons stack, one a line


def _narrow(screen: ModalScreen) -> None:
    screen.set_class(screen.size.width < NARROW, "-narrow")


def _move_focus(screen: ModalScreen, step: int) -> None:
    """The focus to the next (``step`` 1) or previous enabled button, round the ends."""
    buttons = [b for b in screen.query("#dialog-buttons Button").results(Button) if not b.disabled]
    if not buttons:
        return
    at = next((i for i, b in enumerate(buttons) if b.has_focus), -1)
    buttons[(at + step) % len(buttons)].focus()


class ConfirmModal(ModalScreen[bool]):
    """Yes / No, with the focus on No: Enter right away does nothing harmful."""

    BINDINGS = [
        Binding("escape", "answer(False)", "No"),
        Binding("n", "answer(False)", "No", show=False),
        Binding("y", "answer(True)", "Yes", show=False),
        Binding("left,right", "toggle_focus", "Switch", show=False),
    ]

    def __init__(self, title: str, body: Text | str, yes: str = "Yes", danger: bool = True) -> None:
        super().__init__(classes="modal confirm")
        self.title_text = title
        self.body = body
        self.yes_label = yes
        self.danger = danger

    def compose(self) -> ComposeResult:
        # Scrolls on a small terminal (up/down), the buttons reachable; not a Tab stop itself.
        with VerticalScroll(id="dialog", can_focus=False):
            yield Label(self.title_text, id="dialog-title")
            yield Static(self.body, id="dialog-body")
            with Horizontal(id="dialog-buttons"):
                yield Button(
                    f"{self.yes_label} (y)",
                    id="yes",
                    variant="error" if self.danger else "primary",
                )
                yield Button("No (n)", id="no", variant="default")

    def on_mount(self) -> None:
        self.app.clear_notifications()  # a toast must not hide the answer buttons (80x24)
        self.query_one("#no", Button).focus()
        _narrow(self)

    def on_resize(self) -> None:
        _narrow(self)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)

    def action_toggle_focus(self) -> None:
        yes, no = self.query_one("#yes", Button), self.query_one("#no", Button)
        (no if yes.has_focus else yes).focus()


class RestartModal(ModalScreen[str | None]):
    """Restart: cancel (default), restart, or restart resuming from the latest checkpoint."""

    BINDINGS = [
        Binding("escape", "answer(None)", "Cancel"),
        Binding("n", "answer(None)", "Cancel", show=False),
        Binding("left", "move_focus(-1)", "Previous", show=False),  # up/down scroll the body
        Binding("right", "move_focus(1)", "Next", show=False),
    ]

    def __init__(self, plan: PlanView, label: str | None = None) -> None:
        super().__init__(classes="modal confirm")
        self.plan = plan
        self.label = label

    def compose(self) -> ComposeResult:
        plan = self.plan
        # Scrolls on a small terminal (up/down), the buttons reachable; not a Tab stop itself.
        with VerticalScroll(id="dialog", can_focus=False):
            yield Label(f"Restart {self.label or plan.run_name}?", id="dialog-title")
            yield Static(plan_text(plan, self.label), id="dialog-body")
            if plan.resume_from:
                yield Static(
                    Text.assemble(("resume from ", "dim"), plan.resume_from),
                    id="dialog-note",
                )
            else:
                why = plan.no_resume or "no complete checkpoint"
                yield Static(
                    Text.assemble(("cannot resume: ", "dim"), why, (" (only from scratch)", "dim")),
                    id="dialog-note",
                )
            with Horizontal(id="dialog-buttons"):
                yield Button("Restart from scratch", id="restart", variant="warning")
                yield Button(
                    "Resume from latest checkpoint",
                    id="resume",
                    variant="primary",
                    disabled=not plan.resume_from,
                )
                yield Button("Cancel (n)", id="cancel")

    def on_mount(self) -> None:
        self.app.clear_notifications()  # a toast must not hide the answer buttons (80x24)
        self.query_one("#cancel", Button).focus()
        _narrow(self)

    def on_resize(self) -> None:
        _narrow(self)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "cancel" else event.button.id)

    def action_answer(self, value: str | None) -> None:
        self.dismiss(value)

    def action_move_focus(self, step: int) -> None:
        _move_focus(self, step)


@dataclass(frozen=True, slots=True)
class LaunchRequest:
    preset: str | None
    command: str | None
    cwd: str | None
    shell: bool = False  # the typed command runs through /bin/sh (pipes, redirects, $VARS)
    host: str | None = None  # launch on that host (over ssh); None: this one


class LaunchModal(ModalScreen[LaunchRequest | None]):
    """Pick a preset from the config file, or type a command (and its working directory)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self, presets: Sequence[tuple[str, str]], cwd: str, hosts: Sequence[str] = ()
    ) -> None:
        super().__init__(classes="modal launch")
        self.presets = list(presets)
        self.cwd = cwd
        self.hosts = list(hosts)  # the config's hosts: the run may be launched on one of them

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog"):  # scrolls on a small terminal
            yield Label("Launch a run", id="dialog-title")
            if self.presets:
                yield Label("Preset (Enter to pick):", classes="dialog-label")
                yield OptionList(
                    *[
                        Option(Text.assemble((n, "bold"), "  ", (d, "dim")), id=n)
                        for n, d in self.presets
                    ],
                    id="presets",
                )
            else:
                yield Static(
                    "No presets in the config file (presets: in config.yaml).",
                    classes="dialog-label",
                )
            yield Label("…or a command:", classes="dialog-label")
            yield Input(placeholder="python train.py --exp_name X --seed 1", id="command")
            yield Checkbox("through /bin/sh (pipes, redirects, $VARS)", id="shell")
            yield Label("working directory:", classes="dialog-label")
            yield Input(value=self.cwd, id="cwd")
            if self.hosts:
                yield Label(
                    f"host (empty: this one; configured: {', '.join(self.hosts)}):",
                    classes="dialog-label",
                )
                yield Input(placeholder="this host", id="host")
            with Horizontal(id="dialog-buttons"):
                yield Button("Next", id="next", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        if self.presets:
            self.query_one("#presets", OptionList).focus()
        else:
            self.query_one("#command", Input).focus()
        _narrow(self)

    def on_resize(self) -> None:
        _narrow(self)

    @on(OptionList.OptionSelected, "#presets")
    def _preset(self, event: OptionList.OptionSelected) -> None:
        cwd = self.query_one("#cwd", Input).value.strip()
        self.dismiss(
            LaunchRequest(
                event.option.id, None, cwd if cwd != self.cwd else None, host=self._host()
            )
        )

    def _host(self) -> str | None:
        if not self.hosts:
            return None
        return self.query_one("#host", Input).value.strip() or None

    @on(Input.Submitted)
    @on(Button.Pressed, "#next")
    def _command(self) -> None:
        cmd = self.query_one("#command", Input).value.strip()
        if not cmd:
            self.notify("type a command, or pick a preset", severity="warning")
            return
        cwd = self.query_one("#cwd", Input).value.strip()
        shell = self.query_one("#shell", Checkbox).value
        self.dismiss(LaunchRequest(None, cmd, cwd, shell, host=self._host()))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class TagPicker(ModalScreen[str | None]):
    """Choose one of a run's tags (type to filter)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, tags: Sequence[str], title: str = "Chart a tag") -> None:
        super().__init__(classes="modal picker")
        self.tags = sorted(tags)
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, id="dialog-title")
            yield Input(placeholder="filter", id="tag-filter")
            # Text, not markup: a tag may hold '[/]' or 'reward[agent0]' (run files are not trusted)
            yield OptionList(*[Option(Text(printable(t)), id=t) for t in self.tags], id="tags")

    def on_mount(self) -> None:
        self.query_one("#tag-filter", Input).focus()

    @on(Input.Changed, "#tag-filter")
    def _filter(self, event: Input.Changed) -> None:
        words = event.value.lower().split()
        ol = self.query_one("#tags", OptionList)
        ol.clear_options()
        ol.add_options(
            [
                Option(Text(printable(t)), id=t)
                for t in self.tags
                if all(w in t.lower() for w in words)
            ]
        )
        if ol.option_count:
            ol.highlighted = 0

    @on(Input.Submitted, "#tag-filter")
    def _first(self) -> None:
        ol = self.query_one("#tags", OptionList)
        if ol.option_count:
            opt = ol.get_option_at_index(ol.highlighted or 0)
            self.dismiss(opt.id)

    @on(OptionList.OptionSelected, "#tags")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


HELP = [
    (
        "Main screen",
        [
            ("arrows, j k, Tab", "move the selection (the view follows it)"),
            ("PgUp PgDn, Home End, g G", "a screenful, the first run, the last run"),
            ("Enter", "open the run: charts, checkpoints, config, process, log, health"),
            ("Space", "mark / unmark the run for comparison"),
            ("c", "compare the marked runs"),
            ("/", "filter runs by name, label, state, id or path (Esc clears)"),
            ("Esc Esc", "clear the marks (the first Esc says how many)"),
            ("v", "table or panels (the table when the panels do not fit)"),
            ("< > / F6", "table: sort by the previous / next column, or choose one"),
            ("o / F5", "table: group by experiment, by seed group, or not"),
            ("a", "mark every run on screen"),
            ("V", "panel layout: auto, compact, full"),
        ],
    ),
    (
        "Actions (on the selected run; each asks first, default No)",
        [
            ("T (s)", "stop: SIGINT, SIGTERM after a grace period, then SIGKILL is offered"),
            ("I", "interrupt: one SIGINT (like Ctrl-C) and nothing after it"),
            ("K", "kill: SIGKILL the run's process group"),
            ("r", "restart: stop, then start the same command (optionally resume)"),
            ("l", "launch: a preset from the config file, or a command"),
            ("b", "TensorBoard on the marked runs (or the selected one); gives the ssh -L line"),
        ],
    ),
    (
        "Run detail and compare",
        [
            ("1-6", "switch tabs"),
            ("+ / -", "more / less EMA smoothing (TensorBoard-style)"),
            ("x", "x axis: step, relative time, wall time"),
            ("y", "log / linear y axis"),
            ("z / Z", "step window: the last half of the steps shown / wider again"),
            ("{ / }", "move the step window earlier / later"),
            ("[ / ]", "cursor left / right: the legend reads the values at its step"),
            ("0", "all steps, cursor off"),
            ("t", "chart another tag"),
            ("/ n N w", "Log tab: find, next / previous match, fold long lines"),
            ("Esc", "back"),
            ("← / →", "in a dialog: move between its buttons"),
        ],
    ),
    (
        "Reading a panel",
        [
            ("entropy a/b", "latest entropy of agent0 / agent1 (healthy band from the thresholds)"),
            ("grad x/clip", "largest latest actor grad norm / the run's max_grad_norm"),
            ("vloss", "latest critic value loss"),
            ("✓ ! ✗", "health of that metric: ok / warning / bad (details: Enter, Health)"),
            ("ckpt |-·", "checkpoints along the steps: | saved, - trained, · still to come"),
            ("~ > ! = # x", "starting, running, stalled, finished, stopped, crashed"),
        ],
    ),
    (
        "Everywhere",
        [
            ("p", "pause / resume refreshing"),
            ("e", "events log: crashes, stalls, NaN, findings turning bad (Enter: go to run)"),
            ("ctrl+p", "command palette: every action, go to a run"),
            ("?", "this help"),
            ("q", "quit (never stops a run)"),
        ],
    ),
]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,question_mark", "close", "Close"),
    ]

    def __init__(self, read_only: bool = False) -> None:
        super().__init__(classes="modal help")
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        parts: list[Any] = []
        for section, rows in HELP:
            parts.append(Text(section, style="bold underline"))
            grid = Table.grid(padding=(0, 2))
            grid.add_column(style="bold cyan", no_wrap=True, min_width=12)
            grid.add_column(overflow="fold")
            for key, what in rows:
                grid.add_row(key, what)
            parts += [grid, Text("")]
        legend = Text()
        legend.append("State symbols  ", style="bold")
        legend.append("  ".join(f"{sym} {s}" for s, sym in STATE_SYMBOLS.items()))
        legend.append("\nHealth marks   ", style="bold")
        legend.append("✓ ok   ! warning   ✗ bad   · no data")
        parts.append(legend)
        if self.read_only:
            parts.append(Text("\nRead-only mode: actions are disabled.", style="bold yellow"))
        with Vertical(id="dialog"):
            yield Label("happo-top: keys", id="dialog-title")
            with VerticalScroll(id="help-body"):
                yield Static(Group(*parts))
            yield Static("Esc to close", id="dialog-note")

    def action_close(self) -> None:
        self.dismiss(None)


def describe_preset(p: Any) -> str:
    argv = p.get("argv") if hasattr(p, "get") else None
    if isinstance(argv, list):
        argv = " ".join(str(a) for a in argv)
    cwd = p.get("cwd") if hasattr(p, "get") else None
    out = str(argv or "")
    if cwd:
        out += f"  (in {cwd})"
    return out
