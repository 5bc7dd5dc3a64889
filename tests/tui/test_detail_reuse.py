"""One detail screen, installed once and opened on each run chosen: the second open draws the
run's charts without composing the screen again, and shows nothing of the previous run."""

from __future__ import annotations

import dataclasses

import pytest

from tests.tui.fakes import FakeSources, aio, snapshot, standard_runs
from tests.tui.test_pilot import build, focus_run, screen_text, started, until
from tui.screens.detail import RunDetailScreen
from tui.screens.main_screen import MainScreen

pytestmark = pytest.mark.slow  # a real app


@aio
async def test_the_detail_screen_is_reused_and_starts_clean_for_the_next_run():
    basic, safe, crashy = standard_runs()
    # the crashed run logged no grad norm: its chart is there, empty
    crashy = dataclasses.replace(
        crashy, series={t: v for t, v in crashy.series.items() if "grad_norm" not in t}
    )
    app, _, _ = build(FakeSources(snapshot((basic, safe, crashy))))
    async with app.run_test(size=(140, 45)) as pilot:
        await started(pilot, app)
        await focus_run(pilot, app, "safe")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        first = app.screen
        await pilot.pause(0.2)
        assert len(first.query("SeriesChart")) == 6
        # the user's chart options, another tag, a window, the log tab
        await pilot.press("plus", "y", "z")
        await pilot.press("t", *"policy")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert first.extra_tags and len(first.query("SeriesChart")) == 7
        await pilot.press("5")
        await pilot.pause(0.2)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))

        await focus_run(pilot, app, "crashy")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        detail = app.screen
        assert detail is first  # the same screen: not composed again
        await pilot.pause(0.3)
        assert detail.run_id == crashy.id and "crashy" in screen_text(app)
        assert detail._active_tab() == "charts"  # back on the charts
        assert detail.extra_tags == []
        charts = list(detail.query("SeriesChart"))
        assert [c.title for c in charts] == [
            "reward",
            "entropy",
            "actor grad norm",
            "value loss",
            "policy loss",
            "ratio - 1 (x1e-3)",
        ]  # the previous run's extra tag's chart is gone
        assert not charts[2].lines  # no grad norm logged: nothing of the previous run's
        # smoothing and log y kept (TensorBoard keeps them); the step window is the run's own
        assert detail.smoothing == 0.8 and detail.view.log_y and detail.view.zoom == 1
        assert charts[0].smoothing == 0.8
        reward = crashy.series[crashy.reward.tag]
        assert charts[0].lines[0].view is reward
        await pilot.press("escape")
        # a third run: still the same screen
        await focus_run(pilot, app, "basic")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        assert app.screen is first and app.screen.run_id == basic.id


async def open_detail(pilot, app) -> RunDetailScreen:
    """The "safe" run's detail, opened from the main screen as a user does."""
    await focus_run(pilot, app, "safe")
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, RunDetailScreen))
    await pilot.pause(0.2)
    return app.screen


@aio
async def test_a_reused_detail_screen_is_restyled_when_the_theme_changed_meanwhile():
    """Shown again, the detail screen skips Textual's restyle of all its widgets, unless the
    theme changed while it was away: then its colours are the new theme's."""
    basic, safe, crashy = standard_runs()
    app, _, _ = build(FakeSources(snapshot((basic, safe, crashy))))
    async with app.run_test(size=(140, 45)) as pilot:
        await started(pilot, app)

        def background(screen: RunDetailScreen) -> object:
            return screen.styles.background

        detail = await open_detail(pilot, app)
        first = app.theme
        before = background(detail)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        other = next(n for n in app.available_themes if n != first and n != "textual-ansi")
        app.theme = other
        await pilot.pause(0.2)
        detail = await open_detail(pilot, app)
        assert background(detail) != before  # the new theme's background
        assert detail._styled_for == (other, app.ansi_color)
        restyled = detail._styled_for
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        detail = await open_detail(
            pilot, app
        )  # nothing changed: the same styles, not computed again
        assert detail._styled_for == restyled and background(detail) != before


@aio
async def test_a_theme_changed_while_the_detail_is_shown_is_not_forgotten_at_its_next_open():
    """The theme changed on the detail screen and changed back on the main screen: the next
    open restyles the detail for the theme now in force (it was last styled for the other)."""
    basic, safe, crashy = standard_runs()
    app, _, _ = build(FakeSources(snapshot((basic, safe, crashy))))
    async with app.run_test(size=(140, 45)) as pilot:
        await started(pilot, app)

        first = app.theme
        other = next(n for n in app.available_themes if n != first and n != "textual-ansi")
        detail = await open_detail(pilot, app)
        look_first = detail.styles.background
        app.theme = other  # on the detail screen
        await pilot.pause(0.2)
        assert detail.styles.background != look_first
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, RunDetailScreen))
        app.theme = first  # on the main screen: the detail, away, is not restyled now
        await pilot.pause(0.2)
        detail = await open_detail(pilot, app)
        assert detail.styles.background == look_first
