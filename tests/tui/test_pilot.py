"""The Textual monitor driven with Pilot and fake sources: keys, modals, filter, read-only, sizes."""

from __future__ import annotations

import dataclasses
import os
import threading
import time

import pytest
from textual.command import CommandPalette
from textual.widgets import OptionList

from collectors.analysis.chains import chain_heads
from collectors.model.settings import Settings
from tests.tui.fakes import (
    FakeActions,
    FakeHost,
    FakeSources,
    aio,
    fixed_clock,
    make_run,
    snapshot,
    standard_runs,
)
from tui.app.actions import Outcome
from tui.app.app import HappoTopApp, make_app
from tui.screens.compare import CompareScreen
from tui.screens.detail import RunDetailScreen
from tui.screens.main_screen import MainScreen, grid_shape
from tui.screens.modals import ConfirmModal, HelpScreen, LaunchModal, RestartModal
from tui.widgets.run_panel import RunPanel
from tui.widgets.run_table import RunTable
from tui.widgets.system_strip import HeaderBar, SystemStrip

pytestmark = pytest.mark.slow  # end to end: a real app, terminal or processes

PRESETS = {"cuboid": {"argv": ["python", "train.py", "--exp_name", "cuboid"], "cwd": "/tmp"}}


def build(
    sources: FakeSources | None = None, read_only: bool = False, **settings_kw
) -> tuple[HappoTopApp, FakeSources, FakeActions]:
    settings = Settings(refresh=0.2, read_only=read_only, presets=PRESETS, **settings_kw)
    sources = sources or FakeSources()
    actions = FakeActions(settings)
    app = make_app(
        sources,
        settings,
        actions=None if read_only else actions,
        host=FakeHost(),
        clock=fixed_clock,
    )
    app.animation_level = "none"  # tab underlines and scrolling would slow every key down
    return app, sources, actions


async def until(pilot, cond, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await pilot.pause(0.02)


async def started(pilot, app: HappoTopApp) -> None:
    # one panel a run, a chain's earlier segments left out (collectors.analysis.chains); or, on
    # a terminal too small for the panels, one table row a run
    def shown() -> bool:
        if app.polls == 0:
            return False
        want = len(chain_heads(app.snapshot.runs))
        if app.main.table_view:
            return len(app.main.query_one(RunTable).keys) == want
        return len(panels(app)) == want

    await until(pilot, shown)
    await pilot.pause()


def panels(app: HappoTopApp) -> list[RunPanel]:
    return [p for p in app.main.query(RunPanel) if p.display and not p.removing]


def text(widget) -> str:
    return widget.render().plain


async def focus_run(pilot, app: HappoTopApp, name: str) -> RunPanel | None:
    """Select the run called ``name`` as a user would: its panel focused, or in the table its
    row reached with Home and Down (None: no panel)."""
    if app.main.table_view:
        table = app.main.query_one(RunTable)
        by_id = {r.id: r for r in app.snapshot.runs}
        i = next(i for i, k in enumerate(table.keys) if k in by_id and by_id[k].name == name)
        await pilot.press("home", *["down"] * i)
        await pilot.pause()
        assert app.main.selected_id == table.keys[i]
        return None
    panel = next(p for p in panels(app) if p.run.name == name)
    panel.focus()
    await pilot.pause()
    assert app.main.selected_id == panel.run_id
    return panel


def screen_text(app: HappoTopApp) -> str:
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(seg.text for seg in strip).rstrip() for strip in strips)


# -- the main screen -----------------------------------------------------------------------------


@aio
async def test_main_screen_shows_every_run_with_state_progress_and_process():
    app, sources, _ = build()
    async with app.run_test(size=(160, 45)) as pilot:
        await started(pilot, app)
        by_name = {p.run.name: p for p in panels(app)}
        assert set(by_name) == {"basic", "safe", "crashy"}
        safe = text(by_name["safe"])
        assert "> running" in safe and "47.5M / 100M 48%" in safe
        assert "13M/h" in safe and "ETA" in safe and "left" in safe
        assert "reward" in safe and "best" in safe and "ckpt 19" in safe
        assert "pid 80319" in safe and "cpu 98%" in safe and "rss 2.0G" in safe
        assert "grad 0.43/0.5" in safe  # against max_grad_norm
        assert "agent1 grad norm spike" in safe  # the worst finding (issue 9: the fake's rule)
        assert "no process (crashed)" in text(by_name["crashy"])
        assert "done" in text(by_name["basic"]) and "took 5h00m" in text(by_name["basic"])
        head = text(app.main.query_one(HeaderBar))
        assert "gpu-box" in head and "3 runs" in head and "1 > running" in head
        assert "1 x crashed" in head
        strip = text(app.main.query_one(SystemStrip))
        assert "GPU0" in strip and "87%" in strip and "62°C" in strip and "310W" in strip
        assert "CPU" in strip and "RAM" in strip
        # side by side: the first two panels share a row on a wide terminal
        regions = [p.region for p in panels(app)]
        assert regions[0].y == regions[1].y and regions[0].x < regions[1].x


@aio
async def test_nothing_is_rebuilt_when_the_snapshot_did_not_change():
    app, sources, _ = build()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        before = {p.run_id: p.builds for p in panels(app)}
        polls = app.polls
        await until(pilot, lambda: app.polls >= polls + 5)
        assert {p.run_id: p.builds for p in panels(app)} == before
        # a changed run redraws that panel only
        runs = list(sources.snap.runs)
        runs[1] = dataclasses.replace(runs[1], step=48_000_000, progress=0.48)
        sources.set_runs(tuple(runs))
        await until(pilot, lambda: "48M / 100M" in text(panels(app)[1]))
        after = {p.run_id: p.builds for p in panels(app)}
        changed = [rid for rid in after if after[rid] != before[rid]]
        assert changed == [runs[1].id]


@aio
async def test_a_deleted_run_passes_the_focus_to_its_neighbour():
    app, sources, _ = build()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await focus_run(pilot, app, "safe")
        runs = [r for r in sources.snap.runs if r.name != "safe"]  # its directory was deleted
        sources.set_runs(tuple(runs))
        await until(pilot, lambda: len(panels(app)) == 2)
        await until(pilot, lambda: isinstance(app.focused, RunPanel) and not app.focused.removing)
        assert app.focused.run_id == app.main.selected_id == runs[1].id  # the next one
        await pilot.pause(0.5)  # and it stays there (no late focus message moves it)
        assert app.focused.run_id == app.main.selected_id == runs[1].id
        assert app.main.selected_run().name == runs[1].name


class GatedSources(FakeSources):
    """collect() blocks until the test opens ``gate``: a poll as slow as the test wants."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.waiting = 0
        self.max_waiting = 0

    def collect(self):
        with self._lock:
            self.waiting += 1
            self.max_waiting = max(self.max_waiting, self.waiting)
        try:
            self.gate.wait(timeout=60)  # only a safety net for a broken test
        finally:
            with self._lock:
                self.waiting -= 1
        return super().collect()


@aio
async def test_polls_never_overlap_and_the_event_loop_stays_free():
    sources = GatedSources()
    app, _, _ = build(sources)  # refresh 0.2 s
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: sources.waiting == 1)  # the first poll is in flight
            await pilot.press("question_mark")  # the UI answers while it is
            assert isinstance(app.screen, HelpScreen)
            assert sources.waiting == 1 and app.polls == 0
            await pilot.pause(0.6)  # three refresh periods: no second poll starts meanwhile
            assert sources.max_waiting == 1 and sources.calls == 0
            sources.gate.set()
            await until(pilot, lambda: app.polls >= 2)
            assert sources.max_waiting == 1 and sources.max_in_collect == 1
    finally:
        sources.gate.set()
    deadline = time.monotonic() + 3
    while not sources.closed and time.monotonic() < deadline:  # closed by its poll thread
        time.sleep(0.02)
    assert sources.closed


@aio
async def test_a_failing_collector_degrades_and_recovers():
    app, sources, _ = build()
    async with app.run_test(size=(120, 30)) as pilot:
        await started(pilot, app)
        sources.fail = "disk on fire"
        await until(pilot, lambda: "disk on fire" in text(app.main.query_one(HeaderBar)))
        assert len(panels(app)) == 3  # the last good data stays on screen
        assert app.is_running
        sources.fail = None
        await until(pilot, lambda: "disk on fire" not in text(app.main.query_one(HeaderBar)))


@aio
async def test_runs_appear_and_disappear_in_order():
    app, sources, _ = build()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        runs = standard_runs()
        extra = make_run("newer", preset="safe", seed=9, step=1_000_000, run_id="dddd0004")
        sources.set_runs((runs[0], extra, runs[1], runs[2]))
        await until(pilot, lambda: len(panels(app)) == 4)
        assert [p.run.name for p in panels(app)] == ["basic", "newer", "safe", "crashy"]
        sources.set_runs((runs[0], runs[2]))
        await until(pilot, lambda: len(panels(app)) == 2)
        assert [p.run.name for p in panels(app)] == ["basic", "crashy"]


@aio
async def test_missing_gpu_and_process_info_render_gracefully():
    runs = tuple(dataclasses.replace(r, process=None) for r in standard_runs())
    sources = FakeSources(snapshot(runs, gpus=None))
    sources.tracks_processes = False
    app, _, _ = build(sources)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        safe = next(p for p in panels(app) if p.run.name == "safe")
        assert "no process info" in text(safe)
        assert "GPU -" in text(app.main.query_one(SystemStrip))
        await focus_run(pilot, app, "safe")
        assert app.check_action("stop", ()) is False  # not offered: no process to signal


@aio
async def test_no_runs_says_where_it_looked():
    sources = FakeSources(snapshot(()))
    app, _, _ = build(sources)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.polls > 0)
        await pilot.pause()
        assert "No HARL runs" in screen_text(app) and "/runs" in screen_text(app)


# -- actions -------------------------------------------------------------------------------------


@aio
async def test_stop_asks_first_and_defaults_to_no():
    app, _, actions = build()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await focus_run(pilot, app, "safe")
        assert app.check_action("stop", ()) is True
        await pilot.press("s")
        assert isinstance(app.screen, ConfirmModal)
        body = str(app.screen.query_one("#dialog-body").render())
        assert "80319" in body and "train.py --exp_name cuboid" in body and "/runs/safe" in body
        assert app.screen.focused.id == "no"
        await pilot.press("enter")  # Enter right away answers No
        assert not isinstance(app.screen, ConfirmModal)
        assert actions.executed == []
        assert notes(app, "stop: cancelled")
        await pilot.press("s")
        assert not app._notifications  # no toast over the dialog's buttons
        await pilot.press("y")
        await until(pilot, lambda: actions.executed)
        plan, kw = actions.executed[0]
        assert plan.action == "stop" and plan.pid == 80319 and plan.run_path == "/runs/safe"
        assert kw == {}


@aio
async def test_kill_and_notification():
    app, _, actions = build()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await focus_run(pilot, app, "safe")
        await pilot.press("K")
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("tab", "enter")  # from No to Yes
        await until(pilot, lambda: actions.executed)
        assert actions.executed[0][0].action == "kill"
        await until(pilot, lambda: any("done (fake)" in str(n.message) for n in app._notifications))


@aio
async def test_a_stop_that_leaves_the_process_alive_offers_sigkill():
    app, _, actions = build()

    def survive(plan, **kw):
        actions.executed.append((plan, kw))
        if plan.action == "stop":
            return Outcome(False, "pid 80319 is still running", still_alive=True, plan=plan)
        return Outcome(True, "killed", plan=plan)

    actions.execute = survive
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await focus_run(pilot, app, "safe")
        await pilot.press("s", "y")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        assert "still running" in str(app.screen.query_one("#dialog-title").render())
        await pilot.press("y")
        await until(pilot, lambda: len(actions.executed) == 2)
        assert [p.action for p, _ in actions.executed] == ["stop", "kill"]


@aio
async def test_actions_are_greyed_out_without_a_process():
    app, _, actions = build()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await focus_run(pilot, app, "basic")  # finished: no process
        assert app.check_action("stop", ()) is False
        assert app.check_action("kill", ()) is False
        assert app.check_action("restart", ()) is True
        await pilot.press("s")
        assert isinstance(app.screen, MainScreen)
        assert actions.executed == []
        # the key is not silently ignored: the user is told why
        await until(pilot, lambda: notes(app, "cannot stop: basic has no live"))
        await pilot.press("c")  # compare with nothing marked
        await until(pilot, lambda: notes(app, "Mark two or more runs"))


def _restartable(tmp_path, model_dir: bool = True):
    """The running "safe" run with a real run directory (config.json) and entry point
    (train.py in its cwd): restart plans are real (collectors.control.plan_restart).
    ``model_dir``: whether its config has HARL's algo_args.train.model_dir key."""
    run_dir = tmp_path / "runs" / "safe"
    run_dir.mkdir(parents=True)
    train = ', "algo_args": {"train": {"model_dir": null}}' if model_dir else ""
    (run_dir / "config.json").write_text('{"main_args": {"exp_name": "cuboid"}' + train + "}")
    (tmp_path / "train.py").write_text("")
    runs = list(standard_runs())
    safe = runs[1]
    cps = tuple(
        dataclasses.replace(c, path=str(run_dir / "models" / os.path.basename(c.path)))
        for c in safe.checkpoints
    )
    runs[1] = dataclasses.replace(
        safe,
        path=str(run_dir),
        checkpoints=cps,
        config={**safe.config, "algo_args.train.model_dir": None}
        if model_dir
        else {k: v for k, v in safe.config.items() if k != "algo_args.train.model_dir"},
        process=dataclasses.replace(safe.process, cwd=str(tmp_path), run_path=str(run_dir)),
    )
    return FakeSources(snapshot(tuple(runs))), run_dir


@aio
async def test_restart_asks_whether_to_resume(tmp_path):
    """The dialog shows the exact commands (HARL's --load_config; the resume's --model_dir and
    --num_env_steps), and the plan it showed is the one handed to execute."""
    sources, run_dir = _restartable(tmp_path)
    app, _, actions = build(sources)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await focus_run(pilot, app, "safe")
        await pilot.press("r")
        assert isinstance(app.screen, RestartModal)
        assert app.screen.focused.id == "cancel"
        note = str(app.screen.query_one("#dialog-note").render())
        assert "rl_model_47500000_steps" in note and "--num_env_steps 52500000" in note
        body = str(app.screen.query_one("#dialog-body").render())
        assert "--load_config" in body
        await pilot.click("#resume")
        await until(pilot, lambda: actions.executed)
        plan, kw = actions.executed[0]
        assert plan.action == "restart" and kw == {"resume": True} and plan.pid == 80319
        assert plan.resume_plan.resume.num_env_steps == 52_500_000
        assert plan.resume_plan.spec.argv[-4:] == (
            "--model_dir",
            str(run_dir / "models" / "rl_model_47500000_steps"),
            "--num_env_steps",
            "52500000",
        )


@aio
async def test_restart_dialog_says_why_it_cannot_resume(tmp_path):
    """A config.json without algo_args.train.model_dir (HARL would drop --model_dir): the
    dialog names that, not a missing checkpoint, and offers only a restart from scratch."""
    sources, _ = _restartable(tmp_path, model_dir=False)
    app, _, _ = build(sources)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await focus_run(pilot, app, "safe")
        await pilot.press("r")
        assert isinstance(app.screen, RestartModal)
        note = str(app.screen.query_one("#dialog-note").render())
        assert "cannot resume" in note and "model_dir" in note, note
        assert "no complete checkpoint" not in note
        assert app.screen.query_one("#resume").disabled


@aio
async def test_launch_a_preset_or_a_command():
    app, _, actions = build()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await pilot.press("l")
        assert isinstance(app.screen, LaunchModal)
        await pilot.press("enter")  # the first preset
        assert isinstance(app.screen, ConfirmModal)
        assert "train.py --exp_name cuboid" in str(app.screen.query_one("#dialog-body").render())
        await pilot.press("y")
        await until(pilot, lambda: actions.executed)
        assert actions.executed[0][0].action == "launch"
        assert actions.executed[0][0].spec.preset == "cuboid"
        # a typed command
        await pilot.press("l")
        box = app.screen.query_one("#command")
        box.focus()
        box.value = "python x.py --seed 2"
        await pilot.press("enter")
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await until(pilot, lambda: len(actions.executed) == 2)
        assert actions.executed[1][0].spec.argv == ("python", "x.py", "--seed", "2")
        assert not actions.executed[1][0].spec.shell
        # shell syntax is refused unless the shell box is ticked
        await pilot.press("l")
        box = app.screen.query_one("#command")
        box.focus()
        box.value = "python x.py | tee out.log"
        await pilot.press("enter")
        await until(
            pilot, lambda: any("shell syntax" in str(n.message) for n in app._notifications)
        )
        assert not isinstance(app.screen, ConfirmModal) and len(actions.executed) == 2
        await pilot.press("l")
        box = app.screen.query_one("#command")
        box.value = "python x.py | tee out.log"
        app.screen.query_one("#shell").value = True
        box.focus()
        await pilot.press("enter")
        assert isinstance(app.screen, ConfirmModal)
        assert "through /bin/sh" in str(app.screen.query_one("#dialog-body").render())
        await pilot.press("y")
        await until(pilot, lambda: len(actions.executed) == 3)
        spec = actions.executed[2][0].spec
        assert spec.shell and spec.argv == ("python x.py | tee out.log",)


@aio
async def test_read_only_greys_out_and_refuses_every_action():
    app, _, actions = build(read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await focus_run(pilot, app, "safe")
        for action in ("stop", "kill", "restart", "launch"):
            assert app.check_action(action, ()) is False  # not in the footer
        for key in ("T", "K", "r", "l"):
            await pilot.press(key)
            assert isinstance(app.screen, MainScreen)
        assert notes(app, "cannot launch: read-only mode")  # the key said why
        app.action_stop()  # even called directly (command palette, a stray key)
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert any("read-only" in str(n.message) for n in app._notifications)
        assert "read-only" in text(app.main.query_one(HeaderBar))
        assert not app.palette_allows("stop")
    assert actions.executed == []


@aio
async def test_actions_are_not_offered_behind_a_dialog():
    app, _, _ = build()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await focus_run(pilot, app, "safe")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert app.check_action("stop", ()) is False
        await pilot.press("escape")
        assert app.check_action("stop", ()) is True


# -- navigation, filter, marks, screens ----------------------------------------------------------


def many_runs(n: int) -> tuple:
    return tuple(
        make_run(f"run{i:02d}", seed=i, run_id=f"id{i:04d}", pid=2000 + i, step=(i + 1) * 1_000_000)
        for i in range(n)
    )


def visible(app: HappoTopApp, panel: RunPanel) -> bool:
    grid = app.main.query_one("#grid")
    return grid.region.contains_region(panel.region)


@aio
async def test_keys_move_the_selection_and_the_view_follows_it():
    app, _, actions = build(FakeSources(snapshot(many_runs(12))))
    app.main.view_mode = "panels"  # 12 runs would not fit: the table (tests/tui/test_table_tui)
    async with app.run_test(size=(120, 40)) as pilot:  # 2 columns
        await started(pilot, app)
        ids = [p.run_id for p in panels(app)]
        await pilot.press("end")
        await pilot.pause()
        assert app.main.selected_id == ids[-1] == app.focused.run_id
        assert visible(app, app.focused)  # the view scrolled to it, not only the selection
        assert app.main.query_one("#grid").scroll_y > 0
        await pilot.press("K")  # acts on the run on screen, the last one
        assert isinstance(app.screen, ConfirmModal)
        assert "run11" in screen_text(app)
        await pilot.press("escape")
        await pilot.press("g")  # vim: top
        await pilot.pause()
        assert app.main.selected_id == ids[0] and visible(app, app.focused)
        await pilot.press("j", "j", "k")  # down a row twice (2 columns), up once
        await pilot.pause()
        assert app.main.selected_id == ids[2]
        await pilot.press("pagedown")
        await pilot.pause()
        rows = app.main._page_rows()
        assert app.main.selected_id == ids[min(2 + 2 * rows, 11)] and visible(app, app.focused)
        await pilot.press("pageup", "G")
        await pilot.pause()
        assert app.main.selected_id == ids[-1]
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        assert app.screen.run_id == ids[-1]
    assert actions.executed == []


@aio
async def test_keys_typed_ahead_are_never_dropped():
    app, _, _ = build(FakeSources(snapshot(many_runs(9))))
    async with app.run_test(size=(200, 50)) as pilot:  # 3 columns
        await started(pilot, app)
        ids = [p.run_id for p in panels(app)]
        # one burst, no pause between the keys: each steps from where the last one left it
        await pilot.press("end", "home", "right", "right")
        await pilot.pause()
        assert app.main.selected_id == ids[2] == app.focused.run_id
        await pilot.press(*["down"] * 2, "left")
        await pilot.pause()
        assert app.main.selected_id == ids[7] == app.focused.run_id


@aio
async def test_keys_handled_before_the_focus_they_asked_for_arrives_still_count():
    """Textual moves the focus after the handler that asked for it: keys read in one go (a
    loaded machine, tmux delivering a burst) run before End's focus lands. Home back to the
    panel that still has the focus must win over End's late focus."""
    app, _, _ = build(FakeSources(snapshot(many_runs(9))))
    async with app.run_test(size=(200, 50)) as pilot:  # 3 columns
        await started(pilot, app)
        ids = [p.run_id for p in panels(app)]
        app.main.action_first()
        await pilot.pause()
        assert app.focused.run_id == ids[0]
        app.main.action_last()  # no await between them: End's focus has not arrived yet
        app.main.action_first()
        await pilot.pause()
        await pilot.pause()
        assert app.main.selected_id == ids[0] == app.focused.run_id
        await pilot.press("right")
        await pilot.pause()
        assert app.main.selected_id == ids[1] == app.focused.run_id


@aio
async def test_a_selection_step_does_not_rebuild_the_footer():
    from tui.widgets.footer import QuietFooter

    app, _, _ = build(FakeSources(snapshot(many_runs(9))))
    async with app.run_test(size=(200, 50)) as pilot:
        await started(pilot, app)
        await pilot.press("home")
        await pilot.pause()
        footer = app.main.query_one(QuietFooter)
        before = footer.rebuilds
        await pilot.press("right", "right", "down", "left")  # every run alike: same keys
        await pilot.pause()
        assert footer.rebuilds == before
        assert "T Stop" in screen_text(app)


@aio
async def test_filter_hides_runs_and_escape_clears_it():
    app, _, _ = build()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await pilot.press("slash", *"cra")
        await until(pilot, lambda: [p.run.name for p in panels(app)] == ["crashy"])
        assert "1/3 runs" in text(app.main.query_one(HeaderBar))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.focused, RunPanel))
        assert app.focused.run.name == "crashy"
        await pilot.press("escape")
        await until(pilot, lambda: len(panels(app)) == 3)
        await pilot.press("slash", *"zz")
        await until(pilot, lambda: not panels(app))
        assert "No run matches" in screen_text(app)
        await pilot.press("escape")
        await until(pilot, lambda: len(panels(app)) == 3)


@aio
async def test_arrow_keys_move_between_panels_in_the_grid():
    app, _, _ = build()
    async with app.run_test(size=(130, 40)) as pilot:  # two columns
        await started(pilot, app)
        assert app.main.columns == 2
        names = [p.run.name for p in panels(app)]
        await focus_run(pilot, app, names[0])
        await pilot.press("right")
        assert app.focused.run.name == names[1]
        await pilot.press("down")  # there is nothing below the second panel
        assert app.focused.run.name == names[1]
        await pilot.press("left", "down")
        assert app.focused.run.name == names[2]


@aio
async def test_mark_runs_and_compare_them():
    app, _, _ = build()
    async with app.run_test(size=(140, 40)) as pilot:
        await started(pilot, app)
        assert app.main.check_action("compare", ()) is False
        await focus_run(pilot, app, "basic")
        await pilot.press("space")
        await focus_run(pilot, app, "safe")
        await pilot.press("space")
        assert [r.name for r in app.main.marked_runs()] == ["basic", "safe"]
        assert "-marked" in panels(app)[0].classes
        assert "2 marked" in text(app.main.query_one(HeaderBar))
        await pilot.press("c")
        assert isinstance(app.screen, CompareScreen)
        # no "selected" run among several: stop/kill/restart are not offered here
        assert [app.check_action(a, ()) for a in ("stop", "kill", "restart")] == [False] * 3
        await pilot.press("s")
        assert isinstance(app.screen, CompareScreen) and not notes(app, "cannot stop")
        await pilot.pause(0.2)
        diff = screen_text(app)
        assert "max_grad_norm" in diff and "use_adv_normalize" in diff and "3e-4" in diff
        await pilot.press("3")  # the checkpoint timeline
        await pilot.pause(0.2)
        timeline = screen_text(app)
        assert "47.5M" in timeline and "#2 now" in timeline and "✓" in timeline
        await pilot.press("4")
        await pilot.pause(0.2)
        assert "steps per hour" in screen_text(app) and "20M/h" in screen_text(app)
        await pilot.press("2")
        await pilot.pause(0.3)
        assert "reward" in screen_text(app)
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        await pilot.press("escape")  # says what a second Esc does; the marks stay
        assert len(app.main.marked_runs()) == 2
        assert notes(app, "Esc again clears the 2 marks")
        await pilot.press("escape")  # clears them
        assert app.main.marked_runs() == []


@aio
async def test_detail_screen_tabs_and_chart_options():
    app, sources, _ = build()
    async with app.run_test(size=(140, 45)) as pilot:
        await started(pilot, app)
        await focus_run(pilot, app, "safe")
        await pilot.press("enter")
        assert isinstance(app.screen, RunDetailScreen)
        detail = app.screen
        await pilot.pause(0.3)
        titles = [c.title for c in detail.query("SeriesChart")]
        assert titles[:6] == [
            "reward",
            "entropy",
            "actor grad norm",
            "value loss",
            "policy loss",
            "ratio - 1 (x1e-3)",  # issue 9: the ratio as its deviation from 1
        ]
        grad = detail.query_one("#chart-2")
        assert [t.label for t in grad.thresholds] == ["max_grad_norm 0.5"]
        assert [ln.label for ln in grad.lines] == ["agent0", "agent1"]
        assert grad.draws >= 1
        await pilot.press("plus", "x")
        assert detail.smoothing == 0.8 and detail.x_mode == "relative"
        await pilot.pause(0.2)
        assert grad.smoothing == 0.8 and grad.x_mode == "relative"
        for key, needle in (("2", "47.5M"), ("3", "max_grad_norm"), ("4", "80319"), ("6", "Q1")):
            await pilot.press(key)
            await pilot.pause(0.2)
            assert needle in screen_text(app), key
        await pilot.press("5")
        await pilot.pause(0.3)
        assert "stdout log unknown" in screen_text(app)
        # a new snapshot of the run reaches the open detail screen
        runs = list(sources.snap.runs)
        runs[1] = dataclasses.replace(runs[1], step=48_000_000, progress=0.48)
        sources.set_runs(tuple(runs))
        await until(pilot, lambda: detail.run.step == 48_000_000)
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


@aio
async def test_chart_another_tag_on_request():
    app, _, _ = build()
    async with app.run_test(size=(140, 45)) as pilot:
        await started(pilot, app)
        await focus_run(pilot, app, "safe")
        await pilot.press("enter", "t")
        await pilot.press(*"policy")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert app.screen.extra_tags == ["agent0/policy_loss"]
        assert app.screen.query("SeriesChart").last().title == "agent0/policy_loss"


@aio
async def test_config_tree_search():
    app, _, _ = build()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await focus_run(pilot, app, "safe")
        await pilot.press("enter", "3")
        await pilot.pause(0.2)
        app.screen.query_one("#config-search").focus()
        await pilot.press(*"grad")
        await pilot.pause(0.2)
        shown = screen_text(app)
        assert "max_grad_norm = 0.5" in shown and "lr = 0.0003" not in shown


@aio
async def test_help_screen_lists_the_actions():
    app, _, _ = build()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "restart" in screen_text(app)
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def palette(pilot, app: HappoTopApp, query: str) -> CommandPalette:
    """Open the command palette with ctrl+p and type ``query`` into it, as a user does."""
    await pilot.press("ctrl+p")
    await until(pilot, lambda: isinstance(app.screen, CommandPalette))
    await pilot.press(*query)
    return app.screen


def hits(palette: CommandPalette) -> list[str]:
    """The command titles the palette lists, top (highlighted on Enter) first."""
    options = palette.query_one(OptionList).options
    return [str(o.prompt).split("\n", 1)[0] for o in options if not o.disabled]


def top(palette: CommandPalette) -> str:
    found = hits(palette)
    return found[0] if found else ""


def notes(app: HappoTopApp, text: str) -> bool:
    """A notification containing ``text`` is showing."""
    return any(text in str(n.message) for n in app._notifications)


def no_matches(app: HappoTopApp) -> bool:
    return "No matches found" in screen_text(app)


@aio
async def test_palette_goes_to_a_run_from_another_screen():
    app, _, _ = build()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await focus_run(pilot, app, "safe")
        await pilot.press("enter")
        assert isinstance(app.screen, RunDetailScreen)
        p = await palette(pilot, app, "go to crashy")
        # "Go to run: <its label> (<its name>)", on top: what Enter runs
        await until(pilot, lambda: top(p).startswith("Go to run: ") and top(p).endswith("(crashy)"))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        await until(pilot, lambda: isinstance(app.focused, RunPanel))
        assert app.focused.run.name == "crashy"
        assert app.main.selected_id == "cccc0003"


@aio
async def test_palette_opens_a_run():
    app, _, _ = build()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await focus_run(pilot, app, "safe")
        p = await palette(pilot, app, "open run basic")
        await until(pilot, lambda: top(p).startswith("Open run: ") and top(p).endswith("(basic)"))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        assert app.screen.run.name == "basic"


@aio
async def test_palette_stop_asks_first_and_is_not_offered_without_a_process():
    app, _, actions = build()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await focus_run(pilot, app, "basic")  # finished: nothing to stop
        p = await palette(pilot, app, "stop the selected")
        await until(pilot, lambda: no_matches(app) or "Stop the selected run" in hits(p))
        assert no_matches(app) and "Stop the selected run" not in hits(p)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        await focus_run(pilot, app, "safe")
        p = await palette(pilot, app, "stop")
        await until(pilot, lambda: top(p) == "Stop the selected run")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        body = str(app.screen.query_one("#dialog-body").render())
        assert "80319" in body and "/runs/safe" in body
        assert actions.executed == []  # nothing happens before the answer
        await pilot.press("y")
        await until(pilot, lambda: actions.executed)
        plan, _ = actions.executed[0]
        assert plan.action == "stop" and plan.pid == 80319 and plan.run_path == "/runs/safe"


@aio
async def test_palette_offers_compare_only_with_two_marked_runs():
    app, _, _ = build()
    async with app.run_test(size=(140, 40)) as pilot:
        await started(pilot, app)
        p = await palette(pilot, app, "compare the marked")
        await until(pilot, lambda: no_matches(app) or "Compare the marked runs" in hits(p))
        assert no_matches(app) and "Compare the marked runs" not in hits(p)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        for name in ("basic", "safe"):
            await focus_run(pilot, app, name)
            await pilot.press("space")
        assert [r.name for r in app.main.marked_runs()] == ["basic", "safe"]
        p = await palette(pilot, app, "compare")
        await until(pilot, lambda: top(p) == "Compare the marked runs")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, CompareScreen))


@aio
async def test_pause_stops_polling_until_resumed():
    app, sources, _ = build()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await pilot.press("p")
        assert "PAUSED" in text(app.main.query_one(HeaderBar))
        await pilot.pause(0.15)
        calls = sources.calls
        await pilot.pause(0.3)
        assert sources.calls == calls
        await pilot.press("p")
        await until(pilot, lambda: sources.calls > calls)
        assert "PAUSED" not in text(app.main.query_one(HeaderBar))


@aio
async def test_quit_never_stops_a_run():
    app, sources, actions = build()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await pilot.press("q")
        await pilot.pause()
    assert actions.executed == []
    assert sources.closed


# -- terminal sizes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "compact", "columns"),
    [((80, 24), True, 1), ((60, 20), True, 1), ((120, 40), False, 2), ((200, 50), False, 3)],
)
@aio
async def test_sizes(size, compact, columns):
    app, _, _ = build()
    async with app.run_test(size=size) as pilot:
        await started(pilot, app)
        assert (app.main.compact, app.main.columns) == (compact, columns)
        shown = screen_text(app)
        assert "happo-top" in shown and "running" in shown
        for p in panels(app):
            assert p.region.width <= size[0]
        if size == (80, 24):
            # everything useful fits: three compact panels and the action keys
            assert sum(1 for p in panels(app) if p.region.bottom <= 23) == 3
            # the footer has only what applies: the finished run first selected has no process
            assert "l Launch" in shown and "r Restart" in shown and "Stop" not in shown
            await pilot.press("down")  # the running one: its stop and kill keys appear
            await until(
                pilot, lambda: "T Stop" in screen_text(app) and "K Kill" in screen_text(app)
            )


@aio
async def test_resize_lays_the_grid_out_again():
    app, _, _ = build()
    async with app.run_test(size=(200, 50)) as pilot:
        await started(pilot, app)
        assert app.main.columns == 3 and not app.main.compact
        await pilot.resize_terminal(80, 24)
        await until(pilot, lambda: app.main.columns == 1 and app.main.compact)
        await pilot.pause()
        assert all(p.compact for p in panels(app))
        assert "ent " in text(panels(app)[1])  # the compact layout's health line
        await pilot.resize_terminal(120, 40)
        await until(pilot, lambda: app.main.columns == 2 and not app.main.compact)


def test_grid_shape():
    assert grid_shape(80, 24, 5, "auto") == (True, 1)
    assert grid_shape(250, 70, 8, "auto") == (False, 4)
    assert grid_shape(250, 70, 2, "auto") == (False, 2)  # no empty columns
    assert grid_shape(250, 70, 8, "compact") == (True, 4)
    assert grid_shape(80, 24, 5, "full") == (False, 1)


@aio
async def test_a_run_on_another_host_has_the_host_in_its_panel_title():
    app, sources, _ = build()
    async with app.run_test(size=(160, 45)) as pilot:
        await started(pilot, app)
        runs = list(sources.snap.runs)
        runs[1] = dataclasses.replace(runs[1], host="gpu01")
        sources.set_runs(tuple(runs))
        await until(pilot, lambda: "gpu01: " in str(panels(app)[1].border_title))
        assert str(panels(app)[1].border_title).startswith("gpu01: ")
        assert "gpu01" not in str(panels(app)[0].border_title)
