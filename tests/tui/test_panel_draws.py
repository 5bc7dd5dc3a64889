"""A focus move draws no panel's text again: each panel keeps the strips of its two looks
(focused and not), drawn anew when its text, size or style changes."""

from __future__ import annotations

import dataclasses

import pytest

from tests.tui.fakes import FakeSources, aio, make_run, snapshot
from tests.tui.test_pilot import build, panels, started, until

pytestmark = pytest.mark.slow  # a real app


def strips_of(app, panel) -> list[str]:
    """The panel's lines as on the screen, with their styles."""
    region = panel.region
    lines = app.screen._compositor.render_strips()[region.y : region.y + region.height]
    return [
        "".join(f"{s.text}|{s.style}" for s in line.crop(region.x, region.right)) for line in lines
    ]


@aio
async def test_a_focus_move_reuses_the_panels_strips_and_they_look_as_before():
    runs = tuple(
        make_run(f"run{i}", seed=i, run_id=f"id{i}", pid=100 + i, step=(i + 1) * 1_000_000)
        for i in range(4)
    )
    sources = FakeSources(snapshot(runs))
    app, _, _ = build(sources)
    async with app.run_test(size=(160, 45)) as pilot:
        await started(pilot, app)
        first, second = panels(app)[:2]
        await pilot.press("home")
        await until(pilot, lambda: app.focused is first)
        await pilot.pause()
        focused_look = strips_of(app, first)
        await pilot.press("right")
        await until(pilot, lambda: app.focused is second)
        await pilot.pause()
        plain_look = strips_of(app, first)
        assert plain_look != focused_look  # the focus shows
        draws = first.draws, second.draws
        for key in ("left", "right") * 3:
            await pilot.press(key)
            await pilot.pause()
        assert (first.draws, second.draws) == draws  # nothing drawn again
        assert app.focused is second and strips_of(app, first) == plain_look
        await pilot.press("left")
        await until(pilot, lambda: app.focused is first)
        await pilot.pause()
        assert strips_of(app, first) == focused_look

        # a new step: the panel's text is drawn again, and shows it
        sources.snap = snapshot((dataclasses.replace(runs[0], step=55_000_000), *runs[1:]))
        polls = app.polls
        await until(pilot, lambda: app.polls > polls + 1)
        await pilot.pause()
        assert first.draws > draws[0]
        assert any("55" in line for line in strips_of(app, first))
