"""The chart keys on the detail and compare screens (Pilot): log y, the step window, the cursor
and its readout, back to all steps; and the launch dialog's buttons at 40x12."""

from __future__ import annotations

import pytest

from tests.tui.fakes import aio
from tests.tui.test_pilot import build, focus_run, panels, started
from tui.screens.compare import CompareScreen
from tui.screens.detail import RunDetailScreen
from tui.screens.modals import LaunchModal
from tui.widgets.charts import SeriesChart, cursor_x

pytestmark = pytest.mark.slow  # a real app under Pilot


async def open_detail(pilot, app) -> RunDetailScreen:
    """The detail of the run called "safe", opened as a user would, its charts drawn."""
    await started(pilot, app)
    await focus_run(pilot, app, "safe")
    await pilot.press("enter")
    detail = app.screen
    assert isinstance(detail, RunDetailScreen)
    await pilot.pause(0.3)
    return detail


@aio
async def test_detail_chart_keys_log_window_cursor_and_back():
    app, _, _ = build()
    async with app.run_test(size=(140, 45)) as pilot:
        detail = await open_detail(pilot, app)
        grad = detail.query_one("#chart-2", SeriesChart)
        full = grad.window
        assert full is not None and "@" not in grad.legend.plain
        await pilot.press("z", "z")
        await pilot.pause(0.2)
        lo, hi = grad.window
        assert hi == full[1] and abs((hi - lo) - (full[1] - full[0]) / 4) < 1.0  # the last 1/4
        assert "last 1/4" in detail.options_text().plain
        await pilot.press("left_curly_bracket")
        await pilot.pause(0.2)
        assert grad.window[1] < hi  # moved earlier by half a window
        await pilot.press("left_square_bracket", "left_square_bracket")
        await pilot.pause(0.2)
        # on at the last logged step of the reward chart, then one logged step back
        reward = detail.query_one("#chart-0", SeriesChart)
        lo, hi = reward.window
        assert cursor_x(detail.view.cursor, lo, hi) == pytest.approx(reward.track[-2])
        assert "@ " in grad.legend.plain
        assert "agent0 " in grad.legend.plain  # the value at the cursor follows the name
        assert "(raw " in reward.legend.plain  # smoothed, and raw beside it
        await pilot.press("right_square_bracket")
        await pilot.pause(0.2)
        assert cursor_x(detail.view.cursor, lo, hi) == pytest.approx(reward.track[-1])
        await pilot.press("y")
        await pilot.pause(0.2)
        assert grad.view.log_y and grad.axis is not None
        assert all(t <= 1 for t in grad.axis.ticks)  # log10 of grad norms below 10
        await pilot.press("0")
        await pilot.pause(0.2)
        assert grad.window == full and detail.view.cursor is None
        assert "@" not in grad.legend.plain


@aio
async def test_compare_chart_legends_name_every_run():
    app, _, _ = build()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        for p in panels(app):
            p.focus()
            await pilot.pause()
            await pilot.press("space")
        await pilot.press("c", "2")
        await pilot.pause(0.5)
        assert isinstance(app.screen, CompareScreen)
        reward = app.screen.query_one("#cmp-chart-0", SeriesChart)
        legend = reward.legend.plain
        assert all(f"#{i}" in legend for i in (1, 2, 3)), legend
        await pilot.press("z")
        await pilot.pause(0.2)
        assert reward.view.zoom == 0.5


@pytest.mark.parametrize("size", [(40, 12), (60, 20)])
@aio
async def test_launch_dialog_buttons_are_reachable_on_a_small_terminal(size):
    app, _, _ = build()
    async with app.run_test(size=size) as pilot:
        await started(pilot, app)
        await pilot.press("l")
        dialog = app.screen
        assert isinstance(dialog, LaunchModal)
        for button in ("#next", "#cancel"):
            dialog.query_one(button).focus()
            await pilot.pause(0.1)
            r = dialog.query_one(button).region
            assert r.height > 0 and dialog.region.contains_region(r), (button, r, size)
        await pilot.press("escape")


@aio
async def test_a_chart_key_draws_each_chart_once_and_a_key_back_draws_none():
    """``+`` draws every chart on screen once (not once per line, nor twice for one key); ``-``
    comes back to the frame shown before it, which the charts kept: nothing is drawn and the
    frame reads as it did; ``x`` three times comes back to the step axis the same way."""
    app, _, _ = build()
    async with app.run_test(size=(200, 50)) as pilot:
        detail = await open_detail(pilot, app)
        charts = [c for c in detail.query(SeriesChart) if c.draws]  # the ones on screen
        assert len(charts) >= 4
        before = [c.render().plain for c in charts]
        drawn = [c.draws for c in charts]
        await pilot.press("plus")
        await pilot.pause(0.3)
        assert [c.draws for c in charts] == [d + 1 for d in drawn]
        assert [c.render().plain for c in charts] != before  # smoothed more
        await pilot.press("minus")
        await pilot.pause(0.3)
        assert [c.draws for c in charts] == [d + 1 for d in drawn]  # the kept frame
        assert [c.render().plain for c in charts] == before
        await pilot.press("x", "x", "x")
        await pilot.pause(0.3)
        assert [c.draws for c in charts] == [d + 3 for d in drawn]  # relative, wall: drawn
        assert [c.render().plain for c in charts] == before
