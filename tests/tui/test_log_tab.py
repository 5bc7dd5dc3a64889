"""The crashed run's cause in its panel, and the Log tab: it follows the end unless scrolled up,
finds text (/ then n and N) and folds long lines (w). A real log file on disk, read by the app's
reader (tui.app.sources.read_log) in the screen's worker thread."""

from __future__ import annotations

import dataclasses

import pytest

from tests.tui.fakes import FakeSources, aio, snapshot, standard_runs
from tests.tui.test_pilot import build, focus_run, panels, started, until
from tui.screens.detail import RunDetailScreen
from tui.widgets.log_view import LogView

pytestmark = pytest.mark.slow  # a real app

CAUSE = "ValueError: lr must be positive"


def crashed_with_log(path):
    runs = standard_runs()
    crashy = dataclasses.replace(runs[2], log=str(path), log_last=CAUSE)
    return (runs[0], runs[1], crashy)


@aio
async def test_the_panel_of_a_crashed_run_shows_why(tmp_path):
    log = tmp_path / "train.log"
    log.write_text(f"Traceback (most recent call last):\n{CAUSE}\n")
    app, _, _ = build(FakeSources(snapshot(crashed_with_log(log))))
    async with app.run_test(size=(160, 45)) as pilot:
        await started(pilot, app)
        crashy = next(p for p in panels(app) if p.run.name == "crashy")
        assert f"x {CAUSE}" in crashy.render().plain
        safe = next(p for p in panels(app) if p.run.name == "safe")
        assert CAUSE not in safe.render().plain
    app, _, _ = build(FakeSources(snapshot(crashed_with_log(log))))
    async with app.run_test(size=(80, 24)) as pilot:  # the compact panel says it too
        await started(pilot, app)
        crashy = next(p for p in panels(app) if p.run.name == "crashy")
        assert "x ValueError" in crashy.render().plain


@aio
async def test_the_log_tab_follows_finds_and_wraps(tmp_path):
    log = tmp_path / "train.log"
    lines = [f"update {i} step {i * 1000}" for i in range(120)]
    lines[40] = "warning: lr schedule clipped"
    lines[90] = "warning: NaN in actor loss " + "x" * 400
    log.write_text("\n".join(lines) + "\n")
    app, _, _ = build(FakeSources(snapshot(crashed_with_log(log))))
    async with app.run_test(size=(120, 30)) as pilot:
        await started(pilot, app)
        await focus_run(pilot, app, "crashy")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        screen = app.screen
        await pilot.press("5")
        view = screen.query_one("#log-view", LogView)
        await until(pilot, lambda: view.source_lines == lines)
        await pilot.pause(0.1)
        assert view.max_scroll_y > 0 and view.scroll_y == view.max_scroll_y  # at the end
        head = screen.query_one("#log-path")
        assert str(log) in str(head.render()) and "following" in str(head.render())

        # grows while at the end: follows
        with open(log, "a") as f:
            f.write("update 120\n")
        screen._log_wake.set()
        await until(pilot, lambda: view.source_lines[-1:] == ["update 120"])
        await pilot.pause(0.1)
        assert view.scroll_y == view.max_scroll_y

        # scrolled up: stays put while lines arrive
        view.scroll_to(y=5, animate=False)
        await pilot.pause(0.1)
        with open(log, "a") as f:
            f.write("update 121\n")
        screen._log_wake.set()
        await until(pilot, lambda: view.source_lines[-1:] == ["update 121"])
        await pilot.pause(0.1)
        assert view.scroll_y == 5
        assert "scrolled up (End follows)" in str(head.render())

        # find: the newest match first, n wraps to the oldest, N back
        await pilot.press("slash")
        await pilot.press(*"warning")
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert view.matches == [40, 90] and view.current == 1
        assert "/warning: 2 of 2" in str(head.render())
        assert view.scroll_y > 5  # it went to the match
        await pilot.press("n")
        assert view.current == 0
        await pilot.press("N")
        assert view.current == 1
        assert isinstance(app.screen, RunDetailScreen)  # n and N did not leave the screen

        # wrap: the long line folds into several rows
        rows = view.virtual_size.height
        await pilot.press("w")
        await pilot.pause(0.1)
        assert view.wrap and view.has_class("-wrap")
        assert view.virtual_size.height > rows
        assert "wrap" in str(head.render())

        # the find line closes with Esc without leaving the screen
        await pilot.press("slash")
        await pilot.press("escape")
        assert isinstance(app.screen, RunDetailScreen)
        assert not screen.query_one("#log-search").display
        # and n, w are not offered on another tab
        await pilot.press("1")
        assert screen.check_action("log_wrap", ()) is False


@aio
async def test_scrolled_up_the_lines_on_screen_stay_while_the_window_moves_on(tmp_path):
    """The Log tab holds the log's last 400 lines: lines that arrive push old ones out at the
    top, and a view scrolled up keeps showing the same lines (it moves up as many rows), in
    either wrap mode, the current match staying on the same line."""
    log = tmp_path / "train.log"
    log.write_text("".join(f"update {i}\n" for i in range(500)))  # more than the window
    app, _, _ = build(FakeSources(snapshot(crashed_with_log(log))))
    async with app.run_test(size=(120, 30)) as pilot:
        await started(pilot, app)
        await focus_run(pilot, app, "crashy")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        screen = app.screen
        await pilot.press("5")
        view = screen.query_one("#log-view", LogView)
        await until(pilot, lambda: view.source_lines[-1:] == ["update 499"])
        assert len(view.source_lines) == 400 and view.source_lines[0] == "update 100"
        await pilot.press("slash", *"update 250", "enter")
        await pilot.pause(0.1)
        view.scroll_to(y=120, animate=False)
        await pilot.pause(0.1)
        top = view.source_lines[round(view.scroll_y)]
        current = view.source_lines[view.matches[view.current]]
        for n, wrap in ((500, False), (520, True)):
            if wrap:
                await pilot.press("w")
                await pilot.pause(0.1)
                view.scroll_to(y=view._y_of(view.source_lines.index(top)), animate=False)
                await pilot.pause(0.1)
            with open(log, "a") as f:
                f.write("".join(f"update {i}\n" for i in range(n, n + 20)))
            screen._log_wake.set()
            await until(pilot, lambda n=n: view.source_lines[-1:] == [f"update {n + 19}"])
            await pilot.pause(0.2)
            assert view.source_lines[view._index_at(round(view.scroll_y))[0]] == top
            assert view.source_lines[view.matches[view.current]] == current
