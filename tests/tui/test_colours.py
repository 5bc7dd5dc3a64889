"""Colours that still mean something at 16 colours (TERM=xterm): series apart, nothing near the
background, the focus border not red, stopped and crashed apart (the app's stylesheet, read
through the pilot)."""

from __future__ import annotations

import dataclasses

import pytest
from rich.color import Color as RichColor
from rich.color import ColorSystem
from rich.style import Style

from tests.tui.fakes import aio, standard_runs
from tests.tui.test_pilot import build, focus_run, panels, started
from tui.widgets import render as R
from tui.widgets.charts import COLOURS, faint

RED = {1, 9}
NEAR_BACKGROUND = {0, 8}  # black, bright black: a dark terminal's background


def sixteen(colour) -> int:
    """The ANSI colour number a colour becomes on a 16-colour terminal."""
    c = colour if isinstance(colour, RichColor) else RichColor.parse(colour)
    return c.downgrade(ColorSystem.STANDARD).number


def test_series_colours_differ_at_16_colours_and_none_is_red_or_dark():
    first = [sixteen(c) for c in COLOURS[:5]]
    assert len(set(first)) == 5, first
    assert not set(first) & (RED | NEAR_BACKGROUND)
    for c in COLOURS:  # the faint raw curve too stays off the background
        r, g, b = faint(c)
        assert sixteen(RichColor.from_rgb(r, g, b)) not in {0}, c
        assert 0.2126 * r + 0.7152 * g + 0.0722 * b > 45, c


def test_state_styles_stopped_and_crashed_apart_and_not_dark():
    coloured = R._COLOURED[0]  # the styles with colour on (a NO_COLOR test may have set them off)
    stopped = Style.parse(coloured["stopped"]).color
    crashed = Style.parse(coloured["crashed"]).color
    assert stopped != crashed
    for state, style in coloured.items():
        colour = Style.parse(style).color
        assert colour is None or colour.number not in {0, 4, 5, 8}, state  # black, blue, magenta


@pytest.mark.slow
@aio
async def test_focus_border_is_not_red_and_states_have_their_own_title_colours():
    runs = list(standard_runs())
    runs[0] = dataclasses.replace(runs[0], state="stopped")
    from tests.tui.fakes import FakeSources, snapshot

    app, _, _ = build(FakeSources(snapshot(tuple(runs))))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        focused = await focus_run(pilot, app, "safe")
        await pilot.pause()
        border = focused.styles.border_top[1].rich_color
        assert sixteen(border) not in RED | NEAR_BACKGROUND
        by_state = {p.run.state: p for p in panels(app)}
        titles = {s: sixteen(p.styles.border_title_color.rich_color) for s, p in by_state.items()}
        assert titles["stopped"] != titles["crashed"] and titles["crashed"] in RED
