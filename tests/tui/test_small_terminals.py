"""Panels that name their run, dialogs moved through with arrows, and the app at 40x12 and 60x20:
dialogs scroll with their buttons reachable, the detail's tabs reachable (Pilot)."""

from __future__ import annotations

import pytest

from tests.tui.fakes import aio
from tests.tui.test_pilot import _restartable, build, focus_run, panels, screen_text, started
from tui.screens.detail import RunDetailScreen
from tui.screens.modals import ConfirmModal, RestartModal
from tui.widgets.run_panel import panel_title

pytestmark = pytest.mark.slow  # a real app under Pilot


def test_panel_title_names_the_run_before_its_label():
    name, label = "cuboid s1 11-19 14:02", "lr=5e-4 max_grad_norm=10 use_valuenorm=false"
    assert panel_title(name, label, 100) == f"{name} · {label}"
    short = panel_title(name, label, 50)
    assert short.startswith(name + " · lr=5e-4") and len(short) <= 50
    assert panel_title(name, name, 100) == name  # an alias: its name alone
    assert panel_title(name, label, 24) == name  # no room for the label: the name alone
    assert panel_title(name, label, 12) == "cuboid s1 1…"


@pytest.mark.parametrize("size", [(100, 30), (80, 24)])
@aio
async def test_every_panel_names_its_run(size):
    app, _, _ = build()
    async with app.run_test(size=size) as pilot:
        await started(pilot, app)
        for p in panels(app):
            assert str(p.border_title).startswith(p.run.name), p.border_title
            if p.run.label:
                assert "·" in str(p.border_title)


def _inside(widget, screen) -> bool:
    r, s = widget.region, screen.region
    return r.height > 0 and r.width > 0 and s.contains_region(r)


@pytest.mark.parametrize("size", [(40, 12), (60, 20), (120, 40)])
@aio
async def test_restart_dialog_moves_between_buttons_with_arrows_and_shows_them(tmp_path, size):
    sources, _ = _restartable(tmp_path)
    app, _, _ = build(sources)
    async with app.run_test(size=size) as pilot:
        await started(pilot, app)
        await focus_run(pilot, app, "safe")
        await pilot.press("r")
        dialog = app.screen
        assert isinstance(dialog, RestartModal)
        seen = []
        for key in ("right", "right", "right", "left", "left", "left"):
            await pilot.press(key)
            await pilot.pause()
            seen.append(dialog.focused.id)
            assert _inside(dialog.focused, dialog), (key, dialog.focused.id, size)
        assert seen == ["restart", "resume", "cancel", "resume", "restart", "cancel"]


@pytest.mark.parametrize("size", [(40, 12), (60, 20)])
@aio
async def test_confirm_dialog_buttons_are_reachable_on_a_small_terminal(size):
    app, _, _ = build()
    async with app.run_test(size=size) as pilot:
        await started(pilot, app)
        await focus_run(pilot, app, "safe")
        await pilot.press("s")
        dialog = app.screen
        assert isinstance(dialog, ConfirmModal)
        assert dialog.focused.id == "no" and _inside(dialog.focused, dialog)
        await pilot.press("left")
        await pilot.pause()
        assert dialog.focused.id == "yes" and _inside(dialog.focused, dialog)
        await pilot.press("escape")


@pytest.mark.parametrize("size", [(40, 12), (60, 20)])
@aio
async def test_detail_tabs_are_reachable_on_a_small_terminal(size):
    app, _, _ = build()
    async with app.run_test(size=size) as pilot:
        await started(pilot, app)
        await focus_run(pilot, app, "safe")
        await pilot.press("enter")
        detail = app.screen
        assert isinstance(detail, RunDetailScreen)
        tabs = detail.query_one("#detail-tabs")
        for key, tab in (("2", "checkpoints"), ("3", "config"), ("6", "health"), ("1", "charts")):
            await pilot.press(key)
            await pilot.pause(0.1)
            assert tabs.active == tab
            pane = detail.query_one(f"#{tab}")
            assert _inside(pane, detail) and pane.region.height >= 3, (tab, pane.region, size)
        assert "Charts" in screen_text(app)
